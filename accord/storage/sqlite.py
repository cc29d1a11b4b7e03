"""SQLite backend: the embedded default.

One writer at a time (``BEGIN IMMEDIATE`` takes the write lock up front, so a transaction never
fails half-way on a lock upgrade) and any number of readers on their own connections (WAL lets
them read while the writer writes). ``synchronous=FULL`` makes a committed transaction durable
against power loss, not only against a killed process.

Because the writer holds the lock for the whole transaction, it can assign primary keys and
``date_added`` itself: both come from the maxima read at ``BEGIN`` and grow by one, which lets
the hot path insert whole batches with ``executemany`` instead of one round trip per row.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import orjson

from accord.errors import ConfigError, NotFoundError, NotInitialisedError, StorageError
from accord.stix.markings import definition_level
from accord.stix.versions import same_content
from accord.storage import migrate
from accord.storage.base import (
    DEFAULT_API_ROOT,
    DEFAULT_COLLECTION_ALIAS,
    Collection,
    PreparedVersion,
    Stats,
    Status,
    VersionQuery,
    WriteResult,
)

Clock = Callable[[], int]
# SQLite's default limit on bound parameters is 32766; stay far below it per statement.
_IN_CHUNK = 500
_VERSION_COLUMNS = "(pk, stix_id, version, type, spec_version, revoked, tlp, content_hash, body)"
_INSERT_VERSION = f"INSERT INTO object_versions {_VERSION_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_VERSION_OR_IGNORE = _INSERT_VERSION.replace("INSERT", "INSERT OR IGNORE", 1)
# A version's observables are deduplicated by stix.observables; IGNORE guards the primary key anyway.
_INSERT_OBSERVABLE = "INSERT OR IGNORE INTO observables (type, value, version_pk) VALUES (?, ?, ?)"
_INSERT_MEMBERSHIP = "INSERT INTO collection_objects (date_added, collection_pk, version_pk) VALUES (?, ?, ?)"
_COLLECTION_COLUMNS = "pk, id, api_root, alias, title, description, default_tlp, created"


def micros_now() -> int:
    return time.time_ns() // 1000


def path_from_url(url: str) -> Path:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(f"not a SQLite URL (expected {prefix}PATH): {url!r}")
    path = url[len(prefix) :]
    if not path or path == ":memory:":
        raise ConfigError("an in-memory SQLite database cannot be shared between commands; give a file path")
    return Path(path)


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA cache_size = -131072")  # 128 MiB of page cache per connection
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path}: {exc}") from exc
    return conn


def _chunks(seq: Sequence[object], size: int = _IN_CHUNK) -> Iterator[Sequence[object]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class SQLiteTransaction:
    """A write transaction holding SQLite's write lock; see the module docstring."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock):
        self._conn = conn
        self._clock = clock
        self._next_pk = conn.execute("SELECT coalesce(max(pk), 0) + 1 FROM object_versions").fetchone()[0]
        self._last_added = conn.execute("SELECT coalesce(max(date_added), 0) FROM collection_objects"
                                        ).fetchone()[0]
        self._levels: dict[str, str] | None = None

    def marking_levels(self) -> dict[str, str]:
        if self._levels is None:
            self._levels = {}
            rows = self._conn.execute("SELECT body FROM object_versions WHERE type = 'marking-definition'")
            for (body,) in rows:
                obj = orjson.loads(body)
                level = definition_level(obj)
                if level is not None:
                    self._levels[obj["id"]] = level
        return self._levels

    def set_tlp(self, fixes: Sequence[tuple[str, str, str | None]]) -> None:
        """Record the effective TLP of versions written earlier in this transaction."""
        self._conn.executemany(
            "UPDATE object_versions SET tlp = ? WHERE stix_id = ? AND version = ?",
            [(tlp, sid, ver) for sid, ver, tlp in fixes],
        )

    def _date_added(self) -> int:
        now = self._clock()
        last: int = now if now > self._last_added else self._last_added + 1
        self._last_added = last
        return last

    def _existing(self, batch: Sequence[PreparedVersion]) -> dict[tuple[str, str], tuple[int, bytes]]:
        ids = list({p.stix_id for p in batch})
        found: dict[tuple[str, str], tuple[int, bytes]] = {}
        for part in _chunks(ids):
            marks = ",".join("?" * len(part))
            for pk, sid, ver, digest in self._conn.execute(
                f"SELECT pk, stix_id, version, content_hash FROM object_versions WHERE stix_id IN ({marks})",
                part,
            ):
                found[(sid, ver)] = (pk, digest)
        return found

    def _members(self, collection_pk: int, pks: list[int]) -> dict[int, int]:
        members: dict[int, int] = {}
        for part in _chunks(pks):
            marks = ",".join("?" * len(part))
            for vpk, added in self._conn.execute(
                f"SELECT version_pk, date_added FROM collection_objects "
                f"WHERE collection_pk = ? AND version_pk IN ({marks})",
                (collection_pk, *part),
            ):
                members[vpk] = added
        return members

    def _same_as_stored(self, pk: int, body: bytes, pending: dict[int, bytes]) -> bool:
        stored = pending.get(pk)  # written earlier in this batch, not yet inserted
        if stored is None:
            row = self._conn.execute("SELECT body FROM object_versions WHERE pk = ?", (pk,)).fetchone()
            stored = row[0] if row is not None else None
        return stored is not None and same_content(stored, body)

    def write(self, collection: Collection, batch: Sequence[PreparedVersion]) -> list[WriteResult]:
        try:
            results = self._write_all_new(collection, batch)
            return results if results is not None else self._write_checked(collection, batch)
        except sqlite3.Error as exc:
            raise StorageError(f"writing {len(batch)} objects failed: {exc}") from exc

    def _note_marking(self, p: PreparedVersion) -> None:
        if p.type == "marking-definition" and self._levels is not None:
            level = definition_level(orjson.loads(p.body))
            if level is not None:
                self._levels[p.stix_id] = level

    def _write_all_new(self, collection: Collection, batch: Sequence[PreparedVersion]) -> list[WriteResult] | None:
        """The common case, a batch of versions never seen before, without looking anything up.

        All rows go in with INSERT OR IGNORE inside a savepoint; if the change count shows that
        one was ignored (stored before, or repeated within the batch), the savepoint is rolled
        back and None sends the batch down the careful path. The unique index does the
        existence check the careful path would otherwise do with a SELECT.
        """
        first_pk, last_added = self._next_pk, self._last_added
        versions = []
        observables: list[tuple[str, str, int]] = []
        memberships = []
        results = []
        pk = first_pk
        for p in batch:
            versions.append((pk, p.stix_id, p.version, p.type, p.spec_version, p.revoked, p.tlp,
                             p.content_hash, p.body))
            if p.observables:
                observables.extend((t, v, pk) for t, v in p.observables)
            added = self._date_added()
            memberships.append((added, collection.pk, pk))
            results.append(WriteResult(p.index, p.stix_id, p.version, Status.STORED, added))
            pk += 1
        conn = self._conn
        conn.execute("SAVEPOINT batch")
        before = conn.total_changes
        conn.executemany(_INSERT_VERSION_OR_IGNORE, versions)
        if conn.total_changes - before != len(versions):
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            self._last_added = last_added
            return None
        if observables:
            conn.executemany(_INSERT_OBSERVABLE, observables)
        conn.executemany(_INSERT_MEMBERSHIP, memberships)
        conn.execute("RELEASE batch")
        self._next_pk = pk
        for p in batch:
            self._note_marking(p)
        return results

    def _write_checked(self, collection: Collection, batch: Sequence[PreparedVersion]) -> list[WriteResult]:
        """Look up every (id, version) first; handles repeats, conflicts and other collections."""
        existing = self._existing(batch)
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
                                 p.content_hash, p.body))
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
            self._conn.executemany(_INSERT_VERSION, versions)
        if observables:
            self._conn.executemany(_INSERT_OBSERVABLE, observables)
        if memberships:
            self._conn.executemany(_INSERT_MEMBERSHIP, memberships)
        return results


class SQLiteStore:
    """The embedded store. ``url`` is ``sqlite:///PATH``."""

    def __init__(self, url: str, *, clock: Clock = micros_now):
        self.url = url
        self.path = path_from_url(url)
        self._clock = clock
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None

    # -- schema ------------------------------------------------------------------------------
    def initialise(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        conn.execute("PRAGMA journal_mode = WAL")  # persistent: recorded in the database file
        conn.close()
        import sqlalchemy as sa  # only `init` needs SQLAlchemy and Alembic; keep other commands quick

        engine = sa.create_engine(f"sqlite:///{self.path}")
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        with self._write() as conn:
            now = self._clock()
            conn.execute(
                "INSERT OR IGNORE INTO api_roots (name, title, description, created) VALUES (?, ?, ?, ?)",
                (DEFAULT_API_ROOT, "Accord", "The node's default TAXII API root", now),
            )
            if conn.execute("SELECT 1 FROM collections WHERE alias = ?", (DEFAULT_COLLECTION_ALIAS,)
                            ).fetchone() is None:
                conn.execute(
                    f"INSERT INTO collections ({_COLLECTION_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)",
                    (str(uuid.uuid4()), DEFAULT_API_ROOT, DEFAULT_COLLECTION_ALIAS, "Default collection",
                     "Where imports go when no collection is named", "amber", now),
                )

    def check_schema(self) -> None:
        if not self.path.exists():
            raise NotInitialisedError(f"no Accord database at {self.path}: run `accord init` first")
        try:
            row = self._reader().execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            row = None  # no alembic_version table: never initialised
        migrate.check_revision(row[0] if row else None)

    def close(self) -> None:
        # Readers first: the last connection to close checkpoints and removes the WAL file,
        # which a read-only connection cannot do, so the writer must be last.
        reader = getattr(self._local, "reader", None)
        if reader is not None:
            reader.close()
            self._local.reader = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- connections -------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if conn is None:
            conn = self._local.reader = _connect(self.path, readonly=True)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            if self._writer is None:
                self._writer = _connect(self.path)
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"cannot start a write transaction: {exc}") from exc
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StorageError(f"commit failed: {exc}") from exc

    @contextmanager
    def transaction(self, *, dry_run: bool = False) -> Iterator[SQLiteTransaction]:
        try:
            with self._write() as conn:
                yield SQLiteTransaction(conn, self._clock)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass

    # -- collections -------------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        rows = self._reader().execute(f"SELECT {_COLLECTION_COLUMNS} FROM collections ORDER BY pk")
        return [Collection(*row) for row in rows]

    def get_collection(self, ref: str) -> Collection:
        row = self._reader().execute(
            f"SELECT {_COLLECTION_COLUMNS} FROM collections WHERE id = ? OR alias = ?", (ref, ref)
        ).fetchone()
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
                conn.execute(
                    f"INSERT INTO collections ({_COLLECTION_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?)",
                    (cid, api_root, alias, title, description, default_tlp, self._clock()),
                )
        except sqlite3.IntegrityError as exc:
            raise StorageError(f"cannot add collection {title!r}: {exc}") from exc
        return self.get_collection(cid)

    # -- reads -------------------------------------------------------------------------------
    def iter_bodies(self, query: VersionQuery) -> Iterator[bytes]:
        sql, params = _version_select(query)
        cur = self._reader().execute(sql, params)
        while rows := cur.fetchmany(2000):
            for (body,) in rows:
                yield body

    def stats(self) -> Stats:
        r = self._reader()
        by_type = dict(r.execute("SELECT type, count(*) FROM object_versions GROUP BY type ORDER BY 2 DESC"))
        by_tlp = dict(r.execute(
            "SELECT coalesce(tlp, 'unmarked'), count(*) FROM object_versions GROUP BY 1 ORDER BY 2 DESC"))
        by_collection = dict(r.execute(
            "SELECT coalesce(c.alias, c.id), count(m.version_pk) FROM collections c "
            "LEFT JOIN collection_objects m ON m.collection_pk = c.pk GROUP BY c.pk ORDER BY c.pk"))
        total = r.execute("SELECT count(*) FROM object_versions").fetchone()[0]
        observables = r.execute("SELECT count(*) FROM observables").fetchone()[0]
        return Stats(total, by_type, by_collection, by_tlp, observables)


class _DryRun(Exception):
    """Raised inside a dry-run transaction to roll it back."""


# v2 is newer than v: a later timestamp key, or for content-versioned objects (keys starting
# with '#', see stix.versions) a later arrival.
_NEWER = ("(v2.version > v.version AND NOT (v2.version LIKE '#%' AND v.version LIKE '#%') "
          "OR (v2.version LIKE '#%' AND v.version LIKE '#%' AND v2.pk > v.pk))")


def _version_select(query: VersionQuery) -> tuple[str, list[object]]:
    params: list[object] = []
    where: list[str] = []
    if query.collection_pk is not None:
        sql = ("SELECT v.body FROM collection_objects m JOIN object_versions v ON v.pk = m.version_pk")
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
        where.append(f"v.type IN ({','.join('?' * len(query.types))})")
        params.extend(query.types)
    if query.latest_only:
        where.append(f"NOT EXISTS ({newer})")
    if where:
        sql += " WHERE " + " AND ".join(where)
    return f"{sql} ORDER BY {order}", params
