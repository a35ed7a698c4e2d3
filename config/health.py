"""
/healthz: is this web process able to serve? For load balancers, orchestrators and uptime
checks: no sign-in, no tenant data.

It checks the database, the cache (Redis in production) and the Celery broker, each with a
short timeout, and answers 200 with ``{"status": "ok", "database": "ok", ...}`` or 503 naming
what is down. It never answers 500: a failing check is logged (with its error, which may name
hosts) and reported only as "down".
"""

import logging
import uuid

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

TIMEOUT = 2.0  # seconds, for each connection attempt and each answer


def check_database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_cache() -> None:
    config = settings.CACHES["default"]
    # Production's core.cache.FailSafeRedisCache included: read through, it would report a
    # Redis back up after a blip as down for seconds (it serves misses meanwhile).
    if issubclass(import_string(config["BACKEND"]), RedisCache):
        # Its own client with short timeouts: the cache's pool would wait for an unreachable
        # Redis as long as the operating system lets it.
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        location = config["LOCATION"]
        url = location[0] if isinstance(location, list | tuple) else location.split(",")[0]
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=TIMEOUT,
            socket_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),  # one attempt: redis-py retries three times by default
        )
        try:
            client.ping()
        finally:
            client.close()
        return
    cache = caches["default"]
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "ok", 10)
    if cache.get(key) != "ok":
        raise RuntimeError("the cache did not keep a value")
    cache.delete(key)


def check_broker() -> None:
    from config.celery import app

    with app.connection_for_write(
        connect_timeout=TIMEOUT,
        transport_options={"socket_connect_timeout": TIMEOUT, "socket_timeout": TIMEOUT},
    ) as connection:
        connection.ensure_connection(max_retries=0, timeout=TIMEOUT)


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    report = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception:
            logger.exception("health check %s failed", name)
            report[name] = "down"
        else:
            report[name] = "ok"
    down = [name for name, state in report.items() if state != "ok"]
    body = {"status": "down" if down else "ok", **report}
    if down:
        body["down"] = down
    return JsonResponse(body, status=503 if down else 200)


class HealthCheckMiddleware:
    """Answer /healthz before CommonMiddleware checks the Host header against ALLOWED_HOSTS.

    Balancers and orchestrators probe an instance at its own address (Host: 10.0.0.5:8000),
    which ALLOWED_HOSTS never lists: the probe was answered 400 and every instance reported
    unhealthy. The answer uses no host (no link, no redirect), so nothing is trusted from
    it; the security headers above this middleware still go on it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.path_info == "/healthz":
            return healthz(request)
        return self.get_response(request)
