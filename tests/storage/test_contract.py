"""The storage contract (storage/base.py), run against every backend.

Backends are parametrized through the ``store`` fixture (``backend`` in tests/conftest.py):
every test here runs on SQLite and on PostgreSQL unchanged.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from accord.errors import NotFoundError, NotInitialisedError
from accord.stix.versions import body_hash
from accord.storage.base import PreparedVersion, Status, Store, VersionQuery
from accord.storage.postgres import PostgresStore
from accord.storage.sqlite import SQLiteStore
from tests.conftest import StepClock, node_provenance


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: StepClock) -> Iterator[Store]:
    s: Store
    if backend == "sqlite":
        s = SQLiteStore(f"sqlite:///{tmp_path / 'contract.db'}", clock=clock)
    else:
        s = PostgresStore(request.getfixturevalue("pg_url"), clock=clock)
    s.initialise()
    yield s
    s.close()


def version(stix_id: str, modified: str = "2026-01-01T00:00:00.000000000Z", *, index: int = 0,
            extra: dict[str, object] | None = None, observables: list[tuple[str, str]] | None = None,
            revoked: bool = False) -> PreparedVersion:
    obj = {"type": stix_id.split("--")[0], "id": stix_id, "modified": modified, **(extra or {})}
    body = orjson.dumps(obj)
    return PreparedVersion(index=index, stix_id=stix_id, version=modified, type=obj["type"],
                           spec_version="2.1", revoked=revoked, tlp=None, content_hash=body_hash(body),
                           body=body, observables=observables or [])


IND = "indicator--11111111-1111-4111-8111-111111111111"
MAL = "malware--22222222-2222-4222-8222-222222222222"


def write(store: Store, *versions: PreparedVersion, collection: str = "default") -> list[Status]:
    coll = store.get_collection(collection)
    with store.transaction() as tx:
        return [r.status for r in tx.write(coll, list(versions), node_provenance(store))]


def bodies(store: Store, **query: object) -> list[dict[str, object]]:
    return [orjson.loads(b) for b in store.iter_bodies(VersionQuery(**query))]  # type: ignore[arg-type]


def test_new_then_identical_is_unchanged_with_same_date_added(store: Store) -> None:
    coll = store.get_collection("default")
    with store.transaction() as tx:
        first = tx.write(coll, [version(IND)], node_provenance(store))
    with store.transaction() as tx:
        again = tx.write(coll, [version(IND)], node_provenance(store))
    assert first[0].status is Status.STORED
    assert again[0].status is Status.UNCHANGED
    assert again[0].date_added == first[0].date_added
    assert store.stats().total_versions == 1


def test_same_version_different_content_is_a_conflict_and_keeps_the_original(store: Store) -> None:
    assert write(store, version(IND, extra={"name": "original"})) == [Status.STORED]
    assert write(store, version(IND, extra={"name": "forged"})) == [Status.CONFLICT]
    assert [b["name"] for b in bodies(store)] == ["original"]


def reordered_copy(stix_id: str) -> PreparedVersion:
    v = version(stix_id, extra={"name": "n", "description": "d"})
    v.body = orjson.dumps(dict(reversed(list(orjson.loads(v.body).items()))))
    v.content_hash = body_hash(v.body)
    return v


def test_same_content_in_another_key_order_is_unchanged_not_a_conflict(store: Store) -> None:
    write(store, version(IND, extra={"name": "n", "description": "d"}))
    reordered = version(IND)
    obj = orjson.loads(reordered.body)
    reordered.body = orjson.dumps({"description": "d", **obj, "name": "n"})
    reordered.content_hash = body_hash(reordered.body)
    assert write(store, reordered) == [Status.UNCHANGED]
    assert write(store, version(MAL, extra={"name": "n", "description": "d"}), reordered_copy(MAL)) == [
        Status.STORED, Status.UNCHANGED]  # within one batch too
    assert write(store, version(IND, extra={"name": "n", "description": "other"})) == [Status.CONFLICT]


def test_conflict_within_one_batch(store: Store) -> None:
    statuses = write(store, version(IND, extra={"name": "a"}), version(IND, extra={"name": "b"}),
                     version(IND, extra={"name": "a"}))
    assert statuses == [Status.STORED, Status.CONFLICT, Status.UNCHANGED]


def test_a_batch_that_falls_back_to_the_careful_path_leaves_no_trace_of_its_first_try(store: Store) -> None:
    """A batch with a version stored before is first written as all-new, found out by the row
    count, taken back and written again carefully; batches before and after it in the same
    transaction keep every row, and no row of the first try is left over."""
    def v(n: int, name: str = "x") -> PreparedVersion:
        return version(f"indicator--{n:08d}-1111-4111-8111-111111111111", index=n, extra={"name": name},
                       observables=[("domain-name", f"d{n}.example")])

    coll = store.get_collection("default")
    with store.transaction() as tx:
        first = tx.write(coll, [v(1), v(2), v(3)], node_provenance(store))
        mixed = tx.write(coll, [v(4), v(2), v(5), v(5), v(6, "a"), v(6, "b")], node_provenance(store))
        after = tx.write(coll, [v(7), v(8)], node_provenance(store))
    assert [r.status for r in first + after] == [Status.STORED] * 5
    assert [r.status for r in mixed] == [Status.STORED, Status.UNCHANGED, Status.STORED, Status.UNCHANGED,
                                         Status.STORED, Status.CONFLICT]
    stored = [r for r in first + mixed + after if r.status is Status.STORED]
    assert [r.date_added for r in stored] == sorted({r.date_added for r in stored})
    names = sorted((b["id"][11:19], b["name"]) for b in bodies(store))
    assert names == [(f"{n:08d}", "a" if n == 6 else "x") for n in range(1, 9)]
    assert store.stats().observables == 8
    assert store.stats().by_collection == {"default": 8}


def test_new_version_is_stored_beside_the_old(store: Store) -> None:
    write(store, version(IND, "2026-01-01T00:00:00.000000000Z", extra={"name": "v1"}))
    write(store, version(IND, "2026-02-01T00:00:00.000000000Z", extra={"name": "v2"}))
    assert [b["name"] for b in bodies(store)] == ["v1", "v2"]
    assert [b["name"] for b in bodies(store, latest_only=True)] == ["v2"]


def test_date_added_is_unique_and_increasing_across_transactions(store: Store) -> None:
    coll = store.get_collection("default")
    seen: list[int] = []
    for n in range(5):
        with store.transaction() as tx:
            batch = [version(f"indicator--{n:08d}-0000-4000-8000-{i:012d}", index=i) for i in range(50)]
            seen.extend(r.date_added for r in tx.write(coll, batch, node_provenance(store)) if r.date_added is not None)
    assert len(seen) == 250
    assert seen == sorted(seen)
    assert len(set(seen)) == len(seen)


def test_date_added_never_goes_back_when_the_clock_does(tmp_path: Path) -> None:
    times = iter([5_000, 4_000, 4_000, 1_000] + [1_000] * 50)
    s = SQLiteStore(f"sqlite:///{tmp_path / 'c.db'}", clock=lambda: next(times))
    s.initialise()
    coll = s.get_collection("default")
    with s.transaction() as tx:
        batch = [version(IND, index=0), version(MAL, index=1)]
        added = [r.date_added for r in tx.write(coll, batch, node_provenance(s))]
    assert added[0] is not None and added[1] is not None
    assert added[1] > added[0]
    s.close()


def test_failed_transaction_leaves_nothing(store: Store) -> None:
    coll = store.get_collection("default")
    with pytest.raises(RuntimeError), store.transaction() as tx:  # noqa: PT012 - the write must precede the failure
        tx.write(coll, [version(IND, observables=[("domain-name", "example.org")])], node_provenance(store))
        raise RuntimeError("boom")
    assert store.stats().total_versions == 0
    assert store.stats().observables == 0


def test_dry_run_stores_nothing(store: Store) -> None:
    coll = store.get_collection("default")
    with store.transaction(dry_run=True) as tx:
        assert [r.status for r in tx.write(coll, [version(IND)], node_provenance(store))] == [Status.STORED]
    assert store.stats().total_versions == 0


def test_same_version_in_a_second_collection_is_added_not_duplicated(store: Store) -> None:
    other = store.add_collection("Second", alias="second")
    write(store, version(IND))
    assert write(store, version(IND), collection="second") == [Status.ADDED]
    assert write(store, version(IND), collection="second") == [Status.UNCHANGED]
    stats = store.stats()
    assert stats.total_versions == 1
    assert stats.by_collection == {"default": 1, "second": 1}
    assert len(bodies(store, collection_pk=other.pk)) == 1


def test_type_filter_and_collection_order(store: Store) -> None:
    write(store, version(MAL, index=0), version(IND, index=1))
    coll = store.get_collection("default")
    assert [b["type"] for b in bodies(store, collection_pk=coll.pk)] == ["malware", "indicator"]
    assert [b["type"] for b in bodies(store, types=("indicator",))] == ["indicator"]


def test_revoked_versions_are_kept_and_readable(store: Store) -> None:
    write(store, version(IND, extra={"revoked": True}, revoked=True))
    assert bodies(store)[0]["revoked"] is True


def test_observables_are_indexed(store: Store) -> None:
    write(store, version(IND, observables=[("domain-name", "example.org"), ("ipv4-addr", "192.0.2.1")]))
    assert store.stats().observables == 2


def test_unknown_collection(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_collection("no-such-collection")


def test_initialise_is_idempotent(store: Store) -> None:
    before = store.collections()
    store.initialise()
    assert store.collections() == before


def test_uninitialised_database_is_refused(tmp_path: Path) -> None:
    s = SQLiteStore(f"sqlite:///{tmp_path / 'never-initialised.db'}")
    with pytest.raises(NotInitialisedError, match="accord init"):
        s.check_schema()


def test_uninitialised_postgres_database_is_refused(pg_template: str) -> None:
    from tests.conftest import _pg_admin, _pg_url

    name = f"accord_empty_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE DATABASE {name}")
    try:
        s = PostgresStore(_pg_url(name))
        with pytest.raises(NotInitialisedError, match="accord init"):
            s.check_schema()
        s.close()
    finally:
        _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_concurrent_writers_get_commit_ordered_date_added(store: Store) -> None:
    """Writers in several threads: sorting by date_added gives the order their writes committed."""
    coll = store.get_collection("default")
    commit_order: list[int] = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for k in range(10):
            sid = f"indicator--{n:08d}-0000-4000-8000-{k:012d}"
            with store.transaction() as tx:
                (r,) = tx.write(coll, [version(sid)], node_provenance(store))
                with lock:  # still inside the transaction, so list order is commit order
                    assert r.date_added is not None
                    commit_order.append(r.date_added)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(commit_order) == 40
    assert commit_order == sorted(commit_order)


def test_paging_reader_never_skips_or_repeats_under_concurrent_writers(backend: str, store: Store) -> None:
    """Several writers, each with its own store (as separate API workers would be), commit small
    batches while a reader pages with added_after; the reader ends with every version exactly once."""
    url = store.url
    writers = 3 if backend == "postgres" else 2
    per_writer, batch = 60, 3
    coll = store.get_collection("default")
    done = threading.Event()

    def writer(n: int) -> None:
        own = PostgresStore(url) if backend == "postgres" else SQLiteStore(url)
        try:
            for k in range(0, per_writer, batch):
                with own.transaction() as tx:
                    tx.write(coll, [version(f"indicator--{n:08d}-0000-4000-8000-{k + i:012d}", index=i)
                                    for i in range(batch)], node_provenance(own))
        finally:
            own.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    seen: list[str] = []
    cursor = 0
    pages = 0
    while True:
        finished = done.is_set()
        page = store.added_after(coll.pk, cursor, 7)
        pages += 1
        for added, body in page:
            assert added > cursor
            cursor = added
            seen.append(orjson.loads(body)["id"])
        if not page and finished:
            break
        if all(not t.is_alive() for t in threads):
            done.set()
    for t in threads:
        t.join()
    assert len(seen) == writers * per_writer, f"{len(seen)} seen in {pages} pages"
    assert len(set(seen)) == len(seen)


def test_a_receipt_written_without_waiting_for_the_disk_is_committed(backend: str, store: Store) -> None:
    """audit_append(durable=False) (partners' read receipts) commits like any other write, and on
    SQLite the writer goes back to synchronous=FULL for the writes after it."""
    from accord.storage.base import AuditEvent

    record = store.audit_append(AuditEvent("reader", "receive", items=(("indicator--x", "v", "org", None),)),
                                durable=False)
    other = PostgresStore(store.url) if backend == "postgres" else SQLiteStore(store.url)
    try:
        assert [r.seq for r in other.audit_records(action="receive")] == [record.seq]
    finally:
        other.close()
    if backend == "sqlite":
        with store._write() as conn:  # type: ignore[attr-defined]
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_receipt_of_thousands_of_items_keeps_each_exactly_and_the_chain_verifies(store: Store) -> None:
    """A bulk lookup's receipt names thousands of versions; PostgreSQL writes them with COPY
    (postgres.copy_audit_items), which must keep every value as the row INSERTs did: missing
    recipients and owners stay NULL, tabs, backslashes, newlines and non-ASCII text survive,
    and the entry's items digest still matches what is read back."""
    from accord.services.audit_check import check_audit_log
    from accord.storage.base import AuditEvent

    awkward = ("a\\tb\tc", "line\nbreak", "\\N", "Ελλάδα", "quote'\"")
    items = tuple((f"indicator--{uuid.UUID(int=i)}", f"v{i}" if i % 7 else awkward[i % 5],
                   None if i % 11 == 0 else "cert-b", None if i % 13 == 0 else awkward[i % 5])
                  for i in range(2_500))
    record = store.audit_append(AuditEvent("reader", "receive", org="cert-b", items=items), durable=False)
    with store.transaction() as tx:  # the write transaction's path too
        inside = tx.audit(AuditEvent("alerts", "receive", org="cert-b", items=items[:300]))
    found = store.audit_items([record.seq, inside.seq])
    assert sorted(found[record.seq], key=str) == sorted(items, key=str)
    assert sorted(found[inside.seq], key=str) == sorted(items[:300], key=str)
    assert check_audit_log(store).intact


def test_an_entrys_items_are_read_through_an_index_not_a_scan_of_the_log(backend: str, store: Store) -> None:
    """Store.audit_items (an object page's receipts, the audit views by object) must not read
    every item of the log to find one entry's: with only the by-object index it did (1.9 s at
    1.4M items). Judged on the plan, not the clock."""
    from accord.storage.base import AuditEvent

    for n in range(40):
        store.audit_append(AuditEvent("reader", "receive", org="cert-b",
                                      items=tuple((f"indicator--{uuid.UUID(int=n * 100 + i)}", "v", "cert-b", "node")
                                                  for i in range(50))))
    (record,) = store.audit_records(action="receive", newest_first=True, limit=1)
    assert len(store.audit_items([record.seq])[record.seq]) == 50
    query = "SELECT seq, stix_id FROM audit_items WHERE seq IN (?, ?)"
    with store._read() as conn:  # type: ignore[attr-defined]
        if backend == "sqlite":
            plan = " ".join(str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {query}", (1, record.seq)))
            assert "INDEX ix_audit_items_entry" in plan, plan
        else:
            conn.execute("SET enable_seqscan = off")  # 2,000 rows: a scan would be cheapest anyway
            try:
                plan = " ".join(r[0] for r in conn.execute(f"EXPLAIN {query.replace('?', '%s')}", (1, record.seq)))
            finally:
                conn.execute("RESET enable_seqscan")
            assert "ix_audit_items_entry" in plan, plan


def _by_object_views(store: Store, ids: list[str]) -> tuple[object, ...]:
    """Every read that finds audit entries by object: the entries naming each id, and the
    retraction feed of each organisation."""
    return (tuple(tuple(r.seq for r in store.audit_records(stix_id=sid)) for sid in ids),
            tuple(tuple(r.seq for r in store.audit_records(stix_id=sid, action="receive", newest_first=True, limit=2))
                  for sid in ids),
            tuple(tuple(store.retractions_received(org, after=0, limit=100)) for org in ("cert-b", "cert-c")))


def _indexed_rows(store: Store) -> list[tuple[str, int]]:
    with store._read() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute("SELECT stix_id, seq FROM audit_object_index ORDER BY stix_id, seq")]


def test_reads_by_object_are_the_same_wherever_the_by_object_index_has_reached(store: Store) -> None:
    """Receipt items are indexed by object behind the appends (migration 0017): a read by object
    takes the index up to its watermark and the entries after it item by item. Every step of
    the indexing must leave every such read exactly as it was, and the end state must be the
    index of every (object, entry) pair, each once."""
    from accord.services.audit_check import check_audit_log
    from accord.storage.base import AuditEvent

    ids = [f"indicator--{uuid.UUID(int=n)}" for n in range(1, 9)]
    # Receipts of various sizes, one naming two versions of one object, entries without items,
    # subjects that name an object, retractions before and after what was received.
    store.audit_append(AuditEvent("a", "retract", org="cert-a", items=((ids[0], "v1", None, "cert-a"),)))
    store.audit_append(AuditEvent("r", "receive", org="cert-b", items=tuple((sid, "v1", "cert-b", "cert-a")
                                                                          for sid in ids[:5])), durable=False)
    store.audit_append(AuditEvent("op", "write", subject=ids[6]))
    store.audit_append(AuditEvent("r", "receive", org="cert-c",
                                  items=((ids[1], "v1", "cert-c", "cert-a"), (ids[1], "v2", "cert-c", "cert-a"),
                                         (ids[5], "v1", "cert-c", "cert-a"))))
    store.audit_append(AuditEvent("a", "retract", org="cert-a",
                                  items=((ids[0], "v1", None, "cert-a"), (ids[1], "v2", None, "cert-a"))))
    store.audit_append(AuditEvent("r", "receive", org="cert-b", items=tuple((sid, "v1", "cert-b", "cert-a")
                                                                          for sid in ids[2:])), durable=False)
    store.audit_append(AuditEvent("a", "retract", org="cert-a", items=((ids[7], "v1", None, "cert-a"),)))
    expected = _by_object_views(store, ids)
    # What is expected, said plainly for a few: who was named, and which retractions each partner gets.
    assert expected[0][0] == (1, 2, 5)
    assert expected[0][6] == (3, 6)
    assert expected[2][0] == ((5, store.audit_records(action="retract")[1].at, ids[0], "v1"),
                              (7, store.audit_records(action="retract")[2].at, ids[7], "v1"))
    assert [r[2:] for r in expected[2][1]] == [(ids[1], "v2")]
    assert _indexed_rows(store) == []  # nothing indexed yet: every read above took the tail

    steps = 0
    while store.index_audit_objects(most=2):  # a step of (about) two items: one entry at a time here
        steps += 1
        assert _by_object_views(store, ids) == expected
    assert steps >= 3
    assert _by_object_views(store, ids) == expected
    assert store.index_audit_objects() is False  # caught up: nothing more, nothing changed
    items = store.audit_items([r.seq for r in store.audit_records()])
    assert _indexed_rows(store) == sorted({(sid, seq) for seq, its in items.items() for sid, _, _, _ in its})

    # Appends after that are read from the tail again, beside what is indexed.
    store.audit_append(AuditEvent("r", "receive", org="cert-c", items=((ids[0], "v1", "cert-c", "cert-a"),)))
    assert [r.seq for r in store.audit_records(stix_id=ids[0])] == [1, 2, 5, 8]
    assert store.index_audit_objects() is False  # one step took the rest
    assert [r.seq for r in store.audit_records(stix_id=ids[0])] == [1, 2, 5, 8]
    assert check_audit_log(store).intact


def test_one_indexing_step_takes_whole_entries_however_large(store: Store) -> None:
    """A step is bounded by items, but an entry is indexed whole (the watermark is an entry):
    one larger than the bound is one step of its own."""
    from accord.storage.base import AuditEvent

    big = tuple((f"indicator--{uuid.UUID(int=n)}", "v", "cert-b", "node") for n in range(1, 31))
    store.audit_append(AuditEvent("r", "receive", org="cert-b", items=big[:4]))
    store.audit_append(AuditEvent("r", "receive", org="cert-b", items=big))
    store.audit_append(AuditEvent("r", "receive", org="cert-b", items=big[:3]))
    assert store.index_audit_objects(most=10) is True  # the first entry (4 items), not the 30 after it
    assert {seq for _, seq in _indexed_rows(store)} == {1}
    assert store.index_audit_objects(most=10) is True  # the 30-item entry alone
    assert len(_indexed_rows(store)) == 4 + 30
    assert store.index_audit_objects(most=10) is False
    assert len(_indexed_rows(store)) == 4 + 30 + 3


def test_a_store_knows_whether_it_has_written(backend: str, store: Store, request: pytest.FixtureRequest,
                                              tmp_path: Path) -> None:
    """``Store.wrote``: what a command's exit decides on (see cli/context.py)."""
    from accord.storage.base import AuditEvent

    fresh: Store = (SQLiteStore(store.url, clock=request.getfixturevalue("clock")) if backend == "sqlite"
                    else PostgresStore(store.url))
    try:
        assert fresh.wrote() is False
        fresh.stats()
        fresh.audit_records()
        assert fresh.wrote() is False
        fresh.audit_append(AuditEvent("reader", "receive", org="cert-b", items=(("x--1", "v", "cert-b", "n"),)),
                           durable=False)
        assert fresh.wrote() is True
    finally:
        fresh.close()


def test_the_by_object_index_follows_a_log_cut_short(store: Store) -> None:
    """A log whose newest entries were deleted (tampering, or a hand repair; `accord audit
    verify` reports it) must not leave the index naming entries that are gone, nor skipping
    the entries later appended under the same seqs."""
    from accord.storage.base import AuditEvent

    first, second = (f"indicator--{uuid.UUID(int=n)}" for n in (1, 2))
    for sid in (first, first, second):
        store.audit_append(AuditEvent("r", "receive", org="cert-b", items=((sid, "v", "cert-b", "node"),)))
    assert store.index_audit_objects() is False
    with store._write() as conn:  # type: ignore[attr-defined]
        conn.execute("DELETE FROM audit_items WHERE seq >= 2")
        conn.execute("DELETE FROM audit_log WHERE seq >= 2")
    assert store.index_audit_objects() is False  # the watermark comes back to the newest entry
    assert _indexed_rows(store) == [(first, 1)]
    store.audit_append(AuditEvent("r", "receive", org="cert-b", items=((second, "v", "cert-b", "node"),)))
    assert [r.seq for r in store.audit_records(stix_id=first)] == [1]
    assert [r.seq for r in store.audit_records(stix_id=second)] == [2]
    assert store.index_audit_objects() is False
    assert _indexed_rows(store) == [(first, 1), (second, 2)]
    assert [r.seq for r in store.audit_records(stix_id=second)] == [2]


def test_receipts_appended_at_once_from_many_threads_keep_one_unbroken_chain(store: Store) -> None:
    """Each entry hashes the one before it, so the head must be read under the write lock; on
    PostgreSQL a small receipt sends the lock and that read in one pipelined round trip, which
    must still run them in that order."""
    from accord.services.audit_check import check_audit_log
    from accord.storage.base import AuditEvent

    def append(worker: int) -> None:
        for n in range(15):
            store.audit_append(AuditEvent(f"reader-{worker}", "receive", org="cert-b",
                                          items=((f"indicator--{uuid.UUID(int=worker * 100 + n)}", "v", "cert-b",
                                                  "node"),)), durable=False)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [r.seq for r in store.audit_records(action="receive")]
    assert len(seqs) == 60 and seqs == list(range(seqs[0], seqs[0] + 60))
    assert check_audit_log(store).intact


def test_postgres_chains_a_receipt_itself_exactly_as_the_chain_hashes_it(pg_url: str) -> None:
    """A small receipt on PostgreSQL is appended by one statement that reads the chain's head and
    hashes the entry in SQL (PostgresStore.audit_append). Its hash must be the one
    audit/chain.entry_hash gives: from an empty log (the genesis hash), across sequence numbers
    of one, two and three digits (the number's encoding carries its length), with fields that
    are missing or not ASCII, and with entries hashed in Python between them."""
    from accord.audit.chain import _field, entry_hash
    from accord.services.audit_check import check_audit_log
    from accord.storage.base import AuditEvent
    from accord.storage.postgres import _SEQ_FIELD

    store = PostgresStore(pg_url)
    try:
        with store._write() as conn:
            conn.execute("TRUNCATE audit_log, audit_items")
            for n in (1, 9, 10, 99, 100, 12_345_678_901):
                assert bytes(conn.execute(f"SELECT {_SEQ_FIELD.format(seq='%s::int8')}", (n, n)).fetchone()[0]) \
                    == _field(n)
        receipts = []
        for n in range(1, 106):
            event = AuditEvent(f"reader-{n % 3}", "receive", org=None if n % 4 == 0 else "cert-b",
                               agreement=None if n % 2 else "a-b", subject="Ελλάδα" if n % 5 == 0 else None,
                               detail={"channel": "lookup", "n": n},
                               items=tuple((f"indicator--{uuid.UUID(int=n * 1000 + i)}", f"v{i}",
                                            None if i % 3 == 0 else "cert-b", None if i % 2 else "node")
                                           for i in range(n % 4)))
            if n % 10 == 0:
                store.audit_append(event)  # durable: the chain's head is read and hashed here, not in SQL
                continue
            record = store.audit_append(event, durable=False)
            receipts.append(record)
            assert record.hash == entry_hash(record.prev_hash, record.seq, record.at, record.actor, record.org,
                                             record.action, record.agreement, record.subject, record.detail)
        assert receipts[0].seq == 1 and receipts[0].prev_hash == b"\x00" * 32
        stored = {r.seq: r for r in store.audit_records(action="receive")}
        assert [stored[r.seq] for r in receipts] == receipts
        assert len(stored) == 105
        assert check_audit_log(store).intact
    finally:
        store.close()


def test_postgres_small_receipt_is_all_or_nothing_and_keeps_its_items_exactly(pg_url: str) -> None:
    """The one-statement receipt: item values that need quoting in an array survive as they
    were; a receipt without items writes no item rows; one the database refuses (an item it
    cannot store) leaves no entry and no item, and the chain goes on from the entry before;
    and the commit setting it lowers is gone from the pooled connection afterwards."""
    from accord.errors import StorageError
    from accord.services.audit_check import check_audit_log
    from accord.storage.base import AuditEvent

    store = PostgresStore(pg_url, pool_max=1)  # one connection: the one the receipts used
    try:
        with store._read() as conn:
            server = conn.execute("SHOW synchronous_commit").fetchone()[0]
        awkward = ("NULL", "a b", 'x"y\\z{}', "", "Ελλάδα,\n")
        items = tuple((f"indicator--{uuid.UUID(int=i)}", awkward[i], awkward[-1 - i], None if i == 2 else awkward[i])
                      for i in range(5))
        kept = store.audit_append(AuditEvent("reader", "receive", org="cert-b", items=items), durable=False)
        empty = store.audit_append(AuditEvent("reader", "receive", org="cert-b"), durable=False)
        # PostgreSQL text holds no NUL: the second item is refused, and with it the whole receipt.
        refused = (("indicator--x", "v", "cert-b", None), ("indicator--\x00", "v", None, None))
        with pytest.raises(StorageError):
            store.audit_append(AuditEvent("reader", "receive", org="cert-b", items=refused), durable=False)
        after = store.audit_append(AuditEvent("reader", "receive", org="cert-b", items=items[:1]), durable=False)
        assert (kept.seq + 1, kept.seq + 2) == (empty.seq, after.seq) and after.prev_hash == empty.hash
        found = store.audit_items([kept.seq, empty.seq, after.seq])
        assert sorted(found[kept.seq], key=str) == sorted(items, key=str)
        assert empty.seq not in found and found[after.seq] == list(items[:1])
        with store._read() as conn:
            assert conn.execute("SELECT count(*) FROM audit_items WHERE stix_id = 'indicator--x'").fetchone()[0] == 0
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == server
        assert check_audit_log(store).intact
    finally:
        store.close()


def test_postgres_receipts_skip_the_commit_wait_and_other_writes_keep_the_servers_setting(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        with store._read() as conn:
            server = conn.execute("SHOW synchronous_commit").fetchone()[0]
        with store._write(durable=False) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"
        with store._write() as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == server
        with store._read() as conn:  # SET LOCAL: gone with the transaction
            assert conn.execute("SHOW synchronous_commit").fetchone()[0] == server
    finally:
        store.close()


def test_org_names_are_kept_and_read_again_for_an_organisation_added_elsewhere(store: Store) -> None:
    node = store.get_org("node").pk
    assert store.org_names([node])[node] == "node"
    # Another process (here: another store object on the same database) adds an organisation.
    other = PostgresStore(store.url) if isinstance(store, PostgresStore) else SQLiteStore(store.url)  # type: ignore[attr-defined]
    try:
        added = other.add_org("late-comer").pk
    finally:
        other.close()
    assert added not in store.org_names()  # the kept copy, no statement
    assert store.org_names([added, None])[added] == "late-comer"


def test_postgres_import_never_scans_the_versions_it_grows(pg_url: str) -> None:
    """Rows that refer to versions are not checked one by one against object_versions: the
    server planned that check once per connection, as a sequential scan while the table was
    nearly empty, and then scanned the whole table for every row of a large import."""
    store = PostgresStore(pg_url)
    try:
        coll = store.get_collection("default")
        with store.transaction() as tx:
            def batch(start: int, n: int) -> list[PreparedVersion]:
                return [version(f"indicator--{i:08d}-1111-4111-8111-111111111111", index=i,
                                observables=[("domain-name", f"d{i}.example")]) for i in range(start, start + n)]

            for start in range(0, 20):  # the first rows one at a time, while the table is small
                tx.write(coll, batch(start, 1), node_provenance(store))
            tx.write(coll, batch(20, 1000), node_provenance(store))
            tx.write(coll, batch(1020, 1000), node_provenance(store))
            scans = tx._conn.execute(  # type: ignore[attr-defined]
                "SELECT pg_stat_get_xact_numscans('object_versions'::regclass)").fetchone()[0]
        assert scans < 20, f"{scans} sequential scans of object_versions for 2,020 versions"
    finally:
        store.close()
