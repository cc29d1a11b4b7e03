"""REST import and export (/api/v1/collections/{id}/import|export) against a live server, on both
backends: writes take the caller's organisation and role, exports go through the gate (a partner
receives what the agreement allows and nothing else), and the errors are the REST API's own."""

from __future__ import annotations

import uuid

import httpx
import orjson

from accord.stix.markings import TLP2_AMBER, TLP2_GREEN
from tests.taxii.conftest import Node, bundle_of, indicator, node  # noqa: F401  (the live server, per backend)


def _api(node: Node, token: str | None) -> httpx.Client:  # noqa: F811
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=node.url, timeout=60, headers=headers)


def test_import_then_export_through_the_gate(node: Node) -> None:  # noqa: F811
    collection = node.collection("rest transfer")
    owner, partner = f"xf-own-{collection.id[:8]}", f"xf-par-{collection.id[:8]}"
    node.store.add_org(owner)
    node.store.add_org(partner)
    node.store.add_agreement(f"xf-{collection.id[:8]}", parties=[owner, partner], max_tlp="green", onward=False,
                             valid_from=None, valid_until=None, actor="test")
    _, publisher = node.user(org=owner, role="publisher", read=(collection,), write=(collection,))
    _, reader = node.user(org=partner, role="reader", read=(collection,))
    green = indicator(1, object_marking_refs=[TLP2_GREEN])
    amber = indicator(2, object_marking_refs=[TLP2_AMBER])
    body = orjson.dumps(bundle_of(green, amber))

    with _api(node, publisher) as api:
        done = api.post(f"/api/v1/collections/{collection.id}/import", content=body)
        assert done.status_code == 200, done.text
        result = done.json()
        assert (result["format"], result["state"], result["stored"], result["refused"]) == ("stix", "published", 2, [])
        again = api.post(f"/api/v1/collections/{collection.id}/import?format=stix", content=body).json()
        assert (again["stored"], again["unchanged"]) == (0, 2)
        own = api.get(f"/api/v1/collections/{collection.id}/export")
        assert own.status_code == 200
        assert "attachment" in own.headers["content-disposition"]
        assert {o["id"] for o in own.json()["objects"]} == {green["id"], amber["id"]}

    with _api(node, reader) as api:
        shared = api.get(f"/api/v1/collections/{collection.id}/export", params={"format": "stix"})
        assert shared.status_code == 200
        assert [o["id"] for o in shared.json()["objects"]] == [green["id"]]
        # A reader may not write; the same collection answers 403, not 404, since they may read it.
        denied = api.post(f"/api/v1/collections/{collection.id}/import", content=body)
        assert denied.status_code == 403 and denied.json()["error"]["status"] == 403
    receipts = node.store.audit_records(action="receive", org=partner)
    items = node.store.audit_items([r.seq for r in receipts])
    assert [item[0] for r in receipts for item in items.get(r.seq, [])] == [green["id"]]
    exports = node.store.audit_records(action="export", org=partner)
    assert exports
    detail = orjson.loads(exports[-1].detail)
    assert (detail["format"], detail["written"], detail["channel"]) == ("stix", 1, "rest")


def test_errors(node: Node) -> None:  # noqa: F811
    collection = node.collection("rest transfer errors")
    hidden = node.collection("rest transfer hidden")
    _, analyst = node.user(role="analyst", read=(collection,), write=(collection,))
    with _api(node, None) as api:
        unauthenticated = api.post(f"/api/v1/collections/{collection.id}/import", content=b"{}")
        assert unauthenticated.status_code == 401 and "WWW-Authenticate" in unauthenticated.headers
    with _api(node, analyst) as api:
        base = f"/api/v1/collections/{collection.id}"
        absent = api.get(f"/api/v1/collections/{uuid.uuid4()}/export")
        invisible = api.get(f"/api/v1/collections/{hidden.id}/export")
        assert absent.status_code == invisible.status_code == 404
        assert absent.json() == invisible.json()
        bad_format = api.post(f"{base}/import?format=nope", content=b"[]")
        assert bad_format.status_code == 400 and "unknown import format 'nope'" in bad_format.json()["error"]["detail"]
        junk = api.post(f"{base}/import?format=stix", content=b"\x89PNG\r\n")
        assert junk.status_code == 400 and "nothing stored" in junk.json()["error"]["detail"]
        undetectable = api.post(f"{base}/import", content=b"\x00\x01")
        assert undetectable.status_code == 400 and "format" in undetectable.json()["error"]["detail"]
        bad_option = api.get(f"{base}/export", params={"option": "zzz=1"})
        assert bad_option.status_code == 400 and "'zzz'" in bad_option.json()["error"]["detail"]
        not_kv = api.get(f"{base}/export", params={"option": "zzz"})
        assert not_kv.status_code == 400
        bad_flag = api.get(f"{base}/export", params={"latest": "maybe"})
        assert bad_flag.status_code == 400
        # One bad object among good ones: the good one is stored, the bad one reported with its reason.
        bad = {**indicator(3), "pattern": "[not a pattern"}
        mixed = api.post(f"{base}/import", content=orjson.dumps(bundle_of(indicator(4), bad))).json()
        assert mixed["stored"] == 1 and mixed["state"] == "draft"
        assert [r["property"] for r in mixed["refused"]] == ["pattern"]
