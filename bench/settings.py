"""Settings for benchmarks: the production settings plus a bare redirect view to compare with."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": True}
