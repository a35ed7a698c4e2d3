"""
Benchmark events through the partner API: single events per second, and events per second in
bulk requests of 1,000, on gunicorn with the production settings, PostgreSQL and Redis.

    bench/run api [--seconds 15] [--api-workers 4] [--api-clients 8]
    .venv/bin/python bench/bench_api_events.py [the same options]

It creates a scratch PostgreSQL database (advocate_bench_api), an organization with a program,
a reward rule (credit on the first purchase), 50 sources and 5,000 referred friends, and an
API key, beside the organization's history (20,000 earlier customers with 5 purchases each,
2,000 of them referred and their purchases credited; then ``ANALYZE``, as a production
database has statistics of its tables); starts gunicorn on a free port; then clients on
keep-alive connections send purchase events of those friends (so every event is attributed and
stored as a conversion; a friend's first purchase converts their referral, later ones are
credited to it):

1. single events (POST /api/v1/events) for ``--seconds``, from wrk (``bench/events.lua``)
   on ``--api-clients`` connections;
   then the floor: the same requests, as many clients, to a benchmark-only view that
   authenticates, rate-limits and checks each event as the endpoint does and answers without
   recording it (the ceiling of any design that answers each event through Django);
2. bulk requests (POST /api/v1/events/bulk, 1,000 events each) for ``--seconds``;
3. every single and bulk request sent again (same event ids): each must answer "duplicate"
   and create nothing.

It checks that every event answered "stored" left exactly one conversion and that the
replays left none. Because other work may share the machine, it also reports what does not
depend on load: the CPU the web workers and their PostgreSQL backends spent per event, and
the SQL statements per event (counted in-process on the same database afterwards).
"""

import contextlib
import http.client
import json
import random
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

if __name__ == "__main__":  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.common import (
    PG_SERVER,
    ROOT,
    SCRATCH,
    app_env,
    children,
    cpu_seconds,
    drop_database,
    free_port,
    gunicorn_command,
    load_average,
    manage,
    recreate_database,
    start,
    stop,
    wait_http,
)
from bench.registry import Context, Row, benchmark

DATABASE = "advocate_bench_api"
FRIENDS = 5000
# The organization's history before the benchmark (see SETUP): customers, each with
# purchases, and among them referred friends whose purchases are credited to a referral.
PRIOR_CUSTOMERS = 20000
PRIOR_PURCHASES = 5
PRIOR_REFERRED = 2000
SETUP = f"""
from decimal import Decimal
from accounts.models import Organization, ReferralSource
from accounts.services import api_key_create
from referrals.models import Referral
from referrals.services import program_create
from rewards.services import rule_create
org = Organization.objects.create(name="Bench", slug="bench", currency="EUR")
program = program_create(organization=org, name="P", velocity_limit_per_hour=10**6)
rule_create(program=program, trigger="first_purchase", amount=Decimal("10"), reward_kind="credit")
sources = ReferralSource.objects.bulk_create(
    [ReferralSource(organization=org, name=f"S{{n}}", kind="customer") for n in range(50)]
)
Referral.objects.bulk_create(
    [
        Referral(organization=org, program=program, source=sources[n % 50], channel="api",
                 friend_email=f"f{{n}}@bench.test")
        for n in range({FRIENDS})
    ]
)
# The organization's history before the benchmark, as a production database has one:
# customers who bought before (most of them never referred) and the referred ones' purchases,
# each credited to its referral. Analyzed with it, PostgreSQL plans the benchmark's lookups
# for tables of this size; analyzed empty, it planned them as scans of tables it believed
# empty, which each batch made slower than the one before.
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from accounts.models import Customer
long_ago = timezone.now() - timedelta(days=400)
Customer.objects.bulk_create(
    [
        Customer(organization=org, external_id=f"prior-{{n}}", email=f"p{{n}}@prior.test",
                 first_seen_at=long_ago + timedelta(minutes=n), is_referred=n < {PRIOR_REFERRED})
        for n in range({PRIOR_CUSTOMERS})
    ],
    batch_size=5000,
)
friends = list(Customer.objects.filter(organization=org, is_referred=True))
Referral.objects.bulk_create(
    [
        Referral(organization=org, program=program, source=sources[n % 50], channel="api",
                 friend_email=c.email, friend=c, status="converted",
                 created_at=c.first_seen_at - timedelta(days=1),
                 signed_up_at=c.first_seen_at, converted_at=c.first_seen_at)
        for n, c in enumerate(friends)
    ]
)
with connection.cursor() as cursor:
    cursor.execute(
        "INSERT INTO referrals_purchase (organization_id, customer_id, kind, external_id, amount,"
        " currency, occurred_at, created_at)"
        " SELECT c.organization_id, c.id, 'purchase', c.external_id || '-' || k, 10 + c.id %% 90,"
        " 'EUR', c.first_seen_at + k * interval '7 days', now()"
        " FROM accounts_customer c, generate_series(0, {PRIOR_PURCHASES} - 1) k"
        " WHERE c.organization_id = %s",
        [org.pk],
    )
    cursor.execute(
        "INSERT INTO referrals_conversion (organization_id, referral_id, source_id, customer_id,"
        " purchase_id, kind, external_id, is_first_purchase, occurred_at, created_at)"
        " SELECT p.organization_id, r.id, r.source_id, p.customer_id, p.id, 'purchase',"
        " p.external_id, p.external_id LIKE '%%-0', p.occurred_at, now()"
        " FROM referrals_purchase p JOIN referrals_referral r ON r.friend_id = p.customer_id",
        [],
    )
    cursor.execute("ANALYZE")  # as autovacuum would have, long before
print(api_key_create(organization=org, name="bench", scopes=["read", "write"], created_by=None)[1])
"""

# SQL statements per event, counted in-process (Django's test client on the same database):
# one new event alone, then 1,000 new events in one bulk, then the bulk again.
COUNT_STATEMENTS = """
import json
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION="Bearer KEY")
def post(path, body):
    with CaptureQueriesContext(connection) as queries:
        response = client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 201), response.content[:300]
    return len(queries)
single = post("/api/v1/events", {"id": "count-1", "type": "purchase", "email": "f4999@bench.test",
                                 "amount": "10.00"})
batch = [{"id": f"count-b-{n}", "type": "purchase", "email": f"f{n}@bench.test",
          "amount": "10.00"} for n in range(1000)]
bulk = post("/api/v1/events/bulk", {"events": batch})
replay = post("/api/v1/events/bulk", {"events": batch})
print(json.dumps({"single": single, "bulk": bulk / 1000, "replay": replay / 1000}))
"""


def event(event_id: str) -> dict:
    return {
        "id": event_id,
        "type": "purchase",
        "email": f"f{random.randrange(FRIENDS)}@bench.test",
        "amount": f"{random.randint(500, 50000) / 100:.2f}",
        "currency": "EUR",
    }


EVENTS_SCRIPT = ROOT / "bench" / "events.lua"


def wrk_event(prefix: str, thread: int, n: int) -> dict:
    """The event ``events.lua`` sends as request ``n`` of wrk's thread ``thread``."""
    cents = 500 + (n * 7 + thread * 13) % 49500
    return {
        "id": f"{prefix}-{thread}-{n}",
        "type": "purchase",
        "email": f"f{(thread * 7919 + n * 104729) % FRIENDS}@bench.test",
        "amount": f"{cents // 100}.{cents % 100:02d}",
        "currency": "EUR",
    }


def wrk_events(server: "Server", path: str, prefix: str, seconds: float, connections: int):
    """POST events to ``path`` with wrk (2 threads, ``connections`` keep-alive connections)
    for ``seconds``: what was sent (as (thread, n) pairs), answered, stored and refused.

    wrk, not Python: the benchmark's own Python clients cost the machine about as much CPU
    as a request that records nothing (their ceiling on two cores was under 500 requests a
    second), so they measured themselves as much as the server."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is needed: apt-get install wrk (bench/run installs it as root)")
    url = f"http://127.0.0.1:{server.port}{path}"
    cmd = ["wrk", "-t2", f"-c{max(connections, 2)}", f"-d{round(seconds)}s", "--latency"]
    cmd += ["-s", str(EVENTS_SCRIPT), "-H", f"Authorization: Bearer {server.key}", url]
    cmd += ["--", path, prefix, str(FRIENDS)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {"sent": [], "answered": 0, "stored": 0, "failed": 0}
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["duration_us"]:
            result["seconds"] = int(words[1]) / 1e6
        elif words[:1] == ["thread"]:
            thread, following = int(words[1]), int(words[3])
            # The first thread's event 0 was made for wrk's check, never sent.
            result["sent"] += [(thread, n) for n in range(1 if thread == 0 else 0, following)]
            for name in ("answered", "stored", "failed"):
                result[name] += int(words[words.index(name) + 1])
    latency = re.search(r"50%\s+(\S+)\s+75%\s+\S+\s+90%\s+\S+\s+99%\s+(\S+)", out, re.S)
    result["latency"] = f"p50 {latency.group(1)}, p99 {latency.group(2)}" if latency else ""
    result["wrk_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result


class Client:
    """One keep-alive connection (reopened when the server closes it)."""

    def __init__(self, port: int, key: str):
        self.port = port
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def post(self, path: str, body: bytes) -> tuple[int, dict]:
        for attempt in range(2):
            try:
                self.conn.request("POST", path, body, self.headers)
                response = self.conn.getresponse()
                return response.status, json.loads(response.read())
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")


def run_clients(clients: int, seconds: float, work) -> tuple[float, list]:
    """Run ``work(index, deadline, results)`` in threads; return the elapsed time and results."""
    results: list = []
    lock = threading.Lock()
    start_at = time.monotonic()
    deadline = start_at + seconds

    def target(index):
        local: list = []
        work(index, deadline, local)
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start_at, results


class Server:
    def __init__(self, port: int, key: str, process, env: dict):
        self.port, self.key, self.process, self.env = port, key, process, env

    def sql(self, query: str):
        with psycopg.connect(f"{PG_SERVER}/{DATABASE}") as conn:
            return conn.execute(query).fetchone()[0]

    def cpu(self) -> float:
        """CPU seconds of the web workers and of their PostgreSQL backends so far."""
        with psycopg.connect(f"{PG_SERVER}/{DATABASE}") as conn:
            backends = [
                pid
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench-api'"
                )
            ]
        total = 0.0
        for pid in [*children(self.process.pid), *backends]:
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total


@contextlib.contextmanager
def api_server(workers: int, keep: bool = False):
    var_dir = SCRATCH / "api"
    recreate_database(DATABASE)
    env = app_env(DATABASE, var_dir=var_dir, API_RATE_LIMIT="1000000/second")
    manage(env, "migrate", "--no-input", "-v", "0")
    key = manage(env, code=SETUP)
    port = free_port()
    gunicorn = gunicorn_command(port, workers, "--no-control-socket")
    process = start(gunicorn, {**env, "PGAPPNAME": "bench-api"}, var_dir / "gunicorn.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process)
        yield Server(port, key, process, env)
    finally:
        stop(process)
        if not keep:
            drop_database(DATABASE)


def measure(server: Server, seconds: float, clients: int, bulk_clients: int) -> dict:
    port, key = server.port, server.key
    warm = Client(port, key)
    for n in range(40):  # every worker's imports and connection, not counted
        warm.post("/api/v1/events", json.dumps(event(f"warm-{n}")).encode())

    cpu = server.cpu()
    single = wrk_events(server, "/api/v1/events", "s", seconds, clients)
    single_cpu = server.cpu() - cpu
    cpu = server.cpu()
    floor = wrk_events(server, "/bench/api-floor", "floor", seconds, clients)
    floor_cpu = server.cpu() - cpu

    sent_bulk: list[bytes] = []

    def bulk(index, deadline, results):
        client, n = Client(port, key), 0
        while time.monotonic() < deadline:
            events = [event(f"b-{index}-{n}-{i}") for i in range(1000)]
            body = json.dumps({"events": events}).encode()
            status, answer = client.post("/api/v1/events/bulk", body)
            sent_bulk.append(body)
            results.extend((status, r["status"]) for r in answer["results"])
            n += 1

    cpu = server.cpu()
    bulk_time, bulk_results = run_clients(bulk_clients, seconds, bulk)
    bulk_cpu = server.cpu() - cpu
    stored_before_replay = server.sql("SELECT count(*) FROM referrals_purchase")

    single_bodies = [json.dumps(wrk_event("s", *sent)).encode() for sent in single["sent"]]

    def replay_single(index, deadline, results):
        client = Client(port, key)
        for body in single_bodies[index::clients]:
            results.append(client.post("/api/v1/events", body))

    replay_single_time, replayed = run_clients(clients, 10**6, replay_single)

    def replay_bulk(index, deadline, results):
        client = Client(port, key)
        for body in sent_bulk[index::bulk_clients]:
            status, answer = client.post("/api/v1/events/bulk", body)
            results.extend(
                (status, r["status"], r["result"]["duplicate"]) for r in answer["results"]
            )

    replay_bulk_time, replayed_bulk = run_clients(bulk_clients, 10**6, replay_bulk)
    stored_after_replay = server.sql("SELECT count(*) FROM referrals_purchase")

    single_ok = single["stored"]
    bulk_ok = sum(1 for status, item in bulk_results if status == 200 and item == 201)
    return {
        "single_rate": single_ok / single["seconds"],
        "single_ok": single_ok,
        "single_sent": len(single["sent"]),
        "single_errors": single["failed"],
        "single_cpu_ms": 1000 * single_cpu / max(single_ok, 1),
        "single_latency": single["latency"],
        "floor_rate": (floor["answered"] - floor["failed"]) / floor["seconds"],
        "floor_cpu_ms": 1000 * floor_cpu / max(floor["answered"], 1),
        "floor_errors": floor["failed"],
        "wrk_cpu_ms": 1000 * single["wrk_cpu"] / max(single["answered"], 1),
        "bulk_rate": bulk_ok / bulk_time,
        "bulk_ok": bulk_ok,
        "bulk_time": bulk_time,
        "bulk_requests": len(sent_bulk),
        "bulk_errors": sum(1 for status, item in bulk_results if status != 200 or item >= 400),
        "bulk_cpu_ms": 1000 * bulk_cpu / max(bulk_ok, 1),
        "replay_single_rate": len(replayed) / replay_single_time,
        "replay_single_dupes": sum(1 for s, a in replayed if s == 200 and a["duplicate"]),
        "replay_single": len(replayed),
        "replay_bulk_rate": len(replayed_bulk) / replay_bulk_time,
        "replay_bulk_dupes": sum(1 for s, _, dup in replayed_bulk if s == 200 and dup),
        "replay_bulk": len(replayed_bulk),
        "replay_new": stored_after_replay - stored_before_replay,
        "stored_single": server.sql(
            "SELECT count(*) FROM referrals_purchase WHERE external_id LIKE 's-%'"
        ),
        "stored_bulk": server.sql(
            "SELECT count(*) FROM referrals_purchase WHERE external_id LIKE 'b-%'"
        ),
        "conversions": server.sql("SELECT count(*) FROM referrals_conversion"),
    }


def statements(server: Server) -> dict:
    return json.loads(manage(server.env, code=COUNT_STATEMENTS.replace("KEY", server.key)))


def rows(m: dict, counts: dict) -> list[Row]:
    once = (
        m["stored_single"] == m["single_sent"]
        and m["stored_bulk"] == m["bulk_ok"]
        and m["replay_new"] == 0
        and m["replay_single_dupes"] == m["replay_single"]
        and m["replay_bulk_dupes"] == m["replay_bulk"]
        and not m["single_errors"]
        and not m["floor_errors"]
        and not m["bulk_errors"]
    )
    return [
        Row("api single events/s", f"{m['single_rate']:.0f}", target=">= 500",
            passed=m["single_rate"] >= 500),
        Row("api bulk events/s (1,000 a request)", f"{m['bulk_rate']:.0f}", target=">= 5000",
            passed=m["bulk_rate"] >= 5000),
        Row("api replay events/s: single, bulk",
            f"{m['replay_single_rate']:.0f}, {m['replay_bulk_rate']:.0f}"),
        Row("api every event stored once, replay stores nothing",
            f"{m['stored_single']}+{m['stored_bulk']} stored, {m['replay_new']} by replay",
            target="exact", passed=once),
        Row("api floor req/s: the same request, checked, nothing recorded",
            f"{m['floor_rate']:.0f} ({m['floor_cpu_ms']:.2f} ms of CPU each)"),
        Row("api CPU ms/event (web + PostgreSQL): single, bulk",
            f"{m['single_cpu_ms']:.2f}, {m['bulk_cpu_ms']:.2f}"),
        Row("api SQL statements/event: single, bulk, bulk replay",
            f"{counts['single']}, {counts['bulk']:.3f}, {counts['replay']:.3f}"),
    ]  # fmt: skip


@benchmark("api", help="events through the API on gunicorn: single, bulk of 1,000, replay")
def api_events(ctx: Context) -> list[Row]:
    options = ctx.options
    seconds = getattr(options, "seconds", 10) or 10
    workers = getattr(options, "api_workers", 4)
    clients = getattr(options, "api_clients", 8)
    with api_server(workers, keep=getattr(options, "keep", False)) as server:
        m = measure(server, seconds, clients, bulk_clients=2)
        counts = statements(server)
    ctx.notes.append(
        f"api: gunicorn {workers} sync workers; single events and the floor from wrk (2 threads, "
        f"{clients} connections; single latency {m['single_latency']}; wrk's CPU "
        f"{m['wrk_cpu_ms']:.2f} ms a request), bulk from 2 Python clients, {seconds:.0f}s "
        f"each; {m['single_ok']} single and {m['bulk_ok']} bulk events "
        f"({m['bulk_requests']} requests); {m['conversions']} conversions in all"
    )
    return rows(m, counts)


def main():
    import argparse

    from bench.registry import table

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--api-workers", type=int, default=4)
    parser.add_argument("--api-clients", type=int, default=8)
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    ctx = Context(options)
    before = load_average()
    result = api_events(ctx)
    report = "\n".join(
        [table(result), "", f"load average {before} before, {load_average()} after", *ctx.notes]
    )
    print(report)
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/api_events.txt").write_text(report + "\n")
    if any(row.passed is False for row in result if "once" in row.what):
        sys.exit("events were lost, stored twice, failed, or a replay created rows")


if __name__ == "__main__":
    main()
