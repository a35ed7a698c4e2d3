"""
Shared fixtures: the real services, a cast of users, and a real Celery worker.

The cast follows one pattern in every test: alice owns Acme, bob manages Acme, charlie is
an analyst at Acme, and eve owns Globex (another tenant whose objects alice must never see).
"""

import socket
from decimal import Decimal

import pytest
from django.conf import settings

from accounts.models import Role, User
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    OrganizationFactory,
    ProgramFactory,
    ReferralLinkFactory,
    ReferralSourceFactory,
    RewardRuleFactory,
    UserFactory,
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    missing = [
        name
        for name, port in (("PostgreSQL", 5432), ("Redis", 6379))
        if not _reachable("127.0.0.1", port)
    ]
    if missing:
        pytest.exit(
            f"{' and '.join(missing)} not reachable on 127.0.0.1; run bin/services. "
            "The suite never falls back to SQLite or an in-memory broker.",
            returncode=3,
        )


@pytest.fixture(autouse=True)
def _empty_cache():
    """Empty this checkout's cache keys (not the whole Redis database, which other
    checkouts' suites may be using at the same moment)."""
    import redis

    cache_settings = settings.CACHES["default"]
    client = redis.Redis.from_url(cache_settings["LOCATION"])
    try:
        keys = list(client.scan_iter(f"{cache_settings['KEY_PREFIX']}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
    from accounts import keycache
    from referrals import linkcache

    linkcache.forget_local()
    keycache.forget_local()
    yield


#: Every test that uses the database may read through the analytics alias too (a mirror of
#: "default"): a live server or a worker thread opens its own connection under that alias.
DATABASES = ["default", "analytics"]


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            if "_django_db_helper" in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.django_db(databases=DATABASES))
        elif not marker.args and marker.kwargs.get("databases") is None:
            item.add_marker(
                pytest.mark.django_db(**{**marker.kwargs, "databases": DATABASES}), append=False
            )


@pytest.fixture(scope="session", autouse=True)
def _analytics_reads_the_test_transaction(request):
    """Analytics reads through its own alias (a mirror of "default" in tests). A mirror is a
    second connection, which would not see the rows a test wrote in its open transaction, so
    in this thread the alias is the default connection itself, from before the first test
    opens its transaction (other threads open a mirror connection to the test database)."""
    from django.db import connections

    if any(
        "_django_db_helper" in getattr(item, "fixturenames", ())
        or item.get_closest_marker("django_db")
        for item in request.session.items
    ):
        request.getfixturevalue("django_db_setup")
        connections["analytics"] = connections["default"]
    yield


@pytest.fixture(autouse=True)
def _click_journal(settings, tmp_path):
    """Each test journals its clicks in a folder of its own."""
    settings.CLICK_JOURNAL_DIR = tmp_path / "clicks"
    yield settings.CLICK_JOURNAL_DIR


def make_user(email: str) -> User:
    return UserFactory(email=email, password=PASSWORD)


@pytest.fixture
def acme(db):
    return OrganizationFactory(
        name="Acme Bank", slug="acme", currency="EUR", timezone="Europe/Amsterdam"
    )


@pytest.fixture
def globex(db):
    return OrganizationFactory(
        name="Globex", slug="globex", currency="USD", timezone="America/New_York"
    )


@pytest.fixture
def alice(acme):
    user = make_user("alice@example.com")
    MembershipFactory(user=user, organization=acme, role=Role.OWNER)
    return user


@pytest.fixture
def bob(acme):
    user = make_user("bob@example.com")
    MembershipFactory(user=user, organization=acme, role=Role.MANAGER)
    return user


@pytest.fixture
def charlie(acme):
    user = make_user("charlie@example.com")
    MembershipFactory(user=user, organization=acme, role=Role.ANALYST)
    return user


@pytest.fixture
def eve(globex):
    user = make_user("eve@example.com")
    MembershipFactory(user=user, organization=globex, role=Role.OWNER)
    return user


@pytest.fixture
def program(acme):
    return ProgramFactory(
        organization=acme,
        name="Refer a friend",
        friend_offer="€50 welcome bonus",
        landing_headline="Bank with us",
    )


@pytest.fixture
def source(acme):
    return ReferralSourceFactory(
        organization=acme, kind="customer", name="Sam Source", email="sam@example.com"
    )


@pytest.fixture
def link(program, source):
    return ReferralLinkFactory(program=program, source=source)


@pytest.fixture
def fixed_rule(program):
    return RewardRuleFactory(program=program, amount=Decimal("25.00"))


@pytest.fixture
def login(client):
    def _login(user):
        client.force_login(user)
        return client

    return _login


@pytest.fixture(scope="session")
def celery_worker_session():
    """A real Celery worker (solo pool, in a thread) consuming this run's own Redis queue."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connections

    from config.celery import app

    def close_worker_connections(**kwargs):
        # The worker thread has its own connections; close them after each task so the
        # test database can be flushed and dropped.
        connections.close_all()

    task_postrun.connect(close_worker_connections, weak=False)

    assert app.conf.broker_url.startswith("redis://"), app.conf.broker_url
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, loglevel="WARNING"
    ) as worker:
        yield worker


@pytest.fixture
def celery_worker(transactional_db, celery_worker_session):
    """Use with tests whose rows the worker must see: they run in committed transactions."""
    return celery_worker_session


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, driven by Playwright, shared by every browser test of the run."""
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "Debian's chromium is required for the browser tests (apt-get install chromium)"
        )
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # plain synchronous code, which Django only allows with this flag.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-gpu",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
