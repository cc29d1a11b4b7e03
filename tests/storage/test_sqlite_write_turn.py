"""The SQLite store's write turn (storage/sqlite.py, _WriteTurn): processes sharing a database
take turns to write through a lock file beside it, held exactly while a write transaction is open."""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from accord.storage import sqlite as sqlite_backend
from accord.storage.base import AuditEvent
from accord.storage.sqlite import SQLiteStore


def _held_by_someone(lock_file: Path) -> bool:
    """Whether another open file description holds the turn (tried without waiting)."""
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the lock if this description took it
    return False


def _store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}")
    store.initialise()
    return store


def test_the_turn_is_held_while_a_write_transaction_is_open_and_only_then(tmp_path: Path) -> None:
    store = _store(tmp_path)
    lock_file = tmp_path / "accord.db-write.lock"
    with store.transaction() as tx:
        tx.audit(AuditEvent("tester", "turn-test"))
        assert _held_by_someone(lock_file)
    assert not _held_by_someone(lock_file)
    held_inside: list[bool] = []

    def roll_back() -> None:
        with store.transaction():
            held_inside.append(_held_by_someone(lock_file))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        roll_back()
    assert held_inside == [True] and not _held_by_someone(lock_file)  # given back on rollback too
    store.close()


def test_a_second_writer_waits_for_the_turn_and_then_writes(tmp_path: Path) -> None:
    first, second = _store(tmp_path), SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}")
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with first.transaction() as tx:
            tx.audit(AuditEvent("tester", "turn-test", subject="first"))
            holding.set()
            assert release.wait(10)
            order.append("first commits")

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    waiter = threading.Thread(target=lambda: second.audit_append(AuditEvent("tester", "turn-test", subject="second")))
    waiter.start()
    time.sleep(0.2)
    # Waiting for its turn, not in SQLite's busy handler (which BEGIN IMMEDIATE would be in).
    frame = sys._current_frames().get(waiter.ident or 0)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    assert waiter.is_alive() and "take" in names and "_transaction" not in names
    order.append("released")
    release.set()
    holder.join(10)
    waiter.join(10)
    assert order == ["released", "first commits"]
    assert [r.subject for r in second.audit_records(action="turn-test")] == ["first", "second"]
    first.close()
    second.close()


def test_past_the_wait_the_write_is_left_to_sqlites_own_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A turn held by a process that does not write (here: a bare lock on the file) delays a
    # writer by TURN_WAIT_S at most; SQLite's lock, free, then lets it write.
    store = _store(tmp_path)
    monkeypatch.setattr(sqlite_backend, "TURN_WAIT_S", 0.05)
    fd = os.open(tmp_path / "accord.db-write.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        store.audit_append(AuditEvent("tester", "turn-test", subject="late"))
    finally:
        os.close(fd)
    assert [r.subject for r in store.audit_records(action="turn-test")] == ["late"]
    store.close()


def test_without_a_lock_file_writes_go_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    _store(tmp_path).close()
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}")  # has not opened its lock file yet
    real_open = os.open

    def refuse(path: object, *args: object, **kwargs: object) -> int:
        if str(path).endswith("-write.lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refuse)
    with caplog.at_level(logging.WARNING, logger="accord.storage"):
        store.audit_append(AuditEvent("tester", "turn-test", subject="a"))
        store.audit_append(AuditEvent("tester", "turn-test", subject="b"))
    assert [r.subject for r in store.audit_records(action="turn-test")] == ["a", "b"]
    assert sum("no write turn at" in r.getMessage() for r in caplog.records) == 1  # said once
    store.close()


def test_a_filesystem_without_locks_leaves_writes_to_sqlite_and_durability_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(tmp_path).close()
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}")

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(37, "No locks available")  # ENOLCK, e.g. NFS without a lock manager

    monkeypatch.setattr(fcntl, "flock", no_locks)
    store.audit_append(AuditEvent("tester", "turn-test", subject="receipt"), durable=False)
    store.audit_append(AuditEvent("tester", "turn-test", subject="write"))
    assert [r.subject for r in store.audit_records(action="turn-test")] == ["receipt", "write"]
    assert store._writer is not None and store._writer.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_the_turn_goes_round_when_someone_waits_and_stays_when_nobody_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    slept: list[float] = []
    monkeypatch.setattr(sqlite_backend.time, "sleep", slept.append)

    store.audit_append(AuditEvent("tester", "turn-test", subject="1"))
    store.audit_append(AuditEvent("tester", "turn-test", subject="2"))
    assert slept == []  # nobody waited: taken again at once

    # Another process looking for the turn holds the wait file shared meanwhile.
    waiter = os.open(tmp_path / "accord.db-write.wait", os.O_RDWR)
    fcntl.flock(waiter, fcntl.LOCK_SH)
    store.audit_append(AuditEvent("tester", "turn-test", subject="3"))  # gives it back to a waiter
    fcntl.flock(waiter, fcntl.LOCK_UN)
    os.close(waiter)
    store.audit_append(AuditEvent("tester", "turn-test", subject="4"))
    assert len(slept) == 1 and 0 < slept[0] <= sqlite_backend.TURN_GRACE_S  # let the waiter have it first
    assert [r.subject for r in store.audit_records(action="turn-test")] == ["1", "2", "3", "4"]
    store.close()
