"""
Benchmark the referral link's hot path against a bare Django redirect on the same server.

    apt-get install wrk          # the load generator (Debian package)
    .venv/bin/python bench/bench_redirect.py [--seconds 10] [--connections 16]

It creates a scratch PostgreSQL database (advocate_bench), a program in redirect mode and
one link, starts gunicorn on a free port with the production settings, and runs wrk against
``/bare/`` (middleware + redirect, no database) and ``/r/<code>`` (resolve the code, insert
the click, set the cookie, redirect). It then checks that every request wrk counted left
exactly one Click row: the hot path loses no click. Results go to stdout and
bench/results/redirect.txt.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DB = "advocate_bench"
PY = str(ROOT / ".venv/bin/python")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database():
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB}")
        conn.execute(f"CREATE DATABASE {DB}")


def manage(env, *args, code=None):
    cmd = (
        [PY, "manage.py", *args]
        if code is None
        else [PY, "manage.py", "shell", "-v", "0", "-c", code]
    )
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1] if out.strip() else ""


def wrk(url: str, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = re.search(r"50%\s+([\d.]+\w+)", out).group(1)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "total": total,
        "p50": p50,
        "p99": p99,
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")

    recreate_database()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "SECRET_KEY": "bench-secret-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DJANGO_DEBUG": "0",
    }
    manage(env, "migrate", "--no-input", "-v", "0")
    code = manage(
        env,
        code=(
            "from accounts.models import Organization, ReferralSource;"
            "from referrals.services import program_create, link_get_or_create;"
            "org = Organization.objects.create(name='Bench', slug='bench');"
            "p = program_create(organization=org, name='P', landing_mode='redirect',"
            " destination_url='https://bank.example/open');"
            "s = ReferralSource.objects.create(organization=org, name='S', kind='customer');"
            "print(link_get_or_create(program=p, source=s).code)"
        ),
    ).strip()

    port = free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz-none", timeout=1)  # noqa: S310
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.2)
        wrk(base + "/bare/", 2, args.connections)  # warm up both paths
        wrk(f"{base}/r/{code}", 2, args.connections)
        before = int(
            manage(env, code="from referrals.models import Click; print(Click.objects.count())")
        )
        bare = wrk(base + "/bare/", args.seconds, args.connections)
        link = wrk(f"{base}/r/{code}", args.seconds, args.connections)
        after = int(
            manage(env, code="from referrals.models import Click; print(Click.objects.count())")
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)

    clicks = after - before
    lines = [
        f"gunicorn {args.workers} sync workers, wrk 2 threads x {args.connections} connections, "
        f"{args.seconds}s each, {os.cpu_count()} cores",
        f"bare redirect : {bare['rps']:8.0f} req/s  p50 {bare['p50']:>8}  p99 {bare['p99']:>8}",
        f"/r/<code>     : {link['rps']:8.0f} req/s  p50 {link['p50']:>8}  p99 {link['p99']:>8}",
        f"ratio         : /r/<code> serves {link['rps'] / bare['rps']:.2f}x the bare rate",
        f"clicks        : wrk counted {link['total']} requests ({link['errors']} non-2xx/3xx), "
        f"{clicks} clicks stored",
    ]
    report = "\n".join(lines)
    print(report)
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/redirect.txt").write_text(report + "\n")
    if link["errors"] or clicks < link["total"]:
        sys.exit("clicks were lost or requests failed")


if __name__ == "__main__":
    main()
