"""TAXII error resources (TAXII 2.1 section 3.6.1), and the one place errors become statuses.

A handler raises :class:`TaxiiError` for a protocol fault (bad parameter, media type, size);
domain errors from accord.errors are translated here, once, by :func:`error_response_for`.
"Not found" and "not visible to you" are the same response, byte for byte (DESIGN.md), so both
are built from :data:`NOT_FOUND` and nothing about the request is echoed in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from accord.errors import AuthenticationError, InputError, NotFoundError
from accord.policy.credentials import AUTH_CHALLENGE
from accord.taxii.media import TaxiiResponse


class TaxiiError(Exception):
    """A request the server refuses, with the TAXII error resource to send."""

    def __init__(self, status: int, title: str, description: str | None = None, *,
                 headers: Mapping[str, str] | None = None, details: dict[str, Any] | None = None):
        self.status = status
        self.title = title
        self.description = description
        self.headers = dict(headers or {})
        self.details = details
        super().__init__(f"{status} {title}: {description}")

    def response(self) -> Response:
        body: dict[str, Any] = {"title": self.title, "http_status": str(self.status)}
        if self.description:
            body["description"] = self.description
        if self.details:
            body["details"] = self.details
        return TaxiiResponse(body, status_code=self.status, headers=self.headers)


NOT_FOUND = TaxiiError(404, "Not found", "There is no such resource, or it is not visible to you.")


def bad_request(description: str, **details: Any) -> TaxiiError:
    return TaxiiError(400, "Bad request", description, details=details or None)


def unauthorized() -> TaxiiError:
    return TaxiiError(401, "Unauthorized", "Valid credentials are required: HTTP Basic (username and API token) "
                      "or a Bearer token.", headers={"WWW-Authenticate": AUTH_CHALLENGE})


def forbidden(description: str) -> TaxiiError:
    return TaxiiError(403, "Forbidden", description)


def error_response_for(exc: Exception) -> Response:
    """The response for anything a handler raised; unknown errors are 500 without internals."""
    if isinstance(exc, TaxiiError):
        return exc.response()
    if isinstance(exc, NotFoundError):
        return NOT_FOUND.response()
    if isinstance(exc, AuthenticationError):
        return unauthorized().response()
    if isinstance(exc, InputError):
        return bad_request(f"the request body is not a usable STIX document: {exc.reason}",
                           offset=exc.offset).response()
    if isinstance(exc, HTTPException):
        if exc.status_code == 404:
            return NOT_FOUND.response()
        headers = dict(exc.headers or {})
        return TaxiiError(exc.status_code, exc.detail or "Error", headers=headers).response()
    # Any other AccordError (storage failure) or a bug: say nothing of the internals.
    return TaxiiError(500, "Internal server error", "the server could not complete the request").response()


async def handle_error(request: Request, exc: Exception) -> Response:
    return error_response_for(exc)
