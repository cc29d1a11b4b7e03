"""Group commit (storage/group.py): concurrent works share transactions, each caller gets its own
answer after the commit that holds its work, and a failing work fails alone. Both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest

from accord.errors import StorageError
from accord.storage.base import AuditEvent, Store, Transaction
from accord.storage.group import GroupCommit


def _logged(store: Store) -> list[str]:
    """The `subject` of every test entry in the audit log, in log order."""
    return [r.subject or "" for r in store.audit_records(action="group-test")]


def _appending(name: str) -> Callable[[Transaction], str]:
    def work(tx: Transaction) -> str:
        tx.audit(AuditEvent("tester", "group-test", subject=name, detail={"n": name}))
        return f"answer-{name}"

    return work


def _queue_behind_a_held_group(group: GroupCommit, store: Store, works: dict[str, Callable[[Transaction], str]],
                               opened: threading.Event, weights: dict[str, int] | None = None,
                               ) -> tuple[dict[str, object], list[threading.Thread]]:
    """Start the first work (which sets ``opened`` inside its transaction, then waits there until
    released) and then every other one, each from its own thread; return once all the others
    are queued behind it."""
    answers: dict[str, object] = {}

    def call(name: str) -> None:
        try:
            answers[name] = group.run(works[name], weight=(weights or {}).get(name, 1))
            answers[name + ":visible"] = name in _logged(store)  # committed by the time it answered
        except Exception as exc:  # the test looks at it
            answers[name] = exc

    threads = [threading.Thread(target=call, args=(name,)) for name in works]
    threads[0].start()
    assert opened.wait(10)  # the first work's transaction is open: its group was taken
    for t in threads[1:]:
        t.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < len(works) - 1:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    return answers, threads


class _Held:
    """A first work that holds its group's transaction open until released."""

    def __init__(self) -> None:
        self.opened, self.release = threading.Event(), threading.Event()

    def __call__(self, tx: Transaction) -> str:
        tx.audit(AuditEvent("tester", "group-test", subject="first"))
        self.opened.set()
        assert self.release.wait(10)
        return "answer-first"


def _run_all(group: GroupCommit, store: Store, first: _Held, works: dict[str, Callable[[Transaction], str]],
             weights: dict[str, int] | None = None) -> dict[str, object]:
    answers, threads = _queue_behind_a_held_group(group, store, {"first": first, **works}, first.opened, weights)
    first.release.set()
    for t in threads:
        t.join(10)
    return answers


def test_works_queued_meanwhile_commit_together_and_each_caller_gets_its_own_answer(backend_store: Store) -> None:
    group = GroupCommit(backend_store)
    answers = _run_all(group, backend_store, _Held(), {f"w{i}": _appending(f"w{i}") for i in range(6)})
    works = ["first", *(f"w{i}" for i in range(6))]
    assert {name: answers[name] for name in works} == {name: f"answer-{name}" for name in works}
    assert all(answers[f"{name}:visible"] for name in works)
    # The first alone, then the six that queued behind it in one transaction.
    assert (group.groups, group.works) == (2, 7)
    logged = _logged(backend_store)
    assert logged[0] == "first" and sorted(logged[1:]) == [f"w{i}" for i in range(6)]
    # In the order they queued, within their transaction.
    assert len(set(logged)) == len(logged) == 7


def test_a_group_holds_at_most_its_bound(backend_store: Store) -> None:
    group = GroupCommit(backend_store, most=3)
    answers = _run_all(group, backend_store, _Held(), {f"w{i}": _appending(f"w{i}") for i in range(7)})
    works = ["first", *(f"w{i}" for i in range(7))]
    assert all(answers[name] == f"answer-{name}" for name in works)
    assert (group.groups, group.works) == (1 + 3, 8)  # 1, then 3 + 3 + 1
    assert sorted(_logged(backend_store)) == sorted(works)


def test_a_group_holds_at_most_its_weight(backend_store: Store) -> None:
    # Weights 4, 4, 4, 9, 1 under a bound of 10: (4, 4), (4), (9, 1) after the first alone.
    group = GroupCommit(backend_store, most_weight=10)
    weights = {"a": 4, "b": 4, "c": 4, "d": 9, "e": 1}
    answers = _run_all(group, backend_store, _Held(), {name: _appending(name) for name in weights}, weights)
    assert all(answers[name] == f"answer-{name}" for name in weights)
    assert (group.groups, group.works) == (1 + 3, 6)


def test_a_failed_commit_fails_every_work_of_the_group_and_runs_none_again(backend_store: Store,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    group = GroupCommit(backend_store)
    ran: list[str] = []

    def counted(name: str) -> Callable[[Transaction], str]:
        def work(tx: Transaction) -> str:
            ran.append(name)
            return name

        return work

    real = backend_store.transaction

    @contextmanager
    def failing_commit(**kwargs: Any) -> Iterator[Transaction]:
        with real(**kwargs) as tx:
            yield tx
        raise StorageError("commit failed: disk I/O error")

    first = _Held()
    answers, threads = _queue_behind_a_held_group(group, backend_store, {"first": first, "x": counted("x"),
                                                                         "y": counted("y")}, first.opened)
    monkeypatch.setattr(backend_store, "transaction", failing_commit)  # from the second group on
    first.release.set()
    for t in threads:
        t.join(10)
    assert answers["first"] == "answer-first"
    assert isinstance(answers["x"], StorageError) and answers["y"] is answers["x"]
    assert ran == ["x", "y"]  # once each: a commit that failed is not run again


def test_a_failing_work_fails_alone_and_the_others_commit_once(backend_store: Store) -> None:
    group = GroupCommit(backend_store)

    def failing(tx: Transaction) -> str:
        tx.audit(AuditEvent("tester", "group-test", subject="bad"))
        raise ValueError("this work is refused")

    answers = _run_all(group, backend_store, _Held(), {"w0": _appending("w0"), "bad": failing,
                                                       "w1": _appending("w1")})
    assert isinstance(answers["bad"], ValueError) and str(answers["bad"]) == "this work is refused"
    assert (answers["first"], answers["w0"], answers["w1"]) == ("answer-first", "answer-w0", "answer-w1")
    # The group of three was rolled back and written again one work at a time: w0 and w1 are in
    # the log once each, the failing work's entry never.
    assert sorted(_logged(backend_store)) == ["first", "w0", "w1"]
    details = [orjson.loads(r.detail) for r in backend_store.audit_records(action="group-test")]
    assert [d.get("n") for d in details if d.get("n")] == ["w0", "w1"]


def test_a_lone_work_is_one_transaction_and_its_error_reaches_its_caller(backend_store: Store) -> None:
    group = GroupCommit(backend_store)
    assert group.run(_appending("alone")) == "answer-alone"
    assert (group.groups, group.works) == (1, 1)

    def broken(tx: Transaction) -> str:
        raise KeyError("nope")

    with pytest.raises(KeyError):
        group.run(broken)
    assert _logged(backend_store) == ["alone"]
    assert group.run(_appending("after")) == "answer-after"  # the group goes on
