"""The vocabulary STIX 2.1 type specs are written in, and the properties every category shares.

A :class:`TypeSpec` per object type reads top to bottom like the property tables of the
specification: the type's own properties and their kinds, the ones it requires, and one hook for
the rules that relate several properties (``modified >= created``, ``first_seen <= last_seen``).
This module holds what those specs are made of: the property kinds (:class:`Prop`), embedded
objects (:class:`Shape`), the embedded types of section 2, the timestamp comparisons the hooks
share, and the common properties of each category (section 3.2), written once here and added by
the validator. The specs themselves live beside it, one module per part of the specification:
:mod:`accord.stix.schema_sdo` (domain and relationship objects), :mod:`accord.stix.schema_sco`
(observables) and :mod:`accord.stix.schema_meta` (meta objects).

Nothing here checks anything: :mod:`accord.stix.checkers` compiles these specs into checker
closures once, at import, so the per-object cost is a few dictionary lookups.
A hook returns ``None`` when the object is fine, else ``(path, reason)`` pairs, paths relative
to the object (``""`` for the object as a whole).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from accord.stix.timestamps import timestamp_key

Found = list[tuple[str, str]]
Hook = Callable[[Mapping[str, Any]], Found | None]

Kind = Literal[
    "string", "integer", "number", "boolean", "timestamp", "timestamp_ms", "identifier", "enum",
    "list", "object", "hashes", "dictionary", "hex", "binary", "extensions",
]


@dataclass(frozen=True, slots=True)
class Prop:
    """The kind of one property value, with what that kind needs to be checked."""

    kind: Kind
    targets: frozenset[str] = frozenset()  # identifier: allowed object types; empty means any
    custom_targets: bool = False  # identifier: custom (unknown) object types allowed too
    values: frozenset[str] = frozenset()  # enum: the closed set
    minimum: float | None = None
    maximum: float | None = None
    item: Prop | None = None  # list: the kind of each item
    shape: Shape | None = None  # object: the embedded object's properties


@dataclass(frozen=True, slots=True)
class Shape:
    """An embedded object (kill chain phase, external reference, extension...)."""

    props: Mapping[str, Prop]
    required: tuple[str, ...] = ()
    not_empty: bool = False  # at least one of ``props`` must be present
    rules: Hook | None = None


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """One STIX object type: its own properties beside the common ones of its category."""

    type: str
    props: Mapping[str, Prop]
    required: tuple[str, ...] = ()
    rules: Hook | None = None
    extensions: Mapping[str, Shape] = field(default_factory=dict)  # predefined, by name


# --- property kinds -------------------------------------------------------------------------

STRING = Prop("string")
STRINGS = Prop("list", item=STRING)
# Open vocabularies (section 2.9) accept any string; the names say which vocabulary applies.
OPEN_VOCAB = STRING
OPEN_VOCABS = STRINGS
BOOLEAN = Prop("boolean")
INTEGER = Prop("integer")
NON_NEGATIVE = Prop("integer", minimum=0)
NUMBER = Prop("number")
TIMESTAMP = Prop("timestamp")
# created/modified: section 3.2 demands at least millisecond precision.
TIMESTAMP_MS = Prop("timestamp_ms")
IDENTIFIER = Prop("identifier")
HASHES = Prop("hashes")
DICTIONARY = Prop("dictionary")
HEX = Prop("hex")
BINARY = Prop("binary")
EXTENSIONS = Prop("extensions")
OBJECT = Prop("object", shape=Shape({}))


def integer(minimum: int | None = None, maximum: int | None = None) -> Prop:
    return Prop("integer", minimum=minimum, maximum=maximum)


def number(minimum: float, maximum: float | None = None) -> Prop:
    return Prop("number", minimum=minimum, maximum=maximum)


def enum(values: frozenset[str]) -> Prop:
    return Prop("enum", values=values)


def ref(*targets: str | frozenset[str], custom: bool = False) -> Prop:
    """An identifier of one of ``targets`` (type names or sets of them); none listed: any type."""
    allowed: set[str] = set()
    for t in targets:
        allowed.update((t,) if isinstance(t, str) else t)
    return Prop("identifier", targets=frozenset(allowed), custom_targets=custom)


def refs(*targets: str | frozenset[str], custom: bool = False) -> Prop:
    return Prop("list", item=ref(*targets, custom=custom))


def embedded(shape: Shape) -> Prop:
    return Prop("object", shape=shape)


def embedded_list(shape: Shape) -> Prop:
    return Prop("list", item=embedded(shape))


# --- timestamp comparison shared by the hooks -------------------------------------------------

# A subset of valid timestamps (day <= 28, second <= 59) recognisable by one regex; anything
# else is decided by timestamp_key. fullmatch, because ``$`` would accept a trailing newline.
_SIMPLE_TIMESTAMP = re.compile(
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?Z"
)


# Timestamps repeat (created == modified, objects of one bundle share theirs, hooks look again
# at what the property checks saw), so valid ones are remembered; emptied when full.
VALID_TIMESTAMPS: set[str] = set()
_TIMESTAMP_CACHE_LIMIT = 20_000


def is_timestamp(value: object) -> bool:
    """A valid STIX timestamp (as accord.stix.timestamps reads them), cheaply in the usual case."""
    if not isinstance(value, str):
        return False
    return value in VALID_TIMESTAMPS or new_timestamp(value)


def new_timestamp(value: str) -> bool:
    """:func:`is_timestamp` for a string the caller already looked up in VALID_TIMESTAMPS."""
    if not _SIMPLE_TIMESTAMP.fullmatch(value) and (value.endswith("\n") or timestamp_key(value) is None):
        return False
    if len(VALID_TIMESTAMPS) >= _TIMESTAMP_CACHE_LIMIT:
        VALID_TIMESTAMPS.clear()
    VALID_TIMESTAMPS.add(value)
    return True


def timestamp_order(first: object, second: object) -> int | None:
    """-1, 0 or 1 as ``first`` is before, at or after ``second``; None unless both are valid."""
    if not (is_timestamp(first) and is_timestamp(second)):
        return None
    assert isinstance(first, str)
    assert isinstance(second, str)
    if len(first) != len(second):
        # Different precision: compare fixed-width keys, not the text.
        first, second = timestamp_key(first) or "", timestamp_key(second) or ""
    # Equal length means equal precision, so text order is time order.
    return (first > second) - (first < second)


def add_finding(found: Found | None, path: str, reason: str) -> Found:
    """Record one finding, creating the list on the first: valid objects allocate none."""
    if found is None:
        return [(path, reason)]
    found.append((path, reason))
    return found


def ordered(obj: Mapping[str, Any], earlier: str, later: str, *, strict: bool = False) -> Found | None:
    """``later`` must not precede ``earlier`` (with ``strict``, must follow it)."""
    first, second = obj.get(earlier), obj.get(later)
    if first is None or second is None or (first == second and not strict):
        return None  # the usual cases, decided without parsing
    order = timestamp_order(first, second)
    if order is None or order < 0 or (order == 0 and not strict):
        return None
    relation = "later than" if strict else "equal to or later than"
    return [(later, f"must be {relation} {earlier}")]


def seen_window(obj: Mapping[str, Any]) -> Found | None:
    return ordered(obj, "first_seen", "last_seen")


# --- embedded types (section 2) -------------------------------------------------------------

_CVE_ID = re.compile(r"CVE-[0-9]{4}-(?:0[0-9]{3}|[1-9][0-9]{3,})")
_CAPEC_ID = re.compile(r"CAPEC-[0-9]+")


def _external_reference_rules(ref_obj: Mapping[str, Any]) -> Found | None:
    found: Found | None = None
    if not ("description" in ref_obj or "url" in ref_obj or "external_id" in ref_obj):
        found = add_finding(found, "", "needs description, url or external_id besides source_name")
    source, external_id = ref_obj.get("source_name"), ref_obj.get("external_id")
    if isinstance(external_id, str):
        # Section 2.5: references into CVE and CAPEC carry their identifiers verbatim.
        if source == "cve" and not _CVE_ID.fullmatch(external_id):
            found = add_finding(found, "external_id", "a 'cve' reference needs an id like CVE-2017-0144")
        elif source == "capec" and not _CAPEC_ID.fullmatch(external_id):
            found = add_finding(found, "external_id", "a 'capec' reference needs an id like CAPEC-163")
    return found


def _granular_marking_rules(marking: Mapping[str, Any]) -> Found | None:
    if ("lang" in marking) == ("marking_ref" in marking):
        return [("", "needs exactly one of lang and marking_ref")]
    return None


# Section 2.4
KILL_CHAIN_PHASE = Shape({"kill_chain_name": STRING, "phase_name": STRING}, ("kill_chain_name", "phase_name"))
# Section 2.5
EXTERNAL_REFERENCE = Shape(
    {"source_name": STRING, "description": STRING, "url": STRING, "hashes": HASHES, "external_id": STRING},
    ("source_name",),
    rules=_external_reference_rules,
)
# Section 7.2.3
GRANULAR_MARKING = Shape(
    {"lang": STRING, "marking_ref": ref("marking-definition"), "selectors": STRINGS},
    ("selectors",),
    rules=_granular_marking_rules,
)
KILL_CHAIN_PHASES = embedded_list(KILL_CHAIN_PHASE)

# --- common properties (section 3.2) --------------------------------------------------------

SDO_COMMON: Mapping[str, Prop] = {
    "created_by_ref": ref("identity"),
    "created": TIMESTAMP_MS,
    "modified": TIMESTAMP_MS,
    "revoked": BOOLEAN,
    "labels": STRINGS,
    "confidence": integer(0, 100),
    "lang": STRING,
    "external_references": embedded_list(EXTERNAL_REFERENCE),
    "object_marking_refs": refs("marking-definition"),
    "granular_markings": embedded_list(GRANULAR_MARKING),
    "extensions": EXTENSIONS,
}
# Section 7.2.1: marking definitions are not versioned and have only some of them.
_NOT_ON_MARKINGS = frozenset({"modified", "revoked", "labels", "confidence", "lang"})
MARKING_COMMON: Mapping[str, Prop] = {k: v for k, v in SDO_COMMON.items() if k not in _NOT_ON_MARKINGS}
SCO_COMMON: Mapping[str, Prop] = {
    "object_marking_refs": refs("marking-definition"),
    "granular_markings": embedded_list(GRANULAR_MARKING),
    "defanged": BOOLEAN,
    "extensions": EXTENSIONS,
}
