"""Receipts on SQLite (SQLiteStore.audit_append): a read receipt is written on the connection the
thread read through, so that connection keeps its page cache; everything else still goes through
the writer, and the reader stays unable to write outside a receipt."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from accord.errors import StorageError
from accord.services.audit_check import check_audit_log
from accord.storage.base import AuditEvent
from accord.storage.sqlite import SQLiteStore


def _store(tmp_path: Path) -> SQLiteStore:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}")
    store.initialise()
    return store


def _receipt(n: int = 3) -> AuditEvent:
    return AuditEvent("reader", "receive", org="cert-b", detail={"channel": "lookup"},
                      items=tuple((f"indicator--{uuid.UUID(int=i)}", "v1", "cert-b", "node") for i in range(n)))


def _data_version(conn: sqlite3.Connection) -> int:
    """SQLite's count of commits by OTHER connections seen by this one: unchanged, its cache stands."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def test_a_receipt_is_written_on_the_reading_connection_whose_cache_stays_valid(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.audit_append(AuditEvent("operator", "setup"))  # the writer exists and has written
    reader = store._reader()
    assert store.audit_records(action="setup")  # a read on this thread's reader
    seen, writer_changes = _data_version(reader), store._writer.total_changes  # type: ignore[union-attr]

    record = store.audit_append(_receipt(5), durable=False)

    assert _data_version(reader) == seen  # no other connection wrote: the reader's pages stay cached
    assert store._writer.total_changes == writer_changes  # type: ignore[union-attr]
    assert [r.seq for r in store.audit_records(action="receive")] == [record.seq]
    assert len(store.audit_items([record.seq])[record.seq]) == 5
    # A durable append goes through the writer, and the reader sees it as another connection's commit.
    store.audit_append(AuditEvent("operator", "after"))
    assert _data_version(reader) != seen
    assert check_audit_log(store).intact
    store.close()


def test_the_reader_cannot_write_outside_a_receipt(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.audit_append(_receipt(), durable=False)
    reader = store._reader()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM audit_log")
    assert not reader.in_transaction
    assert len(store.audit_records()) == 1
    store.close()


def test_a_receipt_written_while_the_thread_streams_goes_through_the_writer(tmp_path: Path) -> None:
    """A stream's statement may still be stepping on the reader: a transaction there would
    begin and commit under it, so the receipt takes the writer instead."""
    store = _store(tmp_path)
    for n in range(5):
        store.audit_append(AuditEvent("operator", f"before-{n}"))
    writer_changes = store._writer.total_changes  # type: ignore[union-attr]
    stream = store.iter_audit()
    first = next(stream)
    reader_changes = store._reader().total_changes
    store.audit_append(_receipt(2), durable=False)
    assert store._reader().total_changes == reader_changes
    assert store._writer.total_changes == writer_changes + 3  # type: ignore[union-attr]  # the entry, two items
    rest = list(stream)  # the stream goes on, from the snapshot it began with
    assert [first.action, *(r.action for r in rest)] == [f"before-{n}" for n in range(5)]
    store.audit_append(_receipt(2), durable=False)  # the stream is over: on the reader again
    assert store._reader().total_changes == reader_changes + 3
    assert check_audit_log(store).intact
    store.close()


def test_a_failed_receipt_writes_nothing_and_leaves_the_reader_reading(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    store = _store(tmp_path)
    store.audit_append(_receipt(), durable=False)

    def broken(*_: object) -> None:
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(store, "_audit_items_into", broken)
    with pytest.raises(StorageError, match="simulated"):
        store.audit_append(_receipt(4), durable=False)
    monkeypatch.undo()
    reader = store._reader()
    assert not reader.in_transaction
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM audit_log")
    assert len(store.audit_records()) == 1  # the failed entry left nothing, not even its header row
    store.audit_append(_receipt(), durable=False)  # and the chain goes on from the entry before
    assert [r.seq for r in store.audit_records()] == [1, 2]
    assert check_audit_log(store).intact
    store.close()


def test_a_reader_of_a_missing_database_does_not_create_one(tmp_path: Path) -> None:
    store = SQLiteStore(f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(StorageError):
        store.audit_records()
    assert not (tmp_path / "absent.db").exists()
