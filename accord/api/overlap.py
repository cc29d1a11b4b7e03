"""REST overlap check under /api/v1/ (issue 9 item 6, docs/early-warning.md, "Overlap check"):

    POST /api/v1/overlap   {"hashes": ["<64 hex>", ...], "agreement": NAME, "key": FINGERPRINT}

``hashes`` (1 to 10,000) are HMAC-SHA256 values of index keys under the agreement's overlap key;
``agreement`` (optional: needed only when the caller's organisation has several keyed agreements)
and ``key`` (optional: the fingerprint of the key the asker hashed with, so that a rotated key is
a clear 409 rather than an empty answer) complete it. The answer is ``{"agreement", "key",
"matches"}``: the hashes sent of values that appear in an object the caller may see.
services/overlap.py decides; this module reads the body and maps the refusals to statuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accord.api.routes import ApiContext, ApiError, guarded, json_object, json_response
from accord.api.transfer import _read_body
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.overlap import (
    MAX_HASHES,
    OverlapKeyChanged,
    OverlapRefused,
    agreement_key_for,
    answer,
    check_hashes,
)
from accord.services.overlap_index import HashTables
from accord.services.secrets import SecretBox

MAX_OVERLAP_BODY = MAX_HASHES * 68 + 4096  # every hash quoted with its comma, and the rest
_MEMBERS = frozenset({"hashes", "agreement", "key"})


@dataclass
class OverlapContext:
    """What the route needs beyond the API's context: the node key that opens the agreements' keys,
    and this process's hash tables (built on first use of a key, then kept up to date)."""

    box: SecretBox
    tables: HashTables = field(default_factory=HashTables)


def _bad(detail: str) -> ApiError:
    return ApiError(400, "Bad request", detail)


def _question(raw: bytes) -> tuple[list[str], str | None, str | None]:
    body = json_object(raw, empty='the body is empty: send {"hashes": ["<HMAC-SHA256 hex>", ...]}',
                       shape='the body must be a JSON object: {"hashes": [...]}', members=_MEMBERS,
                       unknown="'{name}': not an overlap parameter (send 'hashes', and 'agreement' or 'key' if needed)")
    for name in ("agreement", "key"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise _bad(f"'{name}': must be a string")
    return check_hashes(body.get("hashes")), body.get("agreement"), body.get("key")


def _answer(ctx: ApiContext, overlap: OverlapContext, viewer: Viewer, raw: bytes) -> dict[str, Any]:
    hashes, agreement, key = _question(raw)
    now = ctx.clock()
    try:
        asked = agreement_key_for(ctx.store, overlap.box, viewer, now, agreement)
        if key is not None and key != asked.fingerprint:
            raise OverlapKeyChanged(f"the overlap key of agreement {asked.agreement.name!r} is now "
                                    f"{asked.fingerprint}, not {key}: it was rotated; ask this node's operator for "
                                    "the new one")
    except OverlapRefused as exc:
        raise ApiError(403, "Forbidden", str(exc)) from None
    except OverlapKeyChanged as exc:
        raise ApiError(409, "Conflict", str(exc)) from None
    matches = answer(ctx.store, visibility(ctx.store, viewer, now), asked, overlap.tables, hashes)
    return {"agreement": asked.agreement.name, "key": asked.fingerprint, "matches": matches}


async def overlap_hashes(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
    """POST /api/v1/overlap."""
    raw = await _read_body(request, min(ctx.max_content_length, MAX_OVERLAP_BODY))
    overlap: OverlapContext = request.app.state.overlap
    return json_response(await run_in_threadpool(_answer, ctx, overlap, viewer, raw))


ROUTES = [Route("/api/v1/overlap", guarded(overlap_hashes), methods=["POST"])]
