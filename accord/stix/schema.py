"""What each STIX 2.1 object type may hold: domain, relationship and meta objects.

One :class:`TypeSpec` per type, read top to bottom like the property tables of the
specification: the type's own properties and their kinds, the ones it requires, and one hook for
the rules that relate several properties (``modified >= created``, ``first_seen <= last_seen``).
The common properties of each category (section 3.2) are written once here and added by the
validator. Observables live in :mod:`accord.stix.schema_sco`.

Nothing here checks anything: :mod:`accord.stix.validate` compiles these specs into checker
closures once, at import, so the per-object cost is a few dictionary lookups.
A hook returns ``None`` when the object is fine, else ``(path, reason)`` pairs, paths relative
to the object (``""`` for the object as a whole).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from accord.stix.markings import STANDARD_TLP, TLP2_EXTENSION, standard_definition_problem
from accord.stix.patterns import pattern_problem
from accord.stix.timestamps import timestamp_key
from accord.stix.vocab import (
    EXTENSION_TYPES,
    OPINIONS,
    SCO_TYPES,
    SDO_TYPES,
    SRO_TYPES,
    TLP1_LEVELS,
)

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
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z"
)


# Timestamps repeat (created == modified, objects of one bundle share theirs, hooks look again
# at what the property checks saw), so valid ones are remembered; emptied when full.
_VALID_TIMESTAMPS: set[str] = set()
_TIMESTAMP_CACHE_LIMIT = 20_000


def is_timestamp(value: object) -> bool:
    """A valid STIX timestamp (as accord.stix.timestamps reads them), cheaply in the usual case."""
    if not isinstance(value, str):
        return False
    if value in _VALID_TIMESTAMPS:
        return True
    if not _SIMPLE_TIMESTAMP.fullmatch(value) and (value.endswith("\n") or timestamp_key(value) is None):
        return False
    if len(_VALID_TIMESTAMPS) >= _TIMESTAMP_CACHE_LIMIT:
        _VALID_TIMESTAMPS.clear()
    _VALID_TIMESTAMPS.add(value)
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

_CVE_ID = re.compile(r"CVE-\d{4}-(?:0\d{3}|[1-9]\d{3,})")
_CAPEC_ID = re.compile(r"CAPEC-\d+")


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

# What a relationship may join: anything in the graph, custom objects included, but not another
# relationship or sighting, a bundle or a meta object (section 5.1).
GRAPH_NODES = SDO_TYPES | SCO_TYPES


# --- hooks: rules that relate several properties ------------------------------------------


def _indicator_rules(obj: Mapping[str, Any]) -> Found | None:
    # Section 4.7 wants valid_until strictly later than valid_from. MISP's exporter writes the
    # two equal (misp-core stixtest fixture, 35 indicators); an empty window is tolerated: it
    # widens nothing, and rejecting the indicator would lose its pattern.
    found = ordered(obj, "valid_from", "valid_until")
    pattern = obj.get("pattern")
    # Only STIX patterns have a grammar Accord knows; sigma, yara, snort... are opaque text.
    if obj.get("pattern_type") == "stix" and isinstance(pattern, str):
        why = pattern_problem(pattern)
        if why is not None:
            found = add_finding(found, "pattern", why)
    return found


def _location_rules(obj: Mapping[str, Any]) -> Found | None:
    found: Found | None = None
    has_lat, has_long = "latitude" in obj, "longitude" in obj
    if not ("region" in obj or "country" in obj or (has_lat and has_long)):
        found = add_finding(found, "", "needs region, country, or latitude and longitude")
    if has_lat != has_long:
        found = add_finding(found, "longitude" if has_lat else "latitude", "needs its pair")
    if "precision" in obj and not (has_lat and has_long):
        found = add_finding(found, "precision", "only meaningful with latitude and longitude")
    return found


def _malware_rules(obj: Mapping[str, Any]) -> Found | None:
    found = seen_window(obj)
    if obj.get("is_family") is True and "name" not in obj:
        found = add_finding(found, "name", "required when is_family is true")
    return found


def _malware_analysis_rules(obj: Mapping[str, Any]) -> Found | None:
    if "result" not in obj and "analysis_sco_refs" not in obj:
        return [("", "needs result or analysis_sco_refs")]
    return None


def _observed_data_rules(obj: Mapping[str, Any]) -> Found | None:
    found = ordered(obj, "first_observed", "last_observed")
    if ("objects" in obj) == ("object_refs" in obj):
        # objects is the deprecated 2.0 form; exactly one of the two carries the observations.
        found = add_finding(found, "object_refs", "exactly one of object_refs and objects is needed")
    return found


_RELATIONSHIP_TYPE = re.compile(r"[a-z0-9-]+")


def _relationship_rules(obj: Mapping[str, Any]) -> Found | None:
    found = ordered(obj, "start_time", "stop_time", strict=True)
    rtype = obj.get("relationship_type")
    if isinstance(rtype, str) and not _RELATIONSHIP_TYPE.fullmatch(rtype):
        found = add_finding(found, "relationship_type", "only a-z, 0-9 and hyphen are allowed")
    return found


# Section 7.2.1.4 (and the OASIS TLP 2.0 extension): TLP levels are carried only by the standard
# definitions, so a TLP level under any other id is a forgery policy must not trust.
_NOT_STANDARD_TLP = "a TLP marking definition must use the standard id of its level"


def _marking_definition_rules(obj: Mapping[str, Any]) -> Found | None:
    found: Found | None = None
    own_id = obj.get("id")
    # A non-string id cannot be looked up (markings would raise); the id check reports it.
    standard = isinstance(own_id, str) and own_id in STANDARD_TLP
    forged = standard_definition_problem(obj) if standard else None
    if forged is not None:
        found = add_finding(found, "", forged)
    dtype, definition = obj.get("definition_type"), obj.get("definition")
    if "extensions" not in obj:
        # Without an extension (as TLP 2.0 uses) the marking says what it is in these two.
        for name in ("definition_type", "definition"):
            if name not in obj:
                found = add_finding(found, name, "required when extensions is absent")
    elif (dtype is None) != (definition is None):
        missing = "definition" if definition is None else "definition_type"
        found = add_finding(found, missing, "definition_type and definition go together")
    if isinstance(definition, dict):
        if dtype == "statement" and not isinstance(definition.get("statement"), str):
            found = add_finding(found, "definition.statement", "a statement marking needs a statement string")
        elif dtype == "tlp":
            level = definition.get("tlp")
            if not (isinstance(level, str) and level in TLP1_LEVELS):
                found = add_finding(found, "definition.tlp", "must be one of white, green, amber, red")
            elif not standard:
                found = add_finding(found, "id", _NOT_STANDARD_TLP)
    extensions = obj.get("extensions")
    if isinstance(extensions, dict) and TLP2_EXTENSION in extensions and not standard:
        found = add_finding(found, "id", _NOT_STANDARD_TLP)
    marking_refs = obj.get("object_marking_refs")
    if isinstance(marking_refs, list) and own_id in marking_refs:
        found = add_finding(found, "object_marking_refs", "a marking definition must not mark itself")
    return found


def _extension_definition_rules(obj: Mapping[str, Any]) -> Found | None:
    types = obj.get("extension_types")
    toplevel = isinstance(types, list) and "toplevel-property-extension" in types
    if "extension_properties" in obj and not toplevel:
        return [("extension_properties", "only for a toplevel-property-extension")]
    return None


# RFC 5646 language tags, loosely: primary subtag then any subtags.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


def _language_content_rules(obj: Mapping[str, Any]) -> Found | None:
    found: Found | None = None
    contents = obj.get("contents")
    if isinstance(contents, dict):
        for lang, translated in contents.items():
            if not _LANGUAGE_TAG.fullmatch(lang):
                found = add_finding(found, f"contents.{lang}", "key must be an RFC 5646 language tag")
            if not isinstance(translated, dict) or not translated:
                found = add_finding(found, f"contents.{lang}", "must be a non-empty object of translations")
    return found


# --- domain objects (section 4) -------------------------------------------------------------

_NAMED = ("name",)

SDO_SPECS: tuple[TypeSpec, ...] = (
    # 4.1 Attack Pattern
    TypeSpec(
        "attack-pattern",
        {"name": STRING, "description": STRING, "aliases": STRINGS, "kill_chain_phases": KILL_CHAIN_PHASES},
        _NAMED,
    ),
    # 4.2 Campaign
    TypeSpec(
        "campaign",
        {
            "name": STRING, "description": STRING, "aliases": STRINGS,
            "first_seen": TIMESTAMP, "last_seen": TIMESTAMP, "objective": STRING,
        },
        _NAMED,
        seen_window,
    ),
    # 4.3 Course of Action (action is RESERVED: see vocab.RESERVED_PROPERTIES)
    TypeSpec("course-of-action", {"name": STRING, "description": STRING}, _NAMED),
    # 4.4 Grouping
    TypeSpec(
        "grouping",
        {"name": STRING, "description": STRING, "context": OPEN_VOCAB, "object_refs": refs()},
        ("context", "object_refs"),
    ),
    # 4.5 Identity
    TypeSpec(
        "identity",
        {
            "name": STRING, "description": STRING, "roles": STRINGS, "identity_class": OPEN_VOCAB,
            "sectors": OPEN_VOCABS, "contact_information": STRING,
        },
        _NAMED,
    ),
    # 4.6 Incident
    TypeSpec(
        "incident", {"name": STRING, "description": STRING, "kill_chain_phases": KILL_CHAIN_PHASES}, _NAMED
    ),
    # 4.7 Indicator
    TypeSpec(
        "indicator",
        {
            "name": STRING, "description": STRING, "indicator_types": OPEN_VOCABS, "pattern": STRING,
            "pattern_type": OPEN_VOCAB, "pattern_version": STRING, "valid_from": TIMESTAMP,
            "valid_until": TIMESTAMP, "kill_chain_phases": KILL_CHAIN_PHASES,
        },
        ("pattern", "pattern_type", "valid_from"),
        _indicator_rules,
    ),
    # 4.8 Infrastructure
    TypeSpec(
        "infrastructure",
        {
            "name": STRING, "description": STRING, "infrastructure_types": OPEN_VOCABS, "aliases": STRINGS,
            "kill_chain_phases": KILL_CHAIN_PHASES, "first_seen": TIMESTAMP, "last_seen": TIMESTAMP,
        },
        _NAMED,
        seen_window,
    ),
    # 4.9 Intrusion Set
    TypeSpec(
        "intrusion-set",
        {
            "name": STRING, "description": STRING, "aliases": STRINGS, "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP, "goals": STRINGS, "resource_level": OPEN_VOCAB,
            "primary_motivation": OPEN_VOCAB, "secondary_motivations": OPEN_VOCABS,
        },
        _NAMED,
        seen_window,
    ),
    # 4.10 Location
    TypeSpec(
        "location",
        {
            "name": STRING, "description": STRING, "latitude": number(-90.0, 90.0),
            "longitude": number(-180.0, 180.0), "precision": number(0.0),
            "region": OPEN_VOCAB, "country": STRING, "administrative_area": STRING, "city": STRING,
            "street_address": STRING, "postal_code": STRING,
        },
        rules=_location_rules,
    ),
    # 4.11 Malware
    TypeSpec(
        "malware",
        {
            "name": STRING, "description": STRING, "malware_types": OPEN_VOCABS, "is_family": BOOLEAN,
            "aliases": STRINGS, "kill_chain_phases": KILL_CHAIN_PHASES, "first_seen": TIMESTAMP,
            "last_seen": TIMESTAMP, "operating_system_refs": refs("software"),
            "architecture_execution_envs": OPEN_VOCABS, "implementation_languages": OPEN_VOCABS,
            "capabilities": OPEN_VOCABS, "sample_refs": refs("file", "artifact"),
        },
        ("is_family",),
        _malware_rules,
    ),
    # 4.12 Malware Analysis
    TypeSpec(
        "malware-analysis",
        {
            "product": STRING, "version": STRING, "host_vm_ref": ref("software"),
            "operating_system_ref": ref("software"), "installed_software_refs": refs("software"),
            "configuration_version": STRING, "modules": STRINGS, "analysis_engine_version": STRING,
            "analysis_definition_version": STRING, "submitted": TIMESTAMP, "analysis_started": TIMESTAMP,
            "analysis_ended": TIMESTAMP, "result_name": STRING, "result": OPEN_VOCAB,
            "analysis_sco_refs": refs(SCO_TYPES, custom=True),
            "sample_ref": ref("file", "network-traffic", "artifact"),
        },
        ("product",),
        _malware_analysis_rules,
    ),
    # 4.13 Note
    TypeSpec(
        "note",
        {"abstract": STRING, "content": STRING, "authors": STRINGS, "object_refs": refs()},
        ("content", "object_refs"),
    ),
    # 4.14 Observed Data
    TypeSpec(
        "observed-data",
        {
            "first_observed": TIMESTAMP, "last_observed": TIMESTAMP,
            "number_observed": integer(1, 999_999_999), "objects": DICTIONARY,
            "object_refs": refs(SCO_TYPES, SRO_TYPES, custom=True),
        },
        ("first_observed", "last_observed", "number_observed"),
        _observed_data_rules,
    ),
    # 4.15 Opinion
    TypeSpec(
        "opinion",
        {"explanation": STRING, "authors": STRINGS, "opinion": enum(OPINIONS), "object_refs": refs()},
        ("opinion", "object_refs"),
    ),
    # 4.16 Report
    TypeSpec(
        "report",
        {
            "name": STRING, "description": STRING, "report_types": OPEN_VOCABS,
            "published": TIMESTAMP, "object_refs": refs(),
        },
        ("name", "published", "object_refs"),
    ),
    # 4.17 Threat Actor
    TypeSpec(
        "threat-actor",
        {
            "name": STRING, "description": STRING, "threat_actor_types": OPEN_VOCABS, "aliases": STRINGS,
            "first_seen": TIMESTAMP, "last_seen": TIMESTAMP, "roles": OPEN_VOCABS, "goals": STRINGS,
            "sophistication": OPEN_VOCAB, "resource_level": OPEN_VOCAB, "primary_motivation": OPEN_VOCAB,
            "secondary_motivations": OPEN_VOCABS, "personal_motivations": OPEN_VOCABS,
        },
        _NAMED,
        seen_window,
    ),
    # 4.18 Tool
    TypeSpec(
        "tool",
        {
            "name": STRING, "description": STRING, "tool_types": OPEN_VOCABS, "aliases": STRINGS,
            "kill_chain_phases": KILL_CHAIN_PHASES, "tool_version": STRING,
        },
        _NAMED,
    ),
    # 4.19 Vulnerability
    TypeSpec("vulnerability", {"name": STRING, "description": STRING}, _NAMED),
)

# --- relationship objects (section 5) -------------------------------------------------------

SRO_SPECS: tuple[TypeSpec, ...] = (
    # 5.1 Relationship
    TypeSpec(
        "relationship",
        {
            "relationship_type": STRING, "description": STRING,
            "source_ref": ref(GRAPH_NODES, custom=True), "target_ref": ref(GRAPH_NODES, custom=True),
            "start_time": TIMESTAMP, "stop_time": TIMESTAMP,
        },
        ("relationship_type", "source_ref", "target_ref"),
        _relationship_rules,
    ),
    # 5.2 Sighting
    TypeSpec(
        "sighting",
        {
            "description": STRING, "first_seen": TIMESTAMP, "last_seen": TIMESTAMP,
            "count": integer(0, 999_999_999), "sighting_of_ref": ref(SDO_TYPES, custom=True),
            "observed_data_refs": refs("observed-data"), "where_sighted_refs": refs("identity", "location"),
            "summary": BOOLEAN,
        },
        ("sighting_of_ref",),
        seen_window,
    ),
)

# --- meta objects (section 7) ---------------------------------------------------------------

META_SPECS: tuple[TypeSpec, ...] = (
    # 7.1 Language Content
    TypeSpec(
        "language-content",
        {"object_ref": IDENTIFIER, "object_modified": TIMESTAMP, "contents": DICTIONARY},
        ("object_ref", "contents"),
        _language_content_rules,
    ),
    # 7.2 Data Markings: marking definitions are not versioned, so only created is required;
    # a modified some producers add anyway is checked like any timestamp.
    TypeSpec(
        "marking-definition",
        {"name": STRING, "definition_type": OPEN_VOCAB, "definition": OBJECT, "modified": TIMESTAMP_MS},
        rules=_marking_definition_rules,
    ),
    # 7.3 Extension Definition
    TypeSpec(
        "extension-definition",
        {
            "name": STRING, "description": STRING, "schema": STRING, "version": STRING,
            "extension_types": Prop("list", item=enum(EXTENSION_TYPES)), "extension_properties": STRINGS,
        },
        ("created_by_ref", "name", "schema", "version", "extension_types"),
        _extension_definition_rules,
    ),
)
