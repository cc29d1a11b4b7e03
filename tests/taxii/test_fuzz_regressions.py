"""Faults found while fuzzing the TAXII server (tests/taxii/test_fuzz.py and probes around it).

Each fault has the smallest request that shows it. Those fixed are plain tests; those whose fix
belongs to another room are marked ``xfail(strict=True)`` with the place and the reason, so the
test starts failing (XPASS) the day the fix lands and the marker must then be removed.
"""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from accord.taxii.errors import TaxiiError
from accord.taxii.paging import MAX_LIMIT, parse_filters
from tests.taxii.conftest import TAXII, Node

ALL_FILTERS = frozenset({"id", "type", "version", "spec_version"})


def _refused(params: list[tuple[str, str]]) -> TaxiiError:
    with pytest.raises(TaxiiError) as caught:
        parse_filters(params, ALL_FILTERS)
    return caught.value


# -- fixed in accord/taxii/paging.py --------------------------------------------------------
@pytest.mark.parametrize("value", ["\u00b2", "\u0661", "\u0663\u0660", "1\u00b9"])
def test_limit_of_non_ascii_digits_is_a_bad_request(value: str) -> None:
    # str.isdigit() admitted them: a superscript two then crashed int() (500), an Arabic-Indic one passed as 1.
    error = _refused([("limit", value)])
    assert (error.status, error.details) == (400, {"parameter": "limit"})


def test_limit_of_thousands_of_digits_is_capped_not_a_crash() -> None:
    # int() refuses strings of more than 4,300 digits (ValueError, a 500 before the fix).
    assert parse_filters([("limit", "9" * 5000)], ALL_FILTERS).limit == MAX_LIMIT
    assert parse_filters([("limit", "0" * 5000 + "7")], ALL_FILTERS).limit == 7


def test_spec_version_of_non_ascii_digits_is_a_bad_request() -> None:
    error = _refused([("match[spec_version]", "\u0662.\u0661")])
    assert (error.status, error.details) == (400, {"parameter": "match[spec_version]"})


def test_superscript_limit_over_http_is_400(node: Node) -> None:
    collection = node.collection("regression limit")
    username, token = node.user(read=(collection,))
    with node.client(token, username) as client:
        response = client.get(f"/default/collections/{collection.id}/objects/", params={"limit": "\u00b2"})
    assert response.status_code == 400
    assert response.headers["content-type"] == TAXII
    assert response.json()["details"] == {"parameter": "limit"}


@pytest.mark.parametrize("api_root", ["agreements", "objects", "search", "admin", "static", "login"])
def test_taxii_paths_under_any_api_root_name_stay_taxii(node: Node, api_root: str) -> None:
    # The UI's /agreements/{name:path} page took /agreements/collections/X/objects/ and answered
    # with the sign-in page (text/html): TAXII routes now come first (accord/app.py).
    response = httpx.get(f"{node.url}/{api_root}/collections/x/objects/", headers={"Accept": TAXII})
    assert response.status_code == 401
    assert response.headers["content-type"] == TAXII


# -- not fixed yet: owners elsewhere ----------------------------------------------------------
def test_basic_credentials_with_non_ascii_characters_are_401(node: Node) -> None:
    response = httpx.get(f"{node.root}/", headers=[(b"Authorization", b"Basic \xff\xfe")])
    assert response.status_code == 401
    assert response.headers["content-type"] == TAXII


def test_basic_credentials_that_decode_to_non_utf8_are_401(node: Node) -> None:
    # The neighbouring case, which already works: valid base64 of bytes that are not UTF-8.
    header = b"Basic " + base64.b64encode(b"\xff:\xfe")
    assert httpx.get(f"{node.root}/", headers=[(b"Authorization", header)]).status_code == 401


@pytest.mark.parametrize("path", ["/default/collections/a%00b/", "/default/collections/a%00b/objects/",
                                  "/default/collections/a%00b/manifest/"])
def test_collection_id_with_nul_is_404(node: Node, path: str) -> None:
    username, token = node.user()
    with node.client(token, username) as client:
        response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == TAXII


def test_status_id_with_nul_is_404(node: Node) -> None:
    username, token = node.user()
    with node.client(token, username) as client:
        response = client.get("/default/status/a%00b/")
    assert response.status_code == 404
    assert response.headers["content-type"] == TAXII


@pytest.mark.parametrize("parameter", ["added_after", "match[version]"])
def test_timestamp_with_non_ascii_digits_is_a_bad_request(parameter: str) -> None:
    error = _refused([(parameter, "2026-01-01T00:00:00.\u0661Z")])
    assert (error.status, error.details) == (400, {"parameter": parameter})


def test_unreadable_body_is_a_400_without_a_server_exception(node: Node) -> None:
    collection = node.collection("regression body")
    username, token = node.user(write=(collection,))
    logged = len(node.server.log.read_bytes())  # the module's node: look only at what this request logs
    with node.client(token, username) as client:
        response = client.post(f"/default/collections/{collection.id}/objects/", content=b"not json",
                               headers={"Content-Type": TAXII})
    assert response.status_code == 400
    deadline = time.monotonic() + 3  # uvicorn logs the re-raised exception after the response is sent
    while time.monotonic() < deadline:
        assert b"Exception in ASGI application" not in node.server.log.read_bytes()[logged:]
        time.sleep(0.1)
