"""Group commit (storage/group.py): concurrent works share transactions, each caller gets its own
answer after the commit that holds its work, and a failing work fails alone. Both backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import orjson
import pytest

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
                               ) -> tuple[dict[str, object], list[threading.Thread]]:
    """Start ``first`` (which waits inside its transaction until released) and then every other
    work, each from its own thread, and return once all the others are queued behind it."""
    answers: dict[str, object] = {}

    def call(name: str) -> None:
        try:
            answers[name] = group.run(works[name])
            answers[name + ":visible"] = name in _logged(store)  # committed by the time it answered
        except Exception as exc:  # the test looks at it
            answers[name] = exc

    threads = [threading.Thread(target=call, args=(name,)) for name in works]
    threads[0].start()
    deadline = time.monotonic() + 10
    while not group._writing.locked():  # the first work's transaction is open
        assert time.monotonic() < deadline
        time.sleep(0.001)
    for t in threads[1:]:
        t.start()
    while len(group._queue) < len(works) - 1:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    return answers, threads


def _held_first(release: threading.Event) -> Callable[[Transaction], str]:
    def work(tx: Transaction) -> str:
        tx.audit(AuditEvent("tester", "group-test", subject="first"))
        assert release.wait(10)
        return "answer-first"

    return work


def _run_all(group: GroupCommit, store: Store, release: threading.Event,
             works: dict[str, Callable[[Transaction], str]]) -> dict[str, object]:
    answers, threads = _queue_behind_a_held_group(group, store, works)
    release.set()
    for t in threads:
        t.join(10)
    return answers


def test_works_queued_meanwhile_commit_together_and_each_caller_gets_its_own_answer(backend_store: Store) -> None:
    group = GroupCommit(backend_store)
    release = threading.Event()
    works = {"first": _held_first(release), **{f"w{i}": _appending(f"w{i}") for i in range(6)}}
    answers = _run_all(group, backend_store, release, works)
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
    release = threading.Event()
    works = {"first": _held_first(release), **{f"w{i}": _appending(f"w{i}") for i in range(7)}}
    answers = _run_all(group, backend_store, release, works)
    assert all(answers[name] == f"answer-{name}" for name in works)
    assert (group.groups, group.works) == (1 + 3, 8)  # 1, then 3 + 3 + 1
    assert sorted(_logged(backend_store)) == sorted(works)


def test_a_failing_work_fails_alone_and_the_others_commit_once(backend_store: Store) -> None:
    group = GroupCommit(backend_store)
    release = threading.Event()

    def failing(tx: Transaction) -> str:
        tx.audit(AuditEvent("tester", "group-test", subject="bad"))
        raise ValueError("this work is refused")

    works = {"first": _held_first(release), "w0": _appending("w0"), "bad": failing,
             "w1": _appending("w1")}
    answers = _run_all(group, backend_store, release, works)
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
