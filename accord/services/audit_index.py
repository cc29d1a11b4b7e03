"""Keeping the audit log's by-object index close behind the log.

A partner's read appends a receipt naming every version it received; indexing those items by
object inside the read cost it as much again as writing them (migration 0017), so the items go
in by entry and ``Store.index_audit_objects`` indexes them by object afterwards, in sorted
batches. Reads by object ("who received X", the retraction feed) are exact whatever the index
has reached; only their speed depends on it, since what it has not reached is read entry by
entry. So the index is kept close behind: inside `accord serve` by one worker's thread (steps
back to back until it has caught up, then a look every second), and by each command before it
exits (``catch_up`` with a bounded number of steps), for a node whose receipts come from
commands alone (a cron job's pushes).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from accord.services.background import OneWorker
from accord.storage.base import Store

log = logging.getLogger(__name__)

INTERVAL_S = 1.0  # between two looks at the log when the index had caught up
RETRY_S = 30.0  # after a failed step (the store unavailable): reads stay exact meanwhile
# Steps a command takes before it exits: the receipts of one command (one entry each, a step
# takes a whole entry), and a good part of any backlog, without holding up its exit for long.
COMMAND_STEPS = 20


def catch_up(store: Store, stop: threading.Event | None = None, *, steps: int | None = None) -> bool:
    """Index, a bounded step per transaction, until nothing is left (True), or ``stop`` is set,
    or ``steps`` steps were taken (False)."""
    taken = 0
    while store.index_audit_objects():
        taken += 1
        if (stop is not None and stop.is_set()) or (steps is not None and taken >= steps):
            return False
    return True


class AuditIndexThread(OneWorker):
    """Runs :func:`catch_up` every ``interval_s`` in a daemon thread, if this process takes the lock."""

    def __init__(self, store: Store, lock_path: Path, *, interval_s: float = INTERVAL_S):
        super().__init__(lock_path, "accord-audit-index", self._run)
        self._store, self._interval = store, interval_s

    def _run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                catch_up(self._store, stop)
            except Exception as exc:  # the store is briefly unavailable: reads stay exact, try again later
                log.warning("audit index: a step failed (next try in %.0f s): %s", RETRY_S, exc)
                stop.wait(RETRY_S)
            stop.wait(self._interval)
