"""An OpenAPI 3.0 description of the REST API under /api/v1/, served at ``GET /api/v1/openapi.json``.

Each route is described by one :class:`Operation` in :data:`OPERATIONS` (release and sync in
routes.py, import and export in transfer.py, administration in admin.py, and this document).
:func:`build_document` turns any list of operations into the document, so a module that adds
routes adds its operations to the list (and any schema it names to :data:`SCHEMAS`); nothing
is derived from the route objects, so that each entry can say what it answers.
tests/api/test_openapi.py fails when a /api/v1/ route of the application has no entry or an
entry names no route, and drives a live server from the document with schemathesis.

Like the TAXII one (accord/taxii/openapi.py) it names no host, collection or user of the node
and is served without credentials.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

OPENAPI_PATH = "/api/v1/openapi.json"
OPENAPI_VERSION = "3.0.3"
JSON = "application/json"


def ref(name: str) -> dict[str, str]:
    """A reference to a schema of :data:`SCHEMAS`."""
    return {"$ref": f"#/components/schemas/{name}"}


def path_parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string", "minLength": 1}}


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


@dataclass(frozen=True)
class Operation:
    """One method on one path. ``ok`` is the success status and its JSON schema (None: a body of
    any media type); ``errors`` the error statuses it can answer besides those of every
    authenticated operation (401, 429, 500); ``body`` the JSON request body's schema, if any."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    ok: tuple[int, dict[str, Any] | None]
    errors: tuple[int, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()
    body: dict[str, Any] | None = None
    raw_body: bool = False  # the body is a document in any format (import)
    public: bool = False  # answered without credentials


# -- schemas -------------------------------------------------------------------------------------
_STR = {"type": "string"}
_OPT_STR = {"type": "string", "nullable": True}
_INT = {"type": "integer"}
_STRS = {"type": "array", "items": _STR}
_BOOL = {"type": "boolean"}
_COUNT = {"type": "integer", "minimum": 0}
_COUNTS = {"type": "object", "additionalProperties": _COUNT}
_TLP = {"type": "string", "enum": ["clear", "green", "amber", "amber+strict", "red"]}
_TIME = {"type": "string", "description": "an RFC 3339 UTC timestamp with microseconds"}
_OPT_TIME = {**_TIME, "nullable": True}


def obj(required: Iterable[str], closed: bool = False, **properties: Any) -> dict[str, Any]:
    """An object schema; ``closed``: no other properties (request bodies, which refuse unknown ones)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if list(required):
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _list_of(key: str, item: str, paged: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {key: {"type": "array", "items": ref(item)}}
    if paged:
        properties["next"] = {"type": "string", "description": "the cursor of the next page; absent on the last"}
    return obj([key], **properties)


_VERSION_REF = obj(["id", "version"], id=_STR, version=_STR)
SCHEMAS: dict[str, Any] = {
    "Error": obj(["error"], error=obj(["status", "title", "detail"], status={"type": "integer"}, title=_STR,
                                      detail=_STR)),
    "VersionRef": _VERSION_REF,
    "Drafts": obj(["drafts"], drafts={"type": "array", "items": obj(
        ["id", "version", "type"], id=_STR, version=_STR, type=_STR, author=_OPT_STR, tlp=_OPT_STR)}),
    "Published": obj(["published"], published={"type": "array", "items": ref("VersionRef")}),
    "Retracted": obj(["retracted"], retracted={"type": "array", "items": ref("VersionRef")}),
    "Retractions": obj(["retractions", "more"], more=_BOOL, retractions={"type": "array", "items": obj(
        ["seq", "id", "version"], seq={"type": "integer"}, id=_STR, version=_STR)}),
    "ImportReport": obj(
        ["format", "collection", "state", "stored", "refused"], format=_STR, collection=_STR, state=_STR,
        stored=_COUNT, added=_COUNT, unchanged=_COUNT, upgraded=_COUNT, notes=_STRS,
        refused={"type": "array", "items": obj(["reason"], object_id=_OPT_STR, property=_OPT_STR, reason=_STR,
                                              index={"type": "integer", "nullable": True})}),
    "Agreement": obj(["name", "state", "parties", "max_tlp", "onward", "collections", "types"], name=_STR,
                     state={"type": "string", "enum": ["active", "ended", "suspended", "not yet valid", "expired"]},
                     parties=_STRS, max_tlp=_STR, onward=_BOOL, valid_from=_OPT_TIME, valid_until=_OPT_TIME,
                     ended=_OPT_TIME, created=_TIME, collections=_STRS, types=_STRS),
    "NewAgreement": obj(["name", "parties"], closed=True, name=_STR, parties=_STRS, max_tlp=_TLP, onward=_BOOL,
                        valid_from=_TIME, valid_until=_TIME, collections=_STRS, types=_STRS),
    "Collection": obj(["id", "title", "default_tlp", "can_read", "can_write"], id=_STR, alias=_OPT_STR,
                      title=_STR, description=_OPT_STR, api_root=_STR, default_tlp=_STR, created=_TIME,
                      can_read=_BOOL, can_write=_BOOL),
    "NewCollection": obj(["title"], closed=True, title=_STR, description=_STR, alias=_STR, default_tlp=_TLP),
    "Grant": obj(["collection", "org", "can_read", "can_write"], collection=_STR, org=_STR, can_read=_BOOL,
                 can_write=_BOOL),
    "GrantChange": obj([], closed=True, can_read=_BOOL, can_write=_BOOL),
    "Grants": obj(["collection", "grants"], collection=_STR, grants={"type": "array", "items": obj(
        ["org", "can_read", "can_write"], org=_STR, can_read=_BOOL, can_write=_BOOL)}),
    "Org": obj(["name", "kind"], name=_STR, kind={"type": "string", "enum": ["local", "partner"]}, created=_TIME),
    "User": obj(["username", "org", "role", "disabled"], username=_STR, org=_STR, role=_STR, disabled=_BOOL,
                created=_TIME),
    "NewUser": obj(["username", "org", "role"], closed=True, username=_STR, org=_STR,
                   role={"type": "string", "enum": ["reader", "analyst", "publisher", "org-admin", "node-admin"]}),
    "Token": obj(["id", "username", "state"], id={"type": "integer"}, username=_STR, label=_OPT_STR,
                 state={"type": "string", "enum": ["active", "expired", "revoked"]}, created=_TIME,
                 expires=_OPT_TIME, revoked=_OPT_TIME),
    "NewToken": obj([], closed=True, label=_STR, expires_in_days={"type": "integer", "minimum": 1, "maximum": 3650}),
    "PeerLink": obj(["direction", "remote_collection", "objects", "status"],
                    direction={"type": "string", "enum": ["pull", "push"]}, remote_collection=_STR,
                    local_collection=_OPT_STR, cursor=_OPT_STR, objects=_COUNT, last_attempt=_OPT_TIME,
                    last_success=_OPT_TIME, last_error=_OPT_STR,
                    status={"type": "string", "enum": ["never run", "ok", "failing"]}),
    "Peer": obj(["name", "url", "org", "paused", "links"], name=_STR, url=_STR, username=_STR, org=_STR,
                interval_s={"type": "integer"}, paused=_BOOL, accept_max_tlp=_STR, accept_types=_STRS,
                created=_TIME, links={"type": "array", "items": ref("PeerLink")}),
    "AuditEntry": obj(["seq", "at", "actor", "action", "detail", "hash"], seq={"type": "integer"}, at=_TIME,
                      actor=_STR, org=_OPT_STR, action=_STR, agreement=_OPT_STR, subject=_OPT_STR,
                      detail={"type": "object"}, hash=_STR,
                      items={"type": "array", "items": obj(["id", "version"], id=_STR, version=_STR,
                                                          recipient=_OPT_STR, owner=_OPT_STR)}),
    "AuditVerification": obj(["intact", "entries"], intact=_BOOL, entries=_COUNT, head=_OPT_STR,
                             broken={"nullable": True, **obj(["seq", "reason"], seq={"type": "integer"},
                                                             reason=_STR)}),
    "Stats": obj(["visible"], visible=obj(["versions", "objects", "by_type", "by_tlp"], versions=_COUNT,
                                          objects=_COUNT, by_type=_COUNTS, by_tlp=_COUNTS),
                 node=obj(["versions"], versions=_COUNT, by_type=_COUNTS, by_tlp=_COUNTS,
                          by_collection=_COUNTS, observables=_COUNT)),
}
_PROBLEM = obj(["reason"], object_id=_OPT_STR, property=_OPT_STR, reason=_STR,
               index={"type": "integer", "nullable": True})
_FACET = {"type": "array", "items": obj(["value", "count"], value=_STR, count=_COUNT)}
_ACCORD = obj(["tlp", "owner", "state", "version"], tlp=_STR, owner=_STR, origin=_OPT_STR, state=_STR,
              collection=_OPT_STR, date_added=_OPT_TIME, version=_STR)
_STIX_OUT = {"type": "object", "required": ["id", "type", "_accord"],
             "description": "a STIX object as the caller receives it, with `_accord`: what Accord knows of the version",
             "properties": {"id": _STR, "type": _STR, "_accord": _ACCORD}}
_WRITTEN = obj(["collection", "state", "objects"], collection=_STR,
               state={"type": "string", "enum": ["draft", "published"]},
               objects={"type": "array", "items": obj(
                   ["id", "version", "status"], id=_STR, version=_STR,
                   status={"type": "string", "enum": ["stored", "added", "unchanged"]})})
_SIGHTING_SEEN = obj(["id", "kind", "owner", "tlp", "count", "first_seen", "last_seen", "anonymous"], id=_STR,
                     kind={"type": "string", "enum": ["seen", "false-positive", "expired"]}, owner=_STR, tlp=_STR,
                     count={"type": "integer", "minimum": 0}, first_seen=_OPT_STR, last_seen=_OPT_STR,
                     anonymous={"type": "boolean"})
_SIGHTINGS = obj(["seen", "false_positive", "expired", "last_seen", "below_threshold", "min_count", "sightings"],
                 seen=_INT, false_positive=_INT, expired=_INT, last_seen=_OPT_STR,
                 below_threshold={"type": "boolean", "description": "other organisations' sightings exist for the "
                                  "reader but fewer than min_count: nothing about them is shown"},
                 min_count=_INT, sightings={"type": "array", "items": _SIGHTING_SEEN})
SCHEMAS.update({
    "Problem": _PROBLEM,
    "ObjectList": obj(["objects", "facets", "facets_sampled"], objects={"type": "array", "items": _STIX_OUT},
                      facets=obj(["type", "tlp", "owner", "collection", "state"], type=_FACET, tlp=_FACET,
                                 owner=_FACET, collection=_FACET, state=_FACET),
                      facets_sampled=_BOOL, searched_as=_STRS,
                      next={"type": "string", "description": "the cursor of the next page; absent on the last"}),
    "ObjectDetail": obj(
        ["id", "current", "versions", "edges", "receipts", "correlations", "sightings", "score"], id=_STR,
        current=_STIX_OUT, sightings=_SIGHTINGS,
        versions={"type": "array", "items": obj(
            ["version", "object", "tlp", "owner", "state", "collections", "changes"], version=_STR,
            object={"type": "object"}, tlp=_STR, owner=_STR, origin=_OPT_STR, origin_node=_OPT_STR, state=_STR,
            author=_OPT_STR, released_by=_OPT_STR, released_at=_OPT_TIME, collections=_STRS, date_added=_OPT_TIME,
            changes={"type": "array", "items": obj(["property"], property=_STR, before={}, after={})})},
        edges={"type": "array", "items": obj(
            ["label", "direction", "id", "object", "via"], label=_STR,
            direction={"type": "string", "enum": ["in", "out"]}, id=_OPT_STR, via=_OPT_STR,
            object={"nullable": True, **obj(["id", "type", "name", "tlp"], id=_STR, type=_STR, name=_STR, tlp=_STR)})},
        receipts={"type": "array", "nullable": True, "items": obj(
            ["seq", "at", "channel"], seq={"type": "integer"}, at=_TIME, org=_OPT_STR, agreement=_OPT_STR,
            channel=_STR)},
        correlations={"type": "array", "description": "also seen in: for each observable of the current version "
                      "(as the caller receives it) that other visible objects share, those objects; a value more "
                      "than correlation_cap visible objects share is over_correlating, with no list",
                      "items": obj(["value", "index_type", "over_correlating", "objects"], value=_STR,
                                   index_type=_STR, over_correlating=_BOOL,
                                   objects={"type": "array", "items": obj(
                                       ["id", "type", "name", "owner", "tlp"], id=_STR, type=_STR, name=_STR,
                                       owner=_STR, tlp=_STR)})},
        score={"type": "integer", "nullable": True, "minimum": 0, "maximum": 100,
               "description": "an indicator's decay score for the caller (docs/early-warning.md); null for "
                              "other objects"}),
    "Written": _WRITTEN,
    "SightingReport": obj([], closed=True, kind={"type": "string", "enum": ["seen", "false-positive", "expired"]},
                          count={"type": "integer", "minimum": 0, "maximum": 999_999_999}, first_seen=_STR,
                          last_seen=_STR, anonymous=_BOOL, tlp=_TLP, description=_STR, collection=_STR),
    "SightingWritten": obj(["id", "collection", "state", "owner", "kind", "anonymous"], id=_STR, collection=_STR,
                           state=_STR, owner=_STR, kind=_STR, anonymous=_BOOL),
    "Extraction": obj(["format", "objects", "problems", "notes", "review_required"], format=_STR,
                      objects={"type": "array", "items": {"type": "object"}},
                      problems={"type": "array", "items": ref("Problem")}, notes=_STRS, review_required=_BOOL),
    "Committed": obj(["collection", "state", "stored", "refused"], collection=_STR, state=_STR, stored=_COUNT,
                     added=_COUNT, unchanged=_COUNT, upgraded=_COUNT,
                     refused={"type": "array", "items": ref("Problem")}),
    "Kept": obj(["objects"], closed=True, objects={"type": "array", "items": {"type": "object"}}),
    "Preview": {"oneOf": [
        obj(["org", "objects", "facets", "facets_sampled"], org=_STR, objects={"type": "array", "items": _STIX_OUT},
            facets={"type": "object"}, facets_sampled=_BOOL, searched_as=_STRS, next=_STR),
        obj(["id", "version", "tlp", "state", "draft", "answers"], id=_STR, version=_STR, tlp=_STR, state=_STR,
            draft=_BOOL, answers={"type": "array", "items": obj(
                ["org", "kind", "receives", "rule", "agreement"], org=_STR, kind=_STR, receives=_BOOL,
                rule={"type": "string", "nullable": True,
                      "enum": ["owner", "clear", "agreement", "red recipient", "onward", None]},
                agreement=_OPT_STR)})]},
})
SCHEMAS.update({
    "LookupRequest": obj(["values"], closed=True, values={
        "type": "array", "minItems": 1, "maxItems": 10_000, "items": _STR,
        "description": "IP addresses or networks, domains, URLs, hashes, e-mail addresses"}),
    "Lookup": obj(["results"], results={"type": "array", "items": obj(
        ["value", "kinds", "problem", "warninglists", "truncated", "hits"], value=_STR, kinds=_STRS,
        problem=_OPT_STR, warninglists=_STRS, truncated=_BOOL, hits={"type": "array", "items": obj(
            ["id", "type", "name", "owner", "origin", "tlp", "state", "matched", "index_type", "relation",
             "sightings", "score"], id=_STR, type=_STR, name=_STR, owner=_STR, origin=_OPT_STR, tlp=_STR, state=_STR,
            matched=_STR, index_type=_STR,
            relation={"type": "string", "enum": ["exact", "parent", "within", "contains"]},
            sightings={**_SIGHTINGS, "nullable": True},
            score={"type": "integer", "nullable": True, "minimum": 0, "maximum": 100,
                   "description": "an indicator's decay score for the caller; null for other objects"})})}),
})
_RULE_KIND = {"type": "string", "enum": ["sighting", "watchlist", "own-indicators"]}
_SIGHTING_TYPES = {"type": "array", "items": {"type": "string", "enum": ["seen", "false-positive", "expired"]}}
SCHEMAS.update({
    "AlertRule": obj(["id", "org", "name", "kind", "values", "sighting_types", "deliveries"],
                     id={"type": "integer"}, org=_STR, name=_STR, kind=_RULE_KIND, partner=_OPT_STR, values=_STRS,
                     sighting_types=_STRS, webhook=_OPT_STR, created_by=_STR,
                     deliveries={"type": "object", "additionalProperties": _COUNT,
                                 "description": "webhook deliveries by state: pending, delivered, failed, withheld"},
                     last_error=_OPT_STR),
    "NewAlertRule": obj(["name", "kind"], closed=True, org=_STR, name=_STR, kind=_RULE_KIND, partner=_STR,
                        values=_STRS, sighting_types=_SIGHTING_TYPES, webhook=_STR),
    "AlertRules": obj(["rules"], rules={"type": "array", "items": ref("AlertRule")}),
    "Alert": obj(
        ["id", "rule", "kind", "created", "object", "matched", "delivery", "acknowledged"], id=_STR, rule=_STR,
        kind=_RULE_KIND, created=_TIME,
        object=obj(["id", "type", "name", "owner", "tlp"], id=_STR, type=_STR, name=_STR, owner=_STR, tlp=_STR),
        matched={"type": "object", "description": "what matched: watched values, shared observables, the sighting"},
        delivery={"nullable": True, **obj(["state", "attempts"], state=_STR, attempts=_COUNT,
                                          last_error=_OPT_STR)},
        acknowledged={"nullable": True, "description": "who of the organisation acknowledged it, and when",
                      **obj(["by", "at"], by=_STR, at=_TIME)}),
    "Alerts": obj(["alerts"], alerts={"type": "array", "items": ref("Alert")},
                  next={"type": "string", "description": "the cursor of the next page; absent on the last"}),
})
SCHEMAS["CreatedAlertRule"] = {"allOf": [ref("AlertRule"), obj([], secret={
    "type": "string", "description": "the webhook's signing secret, shown this once (only with a webhook)"})]}
SCHEMAS["Error"]["properties"]["error"]["properties"]["problems"] = {
    "type": "array", "items": _PROBLEM,
    "description": "a refused write: every problem found (object id, property, reason); nothing was stored"}

for _name, _item, _paged in (("Agreements", "Agreement", False), ("Collections", "Collection", False),
                             ("Orgs", "Org", False), ("Users", "User", True), ("Tokens", "Token", True),
                             ("Peers", "Peer", False), ("AuditEntries", "AuditEntry", True)):
    SCHEMAS[_name] = _list_of("entries" if _item == "AuditEntry" else _name.lower(), _item, _paged)
SCHEMAS["CreatedToken"] = {"allOf": [ref("Token"), obj(["token"], token={
    "type": "string", "description": "the secret, shown this once; Accord keeps only its digest"})]}

_ERRORS: dict[int, str] = {
    400: "a query parameter or body property is unusable; the detail names it and why",
    401: "missing or bad credentials",
    403: "the caller's role may not do this",
    404: "no such resource, or one the caller may not know about (the same answer)",
    409: "the name is taken, or the record cannot change any more",
    413: "the request body is too large",
    429: "too many failed authentications from the client's address",
    500: "a fault of the server; the body says nothing of its internals",
}
_AUTHENTICATED = (401, 429, 500)


# -- the operations ------------------------------------------------------------------------------
_LIMIT = query("limit", "the most entries on one page (1 to 1000, default 100)",
               {"type": "integer", "minimum": 1, "maximum": 1000})
_CURSOR = query("cursor", "the next member of the previous page")
_FORMAT_OPTION = query("option", "KEY=VALUE, an option of the format (repeatable)")
_COLLECTION_ID = path_parameter("collection_id", "a collection id or alias")
_WRITE = (400, 413)


def _op(method: str, path: str, operation_id: str, summary: str, tag: str, ok: tuple[int, dict[str, Any] | None],
        *errors: int, params: tuple[dict[str, Any], ...] = (), body: str | None = None) -> Operation:
    if method in ("post", "put"):
        errors = (*errors, *_WRITE)  # every body is read and parsed, even an optional one
    return Operation(method, path, operation_id, summary, tag, ok, tuple(sorted(set(errors))), params,
                     ref(body) if body else None)


_STIX_ID = path_parameter("stix_id", "a STIX identifier")
_NAME = path_parameter("name", "the agreement's (or peer's) name")
_RELEASE = obj([], closed=False, version=_STR, recipients=_STRS)

_CORE = [
    _op("get", "/api/v1/drafts", "getDrafts", "The approval queue: the caller's organisation's drafts",
        "release", (200, ref("Drafts")), 404),
    Operation("post", "/api/v1/objects/{stix_id}/publish", "publishObject",
              "Publish the organisation's drafts of an object", "release", (200, ref("Published")),
              (400, 403, 404, 413), (_STIX_ID,), _RELEASE),
    Operation("post", "/api/v1/objects/{stix_id}/retract", "retractObject",
              "Retract the organisation's published versions of an object", "release", (200, ref("Retracted")),
              (400, 403, 404, 413), (_STIX_ID,), obj([], version=_STR)),
    _op("get", "/api/v1/sync/retractions", "getRetractions",
        "Retractions of versions the caller's organisation received (for partner nodes)", "federation",
        (200, ref("Retractions")), 400, 404,
        params=(query("after", "the last seq seen", {"type": "integer", "minimum": 0}),)),
    Operation("post", "/api/v1/collections/{collection_id}/import", "importObjects",
              "Import a document in any registered format into a collection", "transfer",
              (200, ref("ImportReport")), (400, 403, 404, 413),
              (_COLLECTION_ID, query("format", "auto (the default) or a format name"),
               query("map", "a CSV column mapping"), _FORMAT_OPTION,
               query("draft", "true: keep what is imported a draft", {"type": "string", "enum": ["true", "false"]})),
              raw_body=True),
    _op("get", "/api/v1/collections/{collection_id}/export", "exportObjects",
        "What the caller may see in a collection, in a format (a download)", "transfer", (200, None), 400, 404,
        params=(_COLLECTION_ID, query("format", "stix (the default) or another format name"),
                query("type", "only this STIX type (repeatable)"), _FORMAT_OPTION, query("map", "a CSV mapping"),
                query("latest", "true: only the newest version of each object",
                      {"type": "string", "enum": ["true", "false"]}),
                query("min_score", "leave out indicators whose decay score for the caller is below this "
                      "(docs/early-warning.md); other objects are kept",
                      {"type": "integer", "minimum": 0, "maximum": 100}))),
    Operation("get", OPENAPI_PATH, "getRestOpenApi", "This OpenAPI document", "meta", (200, {"type": "object"}),
              public=True),
]

_USERNAME = path_parameter("username", "a user's name")
_GRANT = ("/api/v1/collections/{collection_id}/grants/{org}")
_ORG = path_parameter("org", "an organisation's name")

_ADMINISTRATION = [
    _op("get", "/api/v1/agreements", "listAgreements",
        "Agreements the caller's organisation is party to (node-admin: all), with their state now",
        "agreements", (200, ref("Agreements"))),
    _op("post", "/api/v1/agreements", "addAgreement", "Add an agreement (node-admin)", "agreements",
        (201, ref("Agreement")), 403, 409, body="NewAgreement"),
    _op("get", "/api/v1/agreements/{name}", "getAgreement", "One agreement", "agreements",
        (200, ref("Agreement")), 404, params=(_NAME,)),
    *[_op("post", f"/api/v1/agreements/{{name}}/{action}", f"{action}Agreement",
          f"{action.capitalize()} an agreement (node-admin)", "agreements", (200, ref("Agreement")), 403, 404, 409,
          params=(_NAME,)) for action in ("suspend", "resume", "end")],
    _op("get", "/api/v1/collections", "listCollections",
        "Collections the caller may read or write, with can_read and can_write", "collections",
        (200, ref("Collections"))),
    _op("post", "/api/v1/collections", "addCollection", "Add a collection (node-admin)", "collections",
        (201, ref("Collection")), 403, 409, body="NewCollection"),
    _op("get", "/api/v1/collections/{collection_id}/grants", "listGrants",
        "The organisations that may read or write a collection (node-admin)", "collections",
        (200, ref("Grants")), 403, 404, params=(_COLLECTION_ID,)),
    _op("put", _GRANT, "setGrant", "Let an organisation read and/or write a collection (node-admin)",
        "collections", (200, ref("Grant")), 403, 404, params=(_COLLECTION_ID, _ORG), body="GrantChange"),
    _op("delete", _GRANT, "removeGrant", "Take an organisation's grant away (node-admin)", "collections",
        (200, ref("Grant")), 400, 403, 404, params=(_COLLECTION_ID, _ORG)),
    _op("get", "/api/v1/orgs", "listOrgs",
        "The caller's organisation and those its agreements name (node-admin: all)", "identity",
        (200, ref("Orgs"))),
    _op("get", "/api/v1/users", "listUsers", "Users (node-admin: all; org-admin: their organisation's)",
        "identity", (200, ref("Users")), 400, 403, params=(_LIMIT, _CURSOR)),
    _op("post", "/api/v1/users", "addUser",
        "Add a user (node-admin: to any organisation; org-admin: to theirs, not a node-admin)", "identity",
        (201, ref("User")), 403, 409, body="NewUser"),
    _op("post", "/api/v1/users/{username}/disable", "disableUser",
        "Disable a user: its tokens and password stop working at once, its web sessions end (node-admin; "
        "org-admin: its organisation's users below org-admin; never one's own account)", "identity",
        (200, ref("User")), 403, 404, params=(_USERNAME,)),
    _op("post", "/api/v1/users/{username}/enable", "enableUser",
        "Enable a disabled user again (who may: as for disabling)", "identity",
        (200, ref("User")), 403, 404, params=(_USERNAME,)),
    _op("get", "/api/v1/users/{username}/tokens", "listTokens",
        "A user's tokens, never their secrets (the user, their org-admin, a node-admin)", "identity",
        (200, ref("Tokens")), 400, 404, params=(_USERNAME, _LIMIT, _CURSOR)),
    _op("post", "/api/v1/users/{username}/tokens", "createToken",
        "Create a token; the answer holds its secret, which is never shown again", "identity",
        (201, ref("CreatedToken")), 404, params=(_USERNAME,), body="NewToken"),
    _op("post", "/api/v1/tokens/{token_id}/revoke", "revokeToken", "Revoke a token: it stops working at once",
        "identity", (200, ref("Token")), 404,
        params=(path_parameter("token_id", "the token's id", {"type": "integer", "minimum": 0}),)),
    _op("get", "/api/v1/peers", "listPeers", "Partner nodes, their links and sync status (node-admin)",
        "federation", (200, ref("Peers")), 403),
    _op("get", "/api/v1/peers/{name}", "getPeer", "One partner node (node-admin)", "federation",
        (200, ref("Peer")), 403, 404, params=(_NAME,)),
    _op("get", "/api/v1/audit", "listAudit",
        "Audit entries, oldest first (node-admin: all; org-admin: their organisation's)", "audit",
        (200, ref("AuditEntries")), 400, 403,
        params=(query("org", "only entries about this organisation"),
                query("object", "only entries about this STIX object, with its items"),
                query("agreement", "only entries under this agreement"), query("action", "only this action"),
                _LIMIT, _CURSOR, query("after", "the same as cursor: entries after this seq",
                                       {"type": "integer", "minimum": 0}))),
    _op("get", "/api/v1/audit/verify", "verifyAudit", "Walk the audit log's hash chain (node-admin)", "audit",
        (200, ref("AuditVerification")), 400, 403,
        params=(query("expect_head", "the newest entry's hash as recorded earlier (hex)"),)),
    _op("get", "/api/v1/stats", "getStats", "Counts of what the caller may see (node-admin: also the node's)",
        "audit", (200, ref("Stats"))),
]

_Q_STRINGS = {"type": "string", "maxLength": 200}
_SEARCH_PARAMS = (
    query("q", "free text (every word must occur), or an indicator value, which is then looked up", _Q_STRINGS),
    query("value", "an IP address, domain, URL, e-mail address or hash: objects that carry it", _Q_STRINGS),
    query("type", "only this STIX type (repeatable)"), query("tlp", "only this TLP level (repeatable)", _TLP),
    query("owner", "only objects this organisation owns (repeatable)"),
    query("origin", "only objects received from this organisation (repeatable)"),
    query("collection", "only objects in this collection, id or alias (repeatable)"),
    query("label", "only objects with this label (repeatable)"),
    query("state", "only this release state (repeatable)",
          {"type": "string", "enum": ["draft", "published", "retracted"]}),
    query("received", "true: only data received from partner nodes; false: only this node's own",
          {"type": "string", "enum": ["true", "false"]}),
    query("added_after", "only objects added after this RFC 3339 timestamp", {"type": "string", "format": "date-time"}),
    query("limit", "the most objects on one page (1 to 200, default 50)",
          {"type": "integer", "minimum": 1, "maximum": 200}),
    query("cursor", "the next member of the previous page"),
)
_DRAFT = query("draft", "true: keep what is written a draft", {"type": "string", "enum": ["true", "false"]})
_TARGET = query("collection", "the collection to write into, id or alias")


def _raw(method: str, path: str, operation_id: str, summary: str, ok: tuple[int, dict[str, Any]], *errors: int,
         params: tuple[dict[str, Any], ...] = (), body: dict[str, Any] | None = None) -> Operation:
    """An operation whose body is read whole (up to max_content_length), JSON or, without ``body``, any format."""
    return Operation(method, path, operation_id, summary, "objects", ok, tuple(sorted({*errors, 400, 413})), params,
                     body, raw_body=body is None)


_STIX_IN = {"type": "object", "required": ["type", "id"], "description": "one STIX 2.1 object (POST: or a bundle)",
            "properties": {"type": _STR, "id": _STR, "spec_version": _STR, "created": _STR, "modified": _STR}}
_OBJECTS = [
    _op("get", "/api/v1/objects", "searchObjects",
        "Search what the caller may see, newest first, with facets and a cursor", "objects",
        (200, ref("ObjectList")), 400, params=_SEARCH_PARAMS),
    _op("get", "/api/v1/objects/{stix_id}", "getObject",
        "One object: current version, every version, relationships, provenance, receipts (owner only)",
        "objects", (200, ref("ObjectDetail")), 404, params=(_STIX_ID,)),
    _raw("post", "/api/v1/objects", "createObjects", "Write one STIX object or a bundle, all or nothing",
         (201, ref("Written")), 403, 404, 409, params=(_TARGET, _DRAFT), body=_STIX_IN),
    _raw("put", "/api/v1/objects/{stix_id}", "updateObject",
         "A new version of the caller's organisation's object (a later modified)",
         (200, ref("Written")), 403, 404, 409, params=(_STIX_ID, _TARGET, _DRAFT), body=_STIX_IN),
    _op("post", "/api/v1/objects/{stix_id}/sightings", "reportSighting",
        "We saw this: a sighting of a visible object (seen, false-positive or expired; optionally anonymous), "
        "written with the caller's release rules (docs/early-warning.md)", "objects", (201, ref("SightingWritten")),
        403, 404, params=(_STIX_ID,), body="SightingReport"),
    _raw("post", "/api/v1/import/preview", "previewImport",
         "What a document in any format holds, as STIX objects with their problems; nothing stored",
         (200, ref("Extraction")), params=(query("format", "auto (the default) or a format name"),
                                           query("map", "a CSV column mapping"), _FORMAT_OPTION)),
    _raw("post", "/api/v1/import/commit", "commitImport", "Store the objects kept from a preview",
         (200, ref("Committed")), 403, 404, params=(_TARGET, query("tlp", "TLP for objects without a marking", _TLP),
                                                    _DRAFT), body=ref("Kept")),
    _op("get", "/api/v1/preview", "sharingPreview",
        "What an organisation would receive of the caller's organisation's data; or, for one object, each "
        "organisation's answer", "objects", (200, ref("Preview")), 400, 404,
        params=(query("org", "the organisation to preview"),
                query("object", "one STIX id: every organisation's answer"),
                query("q", "free text within the preview", _Q_STRINGS),
                query("cursor", "the next of the previous page"))),
]

_LOOKUP = [
    _op("post", "/api/v1/lookup", "lookupValues",
        "The visible objects that mention each value (and its parent domains, networks, addresses), their "
        "sightings and the warninglists it is on (docs/early-warning.md)", "lookup", (200, ref("Lookup")),
        body="LookupRequest"),
]

_HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
SCHEMAS.update({
    "OverlapRequest": obj(["hashes"], closed=True, hashes={
        "type": "array", "minItems": 1, "maxItems": 10_000, "items": _HEX64,
        "description": "HMAC-SHA256 (hex) under the agreement's overlap key of index_type + NUL + normalised value"},
        agreement={"type": "string", "description": "needed only if the caller's organisation has several "
                                                    "keyed agreements"},
        key={"type": "string", "description": "the fingerprint of the key hashed with: 409 if it was rotated"}),
    "Overlap": obj(["agreement", "key", "matches"], agreement=_STR, key=_STR,
                   matches={"type": "array", "items": _HEX64,
                            "description": "the hashes sent of values in objects the caller may see"}),
})
_OVERLAP = [
    _op("post", "/api/v1/overlap", "overlapHashes",
        "Which of these keyed hashes are of values in objects the caller may see (the overlap check, "
        "docs/early-warning.md)", "lookup", (200, ref("Overlap")), 403, 404, 409, body="OverlapRequest"),
]

_ALERTS = [
    _op("get", "/api/v1/alert-rules", "listAlertRules",
        "The caller's organisation's alert rules, never their secrets (node-admin: every organisation's)", "alerts",
        (200, ref("AlertRules"))),
    _op("post", "/api/v1/alert-rules", "addAlertRule",
        "Add an alert rule (an org-admin for its organisation; a node-admin for any); the answer holds the "
        "webhook's secret, never shown again", "alerts", (201, ref("CreatedAlertRule")), 403, 409,
        body="NewAlertRule"),
    _op("delete", "/api/v1/alert-rules/{rule_id}", "removeAlertRule",
        "Remove an alert rule with its alerts and pending deliveries", "alerts", (200, ref("AlertRule")), 403, 404,
        params=(path_parameter("rule_id", "the rule's id", {"type": "integer", "minimum": 0}),)),
    _op("get", "/api/v1/alerts", "listAlerts",
        "The caller's organisation's alerts, newest first, each only while the organisation may see what fired it",
        "alerts", (200, ref("Alerts")), 400,
        params=(_LIMIT, _CURSOR, query("acknowledged", "true: only acknowledged alerts; false: only the others",
                                       {"type": "string", "enum": ["true", "false"]}))),
    _op("post", "/api/v1/alerts/{alert_id}/acknowledge", "acknowledgeAlert",
        "Acknowledge an alert of the caller's organisation (analyst or above); the first acknowledgement stands",
        "alerts", (200, ref("Alert")), 403, 404, params=(path_parameter("alert_id", "the alert's id"),)),
]

OPERATIONS: list[Operation] = [*_CORE, *_ADMINISTRATION, *_OBJECTS, *_LOOKUP, *_OVERLAP, *_ALERTS]


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": _ERRORS[status], "content": {JSON: {"schema": ref("Error")}}}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"required": True, "schema": _STR,
                                                    "description": "challenges for HTTP Basic and Bearer"}}
    elif status == 429:
        response["headers"] = {"Retry-After": {"required": True, "schema": _STR,
                                               "description": "seconds until the address may try again"}}
    return response


def _operation(op: Operation) -> dict[str, Any]:
    status, schema = op.ok
    content = {JSON: {"schema": schema}} if schema is not None else {"*/*": {"schema": {}}}
    responses: dict[str, Any] = {str(status): {"description": op.summary, "content": content}}
    for error in sorted({*op.errors, *(() if op.public else _AUTHENTICATED)}):
        responses[str(error)] = {"$ref": f"#/components/responses/E{error}"}
    described: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
                                 "parameters": list(op.parameters), "responses": responses}
    if op.public:
        described["security"] = []
    if op.body is not None:
        described["requestBody"] = {"required": False, "content": {JSON: {"schema": op.body}}}
    elif op.raw_body:
        described["requestBody"] = {"required": True, "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    return described


def build_document(operations: Iterable[Operation], schemas: Mapping[str, Any] = SCHEMAS) -> dict[str, Any]:
    """The OpenAPI document of ``operations``; ``schemas`` are those their references name."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        if op.method in paths.get(op.path, {}):
            raise ValueError(f"{op.method.upper()} {op.path} is described twice")
        paths.setdefault(op.path, {})[op.method] = _operation(op)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Accord REST API", "version": "1",
                 "description": "The REST JSON API of an Accord node under /api/v1/ (docs/api.md). Answers are "
                                "application/json; every error is {\"error\": {\"status\", \"title\", \"detail\"}}."},
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "username and API token"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an API token"},
            },
            "schemas": dict(schemas),
            "responses": {f"E{status}": _error_response(status) for status in _ERRORS},
        },
    }


@cache
def _document() -> dict[str, Any]:
    return build_document(OPERATIONS)


def document() -> dict[str, Any]:
    """The OpenAPI document of :data:`OPERATIONS` (a fresh copy the caller may change)."""
    return copy.deepcopy(_document())


def operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation described."""
    return {(op.method.upper(), op.path) for op in OPERATIONS}


@cache
def _encoded() -> bytes:
    return orjson.dumps(_document())


def openapi_json(request: Request) -> Response:
    """This document; no credentials needed (it names nothing of the node)."""
    return Response(_encoded(), media_type=JSON)


ROUTES = [Route(OPENAPI_PATH, openapi_json, methods=["GET"])]
