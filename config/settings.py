"""
Advocate settings, read from the environment.

With no environment at all the app runs on embedded defaults: SQLite in ./var and a
filesystem Celery broker, so one command starts web, worker and beat on a laptop.
Production sets DATABASE_URL (PostgreSQL), REDIS_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ADVOCATE_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off "
            "(or set DJANGO_DEBUG=1 for local development)."
        )
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "core",
    "accounts",
    "referrals",
    "rewards",
    "analytics",
    "dashboard",
    "portal",
    "api",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The security headers go on every answer, the 400 for a bad request included.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.PermissionsPolicyMiddleware",
    "core.middleware.ControlCharacterMiddleware",
    # /healthz is answered before CommonMiddleware refuses a probe's Host (the instance's IP).
    "config.health.HealthCheckMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context_processors.organization",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'advocate.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Give up on an unreachable PostgreSQL after a few seconds (libpq would wait for the
    # operating system), so a request or /healthz fails instead of hanging a worker.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DB_CONNECT_TIMEOUT", "5"))
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share the file: wait for locks instead of failing at once.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
# Analytics reads through an alias of its own (analytics/db.py): the same database unless
# ANALYTICS_DATABASE_URL names a streaming replica, so reporting load can leave the primary.
# In tests it mirrors "default" (and tests/conftest.py shares the connection, so a test's
# uncommitted rows are seen).
if os.environ.get("ANALYTICS_DATABASE_URL"):
    DATABASES["analytics"] = dj_database_url.parse(
        os.environ["ANALYTICS_DATABASE_URL"],
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
else:
    DATABASES["analytics"] = {**DATABASES["default"]}
    DATABASES["analytics"]["OPTIONS"] = dict(DATABASES["default"].get("OPTIONS", {}))
DATABASES["analytics"]["TEST"] = {"MIRROR": "default"}
if DATABASES["analytics"]["ENGINE"] == "django.db.backends.postgresql":
    # Reports group and sort tens of thousands of rows (a ranking of 50,000 sources): with
    # PostgreSQL's default 4MB those sorts spill to disk. Per analytics connection only.
    work_mem = os.environ.get("ANALYTICS_WORK_MEM", "32MB")
    DATABASES["analytics"].setdefault("OPTIONS", {})["options"] = f"-c work_mem={work_mem}"
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and (
    os.environ.get("DB_SERVER_SIDE_BINDING", "1") != "0"
):
    # Parameters sent apart from the statement, and a statement run a few times on a
    # connection prepared once: PostgreSQL parses and plans the event path's statements
    # once per connection instead of at every request (half of its CPU for a single API
    # event). The analytics alias keeps client-side binding: its reports repeat parameters
    # in GROUP BY, which PostgreSQL cannot match between separate parameters.
    DATABASES["default"]["OPTIONS"].update(
        server_side_binding=True,
        prepare_threshold=int(os.environ.get("DB_PREPARE_THRESHOLD", "2")),
    )
# Analytics reads whole days from its daily rollups (analytics/rollups.py); "0" reads every
# figure from the raw tables instead (bench/run analytics compares the two).
ANALYTICS_ROLLUPS = os.environ.get("ANALYTICS_ROLLUPS", "1") != "0"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/app/"

# django-allauth: staff sign in by email; no usernames anywhere.
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
# "optional" lets the demo login and a new business's first hour work without a mailbox,
# but then sign-up says "already registered" for a taken address: allauth's enumeration
# prevention (ACCOUNT_PREVENT_ENUMERATION, on by default) can only hide that when
# verification is "mandatory" (it answers "check your email" either way and mails the
# owner). Its "strict" mode would create a second account with the same email instead,
# which accounts.User's unique email refuses. Production should set "mandatory" (README).
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SIGNUP_REDIRECT_URL = "/app/"

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files browsers ask for at the site's root (favicon.ico), served by WhiteNoise as they are.
WHITENOISE_ROOT = BASE_DIR / "core" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

REDIS_URL = os.environ.get("REDIS_URL", "")

# The cache is an optimization only: FailSafeRedisCache serves misses while Redis is down
# (core/cache.py), with short socket timeouts so a hung Redis cannot hold a request.
CACHE_REDIS_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.FailSafeRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": CACHE_REDIS_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery. Without REDIS_URL the broker is kombu's filesystem transport under ./var, which
# needs no server and is shared by the web process, the worker and beat on one machine.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
# Connecting to a broker that is down fails after one quick retry instead of kombu's
# default of about 6 s, so a web request whose task cannot be sent answers at once: the
# outbox keeps the task and the drain sends it later (core/tasks.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "celery" / "broker"
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "release-held-rewards": {"task": "rewards.release_held_rewards", "schedule": 300.0},
    "expire-credit-lots": {"task": "rewards.expire_credit_lots", "schedule": 3600.0},
    "send-credit-expiry-reminders": {"task": "rewards.send_expiry_reminders", "schedule": 3600.0},
    "process-payouts": {"task": "rewards.process_payouts", "schedule": 600.0},
    # Sends queued work the broker has not taken, or that no worker ran (core/tasks.py).
    "drain-outbox": {
        "task": "core.drain_outbox",
        "schedule": 30.0,
        "options": {"expire_seconds": 30},
    },
    "resume-webhook-deliveries": {"task": "accounts.resume_webhook_deliveries", "schedule": 300.0},
    "purge-idempotency-records": {"task": "api.purge_idempotency_records", "schedule": 3600.0},
    # Rebuilds the last days of the analytics rollups (analytics/rollups.py: REFRESH_SECONDS).
    "refresh-analytics-rollups": {"task": "analytics.refresh_rollups", "schedule": 600.0},
}
# How long a task sent from the outbox may wait for a worker before it is sent again.
OUTBOX_LEASE_SECONDS = int(os.environ.get("OUTBOX_LEASE_SECONDS", "300"))

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Advocate <no-reply@advocate.local>")
if os.environ.get("EMAIL_HOST"):
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Advocate API",
    "DESCRIPTION": (
        "The partner API of Advocate: customers, sources, links, referrals, events, rewards, "
        "credit, payouts and analytics of one organization. See docs/api.md for a guide."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"CurrencyEnum": "accounts.models.CURRENCIES"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_errors",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# The partner API (api/) and outgoing webhooks (accounts/webhooks.py).
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "1200/minute")  # per key: N/second|minute|hour
API_MAX_BODY_BYTES = 1_000_000
API_BULK_MAX_EVENTS = 1000
API_IDEMPOTENCY_HOURS = 24  # an Idempotency-Key's answer is kept this long
# Deliveries to private, loopback or link-local addresses are refused (SSRF) unless this is on;
# it is on in development, where receivers run on the same machine.
WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", DEBUG)
WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", "30"))
WEBHOOK_TIMEOUT_SECONDS = 10

# Referral links: the attribution cookie and how the IP of a click is hashed.
REFERRAL_COOKIE_PREFIX = "adv_ref_"
IP_HASH_SALT = os.environ.get("IP_HASH_SALT", SECRET_KEY)
# /r/<code> answers from an in-process copy of the link (referrals/linkcache.py): kept this
# many seconds at most, and dropped at once when the version row says something changed.
LINK_LOCAL_TTL = float(os.environ.get("LINK_LOCAL_TTL", "5"))
LINK_VERSION_CHECK_SECONDS = float(os.environ.get("LINK_VERSION_CHECK_SECONDS", "1"))
# Each web process appends its clicks to a journal file of its own here; `manage.py
# ship_clicks`, run beside the web server on every node, loads them into the database
# (referrals/clicks.py, docs/operations.md).
CLICK_JOURNAL_DIR = Path(os.environ.get("CLICK_JOURNAL_DIR", VAR_DIR / "clicks"))
CLICK_JOURNAL_ROTATE_BYTES = int(os.environ.get("CLICK_JOURNAL_ROTATE_BYTES", str(16 << 20)))
CLICK_JOURNAL_ROTATE_SECONDS = float(os.environ.get("CLICK_JOURNAL_ROTATE_SECONDS", "60"))
CLICK_SHIP_INTERVAL = float(os.environ.get("CLICK_SHIP_INTERVAL", "1"))
# Tests only: the request that journals a click also ships it, so it is in the table at once.
CLICK_JOURNAL_SHIP_EAGERLY = False

# Sessions live in PostgreSQL, never in the cache: a Redis outage signs nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Every page loads scripts, styles and images from this site only, and runs no inline
# script or style: templates keep theirs in static/js/ and static/css/ (django-csp 4).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Powerful browser features no page uses are off (core.middleware.PermissionsPolicyMiddleware);
# the portal's copy buttons write to the clipboard.
PERMISSIONS_POLICY = {
    "accelerometer": [],
    "camera": [],
    "display-capture": [],
    "geolocation": [],
    "gyroscope": [],
    "magnetometer": [],
    "microphone": [],
    "midi": [],
    "payment": [],
    "usb": [],
    "clipboard-read": [],
    "clipboard-write": ["self"],
}
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers and orchestrators probe /healthz over plain HTTP, inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # An unhandled error in a request: its traceback on the console, whatever LOG_LEVEL says.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}

# Rate limits on public endpoints, per client address (core.ratelimit). CLIENT_IP_HEADER
# names the header a trusted proxy sets (e.g. HTTP_X_FORWARDED_FOR); empty: REMOTE_ADDR.
CLIENT_IP_HEADER = os.environ.get("CLIENT_IP_HEADER", "")
# How many trusted proxies append to that header (a CDN in front of the balancer: 2); the
# client's address is that many entries from the right, as what is left of it the client
# may have written itself.
CLIENT_IP_PROXY_COUNT = int(os.environ.get("CLIENT_IP_PROXY_COUNT", "1"))
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
RATELIMIT_USE_CACHE = "default"
RATELIMITS = {
    "portal": os.environ.get("RATELIMIT_PORTAL", "120/m"),
    "portal_write": os.environ.get("RATELIMIT_PORTAL_WRITE", "10/m"),
    "widget": os.environ.get("RATELIMIT_WIDGET", "120/m"),
    "landing_write": os.environ.get("RATELIMIT_LANDING_WRITE", "10/m"),
    # Clicks on one link path, per address and per web process, counted in memory (the
    # click path makes no network round trip); empty turns it off (the benchmarks do).
    "link": os.environ.get("RATELIMIT_LINK", "300/m"),
    "link_not_found": os.environ.get("RATELIMIT_LINK_NOT_FOUND", "60/m"),
}
# The cache backend is Redis's, wrapped so an outage is a miss (core.cache).
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]
# allauth's own limits on sign-in, sign-up and password reset (per address and per
# account), on the same cache; a refused attempt answers 429.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
}

# Paths whose errors from middleware (a control character, say) answer in the API's JSON
# error shape rather than plain text.
JSON_ERROR_PATH_PREFIXES = ("/api/",)
