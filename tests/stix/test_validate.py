"""accord.stix.validate: every STIX 2.1 rule Accord enforces, and the real data it must accept.

Tests assert on Problem fields (property path, reason fragment), not on counts alone.
Minimal valid objects of every type live in data/minimal_objects.json.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import Problem
from accord.stix.markings import TLP1_GREEN, TLP2_AMBER, TLP2_EXTENSION
from accord.stix.validate import validate_object

HERE = Path(__file__).resolve().parent
MINIMAL: list[dict[str, Any]] = json.loads((HERE / "data" / "minimal_objects.json").read_text("utf-8"))
# Objects using most optional properties, embedded types and predefined extensions.
RICH: list[dict[str, Any]] = json.loads((HERE / "data" / "rich_objects.json").read_text("utf-8"))
BY_TYPE = {obj["type"]: obj for obj in MINIMAL}

IDENTITY = "identity--3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
MALWARE = "malware--7e1c2d3b-4a5f-4e6d-9c8b-7a6f5e4d3c2b"
INDICATOR = "indicator--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
IPV4 = "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"
SDO_CORE = {"type", "spec_version", "id", "created", "modified"}
SCO_CORE = {"type", "id"}

# What STIX 2.1 requires of each type, restated from the specification's property tables
# (sections 4-7) rather than read back from accord.stix.schema.
REQUIRED: dict[str, set[str]] = {
    "attack-pattern": SDO_CORE | {"name"},
    "campaign": SDO_CORE | {"name"},
    "course-of-action": SDO_CORE | {"name"},
    "grouping": SDO_CORE | {"context", "object_refs"},
    "identity": SDO_CORE | {"name"},
    "incident": SDO_CORE | {"name"},
    "indicator": SDO_CORE | {"pattern", "pattern_type", "valid_from"},
    "infrastructure": SDO_CORE | {"name"},
    "intrusion-set": SDO_CORE | {"name"},
    "location": SDO_CORE,
    "malware": SDO_CORE | {"is_family"},
    "malware-analysis": SDO_CORE | {"product"},
    "note": SDO_CORE | {"content", "object_refs"},
    "observed-data": SDO_CORE | {"first_observed", "last_observed", "number_observed"},
    "opinion": SDO_CORE | {"opinion", "object_refs"},
    "report": SDO_CORE | {"name", "published", "object_refs"},
    "threat-actor": SDO_CORE | {"name"},
    "tool": SDO_CORE | {"name"},
    "vulnerability": SDO_CORE | {"name"},
    "relationship": SDO_CORE | {"relationship_type", "source_ref", "target_ref"},
    "sighting": SDO_CORE | {"sighting_of_ref"},
    "language-content": SDO_CORE | {"object_ref", "contents"},
    "marking-definition": {"type", "spec_version", "id", "created"},
    "extension-definition": SDO_CORE | {"created_by_ref", "name", "schema", "version", "extension_types"},
    "artifact": SCO_CORE,
    "autonomous-system": SCO_CORE | {"number"},
    "directory": SCO_CORE | {"path"},
    "domain-name": SCO_CORE | {"value"},
    "email-addr": SCO_CORE | {"value"},
    "email-message": SCO_CORE | {"is_multipart"},
    "file": SCO_CORE,
    "ipv4-addr": SCO_CORE | {"value"},
    "ipv6-addr": SCO_CORE | {"value"},
    "mac-addr": SCO_CORE | {"value"},
    "mutex": SCO_CORE | {"name"},
    "network-traffic": SCO_CORE | {"protocols"},
    "process": SCO_CORE,
    "software": SCO_CORE | {"name"},
    "url": SCO_CORE | {"value"},
    "user-account": SCO_CORE,
    "windows-registry-key": SCO_CORE,
    "x509-certificate": SCO_CORE,
}


def obj_of(stix_type: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of the minimal valid object of a type, with ``changes`` (None deletes)."""
    obj = copy.deepcopy(BY_TYPE[stix_type])
    for name, value in changes.items():
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return obj


def has(problems: list[Problem], prop: str | None, fragment: str) -> bool:
    return any(p.property == prop and fragment in p.reason for p in problems)


def assert_problem(obj: Any, prop: str | None, fragment: str) -> list[Problem]:
    problems = validate_object(obj)
    assert has(problems, prop, fragment), [str(p) for p in problems]
    return problems


# --- the baseline --------------------------------------------------------------------------


def test_fixture_covers_every_stix_type() -> None:
    assert set(BY_TYPE) == set(REQUIRED)


@pytest.mark.parametrize("obj", MINIMAL, ids=[o["type"] for o in MINIMAL])
def test_minimal_objects_are_valid(obj: dict[str, Any]) -> None:
    assert validate_object(obj) == []


@pytest.mark.parametrize(
    ("stix_type", "prop"),
    [(t, p) for t in sorted(REQUIRED) for p in sorted(REQUIRED[t])],
)
def test_missing_required_property_is_reported(stix_type: str, prop: str) -> None:
    obj = obj_of(stix_type)
    del obj[prop]
    problems = validate_object(obj)
    assert has(problems, prop, "missing"), [str(p) for p in problems]


@pytest.mark.parametrize("obj", RICH, ids=[o["type"] for o in RICH])
def test_rich_objects_are_valid(obj: dict[str, Any]) -> None:
    assert validate_object(obj) == []


def test_validation_does_not_change_the_object() -> None:
    obj = obj_of("indicator", x_acme_score=7, labels=["a"])
    before = copy.deepcopy(obj)
    validate_object(obj)
    assert obj == before


# --- envelope: type, id, spec_version ---------------------------------------------------------


def test_not_a_json_object() -> None:
    assert validate_object(["indicator"], index=3) == [
        Problem(None, None, "a STIX object must be a JSON object", 3)
    ]


@pytest.mark.parametrize("bad", ["Indicator", "in", "x--y-z", "indicator\n", "bad_type", 42])
def test_malformed_type(bad: Any) -> None:
    assert_problem(obj_of("indicator", type=bad), "type", "a-z, 0-9 and hyphen")


def test_bundle_is_not_an_object() -> None:
    obj = {"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": []}
    assert_problem(obj, "type", "envelope")


@pytest.mark.parametrize(
    "bad",
    [
        "indicator",
        "indicator--not-a-uuid",
        "indicator--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\n",
        "Indicator--0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        12,
    ],
)
def test_malformed_id(bad: Any) -> None:
    problems = assert_problem(obj_of("indicator", id=bad), "id", "identifier")
    assert problems[0].object_id == (bad if isinstance(bad, str) else None)


def test_id_of_another_type() -> None:
    problems = assert_problem(obj_of("indicator", id=MALWARE), "id", "must start with indicator--")
    assert problems[0].object_id == MALWARE


def test_uppercase_uuid_is_accepted() -> None:
    assert validate_object(obj_of("indicator", id=INDICATOR.upper().replace("INDICATOR", "indicator"))) == []


@pytest.mark.parametrize("version", ["2.0", "2.2", 2.1, ""])
def test_unknown_spec_version(version: Any) -> None:
    assert_problem(obj_of("indicator", spec_version=version), "spec_version", "must be 2.1")


def test_spec_version_is_optional_on_observables_only() -> None:
    assert validate_object(obj_of("ipv4-addr", spec_version=None)) == []
    assert_problem(obj_of("ipv4-addr", spec_version="2.0"), "spec_version", "must be 2.1")
    assert_problem(obj_of("campaign", spec_version=None), "spec_version", "missing")


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "2023-13-01T00:00:00.000Z",
        "2023-02-30T00:00:00.000Z",
        "2023-05-01 10:00:00.000Z",
        "2023-05-01T10:00:00.000+02:00",
        "2023-05-01T10:00:00.000Z\n",
        "yesterday",
        1683000000,
    ],
)
def test_bad_timestamps(bad: Any) -> None:
    assert_problem(obj_of("campaign", first_seen=bad), "first_seen", "UTC timestamp")
    assert_problem(obj_of("campaign", created=bad, modified=None), "created", "UTC timestamp")


def test_leap_day_and_nanoseconds_are_valid() -> None:
    assert validate_object(obj_of("campaign", first_seen="2024-02-29T23:59:59.123456789Z")) == []


def test_created_needs_millisecond_precision() -> None:
    assert_problem(obj_of("campaign", created="2023-05-01T10:00:00Z"), "created", "millisecond")
    assert_problem(obj_of("campaign", modified="2023-05-01T10:00:00.1Z"), "modified", "millisecond")


def test_modified_before_created() -> None:
    obj = obj_of("campaign", modified="2023-04-30T23:59:59.999Z")
    assert_problem(obj, "modified", "equal to or later than created")


def test_modified_compared_across_precisions() -> None:
    # Text order and time order disagree when the fraction lengths differ: compare instants.
    day = "2023-05-01T10:00:00"
    earlier_in_time = obj_of("campaign", created=f"{day}.2001Z", modified=f"{day}.200Z")
    assert_problem(earlier_in_time, "modified", "later than created")
    later_in_time = obj_of("campaign", created=f"{day}.500Z", modified=f"{day}.5001Z")
    assert validate_object(later_in_time) == []


@pytest.mark.parametrize(
    ("stix_type", "earlier", "later", "strict"),
    [
        ("campaign", "first_seen", "last_seen", False),
        ("intrusion-set", "first_seen", "last_seen", False),
        ("threat-actor", "first_seen", "last_seen", False),
        ("infrastructure", "first_seen", "last_seen", False),
        ("malware", "first_seen", "last_seen", False),
        ("sighting", "first_seen", "last_seen", False),
        ("observed-data", "first_observed", "last_observed", False),
        ("indicator", "valid_from", "valid_until", False),
        ("relationship", "start_time", "stop_time", True),
        ("network-traffic", "start", "end", False),
    ],
)
def test_time_windows(stix_type: str, earlier: str, later: str, strict: bool) -> None:
    first, second = "2023-05-02T00:00:00.000Z", "2023-05-01T00:00:00.000Z"
    assert_problem(obj_of(stix_type, **{earlier: first, later: second}), later, f"later than {earlier}")
    same = obj_of(stix_type, **{earlier: second, later: second})
    assert has(validate_object(same), later, "later than") == strict


# --- references --------------------------------------------------------------------------


def test_created_by_ref_must_be_an_identity() -> None:
    obj = obj_of("tool", created_by_ref=MALWARE)
    assert_problem(obj, "created_by_ref", "must reference identity, not malware")


def test_marking_ref_that_is_not_a_marking() -> None:
    assert_problem(
        obj_of("tool", object_marking_refs=[TLP1_GREEN, IDENTITY]),
        "object_marking_refs[1]",
        "must reference marking-definition, not identity",
    )
    granular = obj_of("tool", granular_markings=[{"marking_ref": IDENTITY, "selectors": ["name"]}])
    assert_problem(granular, "granular_markings[0].marking_ref", "marking-definition")


@pytest.mark.parametrize(
    ("stix_type", "prop", "value", "fragment"),
    [
        ("relationship", "source_ref", TLP1_GREEN, "SDO or SCO"),
        ("relationship", "target_ref", "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad", "SDO or SCO"),
        ("relationship", "target_ref", "bundle--44298a74-ba52-4f0c-87a3-1824e67d7fad", "SDO or SCO"),
        ("sighting", "sighting_of_ref", IPV4, "an SDO, not ipv4-addr"),
        ("sighting", "where_sighted_refs", [MALWARE], "identity or location"),
        ("sighting", "observed_data_refs", [INDICATOR], "observed-data"),
        ("malware", "sample_refs", [IPV4], "artifact or file"),
        ("malware", "operating_system_refs", [IDENTITY], "software"),
        ("observed-data", "object_refs", [INDICATOR], "SCO or SRO"),
        ("network-traffic", "src_ref", "url--c1477287-23ac-5971-a010-5c287877fa60", "ipv4-addr"),
        ("email-message", "from_ref", IPV4, "email-addr"),
    ],
)
def test_reference_of_the_wrong_type(stix_type: str, prop: str, value: Any, fragment: str) -> None:
    where = prop if isinstance(value, str) else f"{prop}[0]"
    assert_problem(obj_of(stix_type, **{prop: value}), where, fragment)


def test_relationships_may_point_at_custom_objects() -> None:
    custom = "x-acme-widget--0f1e2d3c-4b5a-4968-8776-655443322110"
    assert validate_object(obj_of("relationship", target_ref=custom)) == []
    assert validate_object(obj_of("sighting", sighting_of_ref=custom)) == []


def test_any_ref_property_holds_identifiers() -> None:
    assert_problem(obj_of("tool", x_acme_owner_ref="ACME"), "x_acme_owner_ref", "identifier")
    assert_problem(obj_of("tool", x_acme_peer_refs=[IDENTITY, 7]), "x_acme_peer_refs[1]", "identifier")
    assert_problem(obj_of("note", object_refs=[]), "object_refs", "empty")


def test_empty_custom_ref_is_tolerated() -> None:
    # ATT&CK ICS 18.1 writes x_mitre_data_source_ref "" on data components.
    assert validate_object(obj_of("tool", x_mitre_data_source_ref="")) == []


# --- markings ----------------------------------------------------------------------------

TLP2_AMBER_OFFICIAL = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": TLP2_AMBER,
    "created": "2022-10-01T00:00:00.000Z",
    "name": "TLP:AMBER",
    "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": "amber"}},
}
TLP1_GREEN_OFFICIAL = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": TLP1_GREEN,
    "created": "2017-01-20T00:00:00.000Z",
    "definition_type": "tlp",
    "name": "TLP:GREEN",
    "definition": {"tlp": "green"},
}


def test_standard_tlp_definitions_are_valid() -> None:
    assert validate_object(TLP2_AMBER_OFFICIAL) == []
    assert validate_object(TLP1_GREEN_OFFICIAL) == []


def test_forged_standard_tlp_definition() -> None:
    forged = {**TLP1_GREEN_OFFICIAL, "definition": {"tlp": "white"}}
    assert_problem(forged, None, "must define tlp 'green'")
    forged2 = {**TLP2_AMBER_OFFICIAL, "name": "TLP:CLEAR"}
    assert_problem(forged2, None, "TLP:AMBER")
    with_definition = {**TLP2_AMBER_OFFICIAL, "definition_type": "tlp", "definition": {"tlp": "amber"}}
    assert_problem(with_definition, None, "extension")


def test_tlp_level_under_a_new_id_is_refused() -> None:
    home_made = {**TLP1_GREEN_OFFICIAL, "id": "marking-definition--1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}
    home_made["definition"] = {"tlp": "white"}
    assert_problem(home_made, "id", "standard id")


def test_tlp2_extension_under_a_new_id_is_refused() -> None:
    home_made = {**TLP2_AMBER_OFFICIAL, "id": "marking-definition--1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}
    home_made["extensions"] = {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": "clear"}}
    assert_problem(home_made, "id", "standard id")


def test_marking_definition_content_rules() -> None:
    assert_problem(obj_of("marking-definition", definition=None), "definition", "extensions is absent")
    no_statement = obj_of("marking-definition", definition={"text": "x"})
    assert_problem(no_statement, "definition.statement", "statement")
    own = BY_TYPE["marking-definition"]["id"]
    unknown_level = {**TLP1_GREEN_OFFICIAL, "definition": {"tlp": "orange"}, "id": own}
    assert_problem(unknown_level, "definition.tlp", "white, green, amber, red")
    assert_problem(obj_of("marking-definition", object_marking_refs=[own]), "object_marking_refs", "itself")


def test_granular_markings() -> None:
    ok = obj_of("indicator", name="x", granular_markings=[{"marking_ref": TLP1_GREEN, "selectors": ["name"]}])
    assert validate_object(ok) == []
    both = [{"marking_ref": TLP1_GREEN, "lang": "en", "selectors": ["id"]}]
    assert_problem(obj_of("indicator", granular_markings=both), "granular_markings[0]", "exactly one of")
    selectors = ["labels.[0]", "labels.[1]"]
    dangling = obj_of("indicator", labels=["a"], granular_markings=[{"lang": "en", "selectors": selectors}])
    problems = assert_problem(dangling, "granular_markings[0].selectors[1]", "selects nothing")
    assert not has(problems, "granular_markings[0].selectors[0]", "selects nothing")


# --- value kinds ---------------------------------------------------------------------------


def test_kill_chain_phase_path() -> None:
    obj = obj_of("attack-pattern", kill_chain_phases=[{"kill_chain_name": "lockheed", "phase_name": 3}])
    assert_problem(obj, "kill_chain_phases[0].phase_name", "must be a string")
    missing = obj_of("attack-pattern", kill_chain_phases=[{"kill_chain_name": "lockheed"}])
    assert_problem(missing, "kill_chain_phases[0].phase_name", "missing")


def test_external_references() -> None:
    bare = obj_of("tool", external_references=[{"source_name": "acme"}])
    assert_problem(bare, "external_references[0]", "needs description, url or external_id")
    cve = obj_of("vulnerability", external_references=[{"source_name": "cve", "external_id": "CVE-21-1"}])
    assert_problem(cve, "external_references[0].external_id", "CVE-2017-0144")
    ref = {"source_name": "a", "url": "https://a.example", "hashes": {"SHA-256": "abc"}}
    bad_hash = obj_of("tool", external_references=[ref])
    assert_problem(bad_hash, "external_references[0].hashes.SHA-256", "64 hex")


@pytest.mark.parametrize(
    ("prop", "value", "fragment"),
    [
        ("confidence", 101, "between 0 and 100"),
        ("confidence", True, "integer"),
        ("confidence", 50.5, "integer"),
        ("revoked", "false", "true or false"),
        ("labels", "malicious", "must be a list"),
        ("labels", [], "empty"),
        ("labels[1]", ["ok", 2], "must be a string"),
        ("name", ["Poison Ivy"], "must be a string"),
        ("extensions", {}, "empty"),
    ],
)
def test_common_property_kinds(prop: str, value: Any, fragment: str) -> None:
    assert_problem(obj_of("tool", **{prop.split("[")[0]: value}), prop, fragment)


def test_open_vocabularies_take_any_string() -> None:
    assert validate_object(obj_of("indicator", indicator_types=["pbx-fraud"], pattern_type="sigma")) == []
    assert validate_object(obj_of("identity", identity_class="sovereign-cert", sectors=["space"])) == []
    assert_problem(obj_of("identity", identity_class=["group"]), "identity_class", "must be a string")


@pytest.mark.parametrize(
    ("stix_type", "changes", "where"),
    [
        ("opinion", {"opinion": "maybe"}, "opinion"),
        ("artifact", {"encryption_algorithm": "rot13", "decryption_key": "k"}, "encryption_algorithm"),
        ("extension-definition", {"extension_types": ["new-thing"]}, "extension_types[0]"),
        ("windows-registry-key", {"values": [{"name": "Run", "data_type": "REG_TEXT"}]},
         "values[0].data_type"),
        ("network-traffic", {"extensions": {"socket-ext": {"address_family": "AF_QUANTUM"}}},
         "extensions.socket-ext.address_family"),
    ],
)  # fmt: skip
def test_closed_enumerations(stix_type: str, changes: dict[str, Any], where: str) -> None:
    assert_problem(obj_of(stix_type, **changes), where, "must be one of")


def test_hashes() -> None:
    assert_problem(obj_of("file", hashes={"MD5": "1234"}), "hashes.MD5", "32 hex digits")
    assert_problem(obj_of("file", hashes={"MD5": "z" * 32}), "hashes.MD5", "32 hex digits")
    assert validate_object(obj_of("file", hashes={"x_acme_hash": "whatever", "SSDEEP": "3:a:b"})) == []
    assert_problem(obj_of("file", hashes={"M D5": "x"}), "hashes.M D5", "hash names")


def test_dictionary_keys() -> None:
    assert_problem(obj_of("process", environment_variables={"PATH": "/bin", "bad key": "x"}),
                   "environment_variables.bad key", "dictionary keys")  # fmt: skip


# --- per-type rules --------------------------------------------------------------------------


def test_indicator_pattern_is_checked_when_stix() -> None:
    broken = "[ipv4-addr:value = '198.51.100.3'"
    assert_problem(obj_of("indicator", pattern=broken), "pattern", "missing ']'")
    assert validate_object(obj_of("indicator", pattern=broken, pattern_type="snort")) == []


def test_location_rules() -> None:
    assert_problem(obj_of("location", region=None, city="Oslo"), None, "region, country")
    assert_problem(obj_of("location", latitude=59.9), "longitude", "pair")
    assert_problem(obj_of("location", latitude=91.0, longitude=10.7), "latitude", "between -90.0 and 90.0")
    assert_problem(obj_of("location", precision=10.0), "precision", "latitude and longitude")


def test_malware_family_needs_a_name() -> None:
    assert_problem(obj_of("malware", is_family=True), "name", "is_family")


def test_malware_analysis_needs_a_result() -> None:
    assert_problem(obj_of("malware-analysis", result=None), None, "result or analysis_sco_refs")


def test_observed_data_needs_exactly_one_container() -> None:
    both = obj_of("observed-data", objects={"0": {"type": "ipv4-addr", "value": "198.51.100.3"}})
    assert_problem(both, "object_refs", "exactly one")
    assert_problem(obj_of("observed-data", number_observed=0), "number_observed", "between 1 and")


def test_relationship_type_spelling() -> None:
    assert_problem(obj_of("relationship", relationship_type="Indicates"), "relationship_type", "a-z")


def test_extension_definition_properties() -> None:
    obj = obj_of("extension-definition", extension_properties=["x_acme_score"])
    assert_problem(obj, "extension_properties", "toplevel-property-extension")


def test_language_content() -> None:
    bad = obj_of("language-content", contents={"de": {}, "not a tag": {"name": "x"}})
    problems = assert_problem(bad, "contents.de", "non-empty")
    assert has(problems, "contents.not a tag", "RFC 5646")


def test_artifact_rules() -> None:
    assert_problem(obj_of("artifact", url="https://a.example/x"), None, "exactly one of payload_bin and url")
    assert_problem(obj_of("artifact", payload_bin=None, url="https://a.example/x"), "hashes", "url")
    assert_problem(obj_of("artifact", decryption_key="k"), "decryption_key", "encryption_algorithm")


def test_file_needs_hashes_or_name() -> None:
    assert_problem(obj_of("file", name=None, size=10), None, "hashes or name")


def test_email_message_body_follows_is_multipart() -> None:
    assert_problem(obj_of("email-message", is_multipart=True, body="hi"), "body", "is_multipart")
    parts = [{"content_type": "text/plain"}]
    multipart = obj_of("email-message", is_multipart=True, body_multipart=parts)
    assert_problem(multipart, "body_multipart[0]", "body and body_raw_ref")


def test_network_traffic_rules() -> None:
    assert_problem(obj_of("network-traffic", dst_ref=None), None, "src_ref or dst_ref")
    assert_problem(obj_of("network-traffic", dst_port=70000), "dst_port", "between 0 and 65535")
    active = obj_of("network-traffic", is_active=True, end="2023-05-01T00:00:00Z")
    assert_problem(active, "end", "is_active")


def test_observables_that_must_say_something() -> None:
    for stix_type in ("process", "user-account", "x509-certificate"):
        bare = {k: v for k, v in BY_TYPE[stix_type].items() if k in {"type", "spec_version", "id"}}
        assert_problem(bare, None, "at least one property")


@pytest.mark.parametrize(
    ("stix_type", "value"),
    [("ipv4-addr", "198.51.100.256"), ("ipv4-addr", "example.com"), ("ipv6-addr", "2001:db8::g"),
     ("mac-addr", "00:00:5E:00:53:01"), ("mac-addr", "0:0:5e:0:53:1")],
)  # fmt: skip
def test_address_values(stix_type: str, value: str) -> None:
    assert_problem(obj_of(stix_type, value=value), "value", "must be")


def test_address_values_accept_cidr() -> None:
    assert validate_object(obj_of("ipv4-addr", value="198.51.100.0/24")) == []
    assert validate_object(obj_of("ipv6-addr", value="2001:db8::/32")) == []


# --- extensions ------------------------------------------------------------------------------


def test_extensions() -> None:
    ext_id = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"
    ok = obj_of("indicator", extensions={ext_id: {"extension_type": "property-extension", "rank": 5}})
    assert validate_object(ok) == []
    untyped = obj_of("indicator", extensions={ext_id: {"rank": 5}})
    assert_problem(untyped, f"extensions.{ext_id}.extension_type", "one of")
    assert_problem(obj_of("indicator", extensions={"acme": {}}), "extensions.acme", "extension-definition id")
    assert validate_object(obj_of("file", extensions={"x-acme-ext": {"score": 1}})) == []


def test_predefined_extension_paths() -> None:
    ntfs = {"ntfs-ext": {"alternate_data_streams": [{"size": 3}]}}
    where = "extensions.ntfs-ext.alternate_data_streams[0].name"
    assert_problem(obj_of("file", extensions=ntfs), where, "missing")
    assert_problem(obj_of("file", extensions={"pdf-ext": {}}), "extensions.pdf-ext", "at least one")
    archive = {"archive-ext": {"contains_refs": [IPV4]}}
    assert_problem(obj_of("file", extensions=archive), "extensions.archive-ext.contains_refs[0]", "directory")


# --- custom content ----------------------------------------------------------------------------


def test_custom_object_is_accepted() -> None:
    custom = {
        "type": "x-acme-widget",
        "spec_version": "2.1",
        "id": "x-acme-widget--0f1e2d3c-4b5a-4968-8776-655443322110",
        "created": "2023-05-01T10:00:00.000Z",
        "modified": "2023-05-01T10:00:00.000Z",
        "severity": "high",
        "anything": {"nested": [1, 2]},
    }
    assert validate_object(custom) == []
    mismarked = {**custom, "object_marking_refs": [IDENTITY]}
    assert_problem(mismarked, "object_marking_refs[0]", "marking-definition")
    assert_problem({**custom, "spec_version": "2.0"}, "spec_version", "must be 2.1")
    assert_problem({**custom, "id": MALWARE}, "id", "must start with x-acme-widget--")


def test_custom_property_names() -> None:
    assert validate_object(obj_of("tool", x_acme_score=3, x_misp_ISO3="NOR", x_misp_cfr_type="a")) == []
    assert_problem(obj_of("tool", **{"x.acme": 1}), "x.acme", "property names")
    assert_problem(obj_of("tool", xy=1), "xy", "property names")
    assert_problem(obj_of("tool", severity="high"), "severity", "reserved")


# --- all problems, not the first -------------------------------------------------------------


def test_every_problem_is_reported() -> None:
    obj = obj_of(
        "indicator",
        id="indicator--oops",
        spec_version="2.0",
        modified="2020-01-01T00:00:00.000Z",
        created_by_ref=MALWARE,
        valid_from="not a time",
        pattern=None,
        kill_chain_phases=[{"phase_name": "x"}],
    )
    problems = validate_object(obj, index=7)
    expected = {
        ("id", "identifier"),
        ("spec_version", "must be 2.1"),
        ("modified", "later than created"),
        ("created_by_ref", "identity"),
        ("valid_from", "UTC timestamp"),
        ("pattern", "missing"),
        ("kill_chain_phases[0].kill_chain_name", "missing"),
    }
    for prop, fragment in expected:
        assert has(problems, prop, fragment), (prop, [str(p) for p in problems])
    assert {p.index for p in problems} == {7}
    assert {p.object_id for p in problems} == {"indicator--oops"}


def test_problem_without_usable_id() -> None:
    problems = validate_object({"type": "tool", "name": "x"})
    assert has(problems, "id", "missing")
    assert all(p.object_id is None for p in problems)


# --- robustness ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


MANGLED_NAMES = sorted(
    {*SDO_CORE, "name", "labels", "object_marking_refs", "granular_markings", "extensions", "hashes",
     "external_references", "kill_chain_phases", "value", "contents", "definition", "x_acme_ref",
     "x_acme_refs"}
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MINIMAL + RICH), st.dictionaries(st.sampled_from(MANGLED_NAMES), JSON, max_size=4))
def test_never_raises_on_mangled_objects(base: dict[str, Any], changes: dict[str, Any]) -> None:
    obj = {**base, **changes}
    for problem in validate_object(obj):
        assert isinstance(problem, Problem)
        assert problem.reason


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(RICH), st.data())
def test_never_raises_on_deep_changes(base: dict[str, Any], data: st.DataObject) -> None:
    obj = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(1, 3))):
        node: Any = obj
        while True:  # walk down to a random value and replace it
            slots = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            if not slots:
                break
            key, child = data.draw(st.sampled_from(slots))
            if not isinstance(child, dict | list) or data.draw(st.booleans()):
                node[key] = data.draw(JSON)
                break
            node = child
    validate_object(obj)


@given(JSON)
def test_never_raises_on_any_json(value: Any) -> None:
    validate_object(value)


# --- real data -------------------------------------------------------------------------------


def _shared_data() -> Path | None:
    configured = os.environ.get("ACCORD_SHARED_DATA")
    root = Path(configured) if configured else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return root if root.is_dir() else None


# Every STIX 2.1 object in these must validate with no problem at all.
REAL_DATA_GLOBS = (
    "oasis-cti-stix2-json-schemas/examples/**/*.json",
    "oasis-cti-documentation/examples/**/*.json",
    "oasis-cti-python-stix2/sco-examples-bundle.json",
    "mitre-attack-stix-data/ics-attack/*.json",
    "mitre-attack-stix-data/mobile-attack/*.json",
    "amnesty-investigations/**/*.stix2",
)
SHARED = _shared_data()
REAL_FILES = sorted({p for g in REAL_DATA_GLOBS for p in SHARED.glob(g)}) if SHARED else []


def _objects(path: Path) -> Iterator[Any]:
    document = orjson.loads(path.read_bytes())
    if isinstance(document, dict) and document.get("type") == "bundle":
        yield from document.get("objects", [])
    elif isinstance(document, list):
        yield from document
    else:
        yield document


@pytest.mark.realdata
@pytest.mark.skipif(SHARED is None, reason="shared data not found (set ACCORD_SHARED_DATA)")
@pytest.mark.parametrize("pattern", REAL_DATA_GLOBS)
def test_real_data_globs_match(pattern: str) -> None:
    assert SHARED is not None
    assert list(SHARED.glob(pattern)), pattern


@pytest.mark.realdata
@pytest.mark.skipif(SHARED is None, reason="shared data not found (set ACCORD_SHARED_DATA)")
@pytest.mark.parametrize("path", REAL_FILES, ids=[p.name for p in REAL_FILES])
def test_real_stix_validates_cleanly(path: Path) -> None:
    count = 0
    problems: list[str] = []
    for index, obj in enumerate(_objects(path)):
        count += 1
        problems.extend(str(p) for p in validate_object(obj, index=index))
    assert count > 0
    assert problems == [], problems[:20]


@pytest.mark.parametrize(("stix_type", "prop", "value"), [
    ("indicator", "modified", "2026-01-0\u0661T00:00:00.000Z"),  # ARABIC-INDIC DIGIT ONE
    ("indicator", "valid_from", "\u0662026-01-01T00:00:00Z"),
    ("ipv4-addr", "value", "10.0.0.\u0661"),
    ("vulnerability", "name", None),
])
def test_digits_of_other_scripts_are_not_digits(stix_type: str, prop: str, value: str | None) -> None:
    """RFC 3339 timestamps, IPv4 addresses and CVE ids are ASCII: a regex \\d would also match
    the digits of other scripts (and Python's int() would read them), so they are refused."""
    if value is None:  # a CVE id in external_references
        obj = obj_of(stix_type, external_references=[{"source_name": "cve", "external_id": "CVE-2021-\u0664\u0664"}])
        assert validate_object(obj)
        return
    assert validate_object(obj_of(stix_type, **{prop: value}))
