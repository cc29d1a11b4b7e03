"""Schemathesis drives a live `accord serve` from its own OpenAPI document (GET /taxii2/openapi.json).

Two runs over every operation: one with valid credentials, whose path parameters are mostly the
seeded API root, collections, objects and status (so the fuzzing reaches the query filters and
request bodies), and one with no or made-up credentials. Both generate valid and invalid inputs
(positive and negative modes) and check that:

- no response is a 5xx;
- every TAXII response is ``application/taxii+json;version=2.1`` (all but the OpenAPI document);
- every error is a TAXII error resource whose ``http_status`` is the response's status;
- statuses, media types, headers and bodies are the ones the document declares.

schemathesis's checks that a valid input is accepted and an invalid one refused are left out: a
collection id is valid only if it exists, and the STIX timestamp grammar (calendar days) is not a
regular expression, so both would report the document's looseness rather than server faults.

Bounded and reproducible: a fixed seed, deterministic generation, MAX_EXAMPLES per operation and
phase, no shrinking, no stateful phase, a deadline per example; on both backends, since the store
is where driver-specific faults (such as PostgreSQL refusing NUL characters) surface.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig

from accord.taxii.openapi import OPENAPI_PATH, document, operations
from accord.taxii.routes import ROUTES
from tests.conftest import BACKENDS
from tests.taxii.conftest import TAXII, Node, bundle_of, indicator, run_node

SEED = 20261125
MAX_EXAMPLES = 40
NOT_TAXII = {OPENAPI_PATH}


# -- the document ---------------------------------------------------------------------------
def test_document_is_valid_openapi() -> None:
    validate(document())
    schemathesis.openapi.from_dict(document())


def test_document_describes_exactly_the_routes() -> None:
    routed = {(method, route.path) for route in ROUTES for method in (route.methods or ()) if method != "HEAD"}
    assert operations() == routed


def test_document_is_served_without_credentials(fuzz_node: Node) -> None:
    response = httpx.get(f"{fuzz_node.url}{OPENAPI_PATH}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == document()


# -- the live node ----------------------------------------------------------------------------
# Generated path parameters name these most of the time; the test puts the real ids in their place.
COLLECTIONS = ("seeded-readable", "seeded-write-only", "seeded-hidden")
STATUS = "seeded-status"
OBJECT_IDS = tuple(f"indicator--{uuid.UUID(int=n, version=4)}" for n in range(1, 7))
# DELETE gets these in place of OBJECT_IDS, so that removing objects spares the other operations'.
DOOMED = {stix_id: f"indicator--{uuid.UUID(int=n + 100, version=4)}" for n, stix_id in enumerate(OBJECT_IDS)}


class Seeded:
    """A caller who may read and write one collection, only write another and not see a third;
    the readable one holds a few indicators (one with two versions), those DELETE may remove, and
    the caller's status."""

    def __init__(self, node: Node):
        readable = node.collection("fuzz readable")
        write_only = node.collection("fuzz write-only")
        hidden = node.collection("fuzz hidden")
        self.username, self.token = node.user(read=(readable,), write=(readable, write_only))
        objects = [indicator(n, stix_id=stix_id) for n, stix_id in enumerate((*OBJECT_IDS, *DOOMED.values()))]
        objects.append({**objects[0], "modified": "2026-02-01T00:00:00.000Z", "name": "indicator 0, revised"})
        with node.client(self.token, self.username) as client:
            posted = client.post(f"/default/collections/{readable.id}/objects/",
                                 content=orjson.dumps(bundle_of(*objects)), headers={"Content-Type": TAXII})
        assert posted.status_code == 202, posted.text
        assert posted.json()["success_count"] == len(objects)
        self.real = {**dict(zip(COLLECTIONS, (readable.id, write_only.id, hidden.id), strict=True)),
                     STATUS: posted.json()["id"]}

    def substitute(self, case: Any) -> None:
        real = {**self.real, **DOOMED} if case.method.upper() == "DELETE" else self.real
        for name, value in list(case.path_parameters.items()):
            if value in real:
                case.path_parameters[name] = real[value]


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from run_node(request.param, request, tmp_path_factory.mktemp(f"fuzz-{request.param}"))


@pytest.fixture(scope="module")
def seeded(fuzz_node: Node) -> Seeded:
    return Seeded(fuzz_node)


def _config(*, seeded: bool) -> SchemathesisConfig:
    data: dict[str, Any] = {
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "no-shrink": True,
                       "database": "none"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "enabled": False,
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
        },
    }
    if seeded:
        data["dictionaries"] = {
            "api_roots": {"values": ["default"]},
            "collections": {"values": list(COLLECTIONS)},
            "objects": {"values": list(OBJECT_IDS)},
            "statuses": {"values": [STATUS]},
        }
        data["parameters"] = {
            "path.api_root": {"dictionary": "api_roots", "probability": 0.9},
            "path.collection_id": {"dictionary": "collections", "probability": 0.9},
            "path.object_id": {"dictionary": "objects", "probability": 0.8},
            "path.status_id": {"dictionary": "statuses", "probability": 0.8},
        }
    return SchemathesisConfig.from_dict(data)


authorized = schemathesis.openapi.from_dict(document(), config=_config(seeded=True))
anonymous = schemathesis.openapi.from_dict(document(), config=_config(seeded=False))


# -- checks of our own ----------------------------------------------------------------------
def taxii_media_type(ctx: Any, response: Any, case: Any) -> bool | None:
    if case.operation.path in NOT_TAXII:
        return None
    content_types = response.headers.get("content-type", [])
    assert content_types, "no Content-Type"
    media = content_types[0]
    tokens = [p.strip() for p in media.split(";")]
    assert media.startswith("application/taxii+json") and "version=2.1" in tokens, f"Content-Type {media!r}"
    return True


def taxii_error_resource(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    body = orjson.loads(response.content)
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert isinstance(body.get("title"), str) and body["title"], f"error without a title: {body!r}"
    assert body.get("http_status") == str(response.status_code), f"http_status {body.get('http_status')!r}"
    return True


TAXII_CHECKS = [taxii_media_type, taxii_error_resource]

# A request that takes longer than this is a fault too (a hang, a scan of the store).
BOUNDED = settings(deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])


@authorized.parametrize()
@BOUNDED
def test_fuzz_with_credentials(case: Any, fuzz_node: Node, seeded: Seeded) -> None:
    seeded.substitute(case)
    response = case.call(base_url=fuzz_node.url, auth=(seeded.username, seeded.token), timeout=10)
    case.validate_response(response, additional_checks=TAXII_CHECKS)


@anonymous.parametrize()
@BOUNDED
def test_fuzz_without_credentials(case: Any, fuzz_node: Node) -> None:
    response = case.call(base_url=fuzz_node.url, timeout=10)
    case.validate_response(response, additional_checks=TAXII_CHECKS)
    if case.operation.path not in NOT_TAXII:
        assert response.status_code in {401, 404, 405, 406}, response.status_code
