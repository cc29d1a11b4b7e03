"""TAXII 2.1 sections 3.4 (filtering), 3.3 (paging headers), 5.3 (objects), 5.5 (one object),
5.6 (manifest), 5.7 (delete), 5.8 (versions): results and every error case."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from accord.storage.base import Collection
from tests.taxii.conftest import TAXII, Node, indicator


def _post(c: httpx.Client, collection: Collection, *objects: dict[str, object]) -> dict[str, object]:
    response = c.post(f"/default/collections/{collection.id}/objects/", content=orjson.dumps({"objects": objects}),
                      headers={"Content-Type": TAXII})
    assert response.status_code == 202, response.text
    status: dict[str, object] = response.json()
    return status


@pytest.fixture(scope="module")
def filled(node: Node) -> tuple[Collection, str, list[dict[str, object]]]:
    collection = node.collection("filled")
    _, token = node.user(read=(collection,), write=(collection,))
    objects = [indicator(i) for i in range(5)]
    with node.client(token) as c:
        assert _post(c, collection, *objects)["success_count"] == 5
    return collection, token, objects


def test_objects_page_headers_and_more(node: Node, filled: tuple[Collection, str, list[dict[str, object]]]) -> None:
    collection, token, objects = filled
    with node.client(token) as c:
        page = c.get(f"/default/collections/{collection.id}/objects/", params={"limit": 2})
        assert page.headers["content-type"] == TAXII
        body = page.json()
        assert body["more"] is True and body["next"] and len(body["objects"]) == 2
        first, last = page.headers["x-taxii-date-added-first"], page.headers["x-taxii-date-added-last"]
        assert first < last
        rest = c.get(f"/default/collections/{collection.id}/objects/",
                     params={"limit": 10, "next": body["next"]}).json()
        assert rest["more"] is False and "next" not in rest
        assert [o["id"] for o in body["objects"] + rest["objects"]] == [o["id"] for o in objects]
        after = c.get(f"/default/collections/{collection.id}/objects/", params={"added_after": last}).json()
        assert [o["id"] for o in after["objects"]] == [o["id"] for o in objects[2:]]
        manifest = c.get(f"/default/collections/{collection.id}/manifest/", params={"limit": 5})
        assert manifest.headers["x-taxii-date-added-first"] == first
        assert [r["date_added"] for r in manifest.json()["objects"]][:2] == [first, last]


def test_filters(node: Node, filled: tuple[Collection, str, list[dict[str, object]]]) -> None:
    collection, token, objects = filled
    url = f"/default/collections/{collection.id}/objects/"
    with node.client(token) as c:
        ids = [str(o["id"]) for o in objects[:2]]
        got = c.get(url, params={"match[id]": ",".join(ids)}).json()["objects"]
        assert [o["id"] for o in got] == ids
        assert len(c.get(url, params=[("match[type]", "indicator"), ("match[type]", "malware")]).json()["objects"]) == 5
        assert c.get(url, params={"match[type]": "malware"}).json() == {"more": False, "objects": []}
        assert len(c.get(url, params={"match[spec_version]": "2.1"}).json()["objects"]) == 5
        empty = c.get(url, params={"added_after": "2999-01-01T00:00:00Z"})
        assert empty.json() == {"more": False, "objects": []}
        assert "x-taxii-date-added-first" not in empty.headers
        one = c.get(f"{url}{objects[0]['id']}/").json()
        assert one["objects"] == [objects[0]]


@pytest.mark.parametrize(("params", "parameter"), [
    ({"added_after": "yesterday"}, "added_after"),
    ({"added_after": "2026-13-01T00:00:00Z"}, "added_after"),
    ({"limit": "0"}, "limit"),
    ({"limit": "-5"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"match[version]": "latest"}, "match[version]"),
    ({"match[version]": "2026-01-01"}, "match[version]"),
    ({"match[id]": "not-an-id"}, "match[id]"),
    ({"match[type]": "Bad Type"}, "match[type]"),
    ({"match[spec_version]": "two"}, "match[spec_version]"),
    ({"next": "garbage"}, "next"),
    ([("limit", "1"), ("limit", "2")], "limit"),
])
@pytest.mark.parametrize("endpoint", ["objects/", "manifest/"])
def test_malformed_query_parameters_are_400(node: Node, filled: tuple[Collection, str, list[dict[str, object]]],
                                            params: object, parameter: str, endpoint: str) -> None:
    collection, token, _ = filled
    with node.client(token) as c:
        response = c.get(f"/default/collections/{collection.id}/{endpoint}", params=params)  # type: ignore[arg-type]
    assert response.status_code == 400 and response.headers["content-type"] == TAXII
    assert response.json()["details"] == {"parameter": parameter}


Filled = tuple[Collection, str, list[dict[str, object]]]


def test_limit_above_the_maximum_is_capped(node: Node, filled: Filled) -> None:
    collection, token, _ = filled
    with node.client(token) as c:
        page = c.get(f"/default/collections/{collection.id}/objects/", params={"limit": 10**9})
    assert len(page.json()["objects"]) == 5


def test_unknown_or_malformed_object_is_404(node: Node, filled: Filled) -> None:
    collection, token, _ = filled
    with node.client(token) as c:
        base = f"/default/collections/{collection.id}/objects/"
        missing = c.get(f"{base}indicator--{uuid.uuid4()}/")
        malformed = c.get(f"{base}nonsense/versions/")
        assert missing.status_code == malformed.status_code == 404
        assert missing.content == malformed.content


def test_object_filtered_to_nothing_is_an_empty_200(node: Node,
                                                    filled: tuple[Collection, str, list[dict[str, object]]]) -> None:
    collection, token, objects = filled
    with node.client(token) as c:
        response = c.get(f"/default/collections/{collection.id}/objects/{objects[0]['id']}/",
                         params={"match[version]": "2000-01-01T00:00:00Z"})
    assert response.status_code == 200 and response.json() == {"more": False, "objects": []}


def test_objects_in_a_write_only_collection_are_403(node: Node) -> None:
    collection = node.collection("drop box")
    _, token = node.user(write=(collection,))
    with node.client(token) as c:
        for path in ("objects/", "manifest/", f"objects/indicator--{uuid.uuid4()}/"):
            response = c.get(f"/default/collections/{collection.id}/{path}")
            assert response.status_code == 403 and response.headers["content-type"] == TAXII


def test_delete_removes_the_owners_object_from_the_collection(
        node: Node, filled: tuple[Collection, str, list[dict[str, object]]]) -> None:
    """TAXII 2.1 section 5.7: 200, then the object is gone from this collection; the version stays
    stored (history, audit) and the removal is in the audit log."""
    collection, token, objects = filled
    target = str(objects[0]["id"])
    with node.client(token) as c:
        response = c.delete(f"/default/collections/{collection.id}/objects/{target}/")
        assert response.status_code == 200 and response.headers["content-type"] == TAXII
        assert c.get(f"/default/collections/{collection.id}/objects/{target}/").status_code == 404
        assert c.delete(f"/default/collections/{collection.id}/objects/{target}/").status_code == 404
        remaining = c.get(f"/default/collections/{collection.id}/objects/").json()["objects"]
    assert target not in {o["id"] for o in remaining} and len(remaining) == 4
    assert node.store.version_facts(target)
    (entry,) = node.store.audit_records(stix_id=target, action="delete")
    assert entry.subject == collection.id


def test_delete_one_version_with_match_version(node: Node) -> None:
    collection = node.collection("versions")
    _, token = node.user(read=(collection,), write=(collection,))
    sid = f"indicator--{uuid.uuid4()}"
    v1, v2 = (indicator(1, stix_id=sid, modified=m) for m in ("2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"))
    url = f"/default/collections/{collection.id}/objects/{sid}/"
    with node.client(token) as c:
        assert _post(c, collection, v1, v2)["success_count"] == 2
        assert c.delete(url, params={"match[version]": "2026-02-01T00:00:00.000Z"}).status_code == 200
        assert c.get(f"{url}versions/").json()["versions"] == ["2026-01-01T00:00:00.000Z"]


def test_delete_needs_ownership_and_write_access(node: Node) -> None:
    """Seeing an object is not owning it: another organisation that receives it under an
    agreement gets 403; one that cannot see it gets the same 404 as for an unknown id."""
    collection = node.collection("shared for delete")
    owner_org, other_org = f"own-{collection.id[:8]}", f"other-{collection.id[:8]}"
    node.store.add_org(owner_org)
    node.store.add_org(other_org)
    node.store.add_agreement(f"delete-{collection.id[:8]}", parties=[owner_org, other_org], max_tlp="amber",
                             onward=False, valid_from=None, valid_until=None, actor="test")
    _, owner = node.user(org=owner_org, role="publisher", read=(collection,), write=(collection,))
    _, other = node.user(org=other_org, role="publisher", read=(collection,), write=(collection,))
    _, stranger = node.user(role="publisher", read=(collection,), write=(collection,))
    obj = indicator(1)
    url = f"/default/collections/{collection.id}/objects/{obj['id']}/"
    with node.client(owner) as c:
        assert _post(c, collection, obj)["success_count"] == 1
    with node.client(other) as c:
        assert c.get(url).status_code == 200
        denied = c.delete(url)
        assert denied.status_code == 403 and denied.json()["http_status"] == "403"
    with node.client(stranger) as c:
        hidden = c.delete(url)
        unknown = c.delete(f"/default/collections/{collection.id}/objects/indicator--{uuid.uuid4()}/")
        assert hidden.status_code == unknown.status_code == 404 and hidden.content == unknown.content
    with node.client(owner) as c:
        assert c.get(url).status_code == 200


