"""``accord export --format misp`` (event JSON) and ``--format misp-feed`` (a feed directory).

How objects become events: each STIX report or grouping becomes one MISP event holding what it
refers to, transitively, and the relationships, sightings and notes about those objects
(spool.py); an object can be in several events, as a MISP attribute can. Objects in no report
go into events of their own, ``max_event_objects`` at a time, named after the exporting node.
Bodies are spooled to a temporary SQLite file first (reports may come after what they refer
to), so memory holds one event at a time, plus the feed manifest: one small entry per event.

``misp`` writes ``{"Event": {...}}`` when the export holds one event and
``{"response": [{"Event": ...}, ...]}`` (the shape of MISP's REST search) when it holds several
(``envelope=response`` always writes the list). ``misp-feed`` writes the directory a MISP
instance subscribes to (MISP core format section 4): ``<uuid>.json`` per event (PyMISP's
``to_feed``), ``manifest.json`` and ``hashes.csv`` (MD5 of each attribute value, a composite
value part by part, then the event uuid: what PyMISP's feed generator writes). The manifest
is written last, so a subscriber never sees it list a file not yet written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import orjson

from accord.errors import ConfigError
from accord.io.misp.spool import SUPPORTING_TYPES, Spool
from accord.io.misp.to_misp import event_uuid_for, to_event
from accord.services.formats import Exporter, ExportOptions, ExportSummary

log = logging.getLogger(__name__)

DEFAULT_MAX_EVENT_OBJECTS = 10_000
COMMON_OPTIONS = {
    "max_event_objects": f"objects in no report are grouped into events of at most this many (default "
                         f"{DEFAULT_MAX_EVENT_OBJECTS})",
    "distribution": "MISP distribution of the events: 0 organisation, 1 community, 2 connected communities, "
                    "3 all (default 0)",
}


def _int_option(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise ConfigError(f"option {name}: expected a whole number, not {params[name]!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"option {name}: must be between {low} and {high}")
    return value


def misp_events(bodies: Iterable[bytes], options: ExportOptions, summary: ExportSummary) -> Iterator[Any]:
    """The MISP events (pymisp MISPEvent) for ``bodies``, one at a time; counts into ``summary``."""
    chunk = _int_option(options.params, "max_event_objects", DEFAULT_MAX_EVENT_OBJECTS, 1, 10_000_000)
    distribution = _int_option(options.params, "distribution", 0, 0, 3)
    with Spool() as spool:
        for body in bodies:
            summary.objects_in += 1
            reason = spool.add(body)
            if reason is not None:
                summary.skip(reason)
        spool.db.commit()
        for container_id in spool.containers():
            ids = spool.closure([container_id])
            objects = spool.bodies(ids)
            container = next(o for o in objects if o["id"] == container_id)
            event = _convert(objects, container, options.node, container_id.split("--", 1)[1], distribution)
            spool.mark(ids, written=event is not None)
            if event is not None:
                yield event
        for ids in spool.unplaced(chunk):
            members = spool.closure(ids)
            event = _convert(spool.bodies(members), None, options.node, event_uuid_for(options.node, ids[0]),
                             distribution)
            spool.mark(members, written=event is not None)
            if event is not None:
                yield event
        summary.written = spool.count("written = 1")
        failed = spool.count("written = 0 AND placed = 1")
        if failed:
            summary.skip("in an event misp-stix could not convert", failed)
        marks = ",".join(f"'{t}'" for t in SUPPORTING_TYPES)
        unused = spool.count(f"written = 0 AND placed = 0 AND type IN ({marks})")
        if unused:
            summary.skip("identity or definition no exported object refers to", unused)


def _convert(objects: list[dict[str, Any]], container: dict[str, Any] | None, node: str, event_uuid: str,
             distribution: int) -> Any:
    try:
        converted = to_event(objects, container=container, node=node, event_uuid=event_uuid,
                             title=f"{node}: STIX objects in no report", distribution=distribution)
    except Exception as exc:  # one event misp-stix cannot convert must not cost the others
        log.warning("event %s: misp-stix could not convert it: %s: %s", event_uuid, type(exc).__name__, exc)
        return None
    for message in dict.fromkeys(converted.messages):
        # misp-stix's errors mean something was left out of the event; its warnings are mapping notes.
        log.log(logging.WARNING if message.startswith("Error") else logging.INFO, "event %s: misp-stix: %s",
                event_uuid, message)
    return converted.event


def _event_json(event: Any) -> bytes:
    return b'{"Event":' + str(event.to_json()).encode() + b"}"


class MispExporter(Exporter):
    name = "misp"
    summary = "MISP event JSON: one event per STIX report or grouping ({\"response\": [...]} for several)"
    media_type = "application/json"
    suffix = ".json"
    options: ClassVar[dict[str, str]] = {
        **COMMON_OPTIONS,
        "envelope": "auto: {\"Event\"} for one event, {\"response\": [...]} for several (default); "
                    "response: always the list",
    }

    def export(self, bodies: Iterable[bytes], out: BinaryIO, options: ExportOptions) -> ExportSummary:
        envelope = options.params.get("envelope", "auto")
        if envelope not in ("auto", "response"):
            raise ConfigError(f"option envelope: auto or response, not {envelope!r}")
        summary = ExportSummary()
        # Under "auto" the first event waits until a second one shows the export is a list.
        waiting: bytes | None = None
        listing = False
        for event in misp_events(bodies, options, summary):
            data = _event_json(event)
            if listing:
                out.write(b",\n" + data)
            elif envelope == "auto" and waiting is None:
                waiting = data
            else:
                out.write(b'{"response":[' + (waiting + b",\n" if waiting is not None else b"") + data)
                waiting = None
                listing = True
        if listing:
            out.write(b"]}\n")
        elif waiting is not None:
            out.write(waiting + b"\n")
        else:
            out.write(b'{"response":[]}\n')
        return summary


class MispFeedExporter(Exporter):
    name = "misp-feed"
    summary = "a MISP feed directory (manifest.json, hashes.csv, <uuid>.json per event) MISP can subscribe to"
    writes_directory = True
    options: ClassVar[dict[str, str]] = dict(COMMON_OPTIONS)

    def export_directory(self, bodies: Iterable[bytes], directory: Path, options: ExportOptions) -> ExportSummary:
        from pymisp.abstract import pymisp_json_default

        if directory.exists() and not directory.is_dir():
            raise ConfigError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        summary = ExportSummary()
        manifest: dict[str, Any] = {}
        with open(directory / "hashes.csv", "w", encoding="utf-8") as hashes:
            for event in misp_events(bodies, options, summary):
                feed = event.to_feed(with_meta=True)
                body = feed["Event"]
                digests = body.pop("_hashes", [])
                manifest.update(body.pop("_manifest", {}))
                _write_atomically(directory / f"{event.uuid}.json", orjson.dumps(feed, default=pymisp_json_default))
                hashes.writelines(f"{digest},{event.uuid}\n" for digest in digests)
        _write_atomically(directory / "manifest.json", orjson.dumps(manifest, default=pymisp_json_default))
        return summary


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
