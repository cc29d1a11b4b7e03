"""Group commit: the writes of concurrent requests committed together, one transaction each group.

A TAXII request of 500 objects dirties pages all over the store's indexes, and its commit writes
every one of them to the log and waits for the disk. Two requests written one after the other
write most of those pages twice. :class:`GroupCommit` lets the requests that arrive while one
group is being written queue up, and writes all of them in the next transaction: each page
once, one wait for the disk, and no request answered before the commit that holds its work.

Each caller hands over a unit of work, a function of the transaction that returns the caller's
answer. Works run one after the other in the order they queued, in the thread that leads the
group (the first to take the group lock); every other caller waits for its own work's outcome.
A work that raises takes the group's transaction down with it; the group is then written again
one work per transaction, so the failure reaches only the caller whose work failed and the
others still commit. Works must therefore be repeatable: everything they write goes through
the transaction they are given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from accord.storage.base import Store, Transaction

T = TypeVar("T")

MOST_PER_GROUP = 16  # works in one transaction: bounds how long the write lock is held at a time


class _Work(Generic[T]):
    __slots__ = ("error", "finished", "result", "work")

    def __init__(self, work: Callable[[Transaction], T]):
        self.work = work
        self.finished = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # finished without error: the work's value


class GroupCommit:
    """Commits the works of concurrent callers in shared transactions (see the module docstring)."""

    def __init__(self, store: Store, *, most: int = MOST_PER_GROUP):
        self._store = store
        self._most = most
        self._queue: list[_Work[Any]] = []
        self._queued = threading.Lock()  # guards _queue only; never held while writing
        self._writing = threading.Lock()  # one group at a time
        self.groups = 0  # transactions committed, for the tests and the benchmark
        self.works = 0

    def run(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in a transaction, possibly shared with other callers' works; return its
        value once that transaction has committed, or raise what the work (or the commit) raised."""
        mine: _Work[T] = _Work(work)
        with self._queued:
            self._queue.append(mine)
        while True:
            with self._writing:
                if mine.finished:  # an earlier group took it along
                    return mine.outcome()
                with self._queued:
                    group, self._queue = self._queue[: self._most], self._queue[self._most:]
                self._write(group)
            if mine.finished:
                return mine.outcome()

    def _write(self, group: list[_Work[Any]]) -> None:
        if not group:
            return
        try:
            with self._store.transaction() as tx:
                values = [item.work(tx) for item in group]
        except BaseException as exc:
            if len(group) == 1:
                self._finish(group[0], error=exc)
                return
            for item in group:  # one at a time, so that only the failing work fails
                self._write([item])
            return
        self.groups += 1
        self.works += len(group)
        for item, value in zip(group, values, strict=True):
            self._finish(item, result=value)

    @staticmethod
    def _finish(item: _Work[Any], *, result: Any = None, error: BaseException | None = None) -> None:
        item.result, item.error, item.finished = result, error, True
