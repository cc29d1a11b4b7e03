"""STIX 2.1 objects to one MISP event, through misp-stix and PyMISP.

misp-stix has two parsers: ``InternalSTIX2toMISPParser`` reads what misp-stix itself wrote
(custom ``x-misp-*`` objects, ``misp:`` labels) back into the same attributes and objects, and
``ExternalSTIX2toMISPParser`` maps any other producer's STIX (stix21_to_misp_* in misp-stix's
documentation/mapping). The choice is made per event, from the event's report or grouping:
one labelled ``misp:tool="MISP-STIX-Converter"`` came from MISP.

Accord then completes what a MISP instance needs to accept the event and what a feed
manifest requires (section 4 of the MISP core format): the creating organisation (``Orgc``,
from the report's ``created_by_ref`` identity, else the exporting node), the ``date`` and a
deterministic uuid for events that have no report (so that exporting again overwrites the
same feed file instead of adding one). TLP markings come out as ``tlp:*`` tags (misp-stix
maps the TLP 1.0 and 2.0 definitions).

Where misp-stix cannot read back what it wrote itself (MISP ``network-socket`` and ``email``
objects come out as observed-data its reverse parser fails on), the event is converted again
without those observations, from the indicator misp-stix wrote beside each of them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from accord.io.indicators import ACCORD_NAMESPACE
from accord.io.misp.library import messages, misp_stix
from accord.stix.markings import TLP_LEVELS, definition_level, object_tlp

MISP_STIX_LABEL = 'misp:tool="MISP-STIX-Converter"'
_FAILED_OBSERVATION = re.compile(r"Error while parsing the STIX object with id (observed-data--[0-9a-f-]{36})")


@dataclass
class Converted:
    event: Any  # pymisp.MISPEvent
    messages: list[str] = field(default_factory=list)


def node_org(node: str) -> dict[str, str]:
    """The exporting node as a MISP organisation: a name and a uuid stable for that name."""
    return {"name": node, "uuid": str(uuid.uuid5(ACCORD_NAMESPACE, f"misp-org:{node}"))}


def event_uuid_for(node: str, first_id: str) -> str:
    """The uuid of an event Accord makes up (objects in no report): stable for the same content."""
    return str(uuid.uuid5(ACCORD_NAMESPACE, f"misp-event:{node}:{first_id}"))


def from_misp_stix(container: dict[str, Any] | None) -> bool:
    return container is not None and MISP_STIX_LABEL in (container.get("labels") or ())


def to_event(objects: list[dict[str, Any]], *, container: dict[str, Any] | None, node: str,
             event_uuid: str, title: str | None = None, distribution: int = 0) -> Converted:
    """One MISP event from ``objects`` (a report or grouping with what it refers to, or a group of
    objects in no report); raises what misp-stix raises."""
    def parse(objects: list[dict[str, Any]]) -> Converted:
        module = misp_stix()
        from misp_stix_converter.tools import load_stix2_content

        bundle = load_stix2_content({"type": "bundle", "id": f"bundle--{event_uuid}", "objects": objects})
        parser = module.InternalSTIX2toMISPParser() if from_misp_stix(container) else \
            module.ExternalSTIX2toMISPParser()
        parser.load_stix_bundle(bundle)
        parser.parse_stix_bundle(single_event=True, title=None if container is not None else title,
                                 distribution=distribution)
        return Converted(parser.misp_event, messages(parser))

    converted = parse(objects)
    by_id = {o["id"]: o for o in objects}
    retry = {oid for message in converted.messages if (found := _FAILED_OBSERVATION.search(message))
             and "indicator--" + (oid := found.group(1)).split("--", 1)[1] in by_id}
    if retry:
        # misp-stix writes some MISP objects (network-socket, email) as observations it cannot
        # read back, next to an indicator with the same uuid that it can: convert that instead.
        kept = [_without_refs(o, retry) for o in objects if o["id"] not in retry and not (
            o["type"] == "relationship" and {o.get("source_ref"), o.get("target_ref")} & retry)]
        container = _without_refs(container, retry) if container is not None else None
        again = parse(kept)
        again.messages = [m for m in converted.messages if not _FAILED_OBSERVATION.search(m)] + [
            f"{oid}: read back from its indicator" for oid in sorted(retry)] + again.messages
        converted = again
    _complete(converted.event, container, by_id, node)
    return converted


def _without_refs(obj: dict[str, Any], removed: set[str]) -> dict[str, Any]:
    refs = obj.get("object_refs")
    if not isinstance(refs, list):
        return obj
    return {**obj, "object_refs": [r for r in refs if r not in removed]}


def _complete(event: Any, container: dict[str, Any] | None, by_id: dict[str, dict[str, Any]], node: str) -> None:
    from pymisp import MISPOrganisation

    creator = by_id.get(container.get("created_by_ref", "")) if container is not None else None
    org = ({"name": creator["name"], "uuid": creator["id"].split("--", 1)[1]}
           if creator is not None and isinstance(creator.get("name"), str) else node_org(node))
    if not getattr(event, "Orgc", None) or not getattr(event.Orgc, "name", None):
        orgc = MISPOrganisation()
        orgc.from_dict(**org)
        event.Orgc = orgc
    # An event Accord makes up takes its time from its newest object, so exporting the same
    # objects again writes the same event.
    newest = max((o.get("modified") or o.get("created") or "" for o in by_id.values()), default="")
    when = (container or {}).get("published") or (container or {}).get("created") or newest
    if when and (container is not None or not getattr(event, "date", None)):
        event.date = _date(when)
    if container is None and newest:
        # PyMISP drops the timestamp of an event it thinks was edited, unless told to keep it.
        event.force_timestamps = True
        event.timestamp = event.publish_timestamp = datetime.fromisoformat(newest[:19]).replace(tzinfo=UTC)
    if not event.get("info"):
        event.info = f"{node}: STIX objects"
    _event_tlp(event, container, by_id)


def _event_tlp(event: Any, container: dict[str, Any] | None, by_id: dict[str, dict[str, Any]]) -> None:
    """A marked report gives its event a ``tlp:*`` tag, which is what MISP shares by. misp-stix
    writes it; this covers a report whose marking definition it did not recognise as TLP."""
    if container is None or any(t.name.startswith("tlp:") for t in event.tags):
        return
    known = {oid: level for oid, o in by_id.items()
             if o.get("type") == "marking-definition" and (level := definition_level(o)) is not None}
    level = object_tlp(container, known)
    if level in TLP_LEVELS:
        event.add_tag(f"tlp:{level}")


def _date(timestamp: str) -> Any:
    return datetime.fromisoformat(timestamp[:10]).date()
