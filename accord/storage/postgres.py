"""PostgreSQL backend: the same store for a national node with many partners and API workers.

Connections come from a psycopg 3 pool. Writers serialise on one transaction-scoped advisory
lock, taken as the first statement of every write transaction and released by its commit.
That is what keeps ``date_added`` unique and strictly increasing in commit order with several
processes writing: a sequence alone would not, because a transaction that draws a value first
can commit last, and a reader paging with ``added_after`` would skip it. Under the lock, the
next writer starts only after the previous one committed, and reads the maxima it continues
from in a statement that sees that commit (READ COMMITTED). Readers never take the lock.

The cost is one writer at a time per node, as with SQLite; docs/operations.md says when that
stops being enough and what comes next.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from accord.audit.chain import GENESIS, entry_tail
from accord.errors import AlreadyExistsError, ConfigError, NotInitialisedError, StorageError
from accord.storage import migrate
from accord.storage.base import (
    AuditEvent,
    AuditItem,
    AuditRecord,
    Collection,
    ListedVersion,
    PreparedVersion,
    Provenance,
    RowFilter,
    WriteResult,
)
from accord.storage.sharing import AUDIT_HEAD, entry_detail
from accord.storage.sql import (
    INSERT_MEMBERSHIP,
    INSERT_OBSERVABLE,
    INSERT_VERSION,
    INSERT_VERSION_IF_NEW,
    Clock,
    SQLStore,
    SQLTransaction,
    micros_now,
)

# The advisory lock every writer takes: an arbitrary constant ("accord" in ASCII).
WRITE_LOCK_KEY = 0x6163636F7264
POOL_MAX = 8
# Rows fetched per round trip when streaming a large result through a server-side cursor.
STREAM_ROWS = 2000


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _staged(insert: str, types: Sequence[str]) -> tuple[str, str, str, Sequence[str]]:
    """For ``insert`` (``INSERT INTO t (cols) VALUES (?, ...) [tail]``): the staging table's name,
    the COPY into it, the INSERT ... SELECT from it (with the same tail) and the COPY types."""
    head, _, rest = insert.partition(" VALUES (")
    _, _, tail = rest.partition(")")
    table, _, columns = head.removeprefix("INSERT INTO ").partition(" ")
    stage = f"accord_stage_{table}"
    return (stage, f"COPY {stage} {columns} FROM STDIN (FORMAT BINARY)",
            f"INSERT INTO {table} {columns} SELECT {columns.strip('()')} FROM {stage}{tail}", types)


_VERSION_TYPES = ("int4", "text", "text", "text", "text", "bool", "text", "bytea", "bytea", "int4", "int4",
                  "text", "text", "text", "text", "int8")
# The batch inserts of the write path, each through a staging table (see PostgresTransaction).
_STAGED = {
    INSERT_VERSION_IF_NEW: _staged(INSERT_VERSION_IF_NEW, _VERSION_TYPES),
    INSERT_VERSION: _staged(INSERT_VERSION, _VERSION_TYPES),
    INSERT_OBSERVABLE: _staged(INSERT_OBSERVABLE, ("text", "text", "int4")),
    INSERT_MEMBERSHIP: _staged(INSERT_MEMBERSHIP, ("int8", "int4", "int4")),
}
# Session-local, empty outside a batch: emptied after each use, and at commit in any case.
_CREATE_STAGING = "; ".join(
    f"CREATE TEMP TABLE IF NOT EXISTS accord_stage_{table} (LIKE {table}) ON COMMIT DELETE ROWS"
    for table in ("object_versions", "observables", "collection_objects"))


_COPY_AUDIT_ITEMS = "COPY audit_items (seq, stix_id, version, recipient, owner) FROM STDIN"


def copy_audit_items(conn: Any, sql: Callable[[str], str], seq: int, items: Sequence[AuditItem]) -> None:
    """An audit entry's item rows through one COPY: a bulk lookup's receipt names 5,000 versions,
    and the pipelined INSERTs of ``executemany`` took ~50 ms where the COPY takes ~25 (most of it
    the server placing each item in the by-object index)."""
    with conn.cursor() as cur, cur.copy(_COPY_AUDIT_ITEMS) as copy:
        for sid, ver, rcpt, owner in items:
            copy.write_row((seq, sid, ver, rcpt, owner))


class PostgresTransaction(SQLTransaction):
    """The shared write transaction, with its batch inserts sent through COPY.

    ``executemany`` (which psycopg already pipelines) has the server run one INSERT per row and
    the client encode each row as a statement's parameters. Here a batch is streamed with a
    binary ``COPY ... FROM STDIN`` into a temporary staging table, moved with one ``INSERT ...
    SELECT`` carrying the same ON CONFLICT clause, and the staging table truncated. The row
    count (rows inserted) and the errors are those of the rows' own INSERTs, so the callers in
    sql.py (the savepoint and row-count check of ``_write_all_new``) cannot tell the difference.

    The staging tables are made (if this session has none yet) by the first ``write`` of a
    transaction, before ``_write_all_new`` opens its savepoint, so rolling a batch back never
    takes them away.
    """

    _staging_ready = False
    _audit_items_into = staticmethod(copy_audit_items)

    def write(self, collection: Collection, batch: Sequence[PreparedVersion],
              provenance: Provenance) -> list[WriteResult]:
        if not self._staging_ready:
            self._conn.execute(_CREATE_STAGING)
            self._staging_ready = True
        return super().write(collection, batch, provenance)

    # A savepoint around each batch of _write_all_new: rolling back to it costs PostgreSQL
    # nothing per page, where deleting the batch's versions again would have the server check
    # each deleted row against the tables that still refer to versions (alerts has no index
    # on version_pk for that).
    def _begin_batch(self) -> None:
        self._conn.execute("SAVEPOINT batch")

    def _undo_batch(self, first: int, end: int) -> None:
        self._conn.execute("ROLLBACK TO SAVEPOINT batch")
        self._conn.execute("RELEASE SAVEPOINT batch")

    def _end_batch(self) -> None:
        self._conn.execute("RELEASE SAVEPOINT batch")

    def _many(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        staged = _STAGED.get(query)
        if staged is None or not rows or not self._staging_ready:
            return super()._many(query, rows)
        stage, copy_in, move, types = staged
        with self._conn.cursor() as cur:
            with cur.copy(copy_in) as copy:
                copy.set_types(types)
                for row in rows:
                    copy.write_row(row)
            cur.execute(move)
            count: int = cur.rowcount
            cur.execute(f"TRUNCATE {stage}")
        return count


def _refresh_due(commits: int) -> bool:
    """Refresh after commits 8, 16, 32, 64, then every 128: often while a store is young and
    growing fast (a bulk load outruns autovacuum), rarely once autovacuum keeps up."""
    return commits >= 8 and (commits & (commits - 1) == 0 or commits % 128 == 0)


def _refresh_statistics(conn: psycopg.Connection[Any]) -> None:
    """ANALYZE the tables every listing reads. With statistics from when the collection was
    small, PostgreSQL sorted the whole collection for a page of 100 (3.8 s at 1M objects)
    instead of walking the date_added index and stopping after 101 rows."""
    try:
        with conn.transaction():
            conn.execute("ANALYZE object_versions, collection_objects, observables")
    except psycopg.Error:
        pass  # statistics are an optimisation; never fail a write or a close over them


_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_LOCK_NOT_DURABLE = "SELECT pg_advisory_xact_lock(%s), set_config('synchronous_commit', 'off', true)"


PIPELINED_ITEMS = 100  # receipts naming up to this many versions are pipelined (PostgresStore.audit_append)

# ``_field(seq)`` of accord/audit/chain.py in SQL, for the bigint {seq}: the tag "I", the length
# of its decimal digits as 8 big-endian bytes, the digits (test_postgres_chains_a_receipt_itself).
_SEQ_FIELD = "'\\x49'::bytea || int8send(length({seq}::text)::int8) || convert_to({seq}::text, 'UTF8')"

# One statement that appends an entry after the chain's head it reads itself and hashes it as
# audit/chain.entry_hash does (the previous hash, the sequence number's encoding, then the rest,
# encoded by the caller: chain.entry_tail), with its items. It must run after the write lock is
# held, in a statement of its own: PostgreSQL takes a statement's snapshot when the statement
# starts, so a head read in the statement that takes the lock could miss an entry committed
# while it waited.
_APPEND_AFTER_HEAD = (
    f"WITH head AS ({AUDIT_HEAD}), "
    "chained AS (SELECT coalesce(head.seq, 0) + 1 AS seq, coalesce(head.hash, %s) AS prev "
    "FROM (SELECT 1) AS one LEFT JOIN head ON true), "
    "entry AS (INSERT INTO audit_log (seq, at, actor, org, action, agreement, subject, detail, prev_hash, hash) "
    "SELECT c.seq, %s, %s, %s, %s, %s, %s, %s, c.prev, "
    f"sha256(c.prev || {_SEQ_FIELD.format(seq='c.seq')} || %s) FROM chained AS c RETURNING seq, prev_hash, hash), "
    "items AS (INSERT INTO audit_items (seq, stix_id, version, recipient, owner) "
    "SELECT entry.seq, i.stix_id, i.version, i.recipient, i.owner FROM entry, "
    "unnest(%s::text[], %s::text[], %s::text[], %s::text[]) AS i (stix_id, version, recipient, owner)) "
    "SELECT seq, prev_hash, hash FROM entry")

AMONG_AS_ARRAY_FROM = 100  # longer lists than this are bound as one array (see PostgresStore._among)


class PostgresStore(SQLStore):
    """``url`` is ``postgresql://user@host:port/dbname`` (libpq URL syntax)."""

    transaction_class = PostgresTransaction
    _audit_items_into = staticmethod(copy_audit_items)
    _body_like = "convert_from(v.body, 'UTF8') ILIKE ? ESCAPE '\\'"
    _slash_position = "strpos(value, '/')"
    _code_point_order = ' COLLATE "C"'

    def __init__(self, url: str, *, clock: Clock = micros_now, pool_max: int = POOL_MAX,
                 connect_timeout: float = 10.0):
        if not is_postgres_url(url):
            raise ConfigError(f"not a PostgreSQL URL: {url!r}")
        self.url = url
        self._clock = clock
        self._pool_max = pool_max
        self._connect_timeout = connect_timeout
        self._pool: ConnectionPool | None = None
        self._converted: dict[str, str] = {}
        self._commits = 0
        self._wrote = False

    def _among(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        # A long list is one array parameter instead of thousands of placeholders: psycopg parses
        # a statement's placeholders in Python (a quarter of a 10,000-value lookup's time went to
        # it), and each length would be another statement text to convert, cache and plan. A
        # short one stays a list of placeholders: with an array, the plan psycopg prepares after
        # a few runs does not know how long it is, and a single lookup took twice as long.
        if len(values) <= AMONG_AS_ARRAY_FROM:
            return super()._among(column, values)
        # %b: sent in binary, where psycopg's text form runs a regular expression per element
        # to decide its quoting (13 ms for a bulk lookup's 17,000 index values).
        return f"{column} = ANY(%b)", [list(values)]

    def _indexed_under(self, index_type: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        # With thousands of values in one ``value = ANY(...)``, PostgreSQL estimated that a
        # bitmap or sequential scan of the type's whole range beat one probe per value, and took
        # ~120 ms where the probes take ~40 (10,000 values at 1M). A LATERAL subquery the planner
        # cannot flatten (OFFSET 0) makes it one primary-key probe per value, whatever the
        # estimate; short lists keep the plain form (see _among).
        # Probed in sorted order, neighbours in the index one after the other: the pages a probe
        # reads are still in the buffer cache for the next (10,000 values at 1M: 63-100 -> 56-60
        # ms for that statement).
        if len(values) <= AMONG_AS_ARRAY_FROM:
            return super()._indexed_under(index_type, values)
        return ("SELECT x.type, x.value, x.version_pk FROM unnest(%b::text[]) AS k(value) CROSS JOIN LATERAL "
                "(SELECT type, value, version_pk FROM observables WHERE type = ? AND value = k.value OFFSET 0) x",
                [sorted(values), index_type])

    def _keyed_versions(self, by_type: dict[str, list[str]], types: Sequence[str], where: RowFilter,
                        ) -> list[tuple[str, str, ListedVersion]]:
        # A few keys (a single lookup probes a value and its parent domains or networks) in one
        # statement, one round trip instead of two: the join of a few index rows to their
        # versions costs the server what the two statements cost it. Many keys keep the two
        # statements, whose fetch in primary-key order is what makes a bulk lookup cheap.
        if sum(map(len, by_type.values())) > AMONG_AS_ARRAY_FROM:
            return super()._keyed_versions(by_type, types, where)
        return self._joined_versions(by_type, (), types, where, None)

    def audit_append(self, event: AuditEvent, *, durable: bool = True) -> AuditRecord:
        # A receipt (not durable) naming few versions, as every partner's read writes one: one
        # round trip, a pipeline of the lock and _APPEND_AFTER_HEAD, which the server runs as one
        # implicit transaction ending at the pipeline's sync. Sent a statement at a time it took
        # six round trips (0.65 ms of a 1.1 ms single lookup on a machine with 0.1 ms round
        # trips), and two while the head was read and the entry hashed here. COPY cannot run
        # inside a pipeline, so a receipt of thousands of items takes the ordinary path.
        if durable or len(event.items) > PIPELINED_ITEMS:
            return super().audit_append(event, durable=durable)
        # The time is read before the lock is held (the hash needs it, and the lock is taken in
        # the same round trip): under contention a receipt's time may precede that of the entry
        # before it by the time it waited. The log's order is seq, which nothing reads by time.
        at, detail = self._clock(), entry_detail(event)
        tail = entry_tail(at, event.actor, event.org, event.action, event.agreement, event.subject, detail)
        columns = list(zip(*event.items, strict=True)) if event.items else [(), (), (), ()]
        with self._pool_().connection() as conn:
            try:
                with conn.pipeline():
                    conn.execute(_LOCK_NOT_DURABLE, (WRITE_LOCK_KEY,))
                    appended = conn.execute(_APPEND_AFTER_HEAD, (
                        GENESIS, at, event.actor, event.org, event.action, event.agreement, event.subject, detail,
                        tail, *(list(column) for column in columns)))
                row = appended.fetchone()
            except psycopg.Error as exc:
                raise StorageError(f"PostgreSQL write failed: {exc}") from exc
        assert row is not None  # the INSERT ... SELECT writes exactly one entry
        self._wrote = True
        seq, prev, digest = row
        return AuditRecord(seq, at, event.actor, event.org, event.action, event.agreement, event.subject, detail,
                           bytes(prev), bytes(digest))

    def _sql(self, query: str) -> str:
        converted = self._converted.get(query)
        if converted is None:
            converted = self._converted[query] = query.replace("?", "%s")
        return converted

    # -- connections -------------------------------------------------------------------------
    def _pool_(self) -> ConnectionPool:
        if self._pool is None:
            pool: ConnectionPool = ConnectionPool(
                self.url, min_size=1, max_size=self._pool_max, open=False,
                # JIT compiles a plan when its cost estimate is high; Accord's queries are short index
                # walks whose estimates are pessimistic (a correlated check per row), and compiling
                # them took 0.5 s for a search that runs in 25 ms.
                kwargs={"autocommit": True, "options": "-c jit=off"})
            try:
                pool.open(wait=True, timeout=self._connect_timeout)
            except psycopg.Error as exc:
                raise StorageError(f"cannot connect to PostgreSQL at {self._redacted()}: {exc}") from exc
            except Exception as exc:  # the pool reports a failed first connection as PoolTimeout
                pool.close()
                raise StorageError(f"cannot connect to PostgreSQL at {self._redacted()}: {exc}") from exc
            self._pool = pool
        return self._pool

    def _redacted(self) -> str:
        """The URL without a password, for messages and logs."""
        head, sep, tail = self.url.partition("@")
        if not sep:
            return self.url
        scheme, _, userinfo = head.partition("://")
        return f"{scheme}://{userinfo.split(':', 1)[0]}@{tail}"

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool_().connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL read failed: {exc}") from exc

    def _stream(self, query: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        try:
            with self._pool_().connection() as conn, conn.transaction(), \
                    conn.cursor(name=f"accord_{uuid.uuid4().hex}") as cur:
                cur.itersize = STREAM_ROWS
                cur.execute(query, params)
                yield from cur
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL read failed: {exc}") from exc

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[psycopg.Connection[Any]]:
        with self._pool_().connection() as conn:
            try:
                with conn.transaction():
                    # Not durable (see SQLStore.audit_append): SET LOCAL synchronous_commit = off,
                    # as set_config(..., true) in the same round trip as the lock. Durable: the
                    # server's own setting stands (an operator's remote_apply, say).
                    conn.execute(_LOCK if durable else _LOCK_NOT_DURABLE, (WRITE_LOCK_KEY,))
                    yield conn
            except psycopg.errors.IntegrityError as exc:
                raise AlreadyExistsError(str(exc)) from exc
            except psycopg.Error as exc:
                raise StorageError(f"PostgreSQL write failed: {exc}") from exc
            self._wrote = True
            # Receipts and session touches (durable=False) do not change what listings plan over;
            # counted, they made one reader in a few dozen pay for an ANALYZE (0.4 s at 100k).
            if durable:
                self._commits += 1
                if _refresh_due(self._commits):
                    _refresh_statistics(conn)

    def wrote(self) -> bool:
        return self._wrote

    def close(self) -> None:
        if self._pool is not None:
            if self._commits:  # e.g. after an import: the next reader plans with the new sizes
                with self._pool.connection() as conn:
                    _refresh_statistics(conn)
            self._pool.close()
            self._pool = None

    # -- schema ------------------------------------------------------------------------------
    def initialise(self) -> None:
        import sqlalchemy as sa  # only `init` needs SQLAlchemy and Alembic

        engine = sa.create_engine(self.url.replace("postgres://", "postgresql://", 1)
                                  .replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                # Two `accord init` at once must not both run the migrations.
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({WRITE_LOCK_KEY})")
                try:
                    migrate.upgrade(engine)
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({WRITE_LOCK_KEY})")
        except sa.exc.OperationalError as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {self._redacted()}: {exc.orig}") from exc
        finally:
            engine.dispose()
        self._ensure_defaults()

    def schema_revision(self) -> str | None:
        try:
            with self._pool_().connection() as conn:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
        except psycopg.Error as exc:
            raise StorageError(f"cannot read the Accord schema at {self._redacted()}: {exc}") from exc
        return str(row[0]) if row else None

    def check_schema(self) -> None:
        migrate.check_revision(self.schema_revision())



__all__ = ["NotInitialisedError", "PostgresStore", "is_postgres_url"]
