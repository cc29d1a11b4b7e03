"""The audit chain's encodings (accord/audit/chain.py) are part of every stored log: a change to
how an entry or its items hash would make every existing log fail verification. These pin them."""

from __future__ import annotations

from accord.audit.chain import GENESIS, entry_hash, items_digest

ITEMS = [("indicator--2", "v1", "cert-b", "node"), ("indicator--1", "v2", "cert-b", None),
         ("indicator--1", "v1", None, "node"), ("indicator--3", "v1", "cert-b", "node")]


def test_items_digest_is_pinned_and_order_free() -> None:
    expected = "a1325ebf02a6af2727c13e207a8ca8b2fdb57a57344288834c768960735965a4"
    assert items_digest(ITEMS) == expected
    assert items_digest(list(reversed(ITEMS))) == expected
    # An item without an owner hashes as items did before owners were recorded, and differs from
    # an empty owner.
    empty_owner, no_owner = ("indicator--1", "v2", "cert-b", ""), ("indicator--1", "v2", "cert-b", None)
    assert items_digest([empty_owner]) != items_digest([no_owner])


def test_entry_hash_is_pinned() -> None:
    digest = entry_hash(GENESIS, 1, 1_700_000_000_000_000, "alice", "cert-a", "receive", "a-b", None, b"{}")
    assert digest.hex() == "318eb2daee914be20e73ca32b2201a302bc80a4e442d3f7086c8a40c85e4a92a"
