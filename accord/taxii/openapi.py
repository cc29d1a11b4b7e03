"""An OpenAPI 3.0 description of the TAXII 2.1 surface, served at ``GET /taxii2/openapi.json``.

TAXII 2.1 defines no machine-readable description of a server; this one exists so that tools
(schemathesis in tests/taxii/test_fuzz.py, client generators, API gateways) can read the routes
of routes.py, their parameters, bodies, media types, statuses and resources. It is the same for
every node: it names no host, API root, collection or user.

The operations are a table here rather than derived from the route objects, so that each can say
what it answers; tests/taxii/test_fuzz.py checks that the table and routes.ROUTES name exactly
the same (method, path) pairs, so neither can drift from the other.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from accord.taxii.media import TAXII_MEDIA_TYPE, TAXII_TYPE

OPENAPI_PATH = "/taxii2/openapi.json"
OPENAPI_VERSION = "3.0.3"

_COLLECTION = "/{api_root}/collections/{collection_id}"
_TIMESTAMP = (r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
              r"(\.[0-9]+)?Z$")
_TYPE = r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]$"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID = r"^[a-z0-9][a-z0-9-]{1,248}[a-z0-9]--" + _UUID + "$"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _taxii_content(schema: str) -> dict[str, Any]:
    return {TAXII_MEDIA_TYPE: {"schema": _ref("schemas", schema)}}


_PAGE_HEADERS = {
    "X-TAXII-Date-Added-First": {"description": "date_added of the first record of a non-empty page",
                                 "schema": {"type": "string"}},
    "X-TAXII-Date-Added-Last": {"description": "date_added of the last record of a non-empty page; "
                                "pass it as added_after to poll for newer data", "schema": {"type": "string"}},
}

_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "a malformed query parameter or cursor, or an unreadable request body"),
    401: ("Unauthorized", "missing or bad credentials"),
    403: ("Forbidden", "the collection is visible but the caller may not read (or write) it"),
    404: ("NotFound", "no such API root, collection, object or status, or one the caller may not see"),
    406: ("NotAcceptable", "the Accept header does not admit application/taxii+json;version=2.1"),
    413: ("ContentTooLarge", "the request body is larger than the API root's max_content_length"),
    415: ("UnsupportedMediaType", "the request body is not application/taxii+json"),
    422: ("UnprocessableEntity", "valid JSON that is neither a TAXII envelope nor a STIX bundle"),
    429: ("TooManyRequests", "too many failed authentications from the client's address"),
    500: ("InternalServerError", "a fault of the server; the body says nothing of its internals"),
}
# Every authenticated operation can answer these.
_COMMON = (401, 406, 429, 500)


def _responses(success: tuple[int, str, str, bool] | None, *errors: int) -> dict[str, Any]:
    """success: (status, schema name, description, carries page headers)."""
    responses: dict[str, Any] = {}
    if success is not None:
        status, schema, description, paged = success
        ok: dict[str, Any] = {"description": description, "content": _taxii_content(schema)}
        if paged:
            ok["headers"] = _PAGE_HEADERS
        responses[str(status)] = ok
    for status in sorted({*errors, *_COMMON}):
        responses[str(status)] = _ref("responses", _ERRORS[status][0])
    return responses


_LISTING = ("added_after", "limit", "next")


def _operation(operation_id: str, summary: str, section: str, *, params: tuple[str, ...] = (),
               query: tuple[str, ...] = (), responses: dict[str, Any], body: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": f"TAXII 2.1 section {section}.",
        "tags": ["taxii"],
        "parameters": [_ref("parameters", p) for p in (*params, *query)],
        "responses": responses,
    }
    if body:
        operation["requestBody"] = _ref("requestBodies", "AddObjects")
    return operation


# (method, path) -> operation; the methods are those of routes.ROUTES, in lower case.
_OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("get", "/taxii2/"): _operation(
        "getDiscovery", "Server discovery: the API roots", "4.1",
        responses=_responses((200, "Discovery", "the discovery resource", False))),
    ("get", "/{api_root}/"): _operation(
        "getApiRoot", "API root information", "4.2", params=("ApiRoot",),
        responses=_responses((200, "ApiRoot", "the API root resource", False), 404)),
    ("get", "/{api_root}/status/{status_id}/"): _operation(
        "getStatus", "Status of an Add Objects request (only its poster may read it)", "4.3",
        params=("ApiRoot", "StatusId"), responses=_responses((200, "Status", "the status resource", False), 404)),
    ("get", "/{api_root}/status/{status_id}"): _operation(
        "getStatusNoSlash", "Status of an Add Objects request, without the final slash", "4.3",
        params=("ApiRoot", "StatusId"), responses=_responses((200, "Status", "the status resource", False), 404)),
    ("get", "/{api_root}/collections/"): _operation(
        "getCollections", "The collections the caller may read or write", "5.1", params=("ApiRoot",),
        responses=_responses((200, "Collections", "the collections resource", False), 404)),
    ("get", f"{_COLLECTION}/"): _operation(
        "getCollection", "One collection, with the caller's can_read and can_write", "5.2",
        params=("ApiRoot", "CollectionId"),
        responses=_responses((200, "Collection", "the collection resource", False), 404)),
    ("get", f"{_COLLECTION}/objects/"): _operation(
        "getObjects", "Objects of a collection, paged in date_added order", "5.3",
        params=("ApiRoot", "CollectionId"), query=(*_LISTING, "MatchId", "MatchType", "MatchVersion",
                                                  "MatchSpecVersion"),
        responses=_responses((200, "Envelope", "an envelope of STIX objects", True), 400, 403, 404)),
    ("post", f"{_COLLECTION}/objects/"): _operation(
        "addObjects", "Add objects; every object is reported in the status resource", "5.4",
        params=("ApiRoot", "CollectionId"), body=True,
        responses=_responses((202, "Status", "the request is complete: a status resource", False),
                             400, 403, 404, 413, 415, 422)),
    ("get", f"{_COLLECTION}/objects/{{object_id}}/"): _operation(
        "getObject", "One object (by default its latest version)", "5.5",
        params=("ApiRoot", "CollectionId", "ObjectId"), query=(*_LISTING, "MatchVersion", "MatchSpecVersion"),
        responses=_responses((200, "Envelope", "an envelope of the object's versions", True), 400, 403, 404)),
    ("delete", f"{_COLLECTION}/objects/{{object_id}}/"): _operation(
        "deleteObject", "Remove the object's matching versions from the collection", "5.7",
        params=("ApiRoot", "CollectionId", "ObjectId"), query=("MatchVersion", "MatchSpecVersion"),
        responses={"200": {"description": "the versions were removed from the collection (no body)"},
                   **_responses(None, 400, 403, 404)}),
    ("get", f"{_COLLECTION}/objects/{{object_id}}/versions/"): _operation(
        "getObjectVersions", "The versions of one object", "5.8",
        params=("ApiRoot", "CollectionId", "ObjectId"), query=(*_LISTING, "MatchSpecVersion"),
        responses=_responses((200, "Versions", "a versions resource", True), 400, 403, 404)),
    ("get", f"{_COLLECTION}/manifest/"): _operation(
        "getManifest", "Manifest records of a collection's objects", "5.6",
        params=("ApiRoot", "CollectionId"), query=(*_LISTING, "MatchId", "MatchType", "MatchVersion",
                                                  "MatchSpecVersion"),
        responses=_responses((200, "Manifest", "a manifest resource", True), 400, 403, 404)),
    ("get", OPENAPI_PATH): {
        "operationId": "getOpenApi",
        "summary": "This OpenAPI document (not part of TAXII 2.1)",
        "tags": ["meta"],
        "security": [],
        "responses": {"200": {"description": "the OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    },
}


def _path_parameter(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


_LIST = "A comma-separated list; the parameter may be repeated."

_PARAMETERS: dict[str, Any] = {
    "ApiRoot": _path_parameter("api_root", "the API root's name (default on a new node)",
                               {"type": "string", "minLength": 1}),
    "CollectionId": _path_parameter("collection_id", "a collection id", {"type": "string", "minLength": 1}),
    "ObjectId": _path_parameter("object_id", "a STIX identifier", {"type": "string", "pattern": _ID}),
    "StatusId": _path_parameter("status_id", "the id of a status resource", {"type": "string", "minLength": 1}),
    "added_after": _query("added_after", "only records added after this STIX timestamp",
                          {"type": "string", "pattern": _TIMESTAMP}),
    "limit": _query("limit", "the most records on one page; above 1,000 it is lowered to 1,000",
                    {"type": "integer", "minimum": 1}),
    "next": _query("next", "the cursor from the previous page's next member (with the same filters)",
                   {"type": "string"}),
    "MatchId": _query("match[id]", f"STIX identifiers. {_LIST}", {"type": "string"}),
    "MatchType": _query("match[type]", f"STIX object types. {_LIST}", {"type": "string"}),
    "MatchVersion": _query("match[version]", f"last (the default), first, all or STIX timestamps. {_LIST}",
                           {"type": "string"}),
    "MatchSpecVersion": _query("match[spec_version]", f"STIX specification versions such as 2.1. {_LIST}",
                               {"type": "string"}),
}

_STIX_OBJECT = {
    "type": "object",
    "description": "a STIX 2.1 object",
    "required": ["type", "id"],
    "properties": {
        "type": {"type": "string", "pattern": _TYPE},
        "id": {"type": "string", "pattern": _ID},
        "spec_version": {"type": "string"},
        "created": {"type": "string", "pattern": _TIMESTAMP},
        "modified": {"type": "string", "pattern": _TIMESTAMP},
    },
    "additionalProperties": True,
}

_PAGE = {"more": {"type": "boolean", "description": "true when a further page exists"},
         "next": {"type": "string", "description": "the cursor for the next page (sent whenever more is true)"}}

_STATUS_DETAILS = {"type": "array", "items": _ref("schemas", "StatusDetails")}
_STR = {"type": "string"}
_STRS = {"type": "array", "items": _STR}
_BOOL = {"type": "boolean"}
_COUNT = {"type": "integer", "minimum": 0}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "description": "a TAXII error resource (TAXII 2.1 section 3.6.1)",
        "required": ["title", "http_status"],
        "properties": {
            "title": {"type": "string"},
            "description": {"type": "string"},
            "error_id": {"type": "string"},
            "error_code": {"type": "string"},
            "http_status": {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
            "external_details": {"type": "string"},
            "details": {"type": "object", "additionalProperties": True},
        },
    },
    "Discovery": _object(["title"], title=_STR, description=_STR, contact=_STR, default=_STR, api_roots=_STRS),
    "ApiRoot": _object(["title", "versions", "max_content_length"], title=_STR, description=_STR,
                       versions=_STRS, max_content_length=_COUNT),
    "Collection": _object(["id", "title", "can_read", "can_write"], id=_STR, title=_STR, description=_STR,
                          alias=_STR, can_read=_BOOL, can_write=_BOOL, media_types=_STRS),
    "Collections": {
        "type": "object",
        "properties": {"collections": {"type": "array", "items": _ref("schemas", "Collection")}},
    },
    "StixObject": _STIX_OBJECT,
    "Envelope": {
        "type": "object",
        "description": "a TAXII envelope (section 3.7)",
        "properties": {**_PAGE, "objects": {"type": "array", "items": _ref("schemas", "StixObject")}},
    },
    "ManifestRecord": {
        "type": "object",
        "required": ["id", "date_added", "version"],
        "properties": {
            "id": {"type": "string", "pattern": _ID},
            "date_added": {"type": "string"},
            "version": {"type": "string"},
            "media_type": {"type": "string"},
        },
    },
    "Manifest": {
        "type": "object",
        "properties": {**_PAGE, "objects": {"type": "array", "items": _ref("schemas", "ManifestRecord")}},
    },
    "Versions": {
        "type": "object",
        "properties": {**_PAGE, "versions": {"type": "array", "items": {"type": "string"}}},
    },
    "StatusDetails": _object(["id", "version"], id=_STR, version=_STR, message=_STR),
    "Status": _object(["id", "status", "total_count", "success_count", "failure_count", "pending_count"],
                      id=_STR, status={"type": "string", "enum": ["complete", "pending"]}, request_timestamp=_STR,
                      total_count=_COUNT, success_count=_COUNT, successes=_STATUS_DETAILS, failure_count=_COUNT,
                      failures=_STATUS_DETAILS, pending_count=_COUNT, pendings=_STATUS_DETAILS),
    "AddEnvelope": {
        "type": "object",
        "description": "a TAXII envelope of objects to add",
        "required": ["objects"],
        "properties": {"objects": {"type": "array", "items": _ref("schemas", "StixObject")}},
    },
    "Bundle": {
        "type": "object",
        "description": "a STIX bundle (what the stix2 library's TAXII sink sends)",
        "required": ["type", "id", "objects"],
        "properties": {
            "type": {"type": "string", "enum": ["bundle"]},
            "id": {"type": "string", "pattern": r"^bundle--" + _UUID + "$"},
            "objects": {"type": "array", "items": _ref("schemas", "StixObject")},
        },
    },
}


def _error_response(status: int) -> dict[str, Any]:
    description = _ERRORS[status][1]
    response: dict[str, Any] = {"description": description, "content": _taxii_content("Error")}
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"required": True, "schema": {"type": "string"},
                                                    "description": "challenges for HTTP Basic and Bearer"}}
    elif status == 429:
        response["headers"] = {"Retry-After": {"required": True, "schema": {"type": "string"},
                                               "description": "seconds until the address may try again"}}
    return response


_ADD_BODY = {"oneOf": [_ref("schemas", "AddEnvelope"), _ref("schemas", "Bundle")]}


@cache
def _document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), operation in _OPERATIONS.items():
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Accord TAXII 2.1",
            "version": "2.1",
            "description": "The TAXII 2.1 server of an Accord node (docs/api.md). Every response is "
                           f"{TAXII_MEDIA_TYPE} except this document; every error is a TAXII error resource.",
        },
        "tags": [{"name": "taxii", "description": "TAXII 2.1 endpoints"},
                 {"name": "meta", "description": "not part of TAXII 2.1"}],
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic",
                              "description": "username and API token (accord token create USERNAME)"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an API token"},
            },
            "parameters": _PARAMETERS,
            "schemas": _SCHEMAS,
            "responses": {name: _error_response(status) for status, (name, _) in _ERRORS.items()},
            "requestBodies": {
                "AddObjects": {
                    "required": True,
                    "description": "a TAXII envelope or a STIX bundle, at most max_content_length bytes",
                    "content": {TAXII_MEDIA_TYPE: {"schema": _ADD_BODY}, TAXII_TYPE: {"schema": _ADD_BODY}},
                },
            },
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy the caller may change)."""
    return copy.deepcopy(_document())


def operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every operation the document describes."""
    return {(method.upper(), path) for method, path in _OPERATIONS}


@cache
def _encoded() -> bytes:
    return orjson.dumps(_document())


def openapi_json(request: Request) -> Response:
    """The OpenAPI description of this server's TAXII routes. Not part of TAXII 2.1: an Accord
    addition for tools, served without credentials (it names nothing of this node) and as
    ``application/json`` rather than the TAXII media type, since it is not a TAXII resource."""
    return Response(_encoded(), media_type="application/json")
