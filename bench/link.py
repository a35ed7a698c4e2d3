"""
The referral link, ``/r/<code>``, against the app's own bare redirect on the same server.

One gunicorn (``--workers``, sync) with the production settings (DEBUG off, PostgreSQL,
Redis, collected static files) serves both ``/bare/`` (every middleware, a redirect, no
database) and the link; ``manage.py ship_clicks`` runs beside it as in production. wrk
(2 threads x ``--connections``) alternates between the two, round after round, so both
see the same machine; the ratio is the median of the rounds' ratios. Afterwards every
request wrk counted must have its click in the table once the shipper has drained the
journals. The server is shared by ``redirect`` and ``landing`` within one run.
"""

import contextlib
import json
import os
import shutil
import signal
import statistics
import threading
import time
from dataclasses import dataclass

import psycopg

from .common import (
    PG_SERVER,
    PY,
    SCRATCH,
    app_env,
    children,
    cpu_seconds,
    drop_database,
    free_port,
    gunicorn_command,
    manage,
    recreate_database,
    rss_mb,
    start,
    stop,
    wait_http,
    wrk,
)
from .registry import Context, Row, benchmark

DATABASE = "advocate_bench_link"
SEED = """
import json
from accounts.models import Organization, ReferralSource
from referrals.services import link_get_or_create, program_create
org = Organization.objects.create(name="Bench Bank", slug="bench")
source = ReferralSource.objects.create(organization=org, name="Sam Source", kind="customer")
redirect = program_create(organization=org, name="Redirect", landing_mode="redirect",
                          destination_url="https://bank.example/open")
landing = program_create(organization=org, name="Landing", landing_headline="Bank with us",
                         landing_text="Open an account in five minutes.",
                         friend_offer="A welcome bonus of 50 euros")
print(json.dumps({"redirect": link_get_or_create(program=redirect, source=source).code,
                  "landing": link_get_or_create(program=landing, source=source).code}))
"""


@dataclass
class LinkServer:
    base: str
    codes: dict
    server: object
    shipper: object

    def query(self, sql: str, *params):
        with psycopg.connect(f"{PG_SERVER}/{DATABASE}") as conn:
            return conn.execute(sql, params).fetchone()[0]

    def clicks(self, user_agent: str) -> int:
        return self.query("SELECT count(*) FROM referrals_click WHERE user_agent = %s", user_agent)

    def workers(self) -> list[int]:
        return children(self.server.pid)

    def web_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers())

    def shipping_cpu(self) -> float:
        """The shipper's CPU and its PostgreSQL backend's (the COPY runs there)."""
        backend = self.query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-shipper'"
        )
        return cpu_seconds(self.shipper.pid) + (cpu_seconds(backend) if backend else 0.0)

    def web_rss(self) -> float:
        return max(rss_mb(pid) for pid in self.workers())

    def shipper_rss(self) -> float:
        return rss_mb(self.shipper.pid)


@contextlib.contextmanager
def link_server(options):
    var_dir = SCRATCH / "link"
    shutil.rmtree(var_dir, ignore_errors=True)
    recreate_database(DATABASE)
    env = app_env(DATABASE, var_dir=var_dir)
    manage(env, "migrate", "--no-input", "-v", "0")
    manage(env, "collectstatic", "--no-input", "-v", "0")
    codes = json.loads(manage(env, code=SEED))
    port = free_port()
    gunicorn = gunicorn_command(port, options.workers)
    server = start(gunicorn, {**env, "PGAPPNAME": "bench-web"}, var_dir / "gunicorn.log")
    shipper = start(
        [PY, "manage.py", "ship_clicks"],
        {**env, "PGAPPNAME": "bench-shipper"},
        var_dir / "shipper.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/bare/", server)
        yield LinkServer(f"http://127.0.0.1:{port}", codes, server, shipper)
    finally:
        stop(server)
        stop(shipper)
        if not options.keep:
            drop_database(DATABASE)


def _compare(ctx: Context, mode: str, min_ratio: float, max_p99: float | None) -> list[Row]:
    options = ctx.options
    srv: LinkServer = ctx.resource("link-server", lambda: link_server(options))
    bare_url = f"{srv.base}/bare/"
    link_url = f"{srv.base}/r/{srv.codes[mode]}"
    agent = f"bench-{mode}-{time.time_ns()}"  # this run's clicks, apart from the warm-up's
    run = {"seconds": options.seconds, "connections": options.connections}
    wrk(bare_url, seconds=2, connections=options.connections)  # warm both paths up
    wrk(link_url, seconds=2, connections=options.connections)
    time.sleep(2)  # let the shipper load the warm-up's clicks
    shipping_before = srv.shipping_cpu()
    bare, ours = [], []
    for i in range(options.rounds):
        # A-B, then B-A: drift of the machine's load hits both sides alike.
        order = [("bare", bare_url, bare), ("ours", link_url, ours)]
        for _side, url, results in order if i % 2 == 0 else order[::-1]:
            web_before = srv.web_cpu()
            result = wrk(url, **run, headers=[f"User-Agent: {agent}"])
            result["web_cpu"] = srv.web_cpu() - web_before
            results.append(result)
    sent = sum(r["sent"] for r in ours)
    failed = sum(r["errors"] for r in ours + bare)
    stopped = time.monotonic()
    stored = srv.clicks(agent)
    while stored < sent and time.monotonic() - stopped < 120:
        time.sleep(0.1)
        stored = srv.clicks(agent)
    drained = time.monotonic() - stopped
    time.sleep(2)  # anything still to come would be a double load
    stored = srv.clicks(agent)
    shipping = srv.shipping_cpu() - shipping_before

    web_rss, shipper_rss = srv.web_rss(), srv.shipper_rss()  # before a worker is replaced
    killed = _kill_under_load(srv, link_url, options, f"{agent}-kill")
    ratios = [o["rps"] / b["rps"] for o, b in zip(ours, bare, strict=True)]
    ratio = statistics.median(ratios)
    our_rps = statistics.median(r["rps"] for r in ours)
    bare_rps = statistics.median(r["rps"] for r in bare)
    our_p99 = statistics.median(r["p99"] for r in ours)
    bare_p99 = statistics.median(r["p99"] for r in bare)
    # CPU per request: the web workers' and wrk's, plus (ours) the shipper's and its database
    # backend's. Other load on the machine barely moves it, unlike requests per second.
    bare_cpu = sum(r["web_cpu"] + r["wrk_cpu"] for r in bare) / sum(r["sent"] for r in bare)
    our_cpu = (sum(r["web_cpu"] + r["wrk_cpu"] for r in ours) + shipping) / sent
    label = "/r/<code> redirect" if mode == "redirect" else "/r/<code> landing page"
    ctx.notes.append(
        f"{label}: requests/s ratio per round {', '.join(f'{r:.2f}' for r in ratios)}; "
        f"all clicks in the table {drained:.1f}s after the load stopped; shipping cost "
        f"{shipping / sent * 1e6:.0f} us of CPU per click (shipper and its PostgreSQL backend)"
    )
    return [
        Row(
            f"{label}: requests/s",
            f"{our_rps:,.0f}",
            f"{bare_rps:,.0f} (bare)",
            f"{ratio:.2f}x",
            f">= {min_ratio:.2f}x",
            ratio >= min_ratio and failed == 0,
        ),
        Row(
            f"{label}: p99 latency",
            f"{our_p99:.1f} ms",
            f"{bare_p99:.1f} ms (bare)",
            f"{our_p99 / bare_p99:.2f}x",
            f"<= {max_p99:.2f}x" if max_p99 else "",
            our_p99 <= max_p99 * bare_p99 if max_p99 else None,
        ),
        Row(
            f"{label}: CPU per request (web, wrk; ours + shipping)",
            f"{our_cpu * 1e6:.0f} us",
            f"{bare_cpu * 1e6:.0f} us (bare)",
            f"{bare_cpu / our_cpu:.2f}x",
        ),
        Row(
            f"{label}: clicks stored, requests sent",
            f"{stored:,}",
            f"{sent:,} (wrk)",
            "",
            "equal",
            stored == sent and failed == 0,
        ),
        Row(
            f"{label}: clicks stored, a web worker SIGKILLed under load",
            f"{killed['stored']:,}",
            f"{killed['answered']:,} answered (wrk)",
            "",
            "all answered, none twice",
            killed["answered"] <= killed["stored"] <= killed["sent"],
        ),
        Row(f"{label}: RSS of a web worker", f"{web_rss:.0f} MiB"),
        Row(f"{label}: RSS of the click shipper", f"{shipper_rss:.0f} MiB"),
    ]


def _kill_under_load(srv: LinkServer, url: str, options, agent: str) -> dict:
    """wrk for a few seconds, one gunicorn worker SIGKILLed in the middle of it. Every
    request answered must have its click; one cut off by the kill may have one too."""
    result: dict = {}

    def load():
        result.update(
            wrk(url, seconds=4, connections=options.connections, headers=[f"User-Agent: {agent}"])
        )

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(2)
    os.kill(srv.workers()[0], signal.SIGKILL)
    thread.join()
    stopped = time.monotonic()
    stored = srv.clicks(agent)
    while stored < result["total"] and time.monotonic() - stopped < 60:
        time.sleep(0.1)
        stored = srv.clicks(agent)
    time.sleep(2)
    return {"stored": srv.clicks(agent), "answered": result["total"], "sent": result["sent"]}


@benchmark("redirect", help="/r/<code> in redirect mode vs the bare redirect (>= 0.8x)")
def redirect(ctx: Context) -> list[Row]:
    return _compare(ctx, "redirect", 0.8, max_p99=2.0)


@benchmark("landing", help="/r/<code> with the landing page vs the bare redirect (>= 0.5x)")
def landing(ctx: Context) -> list[Row]:
    return _compare(ctx, "landing", 0.5, max_p99=None)  # the issue sets no latency target
