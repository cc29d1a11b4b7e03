"""The retraction feed (GET /api/v1/sync/retractions) serves a partner exactly the retractions of
the copies it received: not another organisation's copy of the same id and version, not what it
never received, and with an `after` that must be a sane integer."""

from __future__ import annotations

import uuid

import httpx
import orjson

from accord.stix.markings import TLP2_GREEN
from tests.taxii.conftest import TAXII, Node, indicator, node  # noqa: F401  (a live server, per backend)


def test_feed_names_only_the_copy_the_partner_received(node: Node) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    collection = node.collection(f"feed {tag}")
    x, y, r = f"x-{tag}", f"y-{tag}", f"r-{tag}"
    for org in (x, y):
        node.store.add_org(org)
    node.store.add_org(r, kind="partner")
    node.store.add_agreement(f"xr-{tag}", parties=[x, r], max_tlp="green", onward=False, valid_from=None,
                             valid_until=None, actor="test")
    _, x_pub = node.user(org=x, role="publisher", write=(collection,))
    _, y_pub = node.user(org=y, role="publisher", write=(collection,))
    _, reader = node.user(org=r, role="reader", read=(collection,))
    shared = indicator(1, object_marking_refs=[TLP2_GREEN])
    own_copy = {**shared, "name": "Y's own copy of the same id and version"}
    for token, obj in ((x_pub, shared), (y_pub, own_copy)):
        with node.client(token) as c:
            assert c.post(f"/default/collections/{collection.id}/objects/", headers={"Content-Type": TAXII},
                          content=orjson.dumps({"objects": [obj]})).json()["success_count"] == 1
    with node.client(reader) as c:  # R receives X's copy (Y has no agreement with R)
        got = c.get(f"/default/collections/{collection.id}/objects/").json()["objects"]
        assert [o.get("name") for o in got] == [shared["name"]]
    api = httpx.Client(base_url=node.url, timeout=30)

    def feed(after: str = "0") -> httpx.Response:
        return api.get("/api/v1/sync/retractions", params={"after": after},
                       headers={"Authorization": f"Bearer {reader}"})

    assert api.post(f"/api/v1/objects/{shared['id']}/retract", headers={"Authorization": f"Bearer {y_pub}"},
                    ).status_code == 200
    assert feed().json() == {"retractions": [], "more": False}  # Y's copy: R never received it
    assert api.post(f"/api/v1/objects/{shared['id']}/retract", headers={"Authorization": f"Bearer {x_pub}"},
                    ).status_code == 200
    (entry,) = feed().json()["retractions"]
    assert (entry["id"], entry["version"]) == (shared["id"], "2026-01-01T00:00:00.000Z")
    assert feed(str(entry["seq"])).json()["retractions"] == []
    for bad in ("-1", "x", "9" * 30):
        answer = feed(bad)
        assert answer.status_code == 400 and "'after'" in answer.json()["error"]["detail"]
    api.close()
