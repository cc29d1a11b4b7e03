"""The REST API's OpenAPI document (accord/api/openapi.py): valid, describing exactly the
/api/v1/ routes of the application, served without credentials; and schemathesis driving a live
`accord serve` from it on both backends (no 5xx; statuses, media types, headers and bodies as
declared; every error in the REST error shape).

Bounded like tests/taxii/test_fuzz.py: a fixed seed, deterministic generation, MAX_EXAMPLES per
operation and phase, no shrinking, no stateful phase, a deadline per request. The caller is a
node-admin, so the fuzzing reaches the administration code rather than stopping at 403; the
path parameters are mostly seeded names, so it reaches past the 404s too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig

from accord.api.openapi import OPENAPI_PATH, Operation, build_document, document, operations, ref
from accord.app import build_app
from accord.policy.tokens import new_token
from accord.settings import load_settings
from accord.storage.sqlite import SQLiteStore
from tests.conftest import BACKENDS
from tests.taxii.conftest import Node, run_node

SEED = 20261126
MAX_EXAMPLES = 12


# -- the document ---------------------------------------------------------------------------
def test_document_is_valid_openapi() -> None:
    validate(document())
    schemathesis.openapi.from_dict(document())


def test_document_describes_exactly_the_rest_routes(tmp_path: Path) -> None:
    """A route under /api/v1/ without a description, or a description of no route, fails here."""
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}")
    store.initialise()
    try:
        settings_ = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": store.url,
                                       "ACCORD_SYNC_SCHEDULER": "false"})
        app = build_app(settings_, store)
        routed = {(method, route.path) for route in app.routes if getattr(route, "path", "").startswith("/api/v1/")
                  for method in (getattr(route, "methods", None) or ()) if method != "HEAD"}
    finally:
        store.close()
    assert routed == operations()


def test_other_modules_extend_it_with_entries() -> None:
    extra = Operation("get", "/api/v1/example", "getExample", "an example", "meta", (200, ref("Org")))
    built = build_document([extra])
    assert list(built["paths"]) == ["/api/v1/example"]
    validate(built)
    with pytest.raises(ValueError, match="described twice"):
        build_document([extra, extra])


# -- the live node ----------------------------------------------------------------------------
AGREEMENT, COLLECTION, ORG, USERNAME, PEER, TOKEN = ("fuzz-agreement", "fuzz-collection", "fuzz-org", "fuzz-user",
                                                     "fuzz-peer", "1000")


class Seeded:
    """A node-admin caller; an agreement, a collection, an organisation, a user, a peer and a
    token that the generated path parameters name most of the time."""

    def __init__(self, node: Node):
        store = node.store
        for org in (ORG, "fuzz-partner"):
            store.add_org(org)
        collection = store.add_collection("fuzz", alias=COLLECTION)
        store.set_grant(collection, ORG, can_read=True, can_write=True)
        store.add_agreement(AGREEMENT, parties=[ORG, "fuzz-partner"], max_tlp="amber", onward=False,
                            valid_from=None, valid_until=None, actor="test")
        store.add_peer(PEER, url="https://peer.example/taxii2/", username="u", sealed_token=b"x", org="fuzz-partner",
                       interval_s=60, accept_max_tlp="amber", accept_types=(),
                       links=[("pull", "remote", COLLECTION)], actor="test")
        self.username, self.token = node.user(role="node-admin", org=ORG)
        store.add_user(USERNAME, org=ORG, role="reader")
        doomed = store.add_token(USERNAME, new_token()[1])
        # The caller's own token is never revoked by a generated id: it becomes the doomed one.
        self.own = {t.pk for t in store.tokens(self.username)}
        self.real = {TOKEN: doomed.pk}

    def substitute(self, case: Any) -> None:
        value = case.path_parameters.get("token_id")
        if value is not None and (str(value) == TOKEN or (str(value).isdigit() and int(value) in self.own)):
            case.path_parameters["token_id"] = self.real[TOKEN]


@pytest.fixture(scope="module", params=BACKENDS)
def rest_node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from run_node(request.param, request, tmp_path_factory.mktemp(f"rest-{request.param}"))


@pytest.fixture(scope="module")
def seeded(rest_node: Node) -> Seeded:
    return Seeded(rest_node)


def test_document_is_served_without_credentials(rest_node: Node) -> None:
    response = httpx.get(f"{rest_node.url}{OPENAPI_PATH}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.json() == document()


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
        data["dictionaries"] = {name: {"values": [value]} for name, value in (
            ("agreements", AGREEMENT), ("collections", COLLECTION), ("orgs", ORG), ("users", USERNAME),
            ("peers", PEER), ("tokens", TOKEN))}
        data["parameters"] = {f"path.{param}": {"dictionary": dictionary, "probability": 0.8} for param, dictionary in (
            ("name", "agreements"), ("collection_id", "collections"), ("org", "orgs"), ("username", "users"),
            ("token_id", "tokens"))}
        # The object routes name their collection (and the preview its organisation) in the query.
        data["parameters"].update({f"query.{param}": {"dictionary": dictionary, "probability": 0.8}
                                   for param, dictionary in (("collection", "collections"), ("org", "orgs"))})
    return SchemathesisConfig.from_dict(data)


authorized = schemathesis.openapi.from_dict(document(), config=_config(seeded=True))
anonymous = schemathesis.openapi.from_dict(document(), config=_config(seeded=False))


def rest_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    body = orjson.loads(response.content)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not a REST error: {body!r}"
    assert body["error"].get("status") == response.status_code, f"status {body['error'].get('status')!r}"
    assert isinstance(body["error"].get("detail"), str) and body["error"]["detail"], f"no detail: {body!r}"
    return True


BOUNDED = settings(deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])


@authorized.parametrize()
@BOUNDED
def test_fuzz_as_node_admin(case: Any, rest_node: Node, seeded: Seeded) -> None:
    seeded.substitute(case)
    response = case.call(base_url=rest_node.url, auth=(seeded.username, seeded.token), timeout=10)
    case.validate_response(response, additional_checks=[rest_error_shape])


@anonymous.parametrize()
@BOUNDED
def test_fuzz_without_credentials(case: Any, rest_node: Node) -> None:
    response = case.call(base_url=rest_node.url, timeout=10)
    case.validate_response(response, additional_checks=[rest_error_shape])
    if case.operation.path != OPENAPI_PATH:
        assert response.status_code in {401, 404, 405}, response.status_code
