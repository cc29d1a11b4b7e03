"""MISP import through the real command: envelopes, mapping, markings, feeds, refusals."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from accord.stix.markings import TLP2_AMBER, TLP2_AMBER_STRICT, TLP2_CLEAR, TLP2_GREEN
from accord.stix.validate import validate_object
from tests.io.conftest import Run, stored_total

FIXTURES = Path(__file__).parent / "fixtures"
EVENT = FIXTURES / "misp_event.json"
RESPONSE = FIXTURES / "misp_response.json"
BARE = FIXTURES / "misp_bare.json"
SAMPLE_STIX = Path(__file__).resolve().parents[2] / "examples" / "sample-bundle.json"
EVENT_UUID = "8a1f7c2e-5b3d-4e6f-9a0b-1c2d3e4f5a60"


def exported(accord: Run) -> list[dict[str, Any]]:
    result = accord("export")
    assert result.exit_code == 0, result.output
    objects: list[dict[str, Any]] = orjson.loads(result.stdout)["objects"]
    return objects


def by_id(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in objects}


def event_ids(objects: list[dict[str, Any]]) -> set[str]:
    """The event uuids, whether the event came out as a report (published) or a grouping."""
    return {o["id"].split("--", 1)[1] for o in objects if o["type"] in ("report", "grouping")}


def event_with(attributes: list[Any], **fields: Any) -> dict[str, Any]:
    event = {"uuid": "9b8c7d6e-5f4a-4b3c-9d2e-1f0a9b8c7d6e", "info": "Accord test event", "date": "2025-05-01",
             "timestamp": "1746057600", "Orgc": {"uuid": "1d4e7b2a-3c5f-4a6b-8d9e-0f1a2b3c4d5e", "name": "Test CERT"},
             "Attribute": attributes}
    event.update(fields)
    return {"Event": event}


def attribute(uuid: str, kind: str, value: Any, **fields: Any) -> dict[str, Any]:
    return {"uuid": uuid, "type": kind, "category": "Network activity", "value": value, "to_ids": True,
            "timestamp": "1746057600", **fields}


def write(path: Path, doc: Any) -> str:
    path.write_bytes(orjson.dumps(doc))
    return str(path)


def test_event_maps_attributes_objects_tags_galaxies_sightings_attachments(accord: Run) -> None:
    result = accord("import", "--format", "misp", str(EVENT))
    assert result.exit_code == 0, result.output
    objects = exported(accord)
    assert all(validate_object(o) == [] for o in objects)
    ids = by_id(objects)
    report = ids[f"report--{EVENT_UUID}"]
    assert report["name"] == "Accord fixture: phishing wave against test org"
    assert report["object_marking_refs"] == [TLP2_GREEN]
    assert report["created"] == "2025-03-14T10:40:00.000Z"  # the event's timestamp, not the clock
    # attribute uuids become the ids; the attribute's own TLP tag marks what it became
    ip = ids["indicator--2b9e4c71-0d3a-4f58-b6e2-7a1c9d0e3f41"]
    assert "198.51.100.23" in ip["pattern"]
    assert ip["object_marking_refs"] == [TLP2_AMBER]
    # to_ids attributes become an indicator and the observation it was made from, which carries
    # first_seen/last_seen
    observed = ids["observed-data--2b9e4c71-0d3a-4f58-b6e2-7a1c9d0e3f41"]
    assert observed["first_observed"].startswith("2025-03-10T08:00:00")
    assert observed["last_observed"].startswith("2025-03-13T18:30:00")
    url = ids["observed-data--5e2b7fa4-3a6d-4c8b-a9b5-ad4f2a3b6c74"]  # to_ids false: an observation
    assert url["object_marking_refs"] == [TLP2_AMBER_STRICT]
    sighting = ids["sighting--5e2a9b7c-1f3d-4c6e-8a0b-2d4f6a8c0e12"]
    assert sighting["sighting_of_ref"] == ip["id"] and sighting["description"] == "fixture sensor"
    artifact = ids["artifact--6f3c80b5-4b7e-4d9c-bac6-be5a3b4c7d85"]
    assert base64.b64decode(artifact["payload_bin"]).startswith(b"Accord test attachment")
    domain_ip = ids["indicator--81b5e2d7-6d90-4fbe-9ce8-d07c5d6e9fa7"]  # the domain-ip object
    assert "cdn.example-bad.test" in domain_ip["pattern"] and "203.0.113.77" in domain_ip["pattern"]
    # the object's reference to the attribute, between the two observations
    assert any(o["type"] == "relationship" and o["relationship_type"] == "related-to"
               and o["source_ref"] == "observed-data--81b5e2d7-6d90-4fbe-9ce8-d07c5d6e9fa7"
               and o["target_ref"] == observed["id"] for o in objects)
    actor = next(o for o in objects if o["type"] == "threat-actor")
    assert actor["name"] == "Fixture Spider" and actor["id"] in report["object_refs"]
    # a type misp-stix has no STIX mapping for is kept as its custom object, and said so
    assert any(o["type"] == "x-misp-attribute" and "unpaid invoice" in orjson.dumps(o).decode() for o in objects)
    assert "type text not mapped" in result.output
    # TLP 1.0 definitions never reach the store: only the TLP 2.0 ones the refs name
    assert {o["id"] for o in objects if o["type"] == "marking-definition"} == {TLP2_GREEN, TLP2_AMBER,
                                                                                TLP2_AMBER_STRICT}


@pytest.mark.parametrize("fixture", [EVENT, RESPONSE, BARE], ids=lambda p: p.stem)
def test_reimport_stores_nothing_new(accord: Run, fixture: Path) -> None:
    first = accord("import", "--format", "misp", str(fixture))
    assert first.exit_code == 0, first.output
    before = exported(accord)
    again = accord("import", "--format", "misp", str(fixture))
    assert again.exit_code == 0 and "stored 0" in again.stdout
    assert exported(accord) == before


def test_response_holds_several_events_published_and_not(accord: Run) -> None:
    assert accord("import", "--format", "misp", str(RESPONSE)).exit_code == 0
    ids = by_id(exported(accord))
    # published events are reports; unpublished ones groupings (misp-stix's choice)
    assert ids["report--c6a0372b-b2e5-4403-b13c-25c1b2b34e01"]["object_marking_refs"] == [TLP2_CLEAR]
    grouping = ids["grouping--f9d36a5e-e518-4736-a46f-58f4e5e67104"]
    assert "indicator--1bf58c70-073a-4958-8681-7ab607089306" in grouping["object_refs"]
    composite = ids["indicator--1bf58c70-073a-4958-8681-7ab607089306"]["pattern"]
    assert "loader.dll" in composite and "9a8b7c6d5e4f30211203f4e5d6c7b8a9" in composite
    # one organisation, two events: one identity, versioned by event time, created fixed
    identities = [o for o in exported(accord) if o["type"] == "identity"]
    assert {o["created"] for o in identities} == {"1970-01-01T00:00:00.000Z"}


def test_auto_detection_tells_misp_from_stix(accord: Run) -> None:
    for fixture in (EVENT, RESPONSE, BARE):
        result = accord("import", str(fixture))
        assert result.exit_code == 0, result.output
        assert "[misp]" in result.stdout
    stix = accord("import", str(SAMPLE_STIX))
    assert stix.exit_code == 0 and "[misp]" not in stix.stdout


@pytest.mark.parametrize(("content", "message"), [
    (b"{\"Event\": {\"info\": ", "not JSON"),
    (b"{\"objects_here\": []}", "no MISP event"),
    (b"{\"response\": {\"Event\": {}}}", "'response' must be a list"),
    (b"[]", "no MISP event"),
    (b"42", "not a MISP document"),
])
def test_unreadable_documents_store_nothing(accord: Run, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = accord("import", "--format", "misp", str(path))
    assert result.exit_code == 1
    assert "refused, nothing stored" in result.output and message in result.output
    assert stored_total(accord) == 0


@pytest.mark.parametrize(("bad", "message"), [
    ({"uuid": "0f1e2d3c-4b5a-4968-8776-655443322110", "category": "Network activity", "value": "192.0.2.9"},
     "attribute 0f1e2d3c-4b5a-4968-8776-655443322110: type: missing"),
    ({"uuid": "0f1e2d3c-4b5a-4968-8776-655443322110", "type": "ip-dst"},
     "attribute 0f1e2d3c-4b5a-4968-8776-655443322110: value: missing"),
    ({"uuid": "0f1e2d3c-4b5a-4968-8776-655443322110", "type": "ip-dst", "value": ["192.0.2.9"]},
     "attribute 0f1e2d3c-4b5a-4968-8776-655443322110: value: must be a string, not list"),
    ({"type": "domain", "value": "ok.example", "uuid": "not-a-uuid"}, "attribute #1: uuid: 'not-a-uuid' is not a UUID"),
    ({"uuid": "0f1e2d3c-4b5a-4968-8776-655443322110", "type": 7, "value": "x"},
     "attribute 0f1e2d3c-4b5a-4968-8776-655443322110: type: must be a non-empty string"),
    ("just a string", "attribute #1: attribute: must be a JSON object"),
])
def test_a_bad_attribute_is_refused_by_name_and_the_rest_stored(accord: Run, tmp_path: Path, bad: Any,
                                                                message: str) -> None:
    good = attribute("6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "domain", "kept.example-bad.test")
    result = accord("import", "--format", "misp", write(tmp_path / "e.json", event_with([good, bad])))
    assert result.exit_code == 1
    assert f"event 9b8c7d6e-5f4a-4b3c-9d2e-1f0a9b8c7d6e: {message}" in result.output
    assert "indicator--6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d" in by_id(exported(accord))


@pytest.mark.parametrize(("fields", "message"), [
    ({"info": None}, "event: info: missing"),
    ({"info": ["x"]}, "event: info: must be a non-empty string"),
    ({"Attribute": {"type": "domain"}}, "event: Attribute: must be a list, not dict"),
    ({"timestamp": "yesterday"}, "event: timestamp: 'yesterday' is not a Unix time"),
    ({"Tag": [{"colour": "#fff"}]}, "event: Tag[0]: a tag needs a non-empty 'name'"),
    ({"Object": [{"uuid": "7e6f5a4b-3c2d-4e1f-8a0b-9c8d7e6f5a4b", "Attribute": []}]},
     "object 7e6f5a4b-3c2d-4e1f-8a0b-9c8d7e6f5a4b: name: missing"),
])
def test_bad_event_fields_are_named(accord: Run, tmp_path: Path, fields: dict[str, Any], message: str) -> None:
    doc = event_with([attribute("6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "domain", "kept.example-bad.test")])
    doc["Event"].update(fields)
    doc["Event"] = {k: v for k, v in doc["Event"].items() if v is not None}
    result = accord("import", "--format", "misp", write(tmp_path / "e.json", doc))
    assert result.exit_code == 1
    assert message in result.output


def test_response_entry_that_is_not_an_event_is_refused_alone(accord: Run, tmp_path: Path) -> None:
    good = event_with([attribute("6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "domain", "kept.example-bad.test")])
    result = accord("import", "--format", "misp", write(tmp_path / "r.json", {"response": [good, "oops"]}))
    assert result.exit_code == 1
    assert "event response[1]: must be a JSON object, not str" in result.output
    assert event_ids(exported(accord)) == {"9b8c7d6e-5f4a-4b3c-9d2e-1f0a9b8c7d6e"}


def test_event_without_uuid_or_timestamp_still_reimports_as_nothing_new(accord: Run, tmp_path: Path) -> None:
    doc = event_with([{"type": "domain", "category": "Network activity", "value": "no-uuid.example-bad.test",
                       "to_ids": True}])
    for key in ("uuid", "timestamp"):
        del doc["Event"][key]
    path = write(tmp_path / "e.json", doc)
    assert accord("import", "--format", "misp", path).exit_code == 0
    again = accord("import", "--format", "misp", path)
    assert "stored 0" in again.stdout
    report = next(o for o in exported(accord) if o["type"] in ("report", "grouping"))
    assert report["created"] == "2025-05-01T00:00:00.000Z"  # from the event's date


def test_line_wrapped_hash_is_joined_not_lost(accord: Run, tmp_path: Path) -> None:
    wrapped = "96:abcdefghijklmnopABCDEFGH\r\nIJKLMNOP1234:qrstuvwxyz"
    doc = event_with([attribute("6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "ssdeep", wrapped)])
    result = accord("import", "--format", "misp", write(tmp_path / "e.json", doc))
    assert result.exit_code == 0, result.output
    assert "line-wrapped ssdeep value was joined" in result.output
    assert "96:abcdefghijklmnopABCDEFGHIJKLMNOP1234:qrstuvwxyz" in orjson.dumps(exported(accord)).decode()


def test_attachments_larger_than_the_bound_keep_only_their_name(accord: Run) -> None:
    result = accord("import", "--format", "misp", "-O", "max_attachment_bytes=16", str(EVENT))
    assert result.exit_code == 0, result.output
    assert "larger than max_attachment_bytes=16" in result.output
    objects = exported(accord)
    assert not any(o["type"] == "artifact" for o in objects)
    assert any(o.get("name") == "invoice-0314.txt" for o in objects if o["type"] == "file")


def test_to_ids_values_on_warninglists_are_noted(accord: Run, tmp_path: Path) -> None:
    doc = event_with([attribute("6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d", "ip-dst", "8.8.8.8")])
    path = write(tmp_path / "e.json", doc)
    result = accord("import", "--format", "misp", path)
    assert result.exit_code == 0
    assert "8.8.8.8 (ip-dst, to_ids) is on warninglists: List of known IPv4 public DNS resolvers" in result.output
    quiet = accord("import", "--format", "misp", "-O", "warninglists=no", path)
    assert "warninglists" not in quiet.output


def test_unknown_and_malformed_options_are_refused(accord: Run) -> None:
    unknown = accord("import", "--format", "misp", "-O", "colour=blue", str(EVENT))
    assert unknown.exit_code != 0 and "has no option 'colour'" in unknown.output
    bad = accord("import", "--format", "misp", "-O", "warninglists=maybe", str(EVENT))
    assert bad.exit_code != 0 and "expected yes or no" in bad.output


def _feed(directory: Path, events: dict[str, Any], listed: list[str]) -> None:
    directory.mkdir()
    manifest = {}
    for uuid in listed:
        manifest[uuid] = {"info": f"event {uuid}", "Orgc": {"name": "Test CERT"}, "timestamp": "1746057600",
                          "date": "2025-05-01", "analysis": "2", "threat_level_id": "3"}
    (directory / "manifest.json").write_bytes(orjson.dumps(manifest))
    for uuid, doc in events.items():
        (directory / f"{uuid}.json").write_bytes(doc if isinstance(doc, bytes) else orjson.dumps(doc))


def test_hand_written_feed_imports_every_listed_event_and_names_the_missing_one(accord: Run, tmp_path: Path) -> None:
    a = "11111111-2222-4333-8444-555555555555"
    b = "66666666-7777-4888-9999-aaaaaaaaaaaa"
    broken = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"
    missing = "00000000-1111-4222-8333-444444444444"
    event_a = event_with([attribute("21111111-2222-4333-8444-555555555555", "domain", "a.example-bad.test")], uuid=a)
    event_b = event_with([attribute("76666666-7777-4888-9999-aaaaaaaaaaaa", "ip-dst", "192.0.2.200")], uuid=b)
    _feed(tmp_path / "feed", {a: event_a, b: event_b, broken: b"{\"Event\": "}, [a, missing, broken, b])
    result = accord("import", str(tmp_path / "feed"))  # --format auto: the feed claims the directory
    assert result.exit_code == 1
    assert f"feed event {missing}: {missing}.json is listed in manifest.json but missing" in result.output
    assert f"feed event {broken}: {broken}.json:" in result.output
    objects = exported(accord)
    assert event_ids(objects) == {a, b}
    assert "indicator--76666666-7777-4888-9999-aaaaaaaaaaaa" in by_id(objects)


def test_a_directory_with_another_manifest_is_not_a_feed(accord: Run, tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "manifest.json").write_bytes(b'{"name": "a web app manifest"}')
    (tmp_path / "d" / "event.json").write_bytes(EVENT.read_bytes())
    result = accord("import", str(tmp_path / "d"))
    # read file by file instead: the event is found, the web manifest is not MISP
    assert f"report--{EVENT_UUID}" in by_id(exported(accord)), result.output


def test_false_positive_and_expiration_sightings_are_sightings_of_their_kind(accord: Run, tmp_path: Path) -> None:
    """misp-stix writes a false positive as an opinion and drops an expiration; Accord keeps both
    as sightings with x_accord_sighting_type, and a re-import stores nothing new."""
    org = {"uuid": "1d4e7b2a-3c5f-4a6b-8d9e-0f1a2b3c4d5e", "name": "Test CERT"}
    sightings = [{"uuid": f"7c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2{k}", "type": kind, "date_sighting": "1746057600",
                  "source": "", "Organisation": org} for k, kind in enumerate(("0", "1", "2"))]
    ip = attribute("3f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "ip-dst", "198.51.100.99", Sighting=sightings)
    path = write(tmp_path / "event.json", event_with([ip]))
    result = accord("import", "--format", "misp", path)
    assert result.exit_code == 0, result.output
    objects = exported(accord)
    assert all(validate_object(o) == [] for o in objects)
    ids = by_id(objects)
    kinds = {s["uuid"]: ids[f"sighting--{s['uuid']}"].get("x_accord_sighting_type", "seen") for s in sightings}
    assert list(kinds.values()) == ["seen", "false-positive", "expired"]
    assert not any(o["type"] == "opinion" for o in objects)
    for s in sightings:
        assert ids[f"sighting--{s['uuid']}"]["sighting_of_ref"] == f"indicator--{ip['uuid']}"
    again = accord("import", "--format", "misp", path)
    assert again.exit_code == 0 and "stored 0" in again.output, again.output
