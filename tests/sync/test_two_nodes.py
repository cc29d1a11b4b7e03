"""Two real nodes: A serves TAXII on a loopback port; B pulls from it and pushes to it with
`accord sync run`'s code path. B ends up with exactly what A's agreement gives B's organisation,
a second cycle changes nothing, and what B pushes reaches A under B's organisation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from accord.app import sync_cycle
from accord.services.ingest import ingest_items, iter_items
from accord.services.secrets import SecretBox
from accord.settings import Settings, load_settings
from accord.stix.markings import TLP2_AMBER, TLP2_AMBER_STRICT, TLP2_CLEAR, TLP2_GREEN, TLP2_RED
from accord.storage import open_store
from accord.storage.base import Store, VersionQuery
from tests.conftest import node_provenance
from tests.taxii.conftest import TAXII, Node, indicator, run_node

LEVELS = {"clear": TLP2_CLEAR, "green": TLP2_GREEN, "amber": TLP2_AMBER, "amber+strict": TLP2_AMBER_STRICT,
          "red": TLP2_RED}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def node_a(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from run_node(request.param, request, tmp_path_factory.mktemp(f"node-a-{request.param}"))


@pytest.fixture
def node_b(tmp_path: Path, template_db: Path) -> Iterator[tuple[Settings, Store]]:
    path = tmp_path / "b.db"
    path.write_bytes(template_db.read_bytes())
    settings = load_settings({"database_url": f"sqlite:///{path}", "data_dir": str(tmp_path / "b-data")}, env={})
    store = open_store(settings.database_url)
    yield settings, store
    store.close()


def _ids(store: Store, collection: str = "default") -> dict[str, int]:
    """Stored ids in a collection -> owner organisation pk."""
    pk = store.get_collection(collection).pk
    return {row.stix_id: row.owner_org for row in store.iter_visible(VersionQuery(collection_pk=pk),
                                                                     _ALL)}


class _All:
    sql = "1 = 1"
    params: tuple[object, ...] = ()


_ALL = _All()


def _seed_a(a: Node) -> tuple[Any, str, str, dict[str, str]]:
    tag = uuid.uuid4().hex[:6]
    collection = a.collection(f"shared {tag}")
    a.store.add_org(f"cert-a-{tag}")
    a.store.add_org(f"cert-b-{tag}", kind="partner")
    a.store.add_agreement(f"ab-{tag}", parties=[f"cert-a-{tag}", f"cert-b-{tag}"], max_tlp="amber", onward=False,
                          valid_from=None, valid_until=None, actor="test")
    _, publisher = a.user(org=f"cert-a-{tag}", role="publisher", read=(collection,), write=(collection,))
    sync_user, sync_token = a.user(org=f"cert-b-{tag}", role="publisher", read=(collection,), write=(collection,))
    objects = {level: indicator(i, object_marking_refs=[ref]) for i, (level, ref) in enumerate(LEVELS.items())}
    with a.client(publisher) as c:
        posted = c.post(f"/default/collections/{collection.id}/objects/",
                        content=orjson.dumps({"objects": list(objects.values())}), headers={"Content-Type": TAXII})
        assert posted.status_code == 202 and posted.json()["success_count"] == 5
    ids = {level: str(obj["id"]) for level, obj in objects.items()}
    return collection, sync_user, sync_token, {"tag": tag, **ids}


def test_pull_and_push_between_two_nodes(node_a: Node, node_b: tuple[Settings, Store]) -> None:
    settings, b = node_b
    collection, sync_user, sync_token, seeded = _seed_a(node_a)
    tag = seeded["tag"]
    b.add_org(f"cert-a-{tag}", kind="partner")
    b.add_agreement(f"ba-{tag}", parties=["node", f"cert-a-{tag}"], max_tlp="green", onward=False,
                    valid_from=None, valid_until=None, actor="test")
    b.set_grant(b.get_collection("default"), f"cert-a-{tag}", can_read=True, can_write=False)  # what we push
    b.add_peer("node-a", url=f"{node_a.url}/taxii2/", username=sync_user,
               sealed_token=SecretBox(Path(settings.key_file)).seal(sync_token), org=f"cert-a-{tag}",
               interval_s=60, accept_max_tlp="amber+strict", accept_types=[],
               links=[("pull", collection.id, "default"), ("push", collection.id, "default")], actor="test")

    first = sync_cycle(settings, b)
    assert [r.error for r in first] == [None, None]
    partner = b.get_org(f"cert-a-{tag}").pk
    held = _ids(b)
    # A's agreement with B's organisation stops at AMBER: no AMBER+STRICT, no RED.
    assert held == {seeded[level]: partner for level in ("clear", "green", "amber")}
    assert first[0].transfer is not None and first[0].transfer.stored == 3
    # What came from A is not sent back to A as if new.
    assert first[1].transfer is not None and first[1].transfer.objects == 0

    again = sync_cycle(settings, b)
    assert [(r.error, r.transfer.stored if r.transfer else None) for r in again] == [(None, 0), (None, 0)]
    assert _ids(b) == held

    # B's own GREEN and AMBER objects: the agreement B-A is GREEN, so only GREEN goes.
    mine = {level: indicator(10 + i, object_marking_refs=[LEVELS[level]]) for i, level in enumerate(("green", "amber"))}
    with b.transaction() as tx:
        ingest_items(tx, b.get_collection("default"), iter_items(list(mine.values())), node_provenance(b))
    pushed = sync_cycle(settings, b)
    assert [r.error for r in pushed] == [None, None]
    assert pushed[1].transfer is not None and pushed[1].transfer.objects == 1
    at_a = _ids(node_a.store, collection.id)
    assert mine["green"]["id"] in at_a and mine["amber"]["id"] not in at_a
    assert at_a[str(mine["green"]["id"])] == node_a.store.get_org(f"cert-b-{tag}").pk
    # The next pull meets B's own object at A (B's organisation owns it there): it does not come
    # back to B as the partner's, and nothing new is stored.
    back = sync_cycle(settings, b)
    assert back[0].transfer is not None and back[0].transfer.stored == 0
    assert back[0].transfer.reasons == {"originated on this node": 1}
    assert {f.owner_org for f in b.version_facts(str(mine["green"]["id"]))} == {b.get_org("node").pk}
    # Both sides audited the exchange.
    assert {r.action for r in b.audit_records(org=f"cert-a-{tag}")} >= {"sync.pull", "sync.push", "receive"}
    link = b.get_peer("node-a").links
    # received: three, then our own object once (seen, not taken)
    assert link[0].cursor is not None and link[1].cursor is not None and link[0].objects == 4


def test_a_failing_peer_is_recorded_and_does_not_stop_others(node_a: Node, node_b: tuple[Settings, Store]) -> None:
    settings, b = node_b
    collection, sync_user, sync_token, seeded = _seed_a(node_a)
    tag = seeded["tag"]
    b.add_org(f"cert-a-{tag}", kind="partner")
    box = SecretBox(Path(settings.key_file))
    b.add_peer("broken", url="http://127.0.0.1:9/taxii2/", username="x", sealed_token=box.seal("x"),
               org=f"cert-a-{tag}", interval_s=60, accept_max_tlp="clear", accept_types=[],
               links=[("pull", "c", "default")], actor="test")
    b.add_peer("wrong-token", url=f"{node_a.url}/taxii2/", username=sync_user, sealed_token=box.seal("acc_nope"),
               org=f"cert-a-{tag}", interval_s=60, accept_max_tlp="clear", accept_types=[],
               links=[("pull", collection.id, "default")], actor="test")
    b.add_peer("good", url=f"{node_a.url}/taxii2/", username=sync_user, sealed_token=box.seal(sync_token),
               org=f"cert-a-{tag}", interval_s=60, accept_max_tlp="clear", accept_types=["indicator"],
               links=[("pull", collection.id, "default")], actor="test")
    runs = {r.peer: r for r in sync_cycle(settings, b)}
    assert runs["broken"].error and "ConnectError" in runs["broken"].error
    assert runs["wrong-token"].error and "401" in runs["wrong-token"].error
    good = runs["good"].transfer
    assert good is not None and good.stored == 1 and good.refused == 2  # inbound policy: CLEAR only
    assert b.get_peer("broken").links[0].last_error
