"""The overlap check (accord/services/overlap.py, overlap_index.py): the canonical hash, keys sealed
and rotated, which agreement a question is asked under, and answers through the gate on every
backend (hidden values answered like absent ones, granular markings, new writes, rotation)."""

from __future__ import annotations

import hashlib
import hmac
import io
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from accord.errors import ConfigError, NotFoundError, RequestError
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.ingest import ingest_document
from accord.services.overlap import (
    AgreementKey,
    OverlapRefused,
    agreement_key_for,
    answer,
    askable_peers,
    check_hashes,
    fingerprint,
    new_agreement_key,
    overlap_hash,
    parse_key,
    plan_hashes,
    set_peer_key,
    set_peer_org,
)
from accord.services.overlap_index import Hasher, HashTable, HashTables
from accord.services.secrets import SecretBox
from accord.stix.markings import TLP2_AMBER, TLP2_GREEN, TLP2_RED
from accord.stix.stream import StixDocument
from accord.storage.base import OPERATOR, Provenance, State, Store

T = "2026-01-01T00:00:00.000Z"
NOW = 1_800_000_000_000_000
KEY = bytes(range(32))


def indicator(n: int, pattern: str, tlp: str = TLP2_GREEN, **extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{n:08d}-0000-4000-8000-000000000000",
            "created": T, "modified": T, "name": f"indicator {n}", "pattern": pattern, "pattern_type": "stix",
            "valid_from": T, "object_marking_refs": [tlp], **extra}


def put(store: Store, objects: list[dict[str, Any]], owner: str = "node", state: State = State.PUBLISHED) -> None:
    with store.transaction() as tx:
        document = StixDocument(io.BytesIO(orjson.dumps(objects)).read)
        report = ingest_document(tx, store.get_collection("default"), document,
                                 Provenance(store.get_org(owner).pk, state=state, owner_name=owner))
    assert not report.refused, report.refused


# -- the canonical form ------------------------------------------------------------------------------


def test_the_canonical_hash_is_hmac_sha256_of_type_nul_value() -> None:
    expected = hmac.new(KEY, b"ipv4-addr\x00198.51.100.7", hashlib.sha256).hexdigest()
    assert overlap_hash(KEY, "ipv4-addr", "198.51.100.7") == expected
    # The worked example of docs/early-warning.md ("Overlap check"): a partner's tool must agree.
    assert expected == "391b898e0bdc67f606d1ee4c54196b10a4e27591150d09bf0c12cd9077e59210"
    assert overlap_hash(KEY, "domain-name", "evil.example.com") != overlap_hash(KEY, "url", "evil.example.com")


def test_the_fast_hasher_is_hmac() -> None:
    rng = random.Random(3)
    for key in (KEY, bytes(64), bytes(range(65)), b"k"):
        hasher = Hasher(key)
        for _ in range(200):
            value = "".join(rng.choice("abc.é/:0123\x7f€") for _ in range(rng.randrange(0, 40)))
            index_type = rng.choice(("ipv4-addr", "domain-name", "file:hashes.SHA-256"))
            assert hasher.hexdigest(index_type, value) == overlap_hash(key, index_type, value)


def test_values_are_normalised_as_the_index_holds_them() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    plan = plan_hashes(KEY, [" 198.51.100.7 ", "HTTP://Evil.Example.net/x", digest.upper(), "hello", "", "a\x00b"])
    by_value: dict[int, set[tuple[str, str]]] = {}
    for h, uses in plan.by_hash.items():
        for i, index_type, value in uses:
            assert h == overlap_hash(KEY, index_type, value)
            by_value.setdefault(i, set()).add((index_type, value))
    assert by_value[0] == {("ipv4-addr", "198.51.100.7")}
    assert by_value[1] == {("url", "http://evil.example.net/x")}
    # A bare SHA-256 digest may be any of three objects' SHA-256 or SHA3-256: six keys.
    assert by_value[2] == {(f"{o}:hashes.{a}", digest) for o in ("file", "artifact", "x509-certificate")
                           for a in ("SHA-256", "SHA3-256")}
    assert [p[0] for p in plan.problems] == ["hello", "", "a\x00b"]


def test_keys_are_64_hex_digits() -> None:
    assert parse_key(KEY.hex().upper() + "\n") == KEY
    for bad in ("", "zz" * 32, KEY.hex()[:-2]):
        with pytest.raises(ConfigError, match="64 hex digits"):
            parse_key(bad)


@pytest.mark.parametrize(("hashes", "where"), [
    ([], "hashes"), ("abc", "hashes"), (["A" * 64], "hashes[0]"), ([overlap_hash(KEY, "a", "b"), 3], "hashes[1]"),
    ([overlap_hash(KEY, "a", "b")] * 10_001, "hashes"),
])
def test_bad_questions_name_the_part_at_fault(hashes: Any, where: str) -> None:
    with pytest.raises(RequestError) as caught:
        check_hashes(hashes)
    assert caught.value.parameter == where


# -- keys ----------------------------------------------------------------------------------------------


@pytest.fixture
def store(backend_store: Store) -> Store:
    s = backend_store
    for org, kind in (("cert-b", "partner"), ("cert-c", "partner"), ("other", "local")):
        s.add_org(org, kind=kind)
    s.add_user("bob", org="cert-b", role="reader")
    s.add_user("carol", org="cert-c", role="reader")
    s.add_agreement("a-b", parties=["node", "cert-b"], max_tlp="amber", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    s.add_agreement("a-c", parties=["node", "cert-c"], max_tlp="green", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    return s


@pytest.fixture
def box(tmp_path: Path) -> SecretBox:
    return SecretBox(tmp_path / "node.key")


def test_an_agreement_key_is_sealed_shown_once_and_rotated(store: Store, box: SecretBox) -> None:
    key, fp = new_agreement_key(store, box, "a-b", rotate=False, actor=OPERATOR)
    assert len(key) == 64 and fp == fingerprint(bytes.fromhex(key))
    record = store.agreement_overlap_keys()[store.get_agreement("a-b").pk]
    assert key.encode() not in record.sealed_key and box.unseal(record.sealed_key) == key
    with pytest.raises(ConfigError, match=f"already has an overlap key \\(fingerprint {fp}"):
        new_agreement_key(store, box, "a-b", rotate=False, actor=OPERATOR)
    rotated, fp2 = new_agreement_key(store, box, "a-b", rotate=True, actor=OPERATOR)
    assert rotated != key and fp2 != fp
    entries = store.audit_records(action="agreement.overlap-key")
    assert [orjson.loads(e.detail) for e in entries] == [{"fingerprint": fp, "replaced": None},
                                                         {"fingerprint": fp2, "replaced": fp}]
    assert all(k.encode() not in e.detail for e in entries for k in (key, rotated))
    store.remove_agreement_overlap_key("a-b", actor=OPERATOR)
    assert store.agreement_overlap_keys() == {}
    with pytest.raises(ConfigError, match="no overlap key to remove"):
        store.remove_agreement_overlap_key("a-b", actor=OPERATOR)
    store.change_agreement("a-c", action="end", actor=OPERATOR)
    with pytest.raises(ConfigError, match="has ended"):
        new_agreement_key(store, box, "a-c", rotate=False, actor=OPERATOR)
    with pytest.raises(NotFoundError):
        new_agreement_key(store, box, "nope", rotate=False, actor=OPERATOR)


def test_a_partners_key_is_kept_for_its_peer_and_goes_with_it(store: Store, box: SecretBox) -> None:
    store.add_peer("node-b", url="https://b.example/taxii2/", username="u", sealed_token=box.seal("t"),
                   org="cert-b", interval_s=60, accept_max_tlp="amber", accept_types=(),
                   links=[("pull", "r", "default")], actor="test")
    assert store.peer_overlap_key("node-b") is None
    kept = set_peer_key(store, box, "node-b", KEY.hex(), remote_agreement="b-a", for_org="node", actor=OPERATOR)
    assert (kept.fingerprint, kept.remote_agreement, kept.for_org) == (fingerprint(KEY), "b-a", "node")
    assert store.peer_overlap_key("node-b") == kept
    with pytest.raises(NotFoundError):
        set_peer_key(store, box, "nobody", KEY.hex(), remote_agreement=None, for_org="node", actor=OPERATOR)
    # The organisation a key is asked as is one of this node's own: our side of the agreement.
    for partner in ("cert-b", "cert-c"):
        with pytest.raises(ConfigError, match=f"organisation '{partner}' is a partner"):
            set_peer_key(store, box, "node-b", KEY.hex(), remote_agreement=None, for_org=partner, actor=OPERATOR)
        with pytest.raises(ConfigError, match=f"organisation '{partner}' is a partner"):
            set_peer_org(store, "node-b", partner, actor=OPERATOR)
    with pytest.raises(NotFoundError):
        set_peer_org(store, "node-b", "nope", actor=OPERATOR)
    assert set_peer_org(store, "node-b", "other", actor=OPERATOR).for_org == "other"
    assert store.peer_overlap_key("node-b") == replace(kept, for_org="other")
    store.change_peer("node-b", action="remove", actor=OPERATOR)
    store.add_peer("node-b", url="https://b.example/taxii2/", username="u", sealed_token=box.seal("t"),
                   org="cert-b", interval_s=60, accept_max_tlp="amber", accept_types=(),
                   links=[("pull", "r", "default")], actor="test")
    assert store.peer_overlap_key("node-b") is None  # a peer added again starts without the old key


def test_which_agreement_a_question_is_asked_under(store: Store, box: SecretBox) -> None:
    bob = Viewer.of(store.get_user("bob"))
    with pytest.raises(OverlapRefused, match="no active agreement with an overlap key"):
        agreement_key_for(store, box, bob, NOW, None)
    with pytest.raises(OverlapRefused, match="'a-b' has no overlap key"):
        agreement_key_for(store, box, bob, NOW, "a-b")
    key, fp = new_agreement_key(store, box, "a-b", rotate=False, actor=OPERATOR)
    found = agreement_key_for(store, box, bob, NOW, None)
    assert (found.agreement.name, found.key.hex(), found.fingerprint) == ("a-b", key, fp)
    # An agreement of others, keyed or not, is one bob may not know of: as absent.
    new_agreement_key(store, box, "a-c", rotate=False, actor=OPERATOR)
    for name in ("a-c", "nope"):
        with pytest.raises(NotFoundError):
            agreement_key_for(store, box, bob, NOW, name)
    store.add_agreement("b-2", parties=["other", "cert-b"], max_tlp="green", onward=False, valid_from=None,
                        valid_until=None, actor="test")
    new_agreement_key(store, box, "b-2", rotate=False, actor=OPERATOR)
    with pytest.raises(RequestError, match=r"2 agreements with an overlap key \(a-b, b-2\): name one"):
        agreement_key_for(store, box, bob, NOW, None)
    assert agreement_key_for(store, box, bob, NOW, "b-2").agreement.name == "b-2"
    store.change_agreement("a-b", action="suspend", actor=OPERATOR)
    with pytest.raises(OverlapRefused, match="'a-b' is suspended"):
        agreement_key_for(store, box, bob, NOW, "a-b")
    assert agreement_key_for(store, box, bob, NOW, None).agreement.name == "b-2"


def test_who_may_have_this_node_ask_through_which_peer(store: Store, box: SecretBox) -> None:
    """The asking side: node-admins through every keyed peer; analysts and above of the local
    organisation a peer's key is asked as, while it has an active agreement with the peer's partner;
    no one else."""
    for peer, org, keyed in (("node-b", "cert-b", True), ("node-c", "cert-c", True), ("node-b2", "cert-b", False)):
        store.add_peer(peer, url=f"https://{peer}.example/taxii2/", username="u", sealed_token=box.seal("t"), org=org,
                       interval_s=60, accept_max_tlp="amber", accept_types=(), links=[], actor="test")
        if keyed:
            set_peer_key(store, box, peer, KEY.hex(), remote_agreement="x" if peer == "node-c" else None,
                         for_org="node", actor=OPERATOR)
    store.add_agreement("b-c", parties=["cert-b", "cert-c"], max_tlp="amber", onward=False, valid_from=None,
                        valid_until=None, actor="test")
    for username, org, role in (("ana", "node", "analyst"), ("rita", "node", "reader"), ("otto", "other", "org-admin"),
                                ("bea", "cert-b", "publisher"), ("root", "other", "node-admin")):
        store.add_user(username, org=org, role=role)

    def askable(username: str) -> list[tuple[str, str, str | None, str | None]]:
        found = askable_peers(store, Viewer.of(store.get_user(username)), NOW)
        return [(p.name, p.org_name, p.remote_agreement, p.for_org) for p in found]

    both = [("node-b", "cert-b", None, "node"), ("node-c", "cert-c", "x", "node")]
    assert askable("ana") == askable("root") == both
    assert askable("rita") == askable("otto") == askable("bea") == []  # a reader; no agreement; a partner's
    assert {p.fingerprint for p in askable_peers(store, Viewer.operator(), NOW)} == {fingerprint(KEY)}
    store.change_agreement("a-c", action="suspend", actor=OPERATOR)
    assert askable("ana") == [("node-b", "cert-b", None, "node")] and askable("root") == both
    store.change_agreement("a-b", action="end", actor=OPERATOR)
    assert askable("ana") == [] and askable("root") == both


def test_only_the_organisation_a_key_is_asked_as_may_ask_with_it(store: Store, box: SecretBox) -> None:
    """The peer's one account on the partner's node belongs to one organisation there, and the
    partner answers as that organisation. Another local organisation with an agreement of its own
    with the same partner (here a GREEN one, where `node` has AMBER) must not ask through the peer:
    it would learn what the partner shares with `node`, and the partner would record it as `node`'s."""
    store.add_agreement("other-b", parties=["other", "cert-b"], max_tlp="green", onward=False, valid_from=None,
                        valid_until=None, actor="test")
    store.add_peer("node-b", url="https://node-b.example/taxii2/", username="u", sealed_token=box.seal("t"),
                   org="cert-b", interval_s=60, accept_max_tlp="amber", accept_types=(), links=[], actor="test")
    for username, org, role in (("ana", "node", "analyst"), ("olga", "other", "analyst"),
                                ("root", "other", "node-admin")):
        store.add_user(username, org=org, role=role)

    def askable(username: str) -> list[str | None]:
        return [p.for_org for p in askable_peers(store, Viewer.of(store.get_user(username)), NOW)]

    set_peer_key(store, box, "node-b", KEY.hex(), remote_agreement=None, for_org="node", actor=OPERATOR)
    assert askable("ana") == ["node"] and askable("olga") == [] and askable("root") == ["node"]
    set_peer_org(store, "node-b", "other", actor=OPERATOR)  # the account there is other's after all
    assert askable("ana") == [] and askable("olga") == ["other"] and askable("root") == ["other"]
    # A key whose organisation nobody named (kept before it was recorded): node-admins only.
    set_peer_key(store, box, "node-b", KEY.hex(), remote_agreement=None, for_org=None, actor=OPERATOR)
    assert askable("ana") == askable("olga") == [] and askable("root") == [None]
    # The organisation named still needs an active agreement with the partner.
    set_peer_org(store, "node-b", "other", actor=OPERATOR)
    store.change_agreement("other-b", action="suspend", actor=OPERATOR)
    assert askable("olga") == [] and askable("root") == ["other"]


# -- answers -----------------------------------------------------------------------------------------


def _ask(store: Store, box: SecretBox, tables: HashTables, user: str, values: list[str]) -> set[str]:
    viewer = Viewer.of(store.get_user(user))
    asked = agreement_key_for(store, box, viewer, NOW, None)
    plan = plan_hashes(asked.key, values)
    matches = answer(store, visibility(store, viewer, NOW), asked, tables, list(plan.by_hash))
    return {plan.values[i] for h in matches for i, _, _ in plan.by_hash[h]}


def test_only_values_of_objects_the_caller_may_see_overlap(store: Store, box: SecretBox) -> None:
    put(store, [indicator(1, "[ipv4-addr:value = '203.0.113.1']"),
                indicator(2, "[domain-name:value = 'amber.example.com']", TLP2_AMBER),
                indicator(3, "[domain-name:value = 'red.example.com']", TLP2_RED),
                indicator(4, "[url:value = 'http://granular.example.org/x']",
                          granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["pattern"]}])])
    put(store, [indicator(5, "[ipv4-addr:value = '203.0.113.5']")], state=State.DRAFT)
    put(store, [indicator(6, "[ipv4-addr:value = '203.0.113.6']")], owner="other")
    new_agreement_key(store, box, "a-b", rotate=False, actor=OPERATOR)
    new_agreement_key(store, box, "a-c", rotate=False, actor=OPERATOR)
    tables = HashTables()
    values = ["203.0.113.1", "AMBER.example.com", "red.example.com", "http://GRANULAR.example.org/x", "203.0.113.5",
              "203.0.113.6", "198.51.100.9"]
    assert _ask(store, box, tables, "bob", values) == {"203.0.113.1", "AMBER.example.com"}
    assert _ask(store, box, tables, "carol", values) == {"203.0.113.1"}  # a-c stops at GREEN
    entry = store.audit_records(action="overlap")[-1]
    assert (entry.actor, entry.org, entry.agreement) == ("carol", "cert-c", "a-c")
    detail = orjson.loads(entry.detail)
    assert detail["matched"] == 1 and detail["channel"] == "overlap" and detail["hashes"] == 7
    assert b"203.0.113" not in entry.detail and b"example" not in entry.detail


def test_new_writes_and_rotation(store: Store, box: SecretBox) -> None:
    new_agreement_key(store, box, "a-b", rotate=False, actor=OPERATOR)
    tables = HashTables()
    assert _ask(store, box, tables, "bob", ["203.0.113.1"]) == set()  # builds the table: empty index
    put(store, [indicator(1, "[ipv4-addr:value = '203.0.113.1']")])
    assert _ask(store, box, tables, "bob", ["203.0.113.1"]) == {"203.0.113.1"}  # caught up from the new version
    viewer = Viewer.of(store.get_user("bob"))
    old = agreement_key_for(store, box, viewer, NOW, None)
    new_agreement_key(store, box, "a-b", rotate=True, actor=OPERATOR)
    new = agreement_key_for(store, box, viewer, NOW, None)
    stale = plan_hashes(old.key, ["203.0.113.1"])
    # Hashes made with the old key match nothing under the new one.
    assert answer(store, visibility(store, viewer, NOW), new, tables, list(stale.by_hash)) == []
    assert _ask(store, box, tables, "bob", ["203.0.113.1"]) == {"203.0.113.1"}


def test_a_prefix_collision_is_no_match(store: Store) -> None:
    put(store, [indicator(1, "[ipv4-addr:value = '203.0.113.1']")])
    table = HashTable(KEY)
    table.refresh(store)
    real = overlap_hash(KEY, "ipv4-addr", "203.0.113.1")
    twin = real[:8] + ("0" if real[8] != "0" else "1") + real[9:]
    assert table.candidates(store, [real, twin]) == {real: ("ipv4-addr", "203.0.113.1")}
    assert len(table) == 1


def test_unused_keys_are_forgotten(store: Store, box: SecretBox) -> None:
    tables = HashTables(kept=1)
    assert tables.table("a", KEY) is tables.table("a", KEY)
    tables.table("b", KEY)
    assert tables.table("a", KEY) is not None
    tables.forget_except(set())
    assert not tables._tables
    asked = AgreementKey(store.get_agreement("a-b"), KEY, fingerprint(KEY))
    assert asked.fingerprint == fingerprint(KEY)
