"""The REST release endpoints (/api/v1/drafts, publish, retract) against a live server, on both
backends: the approval queue, four-eyes-free publishing by a publisher, retraction, and the
errors (401, 403, 404 identical for absent and another organisation's, 400 for a bad body)."""

from __future__ import annotations

import uuid

import httpx
import orjson

from accord.storage.base import Collection
from tests.taxii.conftest import TAXII, Node, indicator, node  # noqa: F401  (the live server, per backend)


def _setup(node: Node) -> tuple[Collection, str, str, str, str]:  # noqa: F811
    collection = node.collection("release")
    owner, partner = f"rel-own-{collection.id[:8]}", f"rel-par-{collection.id[:8]}"
    node.store.add_org(owner)
    node.store.add_org(partner)
    node.store.add_agreement(f"rel-{collection.id[:8]}", parties=[owner, partner], max_tlp="amber", onward=False,
                             valid_from=None, valid_until=None, actor="test")
    _, analyst = node.user(org=owner, role="analyst", read=(collection,), write=(collection,))
    _, publisher = node.user(org=owner, role="publisher")
    _, reader = node.user(org=partner, role="reader", read=(collection,))
    _, other_publisher = node.user(org=partner, role="publisher")
    return collection, analyst, publisher, reader, other_publisher


def _visible(node: Node, token: str, collection: Collection, sid: str) -> bool:  # noqa: F811
    with node.client(token) as c:
        return c.get(f"/default/collections/{collection.id}/objects/{sid}/").status_code == 200


def test_draft_publish_retract_over_rest(node: Node) -> None:  # noqa: F811
    collection, analyst, publisher, reader, other_publisher = _setup(node)
    obj = indicator(1)
    sid = str(obj["id"])
    with node.client(analyst) as c:
        posted = c.post(f"/default/collections/{collection.id}/objects/", content=orjson.dumps({"objects": [obj]}),
                        headers={"Content-Type": TAXII})
        assert posted.status_code == 202
    assert not _visible(node, reader, collection, sid)

    api = httpx.Client(base_url=node.url, timeout=30)
    auth = {"Authorization": f"Bearer {publisher}"}
    queue = api.get("/api/v1/drafts", headers=auth)
    assert queue.status_code == 200 and queue.headers["content-type"] == "application/json"
    (draft,) = [d for d in queue.json()["drafts"] if d["id"] == sid]
    assert draft["version"].startswith("2026-01-01T00:00:00")
    assert draft["type"] == "indicator" and draft["author"]

    # An analyst may not publish; another organisation's publisher gets the same 404 as for nothing.
    denied = api.post(f"/api/v1/objects/{sid}/publish", headers={"Authorization": f"Bearer {analyst}"})
    assert denied.status_code == 403 and denied.json()["error"]["status"] == 403
    foreign = api.post(f"/api/v1/objects/{sid}/publish", headers={"Authorization": f"Bearer {other_publisher}"})
    absent = api.post(f"/api/v1/objects/indicator--{uuid.uuid4()}/publish",
                      headers={"Authorization": f"Bearer {other_publisher}"})
    assert foreign.status_code == absent.status_code == 404
    assert foreign.json() == absent.json()

    done = api.post(f"/api/v1/objects/{sid}/publish", headers=auth, json={"recipients": []})
    assert done.status_code == 200 and [v["id"] for v in done.json()["published"]] == [sid]
    assert _visible(node, reader, collection, sid)
    assert sid not in {d["id"] for d in api.get("/api/v1/drafts", headers=auth).json()["drafts"]}

    gone = api.post(f"/api/v1/objects/{sid}/retract", headers=auth)
    assert gone.status_code == 200 and [v["id"] for v in gone.json()["retracted"]] == [sid]
    assert not _visible(node, reader, collection, sid)
    assert _visible(node, analyst, collection, sid)
    actions = [r.action for r in node.store.audit_records(stix_id=sid)]
    assert actions[-3:] == ["publish", "receive", "retract"]  # the partner's read in between is a receipt
    api.close()


def test_rest_errors(node: Node) -> None:  # noqa: F811
    _, _, publisher, _, _ = _setup(node)
    api = httpx.Client(base_url=node.url, timeout=30)
    missing = api.get("/api/v1/drafts")
    assert missing.status_code == 401 and "Bearer" in missing.headers["www-authenticate"]
    assert missing.json()["error"]["title"] == "Unauthorized"
    bad = api.get("/api/v1/drafts", headers={"Authorization": "Bearer acc_nope"})
    assert bad.status_code == 401
    auth = {"Authorization": f"Bearer {publisher}"}
    for body, fragment in ((b"[1]", "JSON object"), (b"{", "not JSON"), (b'{"version": 5}', "'version'"),
                           (b'{"recipients": "x"}', "'recipients'")):
        answer = api.post(f"/api/v1/objects/indicator--{uuid.uuid4()}/publish", headers=auth, content=body)
        assert answer.status_code == 400 and fragment in answer.json()["error"]["detail"], answer.text
    unknown_org = api.post(f"/api/v1/objects/indicator--{uuid.uuid4()}/publish", headers=auth,
                           json={"recipients": ["no-such-org"]})
    assert unknown_org.status_code == 404
    api.close()


def test_a_partner_paging_with_added_after_sees_a_draft_once_published(node: Node) -> None:  # noqa: F811
    """Publishing re-stamps date_added: a partner (or a sync link) that read up to a point after
    the draft was written, and carries on from there, still receives it when it is published."""
    collection, analyst, publisher, reader, _ = _setup(node)
    draft, later = indicator(1), indicator(2)
    for obj in (draft, later):
        with node.client(analyst) as c:
            assert c.post(f"/default/collections/{collection.id}/objects/", content=orjson.dumps({"objects": [obj]}),
                          headers={"Content-Type": TAXII}).status_code == 202
    api = httpx.Client(base_url=node.url, timeout=30, headers={"Authorization": f"Bearer {publisher}"})
    assert api.post(f"/api/v1/objects/{later['id']}/publish").status_code == 200
    with node.client(reader) as c:
        first = c.get(f"/default/collections/{collection.id}/objects/")
        assert [o["id"] for o in first.json()["objects"]] == [later["id"]]
        mark = first.headers["X-TAXII-Date-Added-Last"]
        assert api.post(f"/api/v1/objects/{draft['id']}/publish").status_code == 200
        after = c.get(f"/default/collections/{collection.id}/objects/", params={"added_after": mark})
        assert [o["id"] for o in after.json()["objects"]] == [draft["id"]]
        assert after.headers["X-TAXII-Date-Added-First"] > mark
    api.close()
