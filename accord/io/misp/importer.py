"""``accord import --format misp``: MISP event files and MISP feed directories.

A file holds one event or several (events.py lists the envelopes). A feed directory is what a
MISP instance subscribes to (MISP core format, section 4 "Manifest"): ``manifest.json`` maps
each event uuid to a summary of the event, and ``<uuid>.json`` holds the event itself; the
directory is one source, every event its manifest lists is imported, and a listed event whose
file is missing or unreadable is reported for that event alone.

A MISP file is read whole (events are not streamed), so its size is bounded by the node's
``max_object_bytes`` (64 MiB by default): an event is one record to MISP, and a feed keeps one
event per file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson

from accord.errors import ConfigError, InputError
from accord.io.misp.events import CheckedEvent, check_event, load_document, looks_like_misp, raw_events
from accord.services.formats import Imported, Importer, ImportOptions, Source
from accord.settings import _boolean
from accord.stix.stream import Item

DEFAULT_MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024
# Notes shown per source before the rest are only counted.
MAX_NOTES = 40
MANIFEST = "manifest.json"


def _flag(name: str, value: str) -> bool:
    try:
        return _boolean(value)
    except ValueError:
        raise ConfigError(f"option {name}: expected yes or no, not {value!r}") from None


class _Notes:
    """Notes for one source, capped so that a noisy feed does not flood the terminal."""

    def __init__(self, sink: list[str]):
        self.sink = sink
        self.dropped = 0

    def add(self, note: str) -> None:
        if len(self.sink) < MAX_NOTES:
            self.sink.append(note)
        else:
            self.dropped += 1

    def close(self) -> None:
        if self.dropped:
            self.sink.append(f"... and {self.dropped} more notes")


class MispImporter(Importer):
    name = "misp"
    summary = "MISP event JSON ({\"Event\"}, {\"response\": [...]}, bare events) and MISP feed directories"
    suffixes = frozenset({".json"})
    # Before STIX: both are JSON, and a MISP event is recognised by keys STIX never uses.
    sniff_priority = 5
    options: ClassVar[dict[str, str]] = {
        "warninglists": "yes|no: note to_ids values that are on a MISP warninglist (default yes)",
        "max_attachment_bytes": f"largest attachment/malware-sample kept, in bytes (default "
                                f"{DEFAULT_MAX_ATTACHMENT_BYTES}); larger ones keep their name and hashes only",
    }

    def sniff(self, head: bytes, source: Source) -> bool:
        return looks_like_misp(head)

    def claims_directory(self, path: Path) -> bool:
        manifest = path / MANIFEST
        if not manifest.is_file():
            return False
        try:
            entries = orjson.loads(manifest.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return False
        if not isinstance(entries, dict) or not entries:
            return False
        return all(isinstance(e, dict) and "info" in e for e in entries.values())

    def read(self, source: Source, options: ImportOptions) -> Imported:
        warn = _flag("warninglists", options.params.get("warninglists", "yes"))
        try:
            max_attachment = int(options.params.get("max_attachment_bytes", DEFAULT_MAX_ATTACHMENT_BYTES))
        except ValueError:
            raise ConfigError("max_attachment_bytes must be a whole number of bytes") from None
        imported = Imported(iter(()))
        notes = _Notes(imported.notes)
        limit = options.limits.max_object_bytes

        def documents() -> Iterator[tuple[str, Any]]:
            """(where, event) for every event of the source; InputError when the source is unreadable."""
            if source.path is not None and source.path.is_dir():
                yield from _feed_events(source, limit)
            else:
                with source.open() as stream:
                    data = stream.read(limit + 1)
                if len(data) > limit:
                    raise InputError(f"larger than max_object_bytes ({limit}); split it into one event per file",
                                     source=source.name)
                yield from raw_events(load_document(data, source.name), source.name)

        def items() -> Iterator[Item]:
            index = 0
            for where, raw in documents():
                if isinstance(raw, _Unreadable):
                    yield Item(index, None, problem=raw.reason)
                    index += 1
                    continue
                checked = check_event(raw, where, source.name, max_attachment_bytes=max_attachment)
                for problem in checked.problems:
                    yield Item(index, None, problem=problem)
                    index += 1
                for note in checked.notes:
                    notes.add(note)
                if checked.body is None:
                    continue
                for item in _convert(checked, index, notes, warn):
                    yield item
                    index += 1
            notes.close()

        imported.items = items()
        return imported


class _Unreadable:
    """A feed entry whose event file could not be read: reported, the others go on."""

    def __init__(self, reason: str):
        self.reason = reason


def _feed_events(source: Source, limit: int) -> Iterator[tuple[str, Any]]:
    assert source.path is not None
    try:
        manifest = orjson.loads((source.path / MANIFEST).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(f"{MANIFEST} is unreadable: {exc}", source=source.name) from exc
    if not isinstance(manifest, dict):
        raise InputError(f"{MANIFEST} must map event uuids to event summaries", source=source.name)
    for event_uuid in manifest:
        path = source.path / f"{event_uuid}.json"
        where = f"feed event {event_uuid}"
        if not path.is_file():
            yield where, _Unreadable(f"{where}: {path.name} is listed in {MANIFEST} but missing")
            continue
        try:
            if path.stat().st_size > limit:
                yield where, _Unreadable(f"{where}: {path.name} is larger than max_object_bytes ({limit})")
                continue
            doc = orjson.loads(path.read_bytes())
            found = list(raw_events(doc, path.name))
        except (OSError, orjson.JSONDecodeError, InputError) as exc:
            yield where, _Unreadable(f"{where}: {path.name}: {getattr(exc, 'reason', exc)}")
            continue
        for _, raw in found:
            if isinstance(raw, dict) and raw.get("uuid") not in (None, event_uuid):
                yield where, _Unreadable(f"{where}: {path.name} holds event {raw.get('uuid')}, not the one "
                                         f"{MANIFEST} lists")
            else:
                yield where, raw


def _convert(checked: CheckedEvent, index: int, notes: _Notes, warn: bool) -> Iterator[Item]:
    from accord.io.misp.to_stix import convert_event

    assert checked.body is not None
    try:
        converted = convert_event(checked.body)
    except Exception as exc:  # misp-stix and stix2 raise many kinds; one event's failure is reported alone
        yield Item(index, None, problem=f"{checked.label}: misp-stix could not convert it: "
                                        f"{type(exc).__name__}: {exc}")
        return
    for message in dict.fromkeys(converted.messages):
        notes.add(f"{checked.label}: misp-stix: {message}")
    if warn:
        for note in _benign_notes(checked):
            notes.add(note)
    for i, obj in enumerate(converted.objects):
        yield Item(index + i, obj)


def _benign_notes(checked: CheckedEvent) -> Iterator[str]:
    """Values MISP would raise a warninglist hit for: the analyst flagged them to_ids, so they
    became indicators; the note says so rather than dropping what the producer stated."""
    from accord.io.warninglists import benign

    assert checked.body is not None
    attributes = list(checked.body["Attribute"])
    for obj in checked.body["Object"]:
        attributes.extend(obj["Attribute"])
    for attr in attributes:
        if not _to_ids(attr.get("to_ids")):
            continue
        for part in dict.fromkeys(attr["value"].split("|")):
            lists = benign(part)
            if lists:
                yield (f"{checked.label}: attribute {attr['uuid']}: {part} ({attr['type']}, to_ids) is on "
                       f"warninglists: {'; '.join(lists[:3])}" + (f" and {len(lists) - 3} more" if len(lists) > 3
                                                                   else ""))


def _to_ids(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)
