"""The sync scheduler: intervals, backoff with jitter, and a live `accord serve` that syncs by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.services.secrets import SecretBox
from accord.storage.base import Peer
from accord.sync.cycle import LinkRun
from accord.sync.scheduler import MAX_BACKOFF_S, Scheduler, next_due
from tests.sync.test_two_nodes import _ids, _seed_a, node_a  # noqa: F401  (node A, per backend)
from tests.taxii.conftest import Node, run_node


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    assert next_due(100.0, 60, 0, lambda: 0.9) == 160.0
    assert next_due(100.0, 60, 1, lambda: 0.0) == 100.0 + 120 * 0.5
    assert next_due(100.0, 60, 3, lambda: 0.999) == pytest.approx(100.0 + 480 * 1.499)
    assert next_due(0.0, 60, 30, lambda: 0.5) == MAX_BACKOFF_S


def _peer(name: str, *, paused: bool = False, interval: int = 10) -> Peer:
    return Peer(1, name, "https://x/", "u", b"", 1, "org", interval, paused, "clear", (), 0)


def test_due_peers_and_settling() -> None:
    now = [1000.0]
    scheduler = Scheduler(store=None, box=None, client_for=None, clock=lambda: now[0],  # type: ignore[arg-type]
                          rand=lambda: 0.5)
    peers = [_peer("a"), _peer("b", paused=True), _peer("c", interval=100)]
    assert [p.name for p in scheduler.due_peers(peers, now[0])] == ["a", "c"]  # new peers run at once
    failed = [LinkRun("a", None, None, "boom")]  # type: ignore[arg-type]
    scheduler.settle(peers[0], failed, now[0])
    scheduler.settle(peers[2], [], now[0])
    assert scheduler.timers["a"].due == 1000.0 + 20 and scheduler.timers["a"].failures == 1
    assert scheduler.timers["c"].due == 1100.0
    assert scheduler.due_peers(peers, 1019.0) == []
    assert [p.name for p in scheduler.due_peers(peers, 1020.0)] == ["a"]
    scheduler.settle(peers[0], None, 1020.0)  # the cycle raised: counts as a failure
    assert scheduler.timers["a"].failures == 2 and scheduler.timers["a"].due == 1020.0 + 40


@pytest.fixture
def served_b(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Node, Path]]:
    key = tmp_path / "b.key"
    yield from ((n, key) for n in run_node("sqlite", request, tmp_path / "b", ACCORD_KEY_FILE=str(key)))


def test_serve_syncs_each_peer_on_its_interval(node_a: Node, served_b: tuple[Node, Path]) -> None:  # noqa: F811
    b, key = served_b
    collection, sync_user, sync_token, seeded = _seed_a(node_a)
    tag = seeded["tag"]
    b.store.add_org(f"cert-a-{tag}", kind="partner")
    b.store.add_peer("node-a", url=f"{node_a.url}/taxii2/", username=sync_user,
                     sealed_token=SecretBox(key).seal(sync_token), org=f"cert-a-{tag}", interval_s=1,
                     accept_max_tlp="red", accept_types=[], links=[("pull", collection.id, "default")], actor="test")
    # The pulled objects commit before the cycle records the link's success, so wait for both:
    # seeing the objects alone races the bookkeeping that follows them.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (len(_ids(b.store)) < 3
                                           or b.store.get_peer("node-a").links[0].last_success is None):
        time.sleep(0.5)
    assert set(_ids(b.store)) == {seeded[level] for level in ("clear", "green", "amber")}
    link = b.store.get_peer("node-a").links[0]
    assert link.last_success is not None and link.last_error is None
