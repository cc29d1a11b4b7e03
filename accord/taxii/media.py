"""TAXII media types (TAXII 2.1 section 1.6.8) and the response every endpoint sends.

Real clients check the response's Content-Type token by token (taxii2-client raises on a bare
``application/taxii+json``, a quoted version or upper case), so every TAXII response carries
exactly :data:`TAXII_MEDIA_TYPE`. Requests are judged leniently: a bare TAXII type, a wildcard or
no Accept at all is fine, and parameter values may be quoted.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

TAXII_TYPE = "application/taxii+json"
TAXII_MEDIA_TYPE = "application/taxii+json;version=2.1"
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"
VERSION = "2.1"


def _parse(header: str) -> list[tuple[str, dict[str, str]]]:
    """Media ranges of an Accept or Content-Type header: (type, parameters), lower-cased."""
    ranges = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        ranges.append((pieces[0].lower(), params))
    return ranges


def _is_taxii_21(media: str, params: dict[str, str]) -> bool:
    return media == TAXII_TYPE and params.get("version", VERSION) == VERSION


def accepts_taxii(accept: str | None) -> bool:
    """Whether an Accept header admits the TAXII 2.1 media type."""
    if accept is None or not accept.strip():
        return True
    for media, params in _parse(accept):
        if params.get("q", "1").strip() in {"0", "0.0", "0.00", "0.000"}:
            continue
        if media in {"*/*", "application/*"} or _is_taxii_21(media, params):
            return True
    return False


def is_taxii_content(content_type: str | None) -> bool:
    """Whether a request body's Content-Type is TAXII 2.1 (bare type or version=2.1)."""
    if content_type is None:
        return False
    parsed = _parse(content_type)
    return len(parsed) == 1 and _is_taxii_21(*parsed[0])


class TaxiiResponse(Response):
    """A TAXII JSON response: dicts are serialised with orjson, bytes are sent as they are."""

    media_type = TAXII_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content)
