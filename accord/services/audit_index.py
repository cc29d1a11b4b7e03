"""Keeping the audit log's by-object index close behind the log.

A partner's read appends a receipt naming every version it received; indexing those items by
object inside the read cost it as much again as writing them (migration 0017), so the items go
in by entry and ``Store.index_audit_objects`` indexes them by object afterwards, in sorted
batches. Reads by object ("who received X", the retraction feed) are exact whatever the index
has reached; only their speed depends on it, since what it has not reached is read entry by
entry. So the index is kept close behind: inside `accord serve` by one worker's thread (a
step every second while there is anything to do), and by each command before it exits
(``catch_up``), for a node whose receipts come from commands alone (a cron job's pushes).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from accord.services.background import OneWorker
from accord.storage.base import Store

log = logging.getLogger(__name__)

INTERVAL_S = 1.0  # between two looks at the log when the index had caught up


def catch_up(store: Store, stop: threading.Event | None = None) -> None:
    """Index until nothing is left (or ``stop`` is set), a bounded step per transaction."""
    while store.index_audit_objects() and not (stop is not None and stop.is_set()):
        pass


class AuditIndexThread(OneWorker):
    """Runs :func:`catch_up` every ``interval_s`` in a daemon thread, if this process takes the lock."""

    def __init__(self, store: Store, lock_path: Path, *, interval_s: float = INTERVAL_S):
        super().__init__(lock_path, "accord-audit-index", self._run)
        self._store, self._interval = store, interval_s

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                catch_up(self._store, stop)
            except Exception:  # the store is briefly unavailable: reads stay exact, try again later
                log.exception("audit index: a step failed")
            stop.wait(self._interval)
