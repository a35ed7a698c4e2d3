import time


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll until ``predicate()`` is truthy (work done by another process or thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout}s waiting for {predicate}")


def form_datetime(*, days_ago: float = 0, tz: str = "UTC") -> str:
    """A datetime as a dashboard form takes it (``YYYY-MM-DD HH:MM`` in ``tz``), relative to
    now, so no test depends on the day it runs."""
    import datetime
    import zoneinfo

    moment = datetime.datetime.now(zoneinfo.ZoneInfo(tz)) - datetime.timedelta(days=days_ago)
    return moment.strftime("%Y-%m-%d %H:%M")
