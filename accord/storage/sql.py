"""What the SQL backends share: the write transaction and every query, in one dialect-neutral form.

SQLite (sqlite.py) and PostgreSQL (postgres.py) differ in how they connect, lock and stream,
not in what they store, so the statements live here once. They are written with ``?``
placeholders and only portable SQL (``ON CONFLICT DO NOTHING``, ``substr``);
a backend whose driver wants ``%s`` converts them once through :meth:`SQLStore._sql`.

Every write runs under the backend's write lock (SQLite's ``BEGIN IMMEDIATE``, a PostgreSQL
advisory lock), so while it runs nothing else writes: the transaction can hand out primary
keys and ``date_added`` values from the maxima it read at the start, and ``date_added`` order
is commit order.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import orjson

from accord.errors import AlreadyExistsError, NotFoundError
from accord.stix.versions import same_content
from accord.storage.alerts import AlertQueries
from accord.storage.base import (
    DEFAULT_API_ROOT,
    DEFAULT_COLLECTION_ALIAS,
    AuditEvent,
    AuditRecord,
    Collection,
    ListedVersion,
    PreparedVersion,
    Provenance,
    RowFilter,
    State,
    Stats,
    Status,
    VersionQuery,
    WriteResult,
)
from accord.storage.correlation_queries import CorrelationQueries
from accord.storage.identity import IdentityQueries
from accord.storage.ordering import placeholders, version_order
from accord.storage.overlap import OverlapQueries
from accord.storage.peers import PeerQueries, cursor_order
from accord.storage.search import SearchQueries
from accord.storage.sessions import SessionQueries
from accord.storage.sharing import SharingQueries, append_audit, insert_audit_items, learn_marking, read_marking_levels
from accord.storage.taxii_queries import TaxiiQueries, insert_status

Clock = Callable[[], int]
# Identifiers per IN (...) list; far below SQLite's and PostgreSQL's parameter limits.
_IN_CHUNK = 500
_VERSION_COLUMNS = ("(pk, stix_id, version, type, spec_version, revoked, tlp, content_hash, body, owner_org, "
                    "origin_org, origin_node, author, state, released_by, released_at)")
INSERT_VERSION = (f"INSERT INTO object_versions {_VERSION_COLUMNS} "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_VERSION_IF_NEW = INSERT_VERSION + " ON CONFLICT DO NOTHING"
# A version's observables are deduplicated by stix.observables; the clause guards the key anyway.
INSERT_OBSERVABLE = "INSERT INTO observables (type, value, version_pk) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
INSERT_MEMBERSHIP = "INSERT INTO collection_objects (date_added, collection_pk, version_pk) VALUES (?, ?, ?)"
INSERT_RECIPIENT = "INSERT INTO version_recipients (version_pk, org_pk) VALUES (?, ?) ON CONFLICT DO NOTHING"
COLLECTION_COLUMNS = "pk, id, api_root, alias, title, description, default_tlp, created"


def micros_now() -> int:
    return time.time_ns() // 1000


def _chunks(seq: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class SQLTransaction:
    """One write transaction under the backend's write lock; see the module docstring."""

    _audit_items_into = staticmethod(insert_audit_items)  # as SharingQueries'

    def __init__(self, conn: Any, clock: Clock, sql: Callable[[str], str]):
        self._conn = conn
        self._clock = clock
        self._sql = sql
        self._next_pk = self._one("SELECT coalesce(max(pk), 0) + 1 FROM object_versions")
        self._last_added = self._one("SELECT coalesce(max(date_added), 0) FROM collection_objects")
        self._levels: dict[str, str] | None = None

    def _one(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self._sql(query), params).fetchone()[0]

    def _many(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        cur = self._conn.cursor()
        cur.executemany(self._sql(query), rows)
        count: int = cur.rowcount
        cur.close()
        return count

    def marking_levels(self) -> dict[str, str]:
        if self._levels is None:
            self._levels = read_marking_levels(self._conn)
        return self._levels

    def set_tlp(self, fixes: Sequence[tuple[str, str, str | None]], owner_org: int) -> None:
        """Record the effective TLP of versions written earlier in this transaction."""
        self._many("UPDATE object_versions SET tlp = ? WHERE stix_id = ? AND version = ? AND owner_org = ?",
                   [(tlp, sid, ver, owner_org) for sid, ver, tlp in fixes])

    def audit(self, event: AuditEvent) -> AuditRecord:
        return append_audit(self._conn, self._sql, self._clock(), event, items_into=self._audit_items_into)

    def save_status(self, status_id: str, api_root: str, owner: str, body: bytes) -> None:
        insert_status(self._conn, self._sql, self._clock(), status_id, api_root, owner, body)

    def advance_link(self, link_pk: int, cursor: str, objects: int) -> None:
        row = self._conn.execute(self._sql("SELECT cursor FROM peer_links WHERE pk = ?"), (link_pk,)).fetchone()
        # Two runs of one link at once (a scheduler and `accord sync run`) may commit pages out of
        # order: the cursor only ever moves forward.
        moved = cursor if row is None or row[0] is None or cursor_order(cursor) > cursor_order(row[0]) else row[0]
        self._conn.execute(self._sql("UPDATE peer_links SET cursor = ?, objects = objects + ? WHERE pk = ?"),
                           (moved, objects, link_pk))

    def _date_added(self) -> int:
        now = self._clock()
        last: int = now if now > self._last_added else self._last_added + 1
        self._last_added = last
        return last

    def _note_marking(self, p: PreparedVersion) -> None:
        if p.type == "marking-definition" and self._levels is not None:
            learn_marking(self._levels, orjson.loads(p.body))

    def write(self, collection: Collection, batch: Sequence[PreparedVersion],
              provenance: Provenance) -> list[WriteResult]:
        released = (provenance.author, self._clock()) if provenance.state is State.PUBLISHED else (None, None)
        extra = (provenance.owner_org, provenance.origin_org, provenance.origin_node, provenance.author,
                 provenance.state.value, *released)
        results = self._write_all_new(collection, batch, extra)
        if results is None:
            results = self._write_checked(collection, batch, extra, provenance.owner_org)
        if provenance.recipients:
            stored = [(p.stix_id, p.version) for p, r in zip(batch, results, strict=True) if r.status is Status.STORED]
            self._add_recipients(stored, provenance.owner_org, provenance.recipients)
        return results

    def _add_recipients(self, versions: Sequence[tuple[str, str]], owner_org: int, orgs: Sequence[int]) -> None:
        wanted = set(versions)
        rows: list[tuple[int, int]] = []
        for part in _chunks(list({sid for sid, _ in versions})):
            query = (f"SELECT pk, stix_id, version FROM object_versions WHERE owner_org = ? "
                     f"AND stix_id IN ({placeholders(len(part))})")
            for pk, sid, ver in self._conn.execute(self._sql(query), (owner_org, *part)):
                if (sid, ver) in wanted:
                    rows.extend((pk, org) for org in orgs)
        if rows:
            self._many(INSERT_RECIPIENT, rows)

    def _write_all_new(self, collection: Collection, batch: Sequence[PreparedVersion],
                       extra: tuple[object, ...]) -> list[WriteResult] | None:
        """The common case, a batch of versions never seen before, without looking anything up.

        The versions go in with ON CONFLICT DO NOTHING; if the row count shows that one was
        skipped (stored before, or repeated within the batch), the batch is taken back
        (:meth:`_undo_batch`) and None sends it down the careful path. The unique index does the
        existence check the careful path would otherwise do with a SELECT.
        """
        last_added = self._last_added
        versions = []
        observables: list[tuple[str, str, int]] = []
        memberships = []
        results = []
        first = pk = self._next_pk
        for p in batch:
            versions.append((pk, p.stix_id, p.version, p.type, p.spec_version, p.revoked, p.tlp,
                             p.content_hash, p.body, *extra))
            if p.observables:
                observables.extend((t, v, pk) for t, v in p.observables)
            added = self._date_added()
            memberships.append((added, collection.pk, pk))
            results.append(WriteResult(p.index, p.stix_id, p.version, Status.STORED, added))
            pk += 1
        # Index rows go in key order: neighbouring inserts touch neighbouring index pages. Versions
        # go in primary-key order (input order, which is date_added order), so the table grows at
        # its end in full pages and a collection reads back in the order it is laid out: sorted
        # by id instead, a 1M-object import took as long and made a file 9 % larger.
        observables.sort()
        self._begin_batch()
        if self._many(INSERT_VERSION_IF_NEW, versions) != len(versions):
            self._undo_batch(first, pk)
            self._last_added = last_added
            return None
        if observables:
            self._many(INSERT_OBSERVABLE, observables)
        self._many(INSERT_MEMBERSHIP, memberships)
        self._end_batch()
        self._next_pk = pk
        for p in batch:
            self._note_marking(p)
        return results

    # How _write_all_new takes a batch back. Not a savepoint here: SQLite copies every page a
    # savepoint's statements touch into its sub-journal before changing it, in case of a
    # rollback, and a batch's random keys touch a page of each index per row; that copying was
    # a quarter of a 1M-object import (bench/RESULTS.md). The versions a batch inserted are
    # exactly those with the primary keys it handed out (first up to end; no other row can have
    # them, and nothing refers to them yet), so deleting them undoes the batch as a rollback
    # would. PostgreSQL keeps the savepoint (postgres.py), which costs it no such copying.
    def _begin_batch(self) -> None:
        pass

    def _undo_batch(self, first: int, end: int) -> None:
        self._conn.execute(self._sql("DELETE FROM object_versions WHERE pk >= ? AND pk < ?"), (first, end))

    def _end_batch(self) -> None:
        pass

    def _existing(self, batch: Sequence[PreparedVersion], owner_org: int) -> dict[tuple[str, str], tuple[int, bytes]]:
        found: dict[tuple[str, str], tuple[int, bytes]] = {}
        for part in _chunks(list({p.stix_id for p in batch})):
            query = ("SELECT pk, stix_id, version, content_hash FROM object_versions "
                     f"WHERE owner_org = ? AND stix_id IN ({placeholders(len(part))})")
            for pk, sid, ver, digest in self._conn.execute(self._sql(query), (owner_org, *part)):
                found[(sid, ver)] = (pk, bytes(digest))
        return found

    def _members(self, collection_pk: int, pks: list[int]) -> dict[int, int]:
        members: dict[int, int] = {}
        for part in _chunks(pks):
            query = (f"SELECT version_pk, date_added FROM collection_objects "
                     f"WHERE collection_pk = ? AND version_pk IN ({placeholders(len(part))})")
            for vpk, added in self._conn.execute(self._sql(query), (collection_pk, *part)):
                members[vpk] = added
        return members

    def _same_as_stored(self, pk: int, body: bytes, pending: dict[int, bytes]) -> bool:
        stored = pending.get(pk)  # written earlier in this batch, not yet inserted
        if stored is None:
            row = self._conn.execute(self._sql("SELECT body FROM object_versions WHERE pk = ?"), (pk,)).fetchone()
            stored = bytes(row[0]) if row is not None else None
        return stored is not None and same_content(stored, body)

    def _write_checked(self, collection: Collection, batch: Sequence[PreparedVersion],
                       extra: tuple[object, ...], owner_org: int) -> list[WriteResult]:
        """Look up every (id, version) first; handles repeats, conflicts and other collections.
        Only the owner's own versions count: another organisation's copy of the same (id,
        version) is a different row, never a conflict and never a hint that it exists."""
        existing = self._existing(batch, owner_org)
        members = self._members(collection.pk, [pk for pk, _ in existing.values()]) if existing else {}
        versions: list[tuple[object, ...]] = []
        observables: list[tuple[str, str, int]] = []
        memberships: list[tuple[int, int, int]] = []
        results: list[WriteResult] = []
        pending: dict[int, bytes] = {}
        for p in batch:
            key = (p.stix_id, p.version)
            hit = existing.get(key)
            if hit is None:
                pk = self._next_pk
                self._next_pk += 1
                existing[key] = (pk, p.content_hash)
                pending[pk] = p.body
                versions.append((pk, p.stix_id, p.version, p.type, p.spec_version, p.revoked, p.tlp,
                                 p.content_hash, p.body, *extra))
                observables.extend((t, v, pk) for t, v in p.observables)
                added = members[pk] = self._date_added()
                memberships.append((added, collection.pk, pk))
                results.append(WriteResult(p.index, p.stix_id, p.version, Status.STORED, added))
                self._note_marking(p)
                continue
            pk, digest = hit
            if digest != p.content_hash and not self._same_as_stored(pk, p.body, pending):
                results.append(WriteResult(p.index, p.stix_id, p.version, Status.CONFLICT, None))
            elif pk in members:
                results.append(WriteResult(p.index, p.stix_id, p.version, Status.UNCHANGED, members[pk]))
            else:
                added = members[pk] = self._date_added()
                memberships.append((added, collection.pk, pk))
                results.append(WriteResult(p.index, p.stix_id, p.version, Status.ADDED, added))
        if versions:
            self._many(INSERT_VERSION, versions)
        if observables:
            self._many(INSERT_OBSERVABLE, sorted(observables))
        if memberships:
            self._many(INSERT_MEMBERSHIP, memberships)
        return results


class _DryRun(Exception):
    """Raised inside a dry-run transaction to roll it back."""


class SQLStore(IdentityQueries, TaxiiQueries, SharingQueries, PeerQueries, SessionQueries,
               SearchQueries, CorrelationQueries, OverlapQueries, AlertQueries):
    """Everything a SQL backend does the same way. Subclasses provide connections and locking:

    ``_read()`` yields a connection for reading, ``_write()`` one inside a transaction holding
    the write lock (committed on normal exit), ``_stream()`` iterates a large result without
    loading it and ``_sql`` adapts placeholders.
    ``_read``/``_write``/``_stream`` translate driver errors into Accord errors.
    """

    url: str
    _clock: Clock
    # The write transaction; a backend may specialise its bulk inserts (postgres.py does).
    transaction_class: type[SQLTransaction] = SQLTransaction

    def _sql(self, query: str) -> str:
        return query

    def _among(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` is one of ``values``: the SQL and its parameters. An IN list of
        placeholders here; PostgreSQL overrides it with one array parameter."""
        return f"{column} IN ({placeholders(len(values))})", list(values)

    def _indexed_under(self, index_type: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        """The (type, value, version_pk) rows the observable index holds under ``index_type`` and
        any of ``values``: a statement and its parameters. One seek of the primary key per value
        here (SQLite answers an IN list that way); PostgreSQL overrides it for long lists."""
        among, params = self._among("value", values)
        return f"SELECT type, value, version_pk FROM observables WHERE type = ? AND {among}", [index_type, *params]

    def _read(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _write(self, *, durable: bool = True) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _stream(self, query: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        raise NotImplementedError

    @contextmanager
    def transaction(self, *, dry_run: bool = False, durable: bool = True) -> Iterator[SQLTransaction]:
        try:
            with self._write(durable=durable) as conn:
                # _write translates driver errors raised in here, once, for both backends.
                yield self.transaction_class(conn, self._clock, self._sql)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass

    def _ensure_defaults(self) -> None:
        with self._write() as conn:
            now = self._clock()
            conn.execute(self._sql(
                "INSERT INTO api_roots (name, title, description, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING"), (DEFAULT_API_ROOT, "Accord", "The node's default TAXII API root", now))
            found = conn.execute(self._sql("SELECT 1 FROM collections WHERE alias = ?"),
                                 (DEFAULT_COLLECTION_ALIAS,)).fetchone()
            if found is None:
                self._insert_collection(conn, str(uuid.uuid4()), DEFAULT_API_ROOT, DEFAULT_COLLECTION_ALIAS,
                                        "Default collection", "Where imports go when no collection is named",
                                        "amber")

    def _insert_collection(self, conn: Any, cid: str, api_root: str, alias: str | None, title: str,
                           description: str | None, default_tlp: str) -> None:
        conn.execute(self._sql(
            "INSERT INTO collections (id, api_root, alias, title, description, default_tlp, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)"), (cid, api_root, alias, title, description, default_tlp, self._clock()))

    # -- collections -------------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        with self._read() as conn:
            rows = conn.execute(f"SELECT {COLLECTION_COLUMNS} FROM collections ORDER BY pk").fetchall()
        return [Collection(*row) for row in rows]

    def get_collection(self, ref: str) -> Collection:
        with self._read() as conn:
            row = conn.execute(self._sql(f"SELECT {COLLECTION_COLUMNS} FROM collections WHERE id = ? OR alias = ?"),
                               (ref, ref)).fetchone()
        if row is None:
            raise NotFoundError(f"no collection {ref!r}")
        return Collection(*row)

    def add_collection(
        self, title: str, *, description: str | None = None, default_tlp: str = "amber",
        alias: str | None = None, api_root: str = DEFAULT_API_ROOT,
    ) -> Collection:
        cid = str(uuid.uuid4())
        try:
            with self._write() as conn:
                self._insert_collection(conn, cid, api_root, alias, title, description, default_tlp)
        except AlreadyExistsError as exc:
            raise AlreadyExistsError(f"cannot add collection {title!r}: alias {alias!r} is taken") from exc
        return self.get_collection(cid)

    # -- reads -------------------------------------------------------------------------------
    def iter_bodies(self, query: VersionQuery) -> Iterator[bytes]:
        sql, params = _version_select(query)
        for (body,) in self._stream(self._sql(sql), params):
            yield bytes(body)

    def iter_visible(self, query: VersionQuery, where: RowFilter) -> Iterator[ListedVersion]:
        """Versions passing ``where`` (aliases ``m``, ``v``), in date_added order, each once even if
        it is in several collections; with ``latest_only``, the newest *visible* version of each
        object (a hidden newer version never hides the visible one before it)."""
        inner = [f"({where.sql})"]
        params: list[object] = [*where.params]
        if query.collection_pk is not None:
            inner.append("m.collection_pk = ?")
            params.append(query.collection_pk)
        if query.types:
            inner.append(f"v.type IN ({placeholders(len(query.types))})")
            params.extend(query.types)
        if query.added_after is not None:
            inner.append("m.date_added > ?")
            params.append(query.added_after)
        sql = ("SELECT o.date_added, o.stix_id, o.version, o.spec_version, o.body, o.vpk, o.cpk, o.type, o.owner_org, "
               "o.origin_org, o.state, o.tlp FROM (SELECT m.date_added AS date_added, v.stix_id AS stix_id, "
               "v.version AS version, v.spec_version AS spec_version, v.body AS body, v.pk AS vpk, "
               "m.collection_pk AS cpk, v.type AS type, v.owner_org AS owner_org, v.origin_org AS origin_org, "
               "v.state AS state, v.tlp AS tlp FROM collection_objects m JOIN object_versions v ON v.pk = m.version_pk "
               f"WHERE {' AND '.join(inner)}) o")
        if query.latest_only:
            # From the object's own versions to their memberships (see taxii_queries._SAME_OBJECT).
            sql += (" WHERE NOT EXISTS (SELECT 1 FROM object_versions v CROSS JOIN collection_objects m "
                    f"WHERE m.version_pk = v.pk AND v.stix_id = o.stix_id AND {' AND '.join(inner)} AND "
                    f"{version_order('v', 'o', 'v.pk', 'o.vpk')})")
            params.extend(params[:])
        seen: set[int] = set()
        for added, sid, ver, spec, body, pk, cpk, stix_type, owner, origin, state, tlp in self._stream(
                self._sql(sql + " ORDER BY o.date_added"), params):
            if pk in seen:
                continue
            seen.add(pk)
            yield ListedVersion(added, sid, ver, spec, bytes(body), pk, cpk, stix_type, owner, origin, state, tlp)

    def added_after(self, collection_pk: int, after: int, limit: int) -> list[tuple[int, bytes]]:
        """(date_added, body) of a collection's versions added after ``after``, oldest first.

        The paging primitive behind TAXII's ``added_after``/``next``: because ``date_added``
        grows in commit order, a reader that continues from the last value it saw never
        skips or repeats a version, whatever is written meanwhile.
        """
        with self._read() as conn:
            rows = conn.execute(self._sql(
                "SELECT m.date_added, v.body FROM collection_objects m JOIN object_versions v ON v.pk = m.version_pk "
                "WHERE m.collection_pk = ? AND m.date_added > ? ORDER BY m.date_added LIMIT ?"),
                (collection_pk, after, limit)).fetchall()
        return [(added, bytes(body)) for added, body in rows]

    def stats(self) -> Stats:
        with self._read() as r:
            by_type = dict(r.execute(
                "SELECT type, count(*) FROM object_versions GROUP BY type ORDER BY 2 DESC, 1").fetchall())
            by_tlp = dict(r.execute(
                "SELECT coalesce(tlp, 'unmarked'), count(*) FROM object_versions GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall())
            by_collection = dict(r.execute(
                "SELECT coalesce(c.alias, c.id), count(m.version_pk) FROM collections c "
                "LEFT JOIN collection_objects m ON m.collection_pk = c.pk GROUP BY c.pk ORDER BY c.pk").fetchall())
            total = r.execute("SELECT count(*) FROM object_versions").fetchone()[0]
            # References share the index (stix/references.py) but are not observables.
            observables = r.execute("SELECT count(*) FROM observables WHERE type <> 'ref'").fetchone()[0]
        return Stats(total, by_type, by_collection, by_tlp, observables)


# v2 is a later version of the same object than v.
_NEWER = version_order("v2", "v", "v2.pk", "v.pk")


def _version_select(query: VersionQuery) -> tuple[str, list[object]]:
    params: list[object] = []
    where: list[str] = []
    if query.collection_pk is not None:
        sql = "SELECT v.body FROM collection_objects m JOIN object_versions v ON v.pk = m.version_pk"
        where.append("m.collection_pk = ?")
        params.append(query.collection_pk)
        order = "m.date_added"
        newer = ("SELECT 1 FROM object_versions v2 JOIN collection_objects m2 ON m2.version_pk = v2.pk "
                 f"AND m2.collection_pk = m.collection_pk WHERE v2.stix_id = v.stix_id AND {_NEWER}")
    else:
        sql = "SELECT v.body FROM object_versions v"
        order = "v.pk"
        newer = f"SELECT 1 FROM object_versions v2 WHERE v2.stix_id = v.stix_id AND {_NEWER}"
    if query.types:
        where.append(f"v.type IN ({placeholders(len(query.types))})")
        params.extend(query.types)
    if query.latest_only:
        where.append(f"NOT EXISTS ({newer})")
    if where:
        sql += " WHERE " + " AND ".join(where)
    return f"{sql} ORDER BY {order}", params
