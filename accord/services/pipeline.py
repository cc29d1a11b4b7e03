"""Import on two cores: a forked child reads and prepares one source while this process writes it.

    child:  importer.read(source) -> items -> prepare_item (STIX 2.0 upgrade, validation,
            serialisation, observables, TLP of the standard markings) -> batches of plain
            tuples, pickled down a pipe
    parent: an Ingestor fed the prepared versions (services/ingest.py): TLPs that hang on
            non-standard marking definitions, the batched writes, the fix-ups for definitions
            that come later in the document, the audit entry; the caller commits or rolls back

Preparing and writing each cost about half of a single-process import, so with a second core
the import takes about as long as its slower half, the writes. Nothing about what is stored or
reported changes: the parent replays the child's stream through the same Ingestor, refusals
included, in input order, so batches, marking flushes, refusals and the summary are those of
``ingest_items``. The child prepares without the store's marking levels (it has no database):
every version marked with a non-standard definition comes with its refs, and the parent judges
them with the levels the transaction knows at that point of the document, as ``Ingestor.add``
would. Only the parent ever touches the store.

When (:func:`worth_forking`): a regular file of at least ``MIN_BYTES`` on a platform with
``fork``. Smaller files finish before a second process pays for itself, and standard input and
directories a format reads whole (a MISP feed) take the single-process path, as does a
``--dry-run`` of a format whose objects are printed for review.

Failure: whatever the child raises (InputError for a file that turns out unreadable half-way)
is raised again here, so the caller rolls the whole file back. A child that dies without a
word (killed, out of memory) closes its end of the pipe; the parent reads end-of-file and fails
the file with InputError, never waits for it. A parent that dies closes the other end: the
child's next send fails and it exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import io
import multiprocessing
import os
import pickle
import signal
import struct
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any

from accord.errors import InputError, Problem
from accord.services.collector import bulk_gc
from accord.services.formats import Imported, Source
from accord.services.ingest import Ingestor, IngestReport, prepare_item
from accord.stix.markings import UNKNOWN, object_marking_refs
from accord.storage.base import Collection, PreparedVersion, Provenance, Transaction

# Below this a file is imported in one process: the fork, the pipe and the pickling cost a few
# tens of milliseconds, which a file this small does not win back.
MIN_BYTES = 4 << 20
# Items per message: large enough that pickling and the pipe cost little per object, small
# enough that the child is never far ahead (memory: one message in each process, and the pipe).
MESSAGE = 1000
PIPE_BYTES = 1 << 20
# How long a child that was told to stop (its pipe closed) may take before it is killed.
STOP_SECONDS = 5.0

# glibc's malloc: keep up to this much freed memory at the top of the heap instead of handing it
# back to the system after every batch (and big blocks on the heap, not in mappings of their own).
_MALLOPT = {-1: 256 << 20, -2: 64 << 20, -3: 32 << 20}  # M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD

_ITEMS, _END, _FAILED = range(3)
# Each message: its length, then the pickle.
_HEADER = struct.Struct("<Q")

# Reads a source with a byte counter for the progress bar (None: not counted).
Read = Callable[[Callable[[int], None] | None], Imported]


def worth_forking(source: Source) -> bool:
    """Whether ``source`` is imported by :class:`Pipeline` (the rule in the module docstring)."""
    return (source.size is not None and source.size >= MIN_BYTES
            and "fork" in multiprocessing.get_all_start_methods())


class Pipeline:
    """One source read and prepared by a forked child, written by :meth:`ingest`.

    The child starts at once, so it reads ahead while the caller opens its transaction. Use it
    as a context manager: leaving stops the child, whether or not ``ingest`` ran to the end.
    """

    def __init__(self, read: Read, progress: Callable[[int], None] | None = None):
        _keep_freed_memory()
        ctx = multiprocessing.get_context("fork")
        receiving, sending = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # Linux: room for a whole message in the pipe
            fcntl.fcntl(sending, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._receiver = open(receiving, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._buffer = bytearray()
        self._progress = progress
        self._child = ctx.Process(target=_produce, args=(receiving, sending, read, progress is not None),
                                  name="accord-import-reader", daemon=True)
        try:
            self._child.start()
        except BaseException:
            self._receiver.close()
            raise
        finally:
            # Only the child may hold the sending end: its death must mean end-of-file here.
            os.close(sending)
        # The importer's remarks, filled when the child has read everything (Imported.notes).
        self.notes: list[str] = []

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._receiver.close()  # a child still sending gets EPIPE and ends
        self._child.join(STOP_SECONDS)
        if self._child.exitcode is None:
            self._child.kill()
            self._child.join()

    def ingest(self, tx: Transaction, collection: Collection, provenance: Provenance) -> IngestReport:
        """Write everything the child prepares into ``tx``; raises what the child raised."""
        ingestor = Ingestor(tx, collection, provenance)
        refused = ingestor.report.refused
        add = ingestor.add_prepared
        while True:
            message = self._receive()
            if message[0] == _ITEMS:
                _, entries, refs, consumed = message
                for entry in entries:
                    if len(entry) == 4:
                        refused.append(Problem(*entry))
                    else:
                        add(PreparedVersion(*entry), refs.get(entry[0]) if refs else None)
                if self._progress is not None and consumed:
                    self._progress(consumed)
            elif message[0] == _END:
                _, upgraded, self.notes = message
                ingestor.report.upgraded += upgraded
                return ingestor.finish()
            else:
                raise message[1]

    def _receive(self) -> tuple[Any, ...]:
        header = self._read_exactly(_HEADER.size)
        data = self._read_exactly(_HEADER.unpack(header)[0]) if header is not None else None
        if data is None:  # end of file, before or half-way through a message: the child is gone
            self._child.join(STOP_SECONDS)
            raise InputError(f"the process reading it stopped ({_exit_status(self._child.exitcode)}) "
                             "before the end")
        message: tuple[Any, ...] = pickle.loads(data)  # noqa: S301 - from our own child, never from input
        return message

    def _read_exactly(self, size: int) -> memoryview | None:
        """The next ``size`` bytes, or None at end of file. They land in one buffer kept from
        message to message: a fresh megabyte each time costs the writing process a page fault
        per 4 KiB, which at 1M objects is seconds of system time on the critical path."""
        if len(self._buffer) < size:
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)[:size]
        done = 0
        while done < size:
            n = self._receiver.readinto(view[done:])
            if not n:
                return None
            done += n
        return view


def _keep_freed_memory() -> None:
    """Stop glibc returning freed heap to the system batch after batch, in this process and the
    child it forks. With the default (dynamic) thresholds a 1M-object import took 690,000 page
    faults in the writing process instead of 50,000, about 2 s of system time on the critical
    path. It lasts for the rest of the process: fine for a command, to weigh for a server."""
    if sys.platform != "linux":
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return
    for option, value in _MALLOPT.items():
        mallopt(option, value)


def _write_all(stream: io.FileIO, data: memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[stream.write(view) or 0:]


def _exit_status(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit status {code}"


class _Counter:
    def __init__(self) -> None:
        self.total = 0
        self.sent = 0

    def __call__(self, n: int) -> None:
        self.total += n

    def take(self) -> int:
        n, self.sent = self.total - self.sent, self.total
        return n


def _wire(p: PreparedVersion) -> tuple[Any, ...]:
    """PreparedVersion's fields in order: a tuple pickles and loads in a fifth of the time.
    Interning the strings every object repeats lets pickle send them once per message."""
    intern = sys.intern
    return (p.index, p.stix_id, p.version, intern(p.type), intern(p.spec_version), p.revoked, p.tlp,
            p.content_hash, p.body, [(intern(kind), value) for kind, value in p.observables])


def _produce(receiving: int, sending: int, read: Read, counted: bool) -> None:
    """The child: everything but the writes, sent in order (see the module docstring)."""
    # Its copy of the receiving end would keep the pipe open after the parent died.
    os.close(receiving)
    sender = open(sending, "wb", buffering=0)  # noqa: SIM115 - the process ends with it
    # The inherited heap is never garbage here; keep the collector (and copy-on-write) off it.
    gc.freeze()
    counter = _Counter()

    # One buffer for every message, written over rather than truncated, for the reason in
    # Pipeline._read_exactly.
    out = io.BytesIO()

    def send(message: tuple[Any, ...]) -> None:
        out.seek(_HEADER.size)
        pickle.Pickler(out, pickle.HIGHEST_PROTOCOL).dump(message)
        end = out.tell()
        with out.getbuffer() as framed:
            _HEADER.pack_into(framed, 0, end - _HEADER.size)
            _write_all(sender, framed[:end])

    try:
        with bulk_gc():
            imported = read(counter if counted else None)
            report = IngestReport()
            entries: list[tuple[Any, ...]] = []
            refs: dict[int, list[str]] = {}
            for item in imported.items:
                # No levels: a non-standard ref comes out UNKNOWN here, and its refs go along.
                prepared = prepare_item(item, imported.spec_version(), {}, report)
                if isinstance(prepared, list):
                    entries.extend((p.object_id, p.property, p.reason, p.index) for p in prepared)
                else:
                    entries.append(_wire(prepared))
                    if prepared.tlp == UNKNOWN:
                        refs[prepared.index] = object_marking_refs(item.value)
                if len(entries) >= MESSAGE:
                    send((_ITEMS, entries, refs, counter.take()))
                    entries, refs = [], {}
            send((_ITEMS, entries, refs, counter.take()))
            send((_END, report.upgraded, list(imported.notes)))
    except BrokenPipeError:
        pass  # the parent has gone or stopped listening: nobody to tell
    except BaseException as exc:  # every failure goes to the parent, which decides
        with contextlib.suppress(BrokenPipeError):
            send((_FAILED, _portable(exc)))


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as it can cross the pipe: itself if it survives pickling, else a RuntimeError;
    anything but InputError (an unreadable file) is a fault, so it carries the child's traceback."""
    if isinstance(exc, InputError):
        return exc
    trace = "".join(traceback.format_exception(exc))
    try:
        portable: BaseException = pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))  # noqa: S301
    except Exception:  # any exception type may fail to pickle in its own way
        portable = RuntimeError(f"{type(exc).__name__}: {exc}")
    portable.add_note(f"in the import's reading process:\n{trace}")
    return portable
