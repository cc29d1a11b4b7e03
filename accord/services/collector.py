"""When the cyclic garbage collector runs during bulk work.

Python's collector runs every 700 container allocations and, as objects survive, walks older
generations and eventually the whole heap. Bulk work allocates hundreds of thousands of
containers at a time: an import its parsed objects (short-lived, acyclic: ~8% of an import went
to collections that found nothing), a bulk lookup its hits and answers (they survive until the
response is sent, so full collections walked a server's whole heap over and over: ~40% of a
10,000-value lookup with a few earlier answers still held). Reference counting frees all of it
promptly either way; only cycles wait for the collector.

:func:`bulk_gc` raises the first generation's threshold while any bulk work runs in the
process. It is shared by threads (a server runs several requests at once, and the threshold is
the process's): the first to enter raises it, the last to leave puts back what it was.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD = 100_000  # container allocations between two first-generation collections

_lock = threading.Lock()
_running = 0
_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def bulk_gc() -> Iterator[None]:
    global _running, _saved
    with _lock:
        if _running == 0:
            _saved = gc.get_threshold()
            gc.set_threshold(BULK_THRESHOLD, _saved[1], _saved[2])
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.set_threshold(*_saved)
