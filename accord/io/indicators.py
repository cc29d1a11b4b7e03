"""Plain values (an IP, a domain, a hash) as STIX, and back: shared by every format that is not STIX.

Importers of lists, CSV and prose meet bare values; exporters of blocklists and detection rules
need bare values again. Both directions go through the kinds below, so a value read from a CSV
and a value written to a blocklist are spelt the same way.

Ids are deterministic so that importing the same source twice stores nothing new: SCO ids
follow STIX 2.1 section 2.9 (UUIDv5 over the canonical JSON of the id-contributing properties);
an indicator's id is a UUIDv5 of its pattern within a namespace the caller names (the source
document or feed), so two sources stating one value keep two indicators with their own context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from accord.stix.ids import SCO_NAMESPACE
from accord.stix.observables import normalise
from accord.stix.patterns import pattern_observables

# Namespace for the ids of objects Accord derives from non-STIX input (indicators, reports):
# uuid5(ACCORD_NAMESPACE, "<source key>") gives a per-source namespace.
ACCORD_NAMESPACE = uuid.UUID("6f1d3c2e-41a7-5b0e-9a38-acc0bd000001")


@dataclass(frozen=True)
class Kind:
    """One kind of bare value: the SCO that carries it and the property holding it."""

    name: str
    sco_type: str
    # Path in the SCO and in patterns: "value", or "hashes.'SHA-256'" for files.
    path: str
    index_type: str  # the observable index's name for it (accord/stix/observables.py)

    @property
    def hash_algorithm(self) -> str | None:
        return self.path.split("'")[1] if self.path.startswith("hashes.") else None


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("ipv4", "ipv4-addr", "value", "ipv4-addr"),
    Kind("ipv6", "ipv6-addr", "value", "ipv6-addr"),
    Kind("domain", "domain-name", "value", "domain-name"),
    Kind("url", "url", "value", "url"),
    Kind("email", "email-addr", "value", "email-addr"),
    Kind("md5", "file", "hashes.'MD5'", "file:hashes.MD5"),
    Kind("sha1", "file", "hashes.'SHA-1'", "file:hashes.SHA-1"),
    Kind("sha256", "file", "hashes.'SHA-256'", "file:hashes.SHA-256"),
    Kind("sha512", "file", "hashes.'SHA-512'", "file:hashes.SHA-512"),
    Kind("filename", "file", "name", "file:name"),
    Kind("mutex", "mutex", "name", "mutex"),
    Kind("mac", "mac-addr", "value", "mac-addr"),
)}
_BY_INDEX_TYPE = {k.index_type: k for k in KINDS.values()}


def quote(value: str) -> str:
    """A STIX pattern string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern_for(kind: Kind, value: str) -> str:
    return f"[{kind.sco_type}:{kind.path} = {quote(value)}]"


def canonical(kind: Kind, value: str) -> str | None:
    """The value as the observable index spells it (lower-case domain, upper-case hash...), or
    None when it is not a valid value of that kind."""
    return normalise(kind.index_type, value)


def sco_id(sco_type: str, contributing: dict[str, Any]) -> str:
    """STIX 2.1 section 2.9: UUIDv5 over the JCS form of the id-contributing properties."""
    text = orjson.dumps(contributing, option=orjson.OPT_SORT_KEYS).decode()
    return f"{sco_type}--{uuid.uuid5(SCO_NAMESPACE, text)}"


def observable(kind: Kind, value: str) -> dict[str, Any]:
    """The SCO for ``value`` (a file with one hash or a name, or a one-value SCO)."""
    algorithm = kind.hash_algorithm
    if algorithm is not None:
        props: dict[str, Any] = {"hashes": {algorithm: value}}
    else:
        props = {kind.path: value}
    return {"type": kind.sco_type, "spec_version": "2.1", "id": sco_id(kind.sco_type, props), **props}


def derived_id(stix_type: str, source_key: str, *parts: str) -> str:
    """A stable id for an object derived from ``parts`` of the source named ``source_key``."""
    namespace = uuid.uuid5(ACCORD_NAMESPACE, source_key)
    return f"{stix_type}--{uuid.uuid5(namespace, chr(31).join(parts))}"


def indicator(kind: Kind, value: str, *, source_key: str, created: str, name: str | None = None,
              **extra: Any) -> dict[str, Any]:
    """An indicator whose pattern matches ``value``; ``extra`` adds properties (description,
    indicator_types, object_marking_refs, labels, valid_until, ...)."""
    pattern = pattern_for(kind, value)
    obj: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1", "id": derived_id("indicator", source_key, pattern),
        "created": created, "modified": created, "name": name or value,
        "pattern": pattern, "pattern_type": "stix", "valid_from": created,
    }
    obj.update(extra)
    return obj


def values_of(pattern: str) -> list[tuple[Kind, str]]:
    """The bare values an indicator's pattern compares with ``=`` or ``IN``, by kind, as the
    observable index spells them; kinds not listed above are left out."""
    out = []
    for index_type, value in pattern_observables(pattern):
        kind = _BY_INDEX_TYPE.get(index_type)
        if kind is not None:
            out.append((kind, value))
    return out
