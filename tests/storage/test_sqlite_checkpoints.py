"""The SQLite store's checkpointer: committed pages reach the database file on a thread beside the
writer (storage/sqlite.py, _Checkpointer), not inside the COMMIT that wrote them."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from accord.errors import StorageError
from accord.storage import sqlite as sqlite_backend
from accord.storage.sqlite import SQLiteStore


def _store(template_db: Path, tmp_path: Path) -> SQLiteStore:
    path = tmp_path / f"{uuid.uuid4()}.db"
    shutil.copyfile(template_db, path)
    return SQLiteStore(f"sqlite:///{path}")


def _in_database_file(store: SQLiteStore, org: str, tmp_path: Path) -> bool:
    """Whether the database file alone, without its WAL, holds organisation ``org``: only a
    checkpoint puts a committed page there."""
    copy = tmp_path / f"copy-{uuid.uuid4()}.db"
    shutil.copyfile(store.path, copy)
    conn = sqlite3.connect(copy)
    try:
        return bool(conn.execute("SELECT count(*) FROM organisations WHERE name = ?", (org,)).fetchone()[0] == 1)
    finally:
        conn.close()


def _eventually(check: Callable[[], bool], *, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _checkpointers() -> int:
    return sum(t.name == "accord-checkpoint" for t in threading.enumerate())


def test_commits_reach_the_database_file_while_the_store_stays_open(template_db: Path, tmp_path: Path) -> None:
    store = _store(template_db, tmp_path)
    store.add_org("cert-x", kind="partner")
    assert _eventually(lambda: _in_database_file(store, "cert-x", tmp_path))
    store.add_org("cert-y", kind="partner")  # and again after the first checkpoint
    assert _eventually(lambda: _in_database_file(store, "cert-y", tmp_path))
    store.close()


def test_the_commit_leaves_the_checkpoint_to_the_thread_and_close_stops_it(
        template_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the checkpointer told to wait an hour, a commit's pages stay in the WAL (the COMMIT did
    not copy them back), and closing the store neither waits the hour nor loses them: the
    thread stops and the writer, the last connection, checkpoints as it closes."""
    monkeypatch.setattr(sqlite_backend, "CHECKPOINT_AFTER_S", 3600.0)
    before = _checkpointers()
    store = _store(template_db, tmp_path)
    store.add_org("cert-x", kind="partner")
    assert _checkpointers() == before + 1
    assert not _in_database_file(store, "cert-x", tmp_path)
    assert store.get_org("cert-x").name == "cert-x"  # committed all the same
    store.close()
    assert _checkpointers() == before
    assert _in_database_file(store, "cert-x", tmp_path)


def test_a_failed_checkpoint_is_logged_and_the_next_one_goes_on(
        template_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    connect = sqlite_backend._connect
    failing = threading.Event()
    failing.set()

    def flaky(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
        if threading.current_thread().name == "accord-checkpoint" and failing.is_set():
            raise StorageError(f"cannot open SQLite database {path}: disk I/O error")
        return connect(path, readonly=readonly)

    monkeypatch.setattr(sqlite_backend, "_connect", flaky)
    store = _store(template_db, tmp_path)
    with caplog.at_level(logging.WARNING, logger="accord.storage.sqlite"):
        store.add_org("cert-x", kind="partner")
        assert _eventually(lambda: "WAL checkpoint" in caplog.text and "disk I/O error" in caplog.text)
    assert not _in_database_file(store, "cert-x", tmp_path)
    failing.clear()
    store.add_org("cert-y", kind="partner")
    assert _eventually(lambda: _in_database_file(store, "cert-y", tmp_path))
    assert _in_database_file(store, "cert-x", tmp_path)
    store.close()


class _StopArrivesBeforeClear(threading.Event):
    """The checkpointer's commit event, with stop() landing in the one window where it used to be
    lost: after the thread's wait for more commits timed out, just before it clears the event."""

    checkpointer: sqlite_backend._Checkpointer

    def clear(self) -> None:
        self.checkpointer._stop.set()  # what stop() does first ...
        self.set()  # ... and second
        super().clear()


def test_stop_lands_between_the_wait_and_the_clear_and_the_thread_still_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_backend, "CHECKPOINT_AFTER_S", 0.01)
    sqlite3.connect(tmp_path / "c.db").close()
    checkpointer = sqlite_backend._Checkpointer.__new__(sqlite_backend._Checkpointer)
    event = _StopArrivesBeforeClear()
    event.checkpointer = checkpointer
    checkpointer._path = tmp_path / "c.db"
    checkpointer._wrote = event
    checkpointer._stop = threading.Event()
    checkpointer._thread = threading.Thread(target=checkpointer._run, daemon=True)
    checkpointer._thread.start()
    checkpointer.wrote()
    checkpointer._thread.join(timeout=30)
    assert not checkpointer._thread.is_alive(), "the checkpointer waits for a commit after it was stopped"
