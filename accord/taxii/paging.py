"""Query parameters of the listing endpoints (TAXII 2.1 section 3.4) and the ``next`` cursor.

Paging is by ``date_added``, which the store makes unique and strictly increasing in commit
order, so a page that continues after the last ``date_added`` it served never skips or repeats
a version, whatever is written meanwhile.

A ``next`` cursor is opaque to the client but carries no secret: the last ``date_added``
served and a digest of the *scope* (the endpoint path, the caller's username and every filter
except ``limit``, which clients shrink between pages), signed with the node's HMAC key. A cursor
is accepted only with a valid signature and only for the same scope, so it can be neither
forged nor replayed by another user or with other filters; rows are then selected with the
caller's current rights, so a revoked grant takes effect mid-scan. Cursors do not expire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from accord.stix.ids import TYPE_RE, split_id
from accord.stix.timestamps import format_micros, parse_to_micros, timestamp_key
from accord.storage.base import ListedVersion, VersionMatch
from accord.taxii.errors import bad_request

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_SPEC_VERSION = re.compile(r"[0-9]\.[0-9]")  # not \d: that admits every script's digits
_CURSOR_FORMAT = 1
_CURSOR = struct.Struct(">BQ16s16s")  # format, last date_added, scope digest, HMAC
LAST_VERSION = VersionMatch(last=True)  # match[version] when the client gives none (section 3.4.1)


@dataclass(frozen=True, slots=True)
class Filters:
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    versions: VersionMatch = LAST_VERSION
    added_after: int = 0
    limit: int = DEFAULT_LIMIT
    next: str | None = None


def _single(name: str, values: list[str]) -> str:
    if len(values) != 1:
        raise bad_request(f"{name} may be given only once", parameter=name)
    return values[0]


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",")]


def _well_formed(field: str, value: str) -> bool:
    if field == "id":
        return split_id(value) is not None
    pattern = TYPE_RE if field == "type" else _SPEC_VERSION
    return pattern.fullmatch(value) is not None


def _versions(values: list[str]) -> VersionMatch:
    keys: list[str] = []
    added: list[int] = []
    flags = set()
    for value in _split(values):
        if value in {"first", "last", "all"}:
            flags.add(value)
            continue
        key, micros = timestamp_key(value), parse_to_micros(value)
        if key is None or micros is None:
            raise bad_request(f"match[version] must be first, last, all or a timestamp, not {value!r}",
                              parameter="match[version]")
        keys.append(key)
        added.append(micros)
    return VersionMatch(all="all" in flags, first="first" in flags, last="last" in flags,
                        keys=tuple(keys), added=tuple(added))


def parse_filters(params: Sequence[tuple[str, str]], allowed: frozenset[str],
                  default_versions: VersionMatch = LAST_VERSION) -> Filters:
    """Validate a listing's query parameters; 400 for a malformed one. Filters the endpoint does
    not support (``allowed`` names the match[...] fields it does) and unknown parameters are
    ignored, as TAXII 2.1 section 3.4.1 asks."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    found: dict[str, object] = {}
    if "added_after" in grouped:
        text = _single("added_after", grouped["added_after"])
        micros = parse_to_micros(text)
        if micros is None:
            raise bad_request(f"added_after must be a STIX timestamp such as 2026-01-31T12:00:00.000Z, not {text!r}",
                              parameter="added_after")
        found["added_after"] = micros
    if "limit" in grouped:
        text = _single("limit", grouped["limit"])
        # ASCII digits only: str.isdigit() also admits superscripts (which int() refuses) and other scripts' digits.
        digits = text.lstrip("0") if text.isascii() and text.isdigit() else ""
        if not digits:
            raise bad_request(f"limit must be a positive integer, not {text!r}", parameter="limit")
        # By length first: int() refuses more than 4,300 digits, and any 5-digit limit is above the cap.
        found["limit"] = MAX_LIMIT if len(digits) > len(str(MAX_LIMIT)) else min(int(digits), MAX_LIMIT)
    if "next" in grouped:
        found["next"] = _single("next", grouped["next"])
    for field in sorted(allowed):
        values = grouped.get(f"match[{field}]")
        if values is None:
            continue
        parameter = f"match[{field}]"
        if field == "version":
            found["versions"] = _versions(values)
            continue
        items = tuple(_split(values))
        bad = [v for v in items if not _well_formed(field, v)]
        if bad:
            raise bad_request(f"{parameter} has a malformed value {bad[0]!r}", parameter=parameter)
        found[{"id": "ids", "type": "types", "spec_version": "spec_versions"}[field]] = items
    found.setdefault("versions", default_versions)
    return Filters(**found)  # type: ignore[arg-type]


def scope_digest(path: str, username: str, params: Sequence[tuple[str, str]]) -> bytes:
    """What a cursor is bound to: endpoint, caller and every parameter except limit and next."""
    h = hashlib.sha256()
    for part in (path, username, *sorted(f"{k}={v}" for k, v in params if k not in {"limit", "next"})):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.digest()[:16]


class Cursors:
    """Signs and checks ``next`` cursors with the node's key (see the module docstring)."""

    def __init__(self, key: bytes):
        self._key = key

    def _mac(self, last: int, scope: bytes) -> bytes:
        return hmac.new(self._key, struct.pack(">BQ16s", _CURSOR_FORMAT, last, scope), hashlib.sha256).digest()[:16]

    def issue(self, last: int, scope: bytes) -> str:
        raw = _CURSOR.pack(_CURSOR_FORMAT, last, scope, self._mac(last, scope))
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    def resume(self, token: str, scope: bytes) -> int:
        """The last date_added a cursor stands for; 400 if it is forged, damaged or not for this
        scope (another caller, endpoint or filter set)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            fmt, last, token_scope, mac = _CURSOR.unpack(raw)
        except (binascii.Error, ValueError, struct.error):
            raise bad_request("next is not a cursor this server issued", parameter="next") from None
        if fmt != _CURSOR_FORMAT or not hmac.compare_digest(mac, self._mac(last, token_scope)) \
                or not hmac.compare_digest(token_scope, scope):
            raise bad_request("next is not a cursor this server issued for this query and caller", parameter="next")
        last_served: int = last
        return last_served


def page_headers(rows: Sequence[ListedVersion]) -> dict[str, str]:
    """X-TAXII-Date-Added-First/-Last (TAXII 2.1 section 3.3.1) for a non-empty page."""
    if not rows:
        return {}
    return {"X-TAXII-Date-Added-First": format_micros(rows[0].date_added),
            "X-TAXII-Date-Added-Last": format_micros(rows[-1].date_added)}
