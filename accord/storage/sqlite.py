"""SQLite backend: the embedded default.

One writer at a time (``BEGIN IMMEDIATE`` takes the write lock up front, so a transaction never
fails half-way on a lock upgrade) and any number of readers on their own connections (WAL lets
them read while the writer writes). ``synchronous=FULL`` makes a committed transaction durable
against power loss, not only against a killed process. The statements are shared with the
PostgreSQL backend (storage/sql.py).

Checkpoints (copying the WAL back into the database file) run on a thread of their own beside
the writer (:class:`_Checkpointer`), not inside the COMMIT that fills the WAL past SQLite's
threshold: a checkpoint writes and syncs every page changed since the last one, which for a
store's random-key indexes is most of what was written, and inside COMMIT it cost a sync of
1M objects 40 of its 110 seconds (bench/RESULTS.md). SQLite's own automatic checkpoint stays,
at a higher threshold, as the backstop for a checkpointer that cannot keep up.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from accord.errors import AlreadyExistsError, ConfigError, NotInitialisedError, StorageError
from accord.storage import migrate
from accord.storage.base import AuditEvent, AuditRecord
from accord.storage.sharing import append_audit
from accord.storage.sql import Clock, SQLStore, micros_now

__all__ = ["SQLiteStore", "micros_now"]

log = logging.getLogger(__name__)

# sqlite3 binds exact ints, floats, strs and bytearrays directly; every other parameter (bytes,
# None, bool) first goes through its adapter registry, and finding no adapter there it tries two
# attribute lookups before binding the value as it is: ~400 ns per parameter, and a version row
# binds six or seven such parameters (its body, content hash, revoked flag, missing provenance).
# Registered, the conversion sqlite3 would make anyway ends the search at the first dictionary
# hit: writing 200k prepared versions took ~20 % less time (bench/RESULTS.md). Process-wide, and
# they change nothing any sqlite3 user receives: bytes(b) is b itself, a bool binds as its int,
# None as NULL.
sqlite3.register_adapter(bytes, bytes)
sqlite3.register_adapter(bool, int)
# {}.get: a callable in C that returns None for any argument (a def here would cost a Python call).
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))


def path_from_url(url: str) -> Path:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigError(f"not a SQLite URL (expected {prefix}PATH): {url!r}")
    path = url[len(prefix) :]
    if not path or path == ":memory:":
        raise ConfigError("an in-memory SQLite database cannot be shared between commands; give a file path")
    return Path(path)


READER_MMAP_BYTES = 2**31
# WAL pages (4 KiB) past which a COMMIT checkpoints by itself: 256 MiB. Under steady writes the
# WAL only starts over from its beginning when a transaction begins with all of it copied back,
# which the thread's checkpoints rarely leave it (the writer appends while they copy), so this
# is where it starts over: at 64 MiB the commits checkpointed inline about as often as before
# and a 1M-object sync took 114 s instead of 92 (bench/RESULTS.md).
BACKSTOP_PAGES = 65_536
CHECKPOINT_AFTER_S = 1.0  # how long the checkpointer gathers commits before checkpointing them
LONG_LIST = 100  # index values of one type from which a lookup binds them as one JSON array


def _connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """The writer's connection, or (``readonly``) a reader's: opened for writing as well, since a
    reader writes the receipts of its own reads (:meth:`SQLiteStore.audit_append`), but held to
    ``query_only`` outside them, so that no other statement on it can write."""
    try:
        # mode=rw: never creates the file (a reader of a missing store gets an error, not an empty file).
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None, check_same_thread=False) \
            if readonly else sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        # A reader writes only receipts, which are not durable (SQLStore.audit_append).
        conn.execute("PRAGMA synchronous = NORMAL" if readonly else "PRAGMA synchronous = FULL")
        # Page cache: 128 MiB for the one writer (index pages of a bulk import stay hot); 8 MiB per
        # reader, of which a server has one per worker thread (up to 40): 128 MiB each made a
        # server's RSS grow with the store towards gigabytes. Readers miss into the OS page cache,
        # which costs a system call, not a disk read, and is not the process's memory.
        conn.execute("PRAGMA cache_size = -8192" if readonly else "PRAGMA cache_size = -131072")
        conn.execute("PRAGMA temp_store = MEMORY")
        if readonly:
            # Readers map the database file instead of copying each page out of the OS page cache
            # with a system call: a bulk lookup fetching 5,000 versions at random took a third of
            # the time (bench/RESULTS.md). The pages mapped are the OS's page cache, shared by
            # every reader and reclaimable, though RSS counts those a process touched. SQLite caps
            # the size at its build's limit (2 GiB for Python's); the rest is read as before.
            conn.execute(f"PRAGMA mmap_size = {READER_MMAP_BYTES}")
            conn.execute("PRAGMA query_only = ON")
        # The writer checkpoints by itself only past 256 MiB of log (SQLite's default is 4 MiB):
        # the checkpointer thread (_Checkpointer) normally does it first, off the commit's path.
        # A TAXII POST dirties index pages all over the file, and copying them back (with an
        # fsync) after every few requests cost a quarter of the POST rate at 200k objects.
        # Durability is the same (every commit still syncs the WAL).
        conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path}: {exc}") from exc
    return conn


# Write transactions between two refreshes of the planner statistics on a long-lived writer.
STATISTICS_EVERY = 64


def refresh_statistics(conn: sqlite3.Connection) -> None:
    """Refresh the query planner's statistics, sampling a bounded number of rows per index.

    Without statistics SQLite guesses that the (collection, date_added) index is as selective
    as the (collection, version) one and answers a TAXII match[id] by walking a whole collection
    (16 ms at 100k objects instead of 0.2 ms). analysis_limit keeps this to milliseconds at any
    size, so it runs whenever a writer that wrote closes.
    """
    try:
        conn.execute("PRAGMA analysis_limit = 1000")
        conn.execute("ANALYZE")
    except sqlite3.Error:
        pass  # statistics are an optimisation; never fail a close over them


class _Checkpointer:
    """Copies the WAL back into the database on a thread beside the writer.

    Woken by each commit, it waits ``CHECKPOINT_AFTER_S`` so that one checkpoint covers the
    commits of that second (a page several of them changed is written back once), then runs a
    PASSIVE checkpoint on its own connection: it copies what no reader still needs, never waits
    for a reader or the writer, and runs outside Python's global lock, so the writer goes on
    preparing and writing meanwhile. Nothing about durability changes: a commit is durable
    once its WAL frames are synced, before any checkpoint. A failed checkpoint is logged and
    left to the next one (or to the writer's own, past BACKSTOP_PAGES)."""

    def __init__(self, path: Path):
        self._path = path
        self._wrote = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="accord-checkpoint", daemon=True)
        self._thread.start()

    def wrote(self) -> None:
        self._wrote.set()

    def stop(self) -> None:
        self._stop.set()
        self._wrote.set()
        self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            # _stop is looked at before each wait for a commit: stop() may set both events just
            # after _stop.wait timed out and just before the clear() below, which then takes its
            # wake-up away. Waiting for the next commit then waited for ever, and so did stop()
            # (a test run hung in SQLiteStore.close until CI's limit).
            while not self._stop.is_set():
                self._wrote.wait()
                if self._stop.wait(CHECKPOINT_AFTER_S):
                    break
                self._wrote.clear()
                try:
                    conn = conn or _connect(self._path)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except (sqlite3.Error, StorageError) as exc:
                    log.warning("WAL checkpoint of %s failed (the next one retries): %s", self._path, exc)
                except Exception:  # a bug: logged, and the thread goes on (the backstop covers it)
                    log.exception("WAL checkpoint of %s failed unexpectedly", self._path)
        finally:
            if conn is not None:
                conn.close()


# How long a process waits for its turn to write before leaving it to SQLite's own lock (whose
# busy timeout then applies as before), and how often it looks meanwhile.
TURN_WAIT_S = 30.0
TURN_POLL_S = 0.0005
# How long a process that gave the turn back while another waited for it lets pass before it
# takes the turn again: long enough for the waiting one to look (every TURN_POLL_S).
TURN_GRACE_S = 0.0015


class _WriteTurn:
    """Whose turn it is to write, among the processes that share one database file.

    SQLite lets one connection write at a time; another that tries waits in SQLite's busy
    handler, which sleeps between tries for 1, 2, 5, 10, 15, 20, 25 ... 100 ms. Behind a writer
    holding the lock for ~20 ms (a TAXII request of 500 objects), the next one woke up to 13 ms
    late and the lock sat idle meanwhile: four `accord serve` workers POSTing at once kept one
    of two CPUs busy. A process first takes an exclusive lock on a file beside the database
    (``<database>-write.lock``), looking every half millisecond, so the lock passes from one
    writer to the next within that. The kernel drops the locks of a process that dies.

    While it looks, a process holds a shared lock on a second file (``<database>-write.wait``).
    One that gives the turn back and finds that lock held (someone is waiting) lets TURN_GRACE_S
    pass before it takes the turn again, so the turn goes round; with nobody waiting it takes it
    again at once. Without that, a process committing back to back kept the turn: a single write
    from another process waited 0.5 s at the median behind 20 ms transactions.

    Nothing depends on the turn for correctness: a writer that does not take it (an older
    version, or a directory where the files cannot be made) is still excluded by SQLite's own
    lock."""

    def __init__(self, path: Path):
        self._path = path.with_name(path.name + "-write.lock")
        self._wait_path = path.with_name(path.name + "-write.wait")
        self._fd: int | None = None
        self._wait_fd: int | None = None
        self._failed = False
        self._yield_until = float("-inf")  # time.monotonic() before which not to take it again

    def take(self) -> bool:
        """Wait for the turn; False when there is no turn to take (the files cannot be made, or
        cannot be locked) or TURN_WAIT_S passed (SQLite's lock decides then)."""
        if self._failed:
            return False
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                self._wait_fd = os.open(self._wait_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            grace = self._yield_until - time.monotonic()
            if grace > 0:
                time.sleep(grace)
            if self._try(self._fd, fcntl.LOCK_EX):
                return True
            return self._wait(self._fd, cast(int, self._wait_fd))
        except OSError as exc:  # no file, or a filesystem without locks: SQLite's lock alone, said once
            self._failed = True
            log.warning("no write turn at %s (writers then queue on SQLite's lock alone): %s", self._path, exc)
            return False

    def _wait(self, turn_fd: int, wait_fd: int) -> bool:
        deadline = time.monotonic() + TURN_WAIT_S
        waiting = False  # whether this process's shared lock on the wait file is held
        try:
            while True:
                # Said again on every look: a giver checking for waiters holds the wait file
                # exclusively for an instant, and a shared lock cannot be had meanwhile.
                waiting = waiting or self._try(wait_fd, fcntl.LOCK_SH)
                time.sleep(TURN_POLL_S)
                if self._try(turn_fd, fcntl.LOCK_EX):
                    return True
                if time.monotonic() >= deadline:
                    return False
        finally:
            if waiting:
                fcntl.flock(wait_fd, fcntl.LOCK_UN)

    @staticmethod
    def _try(fd: int, operation: int) -> bool:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def give(self) -> None:
        if self._fd is None or self._wait_fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            if self._try(self._wait_fd, fcntl.LOCK_EX):  # nobody waiting
                fcntl.flock(self._wait_fd, fcntl.LOCK_UN)
            else:
                self._yield_until = time.monotonic() + TURN_GRACE_S
        except OSError as exc:  # closing the files (at close()) drops the locks in any case
            log.warning("could not give the write turn back at %s: %s", self._path, exc)

    def close(self) -> None:
        for fd in (self._fd, self._wait_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._wait_fd = None


class _NotBegun(StorageError):
    """A write transaction could not even begin: nothing of it was written."""


class _Reader:
    """A thread's reader connection, and how many streams over it may still be stepping (a
    receipt must not begin a transaction under one of them). The count lives here, not in the
    thread's locals, because a stream may be finished, or collected, on another thread."""

    __slots__ = ("conn", "streams")

    def __init__(self, conn: sqlite3.Connection):
        self.conn, self.streams = conn, 0


def _rollback(conn: sqlite3.Connection) -> None:
    # SQLite may already have rolled back by itself (disk full, I/O error); a second ROLLBACK
    # would raise and hide the original error.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class SQLiteStore(SQLStore):
    """The embedded store. ``url`` is ``sqlite:///PATH``."""

    def __init__(self, url: str, *, clock: Clock = micros_now):
        self.url = url
        self.path = path_from_url(url)
        self._clock = clock
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None
        self._wrote = False
        self._commits = 0
        self._checkpointer: _Checkpointer | None = None
        self._turn = _WriteTurn(self.path)

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
        self._ensure_defaults()

    def schema_revision(self) -> str | None:
        if not self.path.exists():
            return None
        try:
            row = self._reader().execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            row = None  # no alembic_version table: never initialised
        except sqlite3.Error as exc:  # e.g. "file is not a database"
            raise StorageError(f"cannot read {self.path}: {exc}") from exc
        return str(row[0]) if row else None

    def check_schema(self) -> None:
        if not self.path.exists():
            raise NotInitialisedError(f"no Accord database at {self.path}: run `accord init` first")
        migrate.check_revision(self.schema_revision())

    def close(self) -> None:
        # This thread's reader first, the writer last: the last connection to close checkpoints
        # and removes the WAL file, and the writer's close ends its checkpointer's work too.
        reader: _Reader | None = getattr(self._local, "reader", None)
        if reader is not None:
            reader.conn.close()
            self._local.reader = None
        # Under the write lock: a commit on another thread (a sync finishing as the server stops)
        # ends before the checkpointer and the writer are taken down, never half-way through.
        with self._write_lock:
            if self._checkpointer is not None:
                self._checkpointer.stop()
                self._checkpointer = None
            if self._writer is not None:
                if self._wrote:
                    refresh_statistics(self._writer)
                self._writer.close()
                self._writer = None
            self._turn.close()

    def wrote(self) -> bool:
        return self._wrote

    # -- statements ---------------------------------------------------------------------------
    def _indexed_under(self, index_type: str, values: Sequence[str]) -> tuple[str, list[Any]]:
        # A long list is one JSON array read by json_each, each element one probe of the primary
        # key: the statement's text no longer depends on the list's length, so it is compiled
        # once and reused from the connection's cache, where an IN list of thousands of
        # placeholders was compiled for every lookup (a bulk lookup's ~12,700 keys at 1M: 39-41
        # -> 26-30 ms). Not with a NUL in any value: SQLite's JSON reader (3.40) ends a string
        # at \u0000.
        if len(values) <= LONG_LIST or any("\x00" in value for value in values):
            return super()._indexed_under(index_type, values)
        return ("SELECT o.type, o.value, o.version_pk FROM json_each(?) AS k CROSS JOIN observables o "
                "WHERE o.type = ? AND o.value = k.value", [json.dumps(list(values)), index_type])

    # -- connections -------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        return self._reader_state().conn

    def _reader_state(self) -> _Reader:
        state: _Reader | None = getattr(self._local, "reader", None)
        if state is None:
            state = self._local.reader = _Reader(_connect(self.path, readonly=True))
        return state

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._reader()
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite read failed: {exc}") from exc

    def _stream(self, query: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        # Counted while its statement may still be stepping: the thread's receipts then go
        # through the writer (audit_append), not through this connection in mid-statement. A
        # stream dropped unfinished stays counted until collected: the safe direction.
        state = self._reader_state()
        state.streams += 1
        try:
            cur = state.conn.execute(query, params)
            while rows := cur.fetchmany(2000):
                yield from rows
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite read failed: {exc}") from exc
        finally:
            state.streams -= 1

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            if self._writer is None:
                self._writer = _connect(self.path)
            conn = self._writer
            with self._taking_turn():
                if not durable:  # see SQLStore.audit_append; back to FULL once this transaction ends
                    conn.execute("PRAGMA synchronous = NORMAL")
                try:
                    yield from self._transaction(conn)
                finally:
                    if not durable:
                        conn.execute("PRAGMA synchronous = FULL")

    @contextmanager
    def _taking_turn(self) -> Iterator[None]:
        """The write turn among processes for one transaction (the caller holds the write lock)."""
        turn = self._turn.take()  # never raises: without a turn, SQLite's lock decides
        try:
            yield
        finally:
            if turn:
                self._turn.give()

    def audit_append(self, event: AuditEvent, *, durable: bool = True) -> AuditRecord:
        """As SQLStore.audit_append; a receipt (``durable=False``: what this thread just read and
        handed out) is written on the connection the reads came through.

        SQLite drops a connection's whole page cache, and unmaps the database, at its next read
        whenever another connection wrote since its last: a receipt written by the writer made
        the reader that had just read the versions fault every page in again at its next read
        (~50 ms of a partner's next 10,000-value lookup at 1M, bench/RESULTS.md). Its own
        commit leaves its cache valid. Same write lock, turn and transaction as the writer's;
        the reader is ``query_only`` again afterwards. Durable appends, and receipts written
        while the thread streams rows on its reader, go through the writer."""
        state = self._reader_state()
        if durable or state.streams:
            return super().audit_append(event, durable=durable)
        try:
            with self._receipt_write(state) as conn:
                return append_audit(conn, self._sql, self._clock(), event, items_into=self._audit_items_into)
        except _NotBegun:
            # Nothing was written. A statement of this thread still stepping on the reader (a
            # stream not counted) makes its BEGIN fail at once; the writer has no such statement.
            return super().audit_append(event, durable=durable)

    @contextmanager
    def _receipt_write(self, state: _Reader) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._taking_turn():
            conn = state.conn
            try:
                conn.execute("PRAGMA query_only = OFF")
            except sqlite3.Error as exc:
                raise _NotBegun(f"cannot write a receipt on this thread's reader: {exc}") from exc
            try:
                yield from self._transaction(conn)
            finally:
                self._back_to_reading(state)

    def _back_to_reading(self, state: _Reader) -> None:
        """The reader ``query_only`` again after a receipt; or, when that cannot be had or the
        transaction could not be ended (a failed COMMIT whose ROLLBACK failed too), closed and
        forgotten, so that nothing later on it can write or keep holding the write lock."""
        try:
            if not state.conn.in_transaction:
                state.conn.execute("PRAGMA query_only = ON")
                return
        except sqlite3.Error as exc:
            log.warning("a reader could not be made read-only again after a receipt; closing it: %s", exc)
        if getattr(self._local, "reader", None) is state:
            self._local.reader = None
        try:
            state.conn.close()  # rolls back whatever is still open
        except sqlite3.Error as exc:
            log.warning("closing a reader after a failed receipt: %s", exc)

    def _transaction(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """One write transaction on ``conn`` (the caller holds the write lock and the turn)."""
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _NotBegun(f"cannot start a write transaction: {exc}") from exc
        try:
            yield conn
        except sqlite3.IntegrityError as exc:
            _rollback(conn)
            raise AlreadyExistsError(str(exc)) from exc
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StorageError(f"SQLite write failed: {exc}") from exc
        except BaseException:
            _rollback(conn)
            raise
        self._wrote = True
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            raise StorageError(f"commit failed: {exc}") from exc
        self._commits += 1
        # Nothing after the COMMIT may raise: a caller told that its transaction failed would do
        # its work again (storage/group.py does), and it is already durable.
        checkpointer = self._checkpointer
        if checkpointer is None:  # started by the first commit (the write lock is held)
            try:
                checkpointer = self._checkpointer = _Checkpointer(self.path)
            except RuntimeError as exc:  # no thread to be had: the backstop checkpoints instead
                log.warning("WAL checkpointer not started (the writer's own checkpoints cover it): %s", exc)
        if checkpointer is not None:
            checkpointer.wrote()
        if self._commits % STATISTICS_EVERY == 0:
            # A server's writer stays open for days: refresh the planner's view as it grows.
            refresh_statistics(conn)
