"""
Benchmark events through the partner API: single events per second, and events per second in
bulk requests of 1,000, on gunicorn with the production settings, PostgreSQL and Redis.

    .venv/bin/python bench/bench_api_events.py [--seconds 15] [--workers 4] [--clients 8]

It creates a scratch PostgreSQL database (advocate_bench_api), an organization with a program,
a reward rule (credit on the first purchase), 50 sources and 5,000 referred friends, and an
API key; starts gunicorn on a free port; then clients on keep-alive connections send purchase
events of those friends (so every event is attributed and stored as a conversion):

1. single events (POST /api/v1/events) for ``--seconds``, from ``--clients`` threads;
2. bulk requests (POST /api/v1/events/bulk, 1,000 events each) for ``--seconds``;
3. every single and bulk request sent again (same event ids): each must answer "duplicate"
   and create nothing.

It checks that every event answered "stored" left exactly one conversion and that the
replays left none, and writes the figures to stdout and bench/results/api_events.txt.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DB = "advocate_bench_api"
PY = str(ROOT / ".venv/bin/python")
FRIENDS = 5000
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
print(api_key_create(organization=org, name="bench", scopes=["read", "write"], created_by=None)[1])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database():
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")


def sql(query: str):
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{DB}") as conn:
        return conn.execute(query).fetchone()[0]


def manage(env, *args, code=None) -> str:
    cmd = [PY, "manage.py", *args] if code is None else [PY, "manage.py", "shell", "-c", code]
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def event(event_id: str) -> dict:
    return {
        "id": event_id,
        "type": "purchase",
        "email": f"f{random.randrange(FRIENDS)}@bench.test",
        "amount": f"{random.randint(500, 50000) / 100:.2f}",
        "currency": "EUR",
    }


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
    start = time.monotonic()
    deadline = start + seconds

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
    return time.monotonic() - start, results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--bulk-clients", type=int, default=2)
    args = parser.parse_args()

    recreate_database()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB}",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "SECRET_KEY": "bench-secret-key",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DJANGO_DEBUG": "0",
        "API_RATE_LIMIT": "1000000/second",
    }
    manage(env, "migrate", "--no-input", "-v", "0")
    key = manage(env, code=SETUP)
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
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        report = bench(port, key, args)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(report)
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/api_events.txt").write_text(report + "\n")


def bench(port: int, key: str, args) -> str:
    # Warm up every worker (imports, connections) without counting it.
    warm = Client(port, key)
    for n in range(40):
        warm.post("/api/v1/events", json.dumps(event(f"warm-{n}")).encode())

    sent_single: dict[str, bytes] = {}

    def single(index, deadline, results):
        client, n = Client(port, key), 0
        while time.monotonic() < deadline:
            event_id = f"s-{index}-{n}"
            body = json.dumps(event(event_id)).encode()
            status, answer = client.post("/api/v1/events", body)
            sent_single[event_id] = body
            results.append((status, answer.get("stored")))
            n += 1

    single_time, single_results = run_clients(args.clients, args.seconds, single)

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

    bulk_time, bulk_results = run_clients(args.bulk_clients, args.seconds, bulk)
    stored_before_replay = sql("SELECT count(*) FROM referrals_conversion")

    single_bodies = list(sent_single.values())
    replayed: list = []

    def replay_single(index, deadline, results):
        client = Client(port, key)
        for body in single_bodies[index :: args.clients]:
            results.append(client.post("/api/v1/events", body))

    replay_single_time, replayed = run_clients(args.clients, 10**6, replay_single)

    def replay_bulk(index, deadline, results):
        client = Client(port, key)
        for body in sent_bulk[index :: args.bulk_clients]:
            status, answer = client.post("/api/v1/events/bulk", body)
            results.extend(
                (status, r["status"], r["result"]["duplicate"]) for r in answer["results"]
            )

    replay_bulk_time, replayed_bulk = run_clients(args.bulk_clients, 10**6, replay_bulk)
    stored_after_replay = sql("SELECT count(*) FROM referrals_conversion")

    single_ok = sum(1 for status, stored in single_results if status == 201 and stored)
    single_errors = sum(1 for status, _ in single_results if status >= 400)
    bulk_ok = sum(1 for status, item in bulk_results if status == 200 and item == 201)
    bulk_errors = sum(1 for status, item in bulk_results if status != 200 or item >= 400)
    stored_single = sql("SELECT count(*) FROM referrals_conversion WHERE external_id LIKE 's-%'")
    stored_bulk = sql("SELECT count(*) FROM referrals_conversion WHERE external_id LIKE 'b-%'")
    replay_new = stored_after_replay - stored_before_replay
    single_dupes = sum(1 for status, answer in replayed if status == 200 and answer["duplicate"])
    bulk_dupes = sum(1 for status, item, dup in replayed_bulk if status == 200 and dup)
    rewards = sql("SELECT count(*) FROM rewards_reward")

    lines = [
        f"gunicorn {args.workers} sync workers (production settings), PostgreSQL, Redis; "
        f"{os.cpu_count()} cores shared by server, database and clients",
        f"single : {single_ok / single_time:8.0f} events/s  ({single_ok} stored in "
        f"{single_time:.1f}s by {args.clients} clients, {single_errors} errors)",
        f"bulk   : {bulk_ok / bulk_time:8.0f} events/s  ({bulk_ok} stored in {bulk_time:.1f}s, "
        f"{len(sent_bulk)} requests of 1,000 from {args.bulk_clients} clients, "
        f"{bulk_errors} errors)",
        f"replay : single {len(replayed) / replay_single_time:.0f} events/s "
        f"({single_dupes}/{len(replayed)} answered duplicate), bulk "
        f"{len(replayed_bulk) / replay_bulk_time:.0f} events/s "
        f"({bulk_dupes}/{len(replayed_bulk)} answered duplicate); {replay_new} rows created",
        f"stored : {stored_single} single + {stored_bulk} bulk conversions for "
        f"{single_ok} + {bulk_ok} events answered stored; {rewards} rewards issued",
    ]
    report = "\n".join(lines)
    failed = (
        stored_single != single_ok
        or stored_bulk != bulk_ok
        or replay_new != 0
        or single_dupes != len(replayed)
        or bulk_dupes != len(replayed_bulk)
        or single_errors
        or bulk_errors
    )
    if failed:
        print(report)
        sys.exit("events were lost, stored twice, failed, or a replay created rows")
    return report


if __name__ == "__main__":
    main()
