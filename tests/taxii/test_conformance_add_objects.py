"""TAXII 2.1 sections 5.4 (Add Objects) and 4.3 (status): results per object and every refusal."""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest

from accord.storage.base import Collection
from tests.taxii.conftest import MAX_CONTENT_LENGTH, TAXII, Node, bundle_of, indicator


@pytest.fixture(scope="module")
def writer(node: Node) -> tuple[Collection, str, str]:
    collection = node.collection("inbox")
    username, token = node.user(read=(collection,), write=(collection,))
    return collection, username, token


def _post(c: httpx.Client, collection: Collection, body: bytes, content_type: str | None = TAXII) -> httpx.Response:
    headers = {} if content_type is None else {"Content-Type": content_type}
    return c.post(f"/default/collections/{collection.id}/objects/", content=body, headers=headers)


def test_good_and_bad_objects_in_one_envelope(node: Node, writer: tuple[Collection, str, str]) -> None:
    collection, username, token = writer
    good = indicator(1)
    conflicting = {**good, "name": "changed without a new modified"}
    bad = {"type": "indicator", "id": f"indicator--{uuid.uuid4()}", "spec_version": "2.1",
           "modified": "2026-01-01T00:00:00.000Z"}
    envelope = orjson.dumps({"objects": [good, bad, 42]})
    with node.client(token, username) as c:
        response = _post(c, collection, envelope)
        assert response.status_code == 202 and response.headers["content-type"] == TAXII
        status = response.json()
        assert status["status"] == "complete" and status["total_count"] == 3
        assert status["successes"] == [{"id": good["id"], "version": "2026-01-01T00:00:00.000Z"}]
        assert [f["id"] for f in status["failures"]] == [bad["id"], "(object #2)"]
        assert status["failures"][0]["version"] == "2026-01-01T00:00:00.000Z" and status["failures"][0]["message"]
        assert status["failure_count"] == 2 and status["pending_count"] == 0 and status["pendings"] == []
        # Retrying is idempotent, and a changed body under the same version is a reported conflict.
        retry = _post(c, collection, orjson.dumps({"objects": [good, conflicting]})).json()
        assert retry["success_count"] == 1 and retry["failure_count"] == 1
        assert "already stored" in retry["failures"][0]["message"]
        stored = c.get(f"/default/collections/{collection.id}/objects/{good['id']}/").json()["objects"]
        assert stored == [good]
        for suffix in ("/", ""):
            again = c.get(f"/default/status/{status['id']}{suffix}")
            assert again.status_code == 200 and again.json() == status
    # Another user (even one who can read the collection) cannot read the status.
    _, other = node.user(read=(collection,))
    with node.client(other) as c:
        assert c.get(f"/default/status/{status['id']}/").status_code == 404
        assert c.get(f"/default/status/{uuid.uuid4()}/").status_code == 404


def test_bundle_is_accepted(node: Node, writer: tuple[Collection, str, str]) -> None:
    collection, _, token = writer
    with node.client(token) as c:
        response = _post(c, collection, orjson.dumps(bundle_of(indicator(2))))
    assert response.status_code == 202 and response.json()["success_count"] == 1


@pytest.mark.parametrize("content_type", [None, "application/json", "application/stix+json;version=2.1",
                                          "application/taxii+json;version=2.0", "text/plain"])
def test_unsupported_content_type_is_415(node: Node, writer: tuple[Collection, str, str],
                                         content_type: str | None) -> None:
    collection, _, token = writer
    with node.client(token) as c:
        response = _post(c, collection, orjson.dumps({"objects": [indicator(3)]}), content_type)
    assert response.status_code == 415 and response.json()["http_status"] == "415"


def test_bare_taxii_content_type_is_accepted(node: Node, writer: tuple[Collection, str, str]) -> None:
    collection, _, token = writer
    with node.client(token) as c:
        assert _post(c, collection, orjson.dumps({"objects": []}), "application/taxii+json").status_code == 202


def test_size_limit_is_413_above_and_never_at_the_limit(node: Node, writer: tuple[Collection, str, str]) -> None:
    collection, _, token = writer
    head = orjson.dumps({"objects": [indicator(4)]})[:-1] + b', "pad": "'
    exact = head + b"x" * (MAX_CONTENT_LENGTH - len(head) - 2) + b'"}'
    assert len(exact) == MAX_CONTENT_LENGTH
    with node.client(token) as c:
        assert _post(c, collection, exact).status_code == 202
        over = _post(c, collection, exact[:-2] + b'x"}')
        assert over.status_code == 413 and over.json()["http_status"] == "413"

        def chunks() -> object:  # no Content-Length: the limit is enforced while reading
            yield exact
            yield b" "

        streamed = c.post(f"/default/collections/{collection.id}/objects/", content=chunks(),  # type: ignore[arg-type]
                          headers={"Content-Type": TAXII})
        assert streamed.status_code == 413


@pytest.mark.parametrize("body", [b"", b"not json", b'{"objects": [', b'{"objects": []} trailing',
                                  b'{"type": "bundle", "id": "bundle--nope", "objects": []}'])
def test_malformed_envelope_is_400(node: Node, writer: tuple[Collection, str, str], body: bytes) -> None:
    collection, _, token = writer
    with node.client(token) as c:
        response = _post(c, collection, body)
    assert response.status_code == 400 and response.headers["content-type"] == TAXII


@pytest.mark.parametrize("body", [orjson.dumps([indicator(5)]), orjson.dumps(indicator(6)), b"{}"])
def test_not_an_envelope_is_422_and_stores_nothing(node: Node, writer: tuple[Collection, str, str],
                                                   body: bytes) -> None:
    collection, _, token = writer
    with node.client(token) as c:
        before = c.get(f"/default/collections/{collection.id}/manifest/", params={"limit": 1000}).json()
        response = _post(c, collection, body)
        assert response.status_code == 422 and response.json()["http_status"] == "422"
        after = c.get(f"/default/collections/{collection.id}/manifest/", params={"limit": 1000}).json()
    assert after == before


def test_deeply_nested_object_is_refused_alone(node: Node, writer: tuple[Collection, str, str]) -> None:
    collection, _, token = writer
    deep = b'{"type": "x-deep", "v": ' + b"[" * 500 + b"]" * 500 + b"}"
    body = b'{"objects": [' + deep + b"," + orjson.dumps(indicator(7)) + b"]}"
    with node.client(token) as c:
        status = _post(c, collection, body).json()
    assert status["success_count"] == 1 and status["failure_count"] == 1


def test_posting_without_write_access(node: Node) -> None:
    readable, hidden = node.collection("read only"), node.collection("hidden")
    _, token = node.user(read=(readable,))
    _, reader = node.user(role="reader", read=(readable,), write=(readable,))
    envelope = orjson.dumps({"objects": [indicator(8)]})
    with node.client(token) as c:
        assert _post(c, readable, envelope).status_code == 403
        assert _post(c, hidden, envelope).status_code == 404
    with node.client(reader) as c:
        assert _post(c, readable, envelope).status_code == 403
