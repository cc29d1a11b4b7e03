"""The asking side of the overlap check (accord/sync/overlap.py) against a scripted partner: a
question of many hashes goes out in several requests, and this node's `overlap.ask` entry records
whatever was sent, also when a request fails half-way (the partner answered the earlier ones and
recorded them in its own audit log). A live partner node is tests/sync/test_overlap_two_nodes.py."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from accord.errors import SyncError
from accord.services.overlap import MAX_HASHES, OverlapResult, set_peer_key
from accord.services.secrets import SecretBox
from accord.storage.base import OPERATOR, AuditRecord, Peer, Store
from accord.sync.client import PeerClient
from accord.sync.overlap import ask_peer

KEY = "00" * 32
DIGESTS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]  # six hashes each: 12,000


class Partner:
    """Answers each request with its first three hashes, or fails the ``fail_at``-th (1-based) as told."""

    def __init__(self, fingerprint: str, fail_at: int | None = None, failure: Exception | None = None) -> None:
        self.fingerprint, self.fail_at, self.failure = fingerprint, fail_at, failure
        self.sent: list[int] = []

    def __enter__(self) -> Partner:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def overlap(self, chunk: list[str], *, agreement: str | None, key: str) -> dict[str, Any]:
        self.sent.append(len(chunk))
        if len(self.sent) == self.fail_at:
            raise self.failure or SyncError("POST https://node-b.example/api/v1/overlap: ReadTimeout")
        return {"agreement": "b-a", "key": self.fingerprint, "matches": chunk[:3]}


@pytest.fixture
def node(sqlite_store: Store, tmp_path: Path) -> tuple[Store, SecretBox, str]:
    store = sqlite_store
    store.add_org("cert-b", kind="partner")
    box = SecretBox(tmp_path / "node.key")
    store.add_peer("node-b", url="https://node-b.example/taxii2/", username="us", sealed_token=box.seal("t"),
                   org="cert-b", interval_s=60, accept_max_tlp="amber", accept_types=(), links=[], actor="test")
    kept = set_peer_key(store, box, "node-b", KEY, remote_agreement=None, for_org="node", actor=OPERATOR)
    return store, box, kept.fingerprint


def _ask(node: tuple[Store, SecretBox, str], partner: Partner, values: list[str]) -> OverlapResult:
    store, box, _ = node
    client_for = cast(Callable[[Peer, str], PeerClient], lambda peer, token: partner)
    return ask_peer(store, box, client_for, "node-b", values, actor="alice")


def _entries(store: Store) -> list[tuple[AuditRecord, dict[str, Any]]]:
    return [(r, orjson.loads(r.detail)) for r in store.audit_records(action="overlap.ask")]


def test_an_answered_question_is_recorded_once(node: tuple[Store, SecretBox, str]) -> None:
    store, _, fingerprint = node
    partner = Partner(fingerprint)
    result = _ask(node, partner, DIGESTS)
    assert partner.sent == [MAX_HASHES, 2000] and result.hashes == 12_000
    (entry, detail), = _entries(store)
    assert (entry.actor, entry.org, entry.subject) == ("alice", "node", "node-b")
    assert detail == {"values": 2000, "hashes": 12_000, "matched": len({v for v, _, _ in result.overlap}),
                      "key": fingerprint, "remote_agreement": "b-a", "partner": "cert-b", "failed": False}


@pytest.mark.parametrize("failure", [None, SyncError("answered 409: key rotated", peer_status=409)])
def test_a_question_that_fails_half_way_is_recorded_with_what_was_sent(node: tuple[Store, SecretBox, str],
                                                                        failure: SyncError | None) -> None:
    store, _, fingerprint = node
    partner = Partner(fingerprint, fail_at=2, failure=failure)
    with pytest.raises(SyncError):
        _ask(node, partner, DIGESTS)
    assert partner.sent == [MAX_HASHES, 2000]  # the partner answered the first request, at least
    (entry, detail), = _entries(store)
    assert (entry.actor, entry.org) == ("alice", "node")
    # Sent: both requests (the second may have reached the partner before it failed); matched: the
    # first answer's three hashes, all three of the first value's.
    assert (detail["hashes"], detail["matched"], detail["failed"]) == (12_000, 1, True)


def test_a_refused_first_request_and_an_untrustworthy_answer_are_recorded(node: tuple[Store, SecretBox, str]) -> None:
    store, _, fingerprint = node
    with pytest.raises(SyncError):
        _ask(node, Partner(fingerprint, fail_at=1), ["198.51.100.7"])
    with pytest.raises(SyncError, match="cannot be trusted"):
        _ask(node, Partner("0" * 16), ["198.51.100.7"])
    assert [(d["hashes"], d["matched"], d["failed"]) for _, d in _entries(store)] == [(1, 0, True), (1, 0, True)]


def test_nothing_sent_nothing_recorded(node: tuple[Store, SecretBox, str]) -> None:
    store, _, fingerprint = node
    partner = Partner(fingerprint)
    result = _ask(node, partner, ["hello"])
    assert partner.sent == [] and result.problems and _entries(store) == []
