"""TAXII 2.1 sections 5.1 (collections) and 5.2 (one collection): visibility and per-caller rights."""

from __future__ import annotations

import uuid

from tests.taxii.conftest import Node


def test_collections_list_only_what_the_caller_may_use(node: Node) -> None:
    read, write, both, hidden = (node.collection(t) for t in ("read", "write", "both", "hidden"))
    _, token = node.user(read=(read, both), write=(write, both))
    with node.client(token) as c:
        listed = {col["id"]: col for col in c.get("/default/collections/").json()["collections"]}
    assert hidden.id not in listed
    assert (listed[read.id]["can_read"], listed[read.id]["can_write"]) == (True, False)
    assert (listed[write.id]["can_read"], listed[write.id]["can_write"]) == (False, True)
    assert (listed[both.id]["can_read"], listed[both.id]["can_write"]) == (True, True)
    assert listed[both.id]["media_types"] == ["application/stix+json;version=2.1"]


def test_a_reader_cannot_write_even_with_a_write_grant(node: Node) -> None:
    collection = node.collection()
    _, token = node.user(role="reader", read=(collection,), write=(collection,))
    with node.client(token) as c:
        resource = c.get(f"/default/collections/{collection.id}/").json()
    assert (resource["can_read"], resource["can_write"]) == (True, False)


def test_node_admin_sees_every_collection(node: Node) -> None:
    hidden = node.collection("hidden from orgs")
    _, token = node.user(role="node-admin")
    with node.client(token) as c:
        resource = c.get(f"/default/collections/{hidden.id}/").json()
    assert resource["can_read"] and resource["can_write"]


def test_unknown_and_invisible_collections_are_the_same_404(node: Node) -> None:
    hidden = node.collection("hidden")
    _, token = node.user()
    paths = ["/", "/objects/", "/manifest/", f"/objects/indicator--{uuid.uuid4()}/",
             f"/objects/indicator--{uuid.uuid4()}/versions/"]
    with node.client(token) as c:
        for path in paths:
            invisible = c.get(f"/default/collections/{hidden.id}{path}")
            unknown = c.get(f"/default/collections/{uuid.uuid4()}{path}")
            assert invisible.status_code == unknown.status_code == 404
            assert invisible.content == unknown.content
            drop = {"date", "x-request-id"}  # both differ on every response
            assert ({k: v for k, v in invisible.headers.items() if k not in drop}
                    == {k: v for k, v in unknown.headers.items() if k not in drop})
