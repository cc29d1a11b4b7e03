"""REST routes under /api/v1/: release (approval queue, publish, retract); import and export are in
transfer.py.

Every handler authenticates the caller like TAXII does (policy.credentials), acts through the
services with the caller's Viewer, and answers JSON. Errors have one shape,
``{"error": {"status": 404, "title": "...", "detail": "..."}}``; "not found" and "not yours"
are the same response, as everywhere in Accord.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accord.errors import AccordError, AuthenticationError, ConfigError, InputError, NotFoundError, RequestError
from accord.policy.credentials import AUTH_CHALLENGE, Throttle, Throttled, authenticate_request
from accord.policy.viewer import Viewer
from accord.services import release
from accord.services.decay import DecayModel
from accord.stix.timestamps import key_to_timestamp
from accord.stix.versions import CONTENT_VERSION_PREFIX
from accord.storage.base import Store, VersionFacts

JSON = "application/json"
MAX_BODY = 64 * 1024  # release requests are small; anything bigger is a mistake or an attack


@dataclass(frozen=True)
class ApiContext:
    store: Store
    throttle: Throttle
    clock: Callable[[], int]
    four_eyes: bool = False
    max_content_length: int = 100 * 1024 * 1024
    max_nesting_depth: int = 100
    max_object_bytes: int = 64 * 1024 * 1024
    node_name: str = "accord"
    correlation_cap: int = 100
    decay: DecayModel = field(default_factory=DecayModel)  # settings.py: decay_lifetimes
    sighting_min_count: int = 1  # settings.py
    key_file: str = ""  # seals alert webhooks' secrets (services/secrets.py)
    alert_webhook_private_targets: bool = False  # settings.py


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


NOT_FOUND = ApiError(404, "Not found", "There is no such resource, or it is not visible to you.")


def json_object(raw: bytes, *, empty: str | None, shape: str, members: frozenset[str],
                unknown: str) -> dict[str, Any]:
    """A request body that must be a JSON object of known members, or a 400 saying what is wrong:
    ``empty`` for an empty body (None: an empty body is ``{}``), ``shape`` for anything but an
    object, ``unknown`` (with ``{name}``) for the first member not in ``members``."""
    if not raw.strip():
        if empty is not None:
            raise ApiError(400, "Bad request", empty)
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "Bad request", f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Bad request", shape)
    extra = sorted(set(body) - members)
    if extra:
        raise ApiError(400, "Bad request", unknown.format(name=extra[0]))
    return body


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def _error(exc: Exception) -> Response:
    if isinstance(exc, NotFoundError):
        exc = NOT_FOUND
    elif isinstance(exc, Throttled):
        exc = ApiError(429, "Too many requests", str(exc), {"Retry-After": str(exc.retry_after)})
    elif isinstance(exc, AuthenticationError):
        exc = ApiError(401, "Unauthorized", "Valid credentials are required: HTTP Basic (username and API "
                       "token) or a Bearer token.", {"WWW-Authenticate": AUTH_CHALLENGE})
    elif isinstance(exc, release.ReleaseError):
        exc = ApiError(403, "Forbidden", str(exc))
    elif isinstance(exc, RequestError):
        exc = ApiError(400, "Bad request", f"'{exc.parameter}': {exc.reason}")
    elif isinstance(exc, ConfigError):
        exc = ApiError(400, "Bad request", str(exc))
    elif isinstance(exc, InputError):
        exc = ApiError(400, "Bad request", f"nothing stored: {exc.reason}")
    elif not isinstance(exc, ApiError):
        exc = ApiError(500, "Internal server error", "the server could not complete the request")
    body = {"error": {"status": exc.status, "title": exc.title, "detail": exc.detail}}
    return json_response(body, exc.status, exc.headers)


Handler = Callable[[ApiContext, Viewer, Request, dict[str, Any]], Any]
RawHandler = Callable[[Request, ApiContext, Viewer], Awaitable[Response]]


def guarded(handler: RawHandler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate the caller, then run ``handler``; every error becomes the one JSON error shape."""

    async def run(request: Request) -> Response:
        ctx: ApiContext = request.app.state.api
        try:
            address = request.client.host if request.client else "unknown"
            viewer = await run_in_threadpool(authenticate_request, ctx.store, ctx.throttle, address,
                                             request.headers.get("authorization"), now=ctx.clock())
            request.state.username = viewer.username
            return await handler(request, ctx, viewer)
        except (ApiError, AccordError) as exc:
            return _error(exc)
        except Exception as exc:  # a bug: answer 500 without internals, and let it be logged
            request.app.state.api_log.exception("REST handler failed")
            return _error(exc)

    return run


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A guarded JSON endpoint: reads an optional JSON object body, runs ``handler`` in a thread."""

    async def run(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
        body: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.body()
            if len(raw) > MAX_BODY:
                raise ApiError(413, "Content too large", f"at most {MAX_BODY} bytes")
            if raw.strip():
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise ApiError(400, "Bad request", f"the body is not JSON: {exc}") from None
                if not isinstance(parsed, dict):
                    raise ApiError(400, "Bad request", "the body must be a JSON object")
                body = parsed
        return json_response(await run_in_threadpool(handler, ctx, viewer, request, body))

    return guarded(run)


def _version_text(key: str) -> str:
    """A stored version key as its STIX timestamp; content-versioned objects (SCOs) keep the key."""
    return key_to_timestamp(key) if not key.startswith(CONTENT_VERSION_PREFIX) else key


def _versions(facts: list[VersionFacts]) -> list[dict[str, str]]:
    return [{"id": f.stix_id, "version": _version_text(f.version)} for f in facts]


def _string(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, "Bad request", f"'{name}' must be a string")
    return value


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, "Bad request", f"'{name}' must be a list of strings")
    return value


def drafts(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    """GET /api/v1/drafts: the approval queue, the caller's organisation's drafts, oldest first."""
    if viewer.org_pk is None:
        raise NOT_FOUND
    found = ctx.store.drafts(viewer.org_pk)
    return {"drafts": [{**v, "type": f.type, "author": f.author, "tlp": f.tlp}
                       for f, v in zip(found, _versions(found), strict=True)]}


def publish(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    """POST /api/v1/objects/{id}/publish, body ``{"version": ..., "recipients": [ORG, ...]}`` (both optional)."""
    done = release.publish(ctx.store, viewer, request.path_params["stix_id"], version=_string(body, "version"),
                           recipients=_strings(body, "recipients"), four_eyes=ctx.four_eyes)
    return {"published": _versions(done)}


def retract(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    """POST /api/v1/objects/{id}/retract, body ``{"version": ...}`` (optional)."""
    done = release.retract(ctx.store, viewer, request.path_params["stix_id"], version=_string(body, "version"))
    return {"retracted": _versions(done)}


RETRACTIONS_PAGE = 1000


def retractions(ctx: ApiContext, viewer: Viewer, request: Request, body: dict[str, Any]) -> Any:
    """GET /api/v1/sync/retractions?after=SEQ: versions retracted at this node that the caller's
    organisation received, oldest first; a partner node polls it to retract its copies (and so
    on down the chain: it records its own retractions, which its partners then poll)."""
    if viewer.org_name is None:
        raise NOT_FOUND
    after_text = request.query_params.get("after", "0")
    if not (after_text.isascii() and after_text.isdigit()) or int(after_text) >= 2 ** 63:
        raise ApiError(400, "Bad request", "'after' must be a non-negative integer (an audit sequence number)")
    found = ctx.store.retractions_received(viewer.org_name, after=int(after_text), limit=RETRACTIONS_PAGE)
    return {"retractions": [{"seq": seq, "id": sid, "version": _version_text(ver)} for seq, _, sid, ver in found],
            "more": len(found) == RETRACTIONS_PAGE}


ROUTES = [
    Route("/api/v1/drafts", endpoint(drafts), methods=["GET"]),
    Route("/api/v1/objects/{stix_id}/publish", endpoint(publish), methods=["POST"]),
    Route("/api/v1/objects/{stix_id}/retract", endpoint(retract), methods=["POST"]),
    Route("/api/v1/sync/retractions", endpoint(retractions), methods=["GET"]),
]
