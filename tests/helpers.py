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
