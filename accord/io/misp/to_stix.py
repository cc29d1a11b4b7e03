"""One MISP event to STIX 2.1 objects, through the MISP project's own converter (misp-stix).

The mapping is misp-stix's ``MISPtoSTIX21Parser`` (its documentation/mapping describes every
attribute type, object template and galaxy); PyMISP loads and normalises the event inside it.
Ids come from MISP uuids (``indicator--<attribute uuid>``, ``report--<event uuid>``), so a
re-import stores nothing new. Accord repairs two things in what comes out:

- timestamps: where the event gives the converter no time (sighting identities, galaxy
  clusters, some observables), the converter stamps the wall clock, which would make every
  re-import a new version. Any timestamp taken during the conversion becomes the event's own
  ``timestamp``;
- organisations: misp-stix writes an event's organisation as an identity created at the
  event's time, so two events of one organisation would disagree on the identity's
  ``created``, which STIX 2.1 fixes for all versions of an object. Accord keeps ``modified``
  (the event's time: a renamed organisation is a new version) and sets ``created`` to the
  Unix epoch, the one instant every event agrees on;
- sightings: misp-stix writes a false-positive sighting (MISP type 1) as an ``opinion`` and
  drops an expiration (type 2); Accord writes both as STIX sightings with
  ``x_accord_sighting_type`` ``false-positive`` or ``expired`` (services/sightings.py), so they
  count as what they are (lookup, the object page, decay) and travel back to the producer;
- TLP: MISP ``tlp:white/green/amber/red`` tags come out as the TLP 1.0 marking definitions;
  Accord writes TLP 2.0 (``tlp:white`` is TLP:CLEAR), so the refs and the definitions are
  swapped for the TLP 2.0 ones (``tlp:clear`` and ``tlp:amber+strict`` already are).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from accord.io.misp.library import messages, misp_stix
from accord.stix.markings import STANDARD_TLP, TLP2_ID_FOR_LEVEL
from accord.stix.timestamps import format_micros, parse_to_micros

# Top-level properties the converter fills with the clock when MISP gives it no time.
_TIME_PROPERTIES = ("created", "modified", "valid_from", "first_observed", "last_observed", "published",
                    "first_seen", "last_seen")

IDENTITY_CREATED = "1970-01-01T00:00:00.000Z"


@dataclass
class Converted:
    objects: list[dict[str, Any]] = field(default_factory=list)
    # misp-stix's own errors (a record it could not map and wrote as a custom object, one PyMISP
    # refused) and warnings (a type or template it has no mapping for), first line of each.
    messages: list[str] = field(default_factory=list)


def _now_micros() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def convert_event(event: dict[str, Any]) -> Converted:
    """STIX objects for one checked event (see events.check_event); raises what misp-stix raises."""
    parser = misp_stix().MISPtoSTIX21Parser()
    started = _now_micros()
    parser.parse_json_content({"Event": event})
    bundle = parser.bundle
    objects: list[dict[str, Any]] = orjson.loads(bundle.serialize())["objects"]
    finished = _now_micros()
    event_time = format_micros(int(event["timestamp"]) * 1_000_000)
    out = Converted()
    objects = _with_sighting_kinds(objects, event)
    for obj in _with_tlp2(objects):
        _restamp(obj, started, finished, event_time)
        if obj.get("type") == "identity":
            obj["created"] = IDENTITY_CREATED
        out.objects.append(obj)
    out.messages = messages(parser)
    return out


_KIND_OF_MISP_TYPE = {"1": "false-positive", "2": "expired"}


def _misp_sightings(event: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], str]]:
    """Sighting uuid -> (kind, the MISP sighting, its attribute's uuid) for false positives and expirations."""
    found: dict[str, tuple[str, dict[str, Any], str]] = {}
    attributes = list(event.get("Attribute") or ())
    for misp_object in event.get("Object") or ():
        if isinstance(misp_object, dict):
            attributes.extend(misp_object.get("Attribute") or ())
    for attr in attributes:
        if not isinstance(attr, dict):
            continue
        for sighting in attr.get("Sighting") or ():
            if not isinstance(sighting, dict):
                continue
            kind = _KIND_OF_MISP_TYPE.get(str(sighting.get("type", "0")))
            if kind is not None and isinstance(sighting.get("uuid"), str):
                found[sighting["uuid"]] = (kind, sighting, str(sighting.get("attribute_uuid") or attr.get("uuid")))
    return found


def _with_sighting_kinds(objects: list[dict[str, Any]], event: dict[str, Any]) -> list[dict[str, Any]]:
    """False positives as sightings rather than opinions, expirations added (see the module docstring)."""
    wanted = _misp_sightings(event)
    if not wanted:
        return objects
    ids = {o.get("id") for o in objects}
    out: list[dict[str, Any]] = []
    done: set[str] = set()
    for obj in objects:
        uuid = str(obj.get("id", "")).partition("--")[2]
        if obj.get("type") == "opinion" and uuid in wanted:
            refs = [r for r in obj.get("object_refs") or () if isinstance(r, str)]
            target = next((r for r in refs if r.startswith("indicator--")), None) or next(
                (r for r in refs if not r.startswith("observed-data--")), None) or (refs[0] if refs else None)
            if target is None:
                out.append(obj)
                continue
            author = obj.get("x_misp_author_ref")
            out.append(_sighting(uuid, wanted[uuid][0], target, str(obj["created"]),
                                 [r for r in refs if r.startswith("observed-data--")],
                                 author if isinstance(author, str) and author in ids else None))
            done.add(uuid)
        else:
            out.append(obj)
    for uuid, (kind, sighting, attribute_uuid) in wanted.items():
        if uuid in done or f"sighting--{uuid}" in ids:
            continue
        target = next((t for t in (f"indicator--{attribute_uuid}", f"observed-data--{attribute_uuid}") if t in ids),
                      None)
        try:
            when = format_micros(int(sighting.get("date_sighting", event["timestamp"])) * 1_000_000)
        except (TypeError, ValueError):
            continue
        if target is None:
            continue
        organisation = sighting.get("Organisation")
        org_uuid = organisation.get("uuid") if isinstance(organisation, dict) else None
        identity = f"identity--{org_uuid}" if org_uuid else None
        out.append(_sighting(uuid, kind, target, when, [], identity if identity in ids else None))
    return out


def _sighting(uuid: str, kind: str, target: str, when: str, observed: list[str], where: str | None,
              ) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid}", "created": when,
                           "modified": when, "sighting_of_ref": target, "x_accord_sighting_type": kind}
    if observed:
        obj["observed_data_refs"] = observed
    if where is not None:
        obj["where_sighted_refs"] = [where]
    return obj


def _restamp(obj: dict[str, Any], started: int, finished: int, event_time: str) -> None:
    # One second of slack either side: stix2 truncates to milliseconds.
    low, high = started - 1_000_000, finished + 1_000_000
    for key in _TIME_PROPERTIES:
        value = obj.get(key)
        if isinstance(value, str):
            micros = parse_to_micros(value)
            if micros is not None and low <= micros <= high:
                obj[key] = event_time


def _with_tlp2(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The objects with TLP 1.0 refs replaced by TLP 2.0 ones, each TLP 2.0 definition once."""
    definitions = misp_stix().misp_stix_mapping.TLP2MarkingDefinitions
    swap = {mid: TLP2_ID_FOR_LEVEL[level] for mid, (level, version, _) in STANDARD_TLP.items() if version == 1}
    emitted: set[str] = set()
    for obj in objects:
        if obj.get("type") == "marking-definition" and obj.get("id") in STANDARD_TLP:
            tlp2 = swap.get(obj["id"], obj["id"])
            if tlp2 not in emitted:
                emitted.add(tlp2)
                definition = definitions.by_uuid(tlp2)
                yield orjson.loads(definition.serialize()) if definition is not None else obj
            continue
        refs = obj.get("object_marking_refs")
        if isinstance(refs, list):
            obj["object_marking_refs"] = list(dict.fromkeys(swap.get(r, r) for r in refs))
        for granular in obj.get("granular_markings") or ():
            if isinstance(granular, dict) and granular.get("marking_ref") in swap:
                granular["marking_ref"] = swap[granular["marking_ref"]]
        yield obj
