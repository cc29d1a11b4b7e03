"""Work that one process of the node does in the background: the sync scheduler, the alert runner.

`accord serve` may run several worker processes on one node; each of them builds the app, but a
background job must run once. The first process to take an exclusive lock on the job's file in
the data directory runs it in a daemon thread; the others do not, and the lock is released when
that process stops (or dies: the kernel drops it), so another may take over at its next start.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO


class OneWorker:
    """Runs ``target(stop_event)`` in a daemon thread if this process takes ``lock_path``."""

    def __init__(self, lock_path: Path, name: str, target: Callable[[threading.Event], None]):
        self._lock_path, self._name, self._target = lock_path, name, target
        self._lock: IO[bytes] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """True when this process took the lock and started the thread."""
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self._lock_path, "ab")  # noqa: SIM115 -- held open for the process's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False  # another worker of this node runs it
        self._lock = handle
        self._thread = threading.Thread(target=self._target, args=(self._stop,), name=self._name, daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None
