"""STIX identifiers: ``object-type--UUID`` (STIX 2.1 section 2.9).

SDOs, SROs and meta objects use random UUIDs (v4); SCOs use name-based UUIDv5 ids under the
STIX namespace so that two producers describing the same observable agree on its id.
"""

from __future__ import annotations

import re
import uuid

# STIX 2.1 section 2.9: the SCO id namespace.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

# Type names: lowercase ASCII letters, digits and hyphens, 3-250 chars (section 3.1).
TYPE_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]")
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
ID_RE = re.compile(r"([a-z0-9][a-z0-9-]{1,248}[a-z0-9])--(" + _UUID + r")")


def split_id(value: object) -> tuple[str, str] | None:
    """Return (type, uuid) for a well-formed identifier, or None."""
    if not isinstance(value, str):
        return None
    m = ID_RE.fullmatch(value)  # fullmatch: '$' would let a trailing newline through
    if m is None or "--" in m.group(1):
        return None
    return m.group(1), m.group(2)


def id_type(value: str) -> str:
    """The object type named by a (well-formed) identifier."""
    return value.split("--", 1)[0]


def is_valid_type_name(value: object) -> bool:
    return isinstance(value, str) and TYPE_RE.fullmatch(value) is not None and "--" not in value


def new_id(stix_type: str) -> str:
    return f"{stix_type}--{uuid.uuid4()}"
