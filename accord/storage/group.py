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
the transaction they are given. A failure after every work ran (the commit itself) reaches
every caller of the group and nothing is run again: whether a failed commit took effect is not
always known (a PostgreSQL connection lost during COMMIT), and each caller can retry. A work
must not write through the store or the group itself (it would wait for its own transaction).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from accord.storage.base import Store, Transaction

T = TypeVar("T")

# Bounds on one transaction, so that no group holds the write lock for long (other processes
# wait for it): works, and their total weight (TAXII: the versions they write).
MOST_PER_GROUP = 16
MOST_WEIGHT = 20_000


class _Work(Generic[T]):
    __slots__ = ("error", "finished", "result", "weight", "work")

    def __init__(self, work: Callable[[Transaction], T], weight: int):
        self.work = work
        self.weight = weight
        self.finished = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # finished without error: the work's value


class GroupCommit:
    """Commits the works of concurrent callers in shared transactions (see the module docstring)."""

    def __init__(self, store: Store, *, most: int = MOST_PER_GROUP, most_weight: int = MOST_WEIGHT):
        self._store = store
        self._most = most
        self._most_weight = most_weight
        self._queue: list[_Work[Any]] = []
        self._queued = threading.Lock()  # guards _queue only; never held while writing
        self._writing = threading.Lock()  # one group at a time
        self.groups = 0  # transactions committed and the works they held: what the tests look at
        self.works = 0

    def run(self, work: Callable[[Transaction], T], *, weight: int = 1) -> T:
        """Run ``work`` in a transaction, possibly shared with other callers' works; return its
        value once that transaction has committed, or raise what the work (or the commit) raised.
        ``weight``: its share of MOST_WEIGHT (a work heavier than that is a group of its own)."""
        mine: _Work[T] = _Work(work, weight)
        with self._queued:
            self._queue.append(mine)
        while True:
            with self._writing:
                if mine.finished:  # an earlier group took it along
                    return mine.outcome()
                group = self._take()
                try:
                    self._write(group)
                except BaseException as exc:  # a bug in here: no caller of the group may wait for ever
                    for item in group:
                        if not item.finished:
                            self._finish(item, error=exc)
                    raise
            if mine.finished:
                return mine.outcome()

    def _take(self) -> list[_Work[Any]]:
        """The next group: queued works in order, within both bounds (at least one)."""
        with self._queued:
            count, weight = 0, 0
            for item in self._queue:
                if count and (count >= self._most or weight + item.weight > self._most_weight):
                    break
                count += 1
                weight += item.weight
            group, self._queue = self._queue[:count], self._queue[count:]
        return group

    def _write(self, group: list[_Work[Any]]) -> None:
        if not group:
            return
        values: list[Any] = []
        try:
            with self._store.transaction() as tx:
                for item in group:
                    values.append(item.work(tx))
        except BaseException as exc:
            if len(group) == 1 or len(values) == len(group):
                # The one work failed, or every work ran and the commit failed: the error is
                # every caller's, and nothing is run again.
                for item in group:
                    self._finish(item, error=exc)
                return
            for item in group:  # a work failed: one at a time, so that only it fails
                self._write([item])
            return
        self.groups += 1
        self.works += len(group)
        for item, value in zip(group, values, strict=True):
            self._finish(item, result=value)

    @staticmethod
    def _finish(item: _Work[Any], *, result: Any = None, error: BaseException | None = None) -> None:
        item.result, item.error, item.finished = result, error, True
