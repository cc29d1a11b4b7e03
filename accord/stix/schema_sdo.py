"""What each STIX 2.1 domain object (section 4) and relationship object (section 5) may hold.

Written in the vocabulary of :mod:`accord.stix.schema`: one :class:`TypeSpec` per type, its own
properties beside the common ones of section 3.2 (which the validator adds), the ones it
requires, and a hook for the rules that relate several properties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from accord.stix.patterns import pattern_problem
from accord.stix.schema import (
    BOOLEAN,
    DICTIONARY,
    KILL_CHAIN_PHASES,
    OPEN_VOCAB,
    OPEN_VOCABS,
    STRING,
    STRINGS,
    TIMESTAMP,
    Found,
    TypeSpec,
    add_finding,
    enum,
    integer,
    number,
    ordered,
    ref,
    refs,
    seen_window,
)
from accord.stix.vocab import OPINIONS, SCO_TYPES, SDO_TYPES, SRO_TYPES

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


# Relationship types found well spelt: a feed uses a dozen, on every relationship.
_GOOD_RELATIONSHIP_TYPES: set[str] = set()


def _relationship_rules(obj: Mapping[str, Any]) -> Found | None:
    found = ordered(obj, "start_time", "stop_time", strict=True)
    rtype = obj.get("relationship_type")
    if isinstance(rtype, str) and rtype not in _GOOD_RELATIONSHIP_TYPES:
        if not _RELATIONSHIP_TYPE.fullmatch(rtype):
            found = add_finding(found, "relationship_type", "only a-z, 0-9 and hyphen are allowed")
        else:
            if len(_GOOD_RELATIONSHIP_TYPES) >= 1024:
                _GOOD_RELATIONSHIP_TYPES.clear()
            _GOOD_RELATIONSHIP_TYPES.add(rtype)
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

# What a relationship may join: anything in the graph, custom objects included, but not another
# relationship or sighting, a bundle or a meta object (section 5.1).
GRAPH_NODES = SDO_TYPES | SCO_TYPES

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
