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
    for obj in _with_tlp2(objects):
        _restamp(obj, started, finished, event_time)
        if obj.get("type") == "identity":
            obj["created"] = IDENTITY_CREATED
        out.objects.append(obj)
    out.messages = messages(parser)
    return out


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
