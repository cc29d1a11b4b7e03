"""TAXII 2.1 sections 1.6 (media types, authentication), 4.1 (discovery), 4.2 (API root)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.taxii.conftest import MAX_CONTENT_LENGTH, TAXII, Node, run_node


def _is_taxii_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == TAXII
    body: dict[str, object] = orjson.loads(response.content)
    assert body["http_status"] == str(status) and isinstance(body["title"], str)
    return body


def test_discovery_and_api_root(node: Node) -> None:
    _, token = node.user()
    with node.client(token) as c:
        found = c.get("/taxii2/")
        assert found.status_code == 200 and found.headers["content-type"] == TAXII
        assert found.json()["api_roots"] == [f"{node.root}/"]
        root = c.get("/default/")
        assert root.headers["content-type"] == TAXII
        assert root.json()["max_content_length"] == MAX_CONTENT_LENGTH
        assert root.json()["versions"] == [TAXII]


@pytest.mark.parametrize("accept", [None, "*/*", "application/*", "application/taxii+json",
                                    "application/taxii+json;version=2.1", 'application/taxii+json; version="2.1"',
                                    "text/html, application/taxii+json;q=0.5"])
def test_acceptable_accept_headers(node: Node, accept: str | None) -> None:
    _, token = node.user()
    headers = {"Authorization": f"Bearer {token}"}
    if accept is not None:
        headers["Accept"] = accept
    response = httpx.get(f"{node.url}/taxii2/", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == TAXII


@pytest.mark.parametrize("accept", ["application/json", "text/html", "application/taxii+json;version=2.0",
                                    "application/stix+json;version=2.1", "application/taxii+json;q=0"])
def test_unacceptable_accept_is_406(node: Node, accept: str) -> None:
    _, token = node.user()
    response = httpx.get(f"{node.url}/default/", headers={"Authorization": f"Bearer {token}", "Accept": accept})
    _is_taxii_error(response, 406)


@pytest.mark.parametrize("authorization", [None, "Bearer acc_nope", "Bearer", "Basic !!!", "Digest abc",
                                           "Basic " + base64.b64encode(b"nobody:acc_nope").decode(),
                                           "Basic " + base64.b64encode(b"no-colon").decode()])
@pytest.mark.parametrize("path", ["/taxii2/", "/default/", "/default/collections/", "/nowhere/"])
def test_missing_or_bad_credentials_are_401(node: Node, authorization: str | None, path: str) -> None:
    headers = {"Accept": TAXII}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = httpx.get(node.url + path, headers=headers)
    _is_taxii_error(response, 401)
    assert response.headers["www-authenticate"].startswith("Basic realm=")
    assert "Bearer" in response.headers["www-authenticate"]


def test_token_of_another_user_and_revoked_token_are_401(node: Node) -> None:
    alice, token = node.user()
    bob, _ = node.user()
    with node.client(token, bob) as c:
        _is_taxii_error(c.get("/taxii2/"), 401)
    with node.client(token, alice) as c:
        assert c.get("/taxii2/").status_code == 200
    node.store.revoke_token(node.store.tokens(alice)[0].pk)
    with node.client(token) as c:
        _is_taxii_error(c.get("/taxii2/"), 401)


def test_unknown_api_root_is_404(node: Node) -> None:
    _, token = node.user()
    with node.client(token) as c:
        _is_taxii_error(c.get("/nowhere/"), 404)
        _is_taxii_error(c.get("/nowhere/collections/"), 404)
        _is_taxii_error(c.get("/no/such/path"), 404)


def test_wrong_method_is_405_taxii_error(node: Node) -> None:
    _, token = node.user()
    with node.client(token) as c:
        response = c.put("/taxii2/")
    _is_taxii_error(response, 405)
    assert "GET" in response.headers["allow"]


def test_healthz_needs_no_credentials(node: Node) -> None:
    assert httpx.get(f"{node.url}/healthz").json() == {"status": "ok"}


@pytest.fixture
def strict_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    """A server allowing 3 failed authentications per minute (SQLite; the throttle is in memory)."""
    yield from run_node("sqlite", request, tmp_path, ACCORD_AUTH_FAILURES_PER_MINUTE="3")


def test_failed_authentications_are_throttled(strict_node: Node) -> None:
    _, token = strict_node.user()
    with strict_node.client(token) as good, strict_node.client("acc_guess") as bad:
        assert good.get("/taxii2/").status_code == 200
        for _ in range(3):
            _is_taxii_error(bad.get("/taxii2/"), 401)
        throttled = bad.get("/taxii2/")
        _is_taxii_error(throttled, 429)
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        # The address is refused even with good credentials until the minute has passed.
        _is_taxii_error(good.get("/taxii2/"), 429)
