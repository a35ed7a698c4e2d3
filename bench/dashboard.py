"""
Every ``/app/`` list and detail page on the demo bank at a million customers.

The database is ``seed_demo --customers N`` (``--customers``, default 1,000,000; 20,000
with ``--quick``) in a scratch database named for its size, seeded once and reused by later
runs (``--reseed`` seeds again; the seeding time is a row of the table when it happens,
against the 10-minute target at a million). One gunicorn with the production settings
(``--workers`` sync workers, DEBUG off) serves the pages to a signed-in owner; each page is
requested ``--requests`` times one after the other (after two warm-up requests), and the
table gives its 50th and 95th percentile against the 300 ms target. The analytics pages
are measured by their own benchmark.
"""

import contextlib
import http.client
import json
import resource
import statistics
import time
from dataclasses import dataclass

import psycopg

from .common import (
    PG_SERVER,
    SCRATCH,
    app_env,
    free_port,
    gunicorn_command,
    load_average,
    manage,
    recreate_database,
    start,
    stop,
    wait_http,
)
from .registry import Context, Row, benchmark

TARGET_MS = 300.0
SEED_TARGET_S = 600.0

# A signed-in session for the demo owner, and the objects the detail pages show: the
# busiest of each, as a page at scale is slowest for them.
SESSION = """
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db.models import Count
from accounts.models import Organization, ReferralSource, User
from referrals.models import Program, Referral
from rewards.models import CreditAccount, Payout, Reward
user = User.objects.get(email="demo@advocate.local")
store = import_module(settings.SESSION_ENGINE).SessionStore()
store[SESSION_KEY] = str(user.pk)
store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
store[HASH_SESSION_KEY] = user.get_session_auth_hash()
store.create()
org = Organization.objects.get(slug="northbank-demo")
top = lambda qs, field: qs.filter(organization=org).order_by(f"-{field}", "pk").values_list(
    "pk", flat=True).first()
busiest_source = (Referral.objects.filter(organization=org).values("source")
                  .annotate(n=Count("pk")).order_by("-n").first()["source"])
friends = Program.objects.get(organization=org, name="Refer a friend")
print(json.dumps({
    "session": store.session_key,
    "program": friends.pk,
    "source": busiest_source,
    "referral": top(Referral.objects.filter(status="converted"), "created_at"),
    "reward": top(Reward.objects.all(), "created_at"),
    "account": CreditAccount.objects.get(source_id=busiest_source).pk,
    "payout": top(Payout.objects.all(), "created_at"),
}))
"""


def pages(ids: dict) -> list[str]:
    """Every list and detail page (GET) under /app/ but the analytics pages and the CSVs."""
    return [
        "/app/programs/",
        f"/app/programs/{ids['program']}/",
        f"/app/programs/{ids['program']}/edit/",
        "/app/programs/new/",
        f"/app/programs/{ids['program']}/rules/new/",
        "/app/sources/",
        "/app/sources/?kind=agent",
        "/app/sources/?q=jansen",
        "/app/sources/new/",
        f"/app/sources/{ids['source']}/",
        f"/app/sources/{ids['source']}/edit/",
        "/app/customers/",
        "/app/customers/?q=emma.jansen",
        "/app/customers/?page=100",
        "/app/referrals/",
        "/app/referrals/?status=converted",
        "/app/referrals/?status=lead&page=50",
        "/app/referrals/review/",
        "/app/referrals/new/",
        f"/app/referrals/{ids['referral']}/",
        "/app/events/new/",
        "/app/rewards/",
        "/app/rewards/?status=approved",
        "/app/rewards/grant/",
        f"/app/rewards/{ids['reward']}/",
        "/app/balances/",
        "/app/balances/?holder=source",
        f"/app/balances/{ids['account']}/",
        "/app/payouts/",
        "/app/payouts/?status=paid",
        "/app/settings/members/",
        "/app/settings/organization/",
        "/app/settings/widget/",
        "/app/settings/api-keys/",
        "/app/settings/webhooks/",
    ]


def database_name(customers: int) -> str:
    return f"advocate_bench_dashboard_{customers}"


def seeded_customers(database: str) -> int | None:
    """How many customers the demo in ``database`` has (None: no database, no demo)."""
    try:
        with psycopg.connect(f"{PG_SERVER}/{database}") as conn:
            return conn.execute(
                "SELECT count(*) FROM accounts_customer c JOIN accounts_organization o"
                " ON o.id = c.organization_id WHERE o.slug = 'northbank-demo'"
            ).fetchone()[0]
    except psycopg.Error:
        return None


@dataclass
class Timing:
    path: str
    status: int
    samples: list[float]  # ms
    size: int = 0  # bytes of the last answer

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def time_pages(
    base: str, session: str, paths: list[str], requests: int, timeout: float = 60
) -> list[Timing]:
    """Each page ``requests`` times in a row (after two warm-up requests). A page that
    takes longer than ``timeout`` seconds is recorded once, as HTTP status 0."""
    host, port = base.removeprefix("http://").split(":")
    headers = {"Cookie": f"sessionid={session}", "Host": "127.0.0.1"}
    timings = []
    for path in paths:
        samples, status, size = [], 0, 0
        connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            for attempt in range(requests + 2):  # two warm-up requests
                started = time.perf_counter()
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                size = len(response.read())
                elapsed = (time.perf_counter() - started) * 1000
                status = response.status
                if attempt >= 2:
                    samples.append(elapsed)
        except (OSError, http.client.HTTPException):
            status, samples = 0, [timeout * 1000]
        finally:
            connection.close()
        timings.append(Timing(path, status, samples, size))
    return timings


@contextlib.contextmanager
def dashboard_server(ctx: Context):
    options = ctx.options
    customers = options.customers or (20_000 if options.quick else 1_000_000)
    database = database_name(customers)
    env = app_env(database, var_dir=SCRATCH / "dashboard")
    seed_seconds = None
    if options.reseed or seeded_customers(database) != customers:
        recreate_database(database)
        manage(env, "migrate", "--no-input", "-v", "0")
        load = load_average()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        manage(env, "seed_demo", "--customers", str(customers), "--no-progress")
        seed_seconds = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        ctx.notes.append(
            f"dashboard: seed_demo --customers {customers:,} took {seed_seconds:.0f}s, "
            f"{cpu:.0f}s of CPU in the command itself (PostgreSQL's not counted); load "
            f"average {load} before, {load_average()} after"
        )
    else:
        manage(env, "migrate", "--no-input", "-v", "0")  # new indexes on a reused database
    manage(env, "collectstatic", "--no-input", "-v", "0")
    ids = json.loads(manage(env, code=SESSION))
    with gunicorn(env, options.workers, "dashboard") as base:
        yield {
            "base": base,
            "ids": ids,
            "customers": customers,
            "seed_seconds": seed_seconds,
            "env": env,
        }


@contextlib.contextmanager
def gunicorn(env: dict, workers: int, name: str, timeout: int = 120):
    """One gunicorn (sync workers, production settings) on ``env``'s database; yields its
    base URL. ``timeout``: seconds a request may take before gunicorn kills its worker."""
    port = free_port()
    command = gunicorn_command(port, workers, f"--timeout={timeout}")
    log = SCRATCH / "dashboard" / f"{name}.log"
    server = start(command, {**env, "PGAPPNAME": f"bench-{name}"}, log)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


@benchmark("dashboard", help="p50/p95 of every /app/ list and detail page at --customers")
def dashboard(ctx: Context) -> list[Row]:
    options = ctx.options
    requests = options.requests or (8 if options.quick else 20)
    with dashboard_server(ctx) as srv:
        customers = srv["customers"]
        rows = []
        if srv["seed_seconds"] is not None:
            target = f"< {SEED_TARGET_S:.0f} s" if customers >= 1_000_000 else ""
            rows.append(
                Row(
                    f"seed_demo --customers {customers:,}",
                    f"{srv['seed_seconds']:.0f} s",
                    target=target,
                    passed=(srv["seed_seconds"] < SEED_TARGET_S) if target else None,
                )
            )
        load = load_average()
        timings = time_pages(srv["base"], srv["ids"]["session"], pages(srv["ids"]), requests)
        for timing in timings:
            p95, p50 = timing.percentile(95), statistics.median(timing.samples)
            ok = timing.status == 200 and p95 < TARGET_MS
            rows.append(
                Row(
                    f"GET {timing.path} at {customers:,} customers: p95"
                    + ("" if timing.status == 200 else f" (HTTP {timing.status})"),
                    f"{p95:.0f} ms",
                    f"p50 {p50:.0f} ms",
                    target=f"< {TARGET_MS:.0f} ms",
                    passed=ok,
                )
            )
        ctx.notes.append(
            f"dashboard: {len(timings)} pages x {requests} requests, one after the other, "
            f"{options.workers} gunicorn sync workers; load average {load} before the pages, "
            f"{load_average()} after"
        )
    return rows
