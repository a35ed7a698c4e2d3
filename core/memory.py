"""Requests that build many objects at once, kept until the response.

A bulk of 1,000 events, or a ranking of 50,000 sources, allocates enough for Python's cyclic
garbage collector to run several times during the request; each run walks those objects
(all alive until the response) and frees nothing. ``no_garbage_collection`` turns it off for
such a block: reference counting still frees everything when the block's objects go, and
the next collection, at the next allocations, finds nothing of them left. At most one
request's worth of cyclic garbage waits for it.
"""

import gc
from contextlib import contextmanager


@contextmanager
def no_garbage_collection():
    """No cyclic garbage collection within the block (a context manager or a decorator);
    back on after it, even when it raises, unless it was off before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
