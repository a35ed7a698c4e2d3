"""
Test settings: the real PostgreSQL and Redis of the machine, never SQLite.

tests/conftest.py checks both are reachable before any test runs and fails loudly if not.
"""

import hashlib
import os
import uuid
from pathlib import Path

# A database name of this checkout's own (pytest-django adds "test_"), so two checkouts
# can run their suites at once on one PostgreSQL without dropping each other's database.
_checkout = hashlib.sha256(str(Path(__file__).resolve().parent.parent).encode()).hexdigest()[:8]
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/advocate_{_checkout}")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# The whole suite clicks links from one address; the tests of the click limit set their own.
os.environ.setdefault("RATELIMIT_LINK", "")

from .settings import *  # noqa: E402,F403
from .settings import CACHE_REDIS_OPTIONS, DATABASES, STATIC_ROOT, STORAGES  # noqa: E402

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("The test suite runs on PostgreSQL only; DATABASE_URL must be postgres://")

DATABASES["default"]["CONN_MAX_AGE"] = 0
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_USE_FINDERS = True
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["*"]
# The cache in a Redis database of its own, so clearing it never touches the broker's queues.
CACHES = {
    "default": {
        "BACKEND": "core.cache.FailSafeRedisCache",
        "LOCATION": "redis://127.0.0.1:6379/14",
        "OPTIONS": CACHE_REDIS_OPTIONS,
        # Keys of this checkout's own: tests empty only these (tests/conftest.py), so two
        # suites sharing one Redis never wipe each other's counters mid-test.
        "KEY_PREFIX": f"advocate-test-{_checkout}",
    }
}
# A queue of this test run's own, so a stale message from another run is never consumed.
# A worker a test starts in a subprocess joins the run's queue through ADVOCATE_TEST_QUEUE.
CELERY_TASK_DEFAULT_QUEUE = (
    os.environ.get("ADVOCATE_TEST_QUEUE") or f"advocate-test-{uuid.uuid4().hex[:8]}"
)
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = False
# Webhook receivers in tests are small servers on 127.0.0.1, retried without waiting long.
WEBHOOK_ALLOW_PRIVATE_URLS = True
WEBHOOK_RETRY_BASE_SECONDS = 0.05
# The request that journals a click also ships it, so tests find it in the table at once.
# A test that runs the shipper itself (or a server in a subprocess) turns this off.
CLICK_JOURNAL_SHIP_EAGERLY = os.environ.get("CLICK_JOURNAL_SHIP_EAGERLY", "1") == "1"
