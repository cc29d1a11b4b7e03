"""Receipts on SQLite (SQLiteStore.audit_append): a read receipt is written on the connection the
thread read through, so that connection keeps its page cache; everything else still goes through
the writer, and the reader stays unable to write outside a receipt."""

from __future__ import annotations

import sqlite3
import threading
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


def test_a_stream_finished_on_another_thread_is_uncounted_on_the_thread_it_read_on(tmp_path: Path) -> None:
    """A stream dropped unfinished may be closed on another thread (a request's generator
    collected elsewhere): the count it took must be given back where it was taken, so that
    thread's receipts go on the reader again, and no other thread's count moves."""
    store = _store(tmp_path)
    for n in range(3):
        store.audit_append(AuditEvent("operator", f"before-{n}"))
    stream = store.iter_audit()
    next(stream)
    other_threads_count: list[int] = []

    def close_it() -> None:
        store._reader_state()  # this thread has a reader of its own, with no stream on it
        stream.close()
        other_threads_count.append(store._reader_state().streams)

    closer = threading.Thread(target=close_it)
    closer.start()
    closer.join()
    assert other_threads_count == [0] and store._reader_state().streams == 0
    reader_changes = store._reader().total_changes
    store.audit_append(_receipt(1), durable=False)
    assert store._reader().total_changes == reader_changes + 2  # on the reader again: the entry and its item
    store.close()


def test_a_stream_that_failed_is_uncounted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(StorageError):
        list(store._stream("SELECT * FROM no_such_table", ()))
    assert store._reader_state().streams == 0
    store.close()


def test_a_receipt_whose_reader_cannot_begin_is_written_by_the_writer(tmp_path: Path) -> None:
    """A statement still stepping on the reader (one no stream counted) holds an old snapshot
    once another connection commits: BEGIN there fails at once, and the receipt, nothing of it
    written yet, goes through the writer instead of failing the read."""
    store = _store(tmp_path)
    for n in range(3):
        store.audit_append(AuditEvent("operator", f"before-{n}"))
    stepping = store._reader().execute("SELECT seq FROM audit_log ORDER BY seq")
    assert stepping.fetchone() == (1,)
    other = SQLiteStore(store.url)
    other.audit_append(AuditEvent("operator", "meanwhile"))  # another connection commits
    reader_changes = store._reader().total_changes
    record = store.audit_append(_receipt(2), durable=False)
    assert store._reader().total_changes == reader_changes  # not on the reader
    assert [row[0] for row in stepping.fetchall()] == [2, 3]  # the statement went on from its snapshot
    assert [r.seq for r in store.audit_records(action="receive")] == [record.seq] == [5]
    reader = store._reader()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM audit_log")
    assert check_audit_log(store).intact
    other.close()
    store.close()


def test_a_partners_bulk_lookup_leaves_its_readers_cache_valid(tmp_path: Path) -> None:
    """End to end: a partner's lookup of many values writes its receipt on the connection it read
    through, so that connection sees no other connection's commit and the writer wrote nothing."""
    from accord.policy.gate import visibility
    from accord.policy.viewer import Viewer
    from accord.services.ingest import prepare_document, write_prepared
    from accord.services.lookup import BULK_FROM, Lookup
    from accord.stix.markings import TLP2_GREEN
    from accord.stix.stream import Item
    from accord.storage.base import Provenance

    store = _store(tmp_path)
    store.add_org("cert-b", kind="partner")
    store.add_user("bob", org="cert-b", role="reader")
    store.add_agreement("green", parties=["node", "cert-b"], max_tlp="green", onward=False, valid_from=None,
                        valid_until=None, actor="test")
    values = [f"198.51.100.{n}" for n in range(BULK_FROM * 2)]
    objects = [{"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{uuid.UUID(int=n)}", "value": v,
                "object_marking_refs": [TLP2_GREEN]} for n, v in enumerate(values)]
    prepared = prepare_document([Item(i, o) for i, o in enumerate(objects)], store.marking_levels())
    node = store.get_org("node")
    with store.transaction() as tx:
        write_prepared(tx, store.get_collection("default"), Provenance(node.pk, owner_name="node"), prepared)
    lookup = Lookup(store, visibility(store, Viewer.of(store.get_user("bob")), 1_800_000_000_000_000))
    lookup.run(values[:3])  # the reader exists and has read
    reader = store._reader()
    seen, writer_changes = _data_version(reader), store._writer.total_changes  # type: ignore[union-attr]
    results = lookup.run(values)
    assert all(len(r.hits) == 1 for r in results)
    assert _data_version(reader) == seen and store._writer.total_changes == writer_changes  # type: ignore[union-attr]
    [receipt] = [r for r in store.audit_records(action="receive")][-1:]
    assert len(store.audit_items([receipt.seq])[receipt.seq]) == len(values)
    assert check_audit_log(store).intact
    store.close()


class _FailingEnd:
    """A reader connection whose COMMIT and ROLLBACK both fail (a disk gone bad under it)."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql in ("COMMIT", "ROLLBACK"):
            raise sqlite3.OperationalError(f"disk I/O error (simulated, {sql})")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)


def test_a_reader_whose_receipt_could_not_be_ended_is_closed_and_the_lock_let_go(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.audit_append(_receipt(), durable=False)
    state = store._reader_state()
    state.conn = _FailingEnd(state.conn)  # type: ignore[assignment]
    with pytest.raises((StorageError, sqlite3.Error)):
        store.audit_append(_receipt(2), durable=False)
    assert store._reader_state() is not state  # forgotten: the next read opens a fresh reader
    other = SQLiteStore(store.url)
    other.audit_append(AuditEvent("operator", "after"))  # nobody holds SQLite's write lock
    assert [r.action for r in store.audit_records()] == ["receive", "after"]
    assert check_audit_log(store).intact
    other.close()
    store.close()
