"""bench/run's program: run the selected benchmarks (all by default), print one table."""

import argparse
import os
import platform
import sys
import time

from .common import ROOT, load_average
from .registry import Context, iter_selected, load, table


def main() -> None:
    benchmarks = load()
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Advocate's benchmarks, one table. "
        + "; ".join(f"{b.name}: {b.help}" for b in benchmarks.values()),
    )
    parser.add_argument("names", nargs="*", choices=[[], *benchmarks], metavar="name")
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--seconds", type=int, help="wrk run length (default 10, quick 4)")
    parser.add_argument("--rounds", type=int, help="alternations per link bench (5, quick 3)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--api-workers", type=int, default=4, help="api: gunicorn sync workers")
    parser.add_argument(
        "--api-clients", type=int, default=8, help="api: wrk connections for single events"
    )
    parser.add_argument("--lots", type=int, help="due credit lots (default 1,000,000)")
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument(
        "--layout",
        action="append",
        choices=["granted", "scattered"],
        help="expiry: how the due lots lie in the table (repeatable; default granted)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="expiry: skip the old code")
    parser.add_argument(
        "--customers", type=int, help="dashboard: demo size (default 1,000,000, quick 20,000)"
    )
    parser.add_argument("--requests", type=int, help="dashboard: requests per page (20, quick 8)")
    parser.add_argument(
        "--raw-requests", type=int, help="analytics: requests per raw page (requests / 4, min 3)"
    )
    parser.add_argument(
        "--reseed", action="store_true", help="dashboard: seed its database again (else reused)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    options = parser.parse_args()
    options.names = [n for n in options.names if n]
    quick = options.quick
    options.seconds = options.seconds or (4 if quick else 10)
    options.rounds = options.rounds or (3 if quick else 5)
    options.lots = options.lots or (100_000 if quick else 1_000_000)
    options.layout = options.layout or ["granted"]

    ctx = Context(options)
    rows = []
    started = time.monotonic()
    load_before = load_average()
    try:
        for bench in iter_selected(options.names):
            print(f"==> {bench.name}: {bench.help}", file=sys.stderr, flush=True)
            rows += bench.run(ctx)
    finally:
        ctx.close()
    machine = (
        f"{os.cpu_count()} cores, {platform.machine()}, load average {load_before} before "
        f"and {load_average()} after; {time.monotonic() - started:.0f}s in all"
        f"{' (--quick)' if quick else ''}"
    )
    report = "\n".join([table(rows), "", machine, *(f"- {note}" for note in ctx.notes)])
    print(report)
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text(report + "\n")
    if any(row.passed is False for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
