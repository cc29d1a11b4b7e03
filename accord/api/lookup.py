"""REST lookup under /api/v1/ (issue 9, docs/early-warning.md):

    POST /api/v1/lookup      {"values": ["8.8.8.8", "evil.example.com", ...]}   (at most 10,000)

For each value, in the order sent: the visible objects that mention it (or its parent domains,
the networks it lies in, the addresses inside a network given), their sightings, and the MISP
warninglists the value is on. services/lookup.py decides everything through the gate; this
module only reads the body and renders the answer.
"""

from __future__ import annotations

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from accord.api.routes import JSON, ApiContext, ApiError, guarded, json_object
from accord.api.transfer import _read_body
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.collector import bulk_gc
from accord.services.decay import Scoring
from accord.services.lookup import MAX_VALUE_LENGTH, MAX_VALUES, lookup, result_json
from accord.services.warninglists import benign

# Every value at its longest, quoted, with room for the rest of the object.
MAX_LOOKUP_BODY = MAX_VALUES * (MAX_VALUE_LENGTH + 8) + 1024


def _bad(detail: str) -> ApiError:
    return ApiError(400, "Bad request", detail)


def values_of(raw: bytes) -> list[str]:
    """The values of a lookup body, or a 400 that says which part is wrong and why."""
    body = json_object(raw, empty='the body is empty: send {"values": ["8.8.8.8", "example.com", ...]}',
                       shape='the body must be a JSON object: {"values": [...]}', members=frozenset({"values"}),
                       unknown="'{name}': not a lookup parameter (send only 'values')")
    values = body.get("values")
    if not isinstance(values, list) or not values:
        raise _bad("'values': must be a non-empty list of strings")
    if len(values) > MAX_VALUES:
        raise _bad(f"'values': {len(values)} values; at most {MAX_VALUES} in one lookup")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise _bad(f"'values[{i}]': must be a string, not {type(value).__name__}")
    return values


def _lookup(ctx: ApiContext, viewer: Viewer, raw: bytes) -> bytes:
    """The answer, serialised. The collector is held back (services/collector.py) until the
    answer's objects are gone: let go while they lived, it would walk them all (~10 ms for
    10,000 values) only to find nothing, since an answer holds no cycles."""
    values = values_of(raw)
    now = ctx.clock()
    with bulk_gc():
        results = lookup(ctx.store, visibility(ctx.store, viewer, now), values, benign=benign,
                         scoring=Scoring(ctx.decay, ctx.sighting_min_count, now))
        body = orjson.dumps({"results": [result_json(r) for r in results]})
        del results
    return body


async def lookup_values(request: Request, ctx: ApiContext, viewer: Viewer) -> Response:
    """POST /api/v1/lookup."""
    raw = await _read_body(request, min(ctx.max_content_length, MAX_LOOKUP_BODY))
    return Response(await run_in_threadpool(_lookup, ctx, viewer, raw), media_type=JSON)


ROUTES = [Route("/api/v1/lookup", guarded(lookup_values), methods=["POST"])]
