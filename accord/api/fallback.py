"""REST answers for requests under /api/v1/ that no REST handler reached: Starlette's own 404
(no such path) and 405 (a path without that method), in the REST error shape rather than the
TAXII one the rest of the server uses, so a REST client sees one shape whatever it got wrong."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import Response

from accord.api.routes import NOT_FOUND, json_response

API_PREFIX = "/api/v1/"


def routing_error(exc: HTTPException) -> Response:
    if exc.status_code == 404:
        body = {"status": 404, "title": NOT_FOUND.title, "detail": NOT_FOUND.detail}
        return json_response({"error": body}, 404)
    detail = exc.detail or "the request cannot be answered"
    # A 405 carries the Allow header naming the path's methods.
    return json_response({"error": {"status": exc.status_code, "title": detail, "detail": detail}},
                         exc.status_code, dict(exc.headers or {}))
