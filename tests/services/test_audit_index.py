"""The audit log's by-object index, kept behind the log by one worker of a server
(services/audit_index.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from accord.services.audit_index import AuditIndexThread, catch_up
from accord.storage.base import AuditEvent, Store
from accord.storage.sqlite import SQLiteStore


def _through(store: Store) -> int:
    with store._read() as conn:  # type: ignore[attr-defined]
        through: int = conn.execute("SELECT indexed_through FROM audit_index_state").fetchone()[0]
    return through


def _receipt(store: Store, n: int, size: int) -> int:
    items = tuple((f"indicator--{uuid.UUID(int=n * 1000 + i)}", "v", "cert-b", "node") for i in range(size))
    return store.audit_append(AuditEvent("reader", "receive", org="cert-b", items=items), durable=False).seq


def _eventually(check: Callable[[], bool]) -> bool:
    pause = threading.Event()
    for _ in range(600):  # bounded: at most a minute, normally a few tenths of a second
        if check():
            return True
        pause.wait(0.1)
    return False


def test_one_worker_of_a_node_keeps_the_index_close_behind_the_log(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'node.db'}")
    store.initialise()
    try:
        for n in range(5):
            newest = _receipt(store, n, 300)
        assert _through(store) < newest
        first = AuditIndexThread(store, tmp_path / "audit-index.lock", interval_s=0.05)
        second = AuditIndexThread(store, tmp_path / "audit-index.lock", interval_s=0.05)
        assert first.start()
        try:
            assert not second.start()  # another worker of the node: it leaves the job to the first
            assert _eventually(lambda: _through(store) == newest)
            later = _receipt(store, 9, 10)  # appended while the thread runs: picked up too
            assert _eventually(lambda: _through(store) == later)
        finally:
            first.stop()
            second.stop()
        assert [r.seq for r in store.audit_records(stix_id=f"indicator--{uuid.UUID(int=9000)}")] == [later]
    finally:
        store.close()


def test_catch_up_stops_when_asked_or_after_its_steps(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'node.db'}")
    store.initialise()
    try:
        for n in range(4):
            _receipt(store, n, 6_000)  # 6,000 items each: a step of 10,000 takes one entry
        stop = threading.Event()
        stop.set()
        assert catch_up(store, stop) is False  # one step, then it sees the stop
        assert _through(store) == 1
        assert catch_up(store, steps=2) is False  # a command's bounded catch-up
        assert _through(store) == 3
        assert catch_up(store) is True
        assert _through(store) == 4
    finally:
        store.close()
