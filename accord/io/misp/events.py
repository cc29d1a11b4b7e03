"""MISP event JSON as found in the wild, checked field by field before anything converts it.

The MISP core format (draft-dulaunoy-misp-core-format, section 2) defines an event as a JSON
object under the key ``Event``. Three envelopes occur in practice: ``{"Event": {...}}`` (MISP's
event view and feeds), ``{"response": [{"Event": {...}}, ...]}`` (MISP's REST search) and the
bare event object (PyMISP's ``to_json``). A list of events is accepted too.

A document that holds no event at all is refused as a whole (InputError). Within a readable
document, each element that breaks the format (an event that is not an object, an attribute
with no type or value, a field of the wrong JSON type) is reported with the event, the element
and the field named, and left out; the rest of the event goes on to the converter. Checks are
limited to what would otherwise crash the converter or silently drop a value: the converter
and PyMISP check the rest and say so (their messages become notes).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from accord.errors import InputError
from accord.io.indicators import derived_id

# Keys only a MISP event carries at its top level; a bare event shows one of these early.
EVENT_MARKERS = (b'"threat_level_id"', b'"orgc_id"', b'"Orgc"', b'"to_ids"', b'"object_relation"',
                 b'"attribute_count"', b'"publish_timestamp"')
# Types whose value is a digest: a line break or space inside one is a wrapping accident (MISP
# and PyMISP refuse the attribute), so it is taken out rather than losing the value.
HASH_TYPES = frozenset({
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha512/224", "sha512/256", "sha3-224", "sha3-256",
    "sha3-384", "sha3-512", "ssdeep", "imphash", "telfhash", "impfuzzy", "authentihash", "vhash", "pehash",
    "tlsh", "cdhash", "x509-fingerprint-md5", "x509-fingerprint-sha1", "x509-fingerprint-sha256",
    "ja3-fingerprint-md5", "jarm-fingerprint", "hassh-md5", "hasshserver-md5",
})
ATTACHMENT_TYPES = frozenset({"attachment", "malware-sample"})


@dataclass
class CheckedEvent:
    """One event after the checks: the body to convert (None if unusable) and what was wrong."""

    label: str
    body: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def looks_like_misp(head: bytes) -> bool:
    """Whether the first bytes of a document look like MISP event JSON (for --format auto)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith((b"{", b"[")):
        return False
    window = text[:8192]
    if b'"spec_version"' in window or b'"type": "bundle"' in window or b'"type":"bundle"' in window:
        return False
    if b'"Event"' in window:
        return True
    return b'"Attribute"' in window and any(marker in window for marker in EVENT_MARKERS)


def load_document(data: bytes, source: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}", source=source) from exc


def raw_events(doc: Any, source: str) -> Iterator[tuple[str, Any]]:
    """(where, event body) for every event a parsed document holds; InputError when it holds none."""
    if isinstance(doc, list):
        if not doc:
            raise InputError("an empty list: no MISP event in it", source=source)
        for i, entry in enumerate(doc):
            yield f"[{i}]", _unwrap(entry)
        return
    if not isinstance(doc, dict):
        raise InputError("not a MISP document: expected a JSON object with an Event", source=source)
    if "response" in doc:
        response = doc["response"]
        if not isinstance(response, list):
            raise InputError("'response' must be a list of {\"Event\": ...} objects", source=source)
        if not response:
            raise InputError("'response' is empty: no MISP event in it", source=source)
        for i, entry in enumerate(response):
            yield f"response[{i}]", _unwrap(entry)
    elif "Event" in doc:
        yield "Event", doc["Event"]
    elif "info" in doc and ("Attribute" in doc or "Object" in doc or "uuid" in doc):
        yield "event", doc
    else:
        raise InputError("no MISP event: expected {\"Event\": {...}}, {\"response\": [{\"Event\": ...}]} "
                         "or an event object with 'info' and 'Attribute'", source=source)


def _unwrap(entry: Any) -> Any:
    return entry["Event"] if isinstance(entry, dict) and "Event" in entry else entry


def _uuid_or_none(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _derived_uuid(source_key: str, *parts: str) -> str:
    return derived_id("x", source_key, *parts).split("--", 1)[1]


class _Checker:
    """Checks and repairs one event in place, collecting problems and notes."""

    def __init__(self, body: dict[str, Any], label: str, max_attachment_bytes: int):
        self.body = body
        self.label = label
        self.max_attachment_bytes = max_attachment_bytes
        self.problems: list[str] = []
        self.notes: list[str] = []

    def problem(self, where: str, prop: str, why: str) -> None:
        self.problems.append(f"{self.label}: {where}: {prop}: {why}")

    def run(self) -> bool:
        body = self.body
        if self.required_text(body, "info", "event") is None:
            return False
        for key in ("timestamp", "publish_timestamp"):
            value = body.get(key)
            if value is not None and not _is_epoch(value):
                self.problem("event", key, f"{value!r} is not a Unix time")
                del body[key]
        date = body.get("date")
        if date is not None and not (isinstance(date, str) and _is_date(date)):
            self.problem("event", "date", f"{date!r} is not a YYYY-MM-DD date")
            del body["date"]
        if "timestamp" not in body:
            # The converter would stamp every object with the wall clock: a re-import would then
            # be a new version. The event's own date is the next best instant.
            body["timestamp"] = _date_epoch(body.get("date")) or body.get("publish_timestamp") or "0"
        body["Tag"] = self.tags(body.get("Tag"), "event")
        body["Attribute"] = [a for i, a in enumerate(self.list_of(body, "Attribute", "event"))
                             if self.attribute(a, f"attribute #{i}")]
        objects = []
        for i, obj in enumerate(self.list_of(body, "Object", "event")):
            if self.misp_object(obj, f"object #{i}"):
                objects.append(obj)
        body["Object"] = objects
        self.galaxies(body)
        return True

    def list_of(self, holder: dict[str, Any], key: str, where: str) -> list[Any]:
        value = holder.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(where, key, f"must be a list, not {type(value).__name__}")
            return []
        return value

    def tags(self, tags: Any, where: str) -> list[Any]:
        if tags is None:
            return []
        if not isinstance(tags, list):
            self.problem(where, "Tag", "must be a list")
            return []
        kept = []
        for i, tag in enumerate(tags):
            name = tag.get("name") if isinstance(tag, dict) else None
            if isinstance(name, str) and name:
                kept.append(tag)
            else:
                self.problem(where, f"Tag[{i}]", "a tag needs a non-empty 'name'")
        return kept

    def record(self, record: Any, where: str, kind: str) -> str | None:
        """Where ``record`` (an attribute or object) is, named by its uuid when it has one; None
        when it is not a JSON object or its uuid is not one."""
        if not isinstance(record, dict):
            self.problem(where, kind, "must be a JSON object")
            return None
        if "uuid" not in record:
            return where
        if _uuid_or_none(record["uuid"]) is None:
            self.problem(where, "uuid", f"{record['uuid']!r} is not a UUID")
            return None
        return f"{kind} {record['uuid']}"

    def required_text(self, record: dict[str, Any], key: str, where: str) -> str | None:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
        self.problem(where, key, "missing" if value is None else "must be a non-empty string")
        return None

    def attribute(self, attr: Any, at: str) -> bool:
        where = self.record(attr, at, "attribute")
        if where is None:
            return False
        kind = self.required_text(attr, "type", where)
        if kind is None:
            return False
        value = attr.get("value")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            why = "missing" if value is None else f"must be a string, not {type(value).__name__}"
            self.problem(where, "value", why)
            return False
        value = str(value)
        if not value.strip():
            self.problem(where, "value", "empty")
            return False
        if kind in HASH_TYPES and any(c.isspace() for c in value):
            value = "".join(value.split())
            self.notes.append(f"{self.label}: {where}: a line-wrapped {kind} value was joined: {value}")
        attr["value"] = value
        for key in ("category", "comment", "object_relation"):
            if attr.get(key) is not None and not isinstance(attr[key], str):
                self.problem(where, key, f"must be a string, not {type(attr[key]).__name__}")
                return False
        for key in ("first_seen", "last_seen"):
            if attr.get(key) is not None and not isinstance(attr[key], str):
                self.problem(where, key, "must be a date-time string")
                del attr[key]
        if attr.get("timestamp") is not None and not _is_epoch(attr["timestamp"]):
            self.problem(where, "timestamp", f"{attr['timestamp']!r} is not a Unix time")
            del attr["timestamp"]
        attr["Tag"] = self.tags(attr.get("Tag"), where)
        sightings = attr.get("Sighting")
        if sightings is not None and not isinstance(sightings, list):
            self.problem(where, "Sighting", "must be a list")
            del attr["Sighting"]
        self.attachment(attr, where)
        return True

    def attachment(self, attr: dict[str, Any], where: str) -> None:
        data = attr.get("data")
        if data is None or attr["type"] not in ATTACHMENT_TYPES:
            return
        if not isinstance(data, str):
            self.problem(where, "data", "must be a base64 string")
            del attr["data"]
        elif len(data) * 3 // 4 > self.max_attachment_bytes:
            self.notes.append(f"{self.label}: {where}: the {attr['type']} {attr['value']!r} is larger than "
                              f"max_attachment_bytes={self.max_attachment_bytes}; its content was left out")
            del attr["data"]

    def misp_object(self, obj: Any, at: str) -> bool:
        where = self.record(obj, at, "object")
        if where is None:
            return False
        if self.required_text(obj, "name", where) is None:
            return False
        attributes = self.list_of(obj, "Attribute", where)
        obj["Attribute"] = [a for i, a in enumerate(attributes) if self.attribute(a, f"{where} attribute #{i}")]
        refs = obj.get("ObjectReference")
        if refs is not None:
            if not isinstance(refs, list):
                self.problem(where, "ObjectReference", "must be a list")
                refs = []
            obj["ObjectReference"] = [r for i, r in enumerate(refs) if self.reference(r, f"{where} reference #{i}")]
        if not attributes:
            self.problem(where, "Attribute", "an object needs at least one attribute")
        # An object whose attributes were all refused has had each refusal reported already.
        return bool(obj["Attribute"])

    def reference(self, ref: Any, where: str) -> bool:
        if not isinstance(ref, dict):
            self.problem(where, "reference", "must be a JSON object")
            return False
        return all(self.required_text(ref, key, where) is not None for key in ("referenced_uuid", "relationship_type"))

    def galaxies(self, node: Any) -> None:
        """Clusters exported by MISP before 2.4.120 or so have ``uuid: ""`` and their real uuid in
        ``collection_uuid``; misp-stix then builds the id ``attack-pattern--`` and crashes."""
        if isinstance(node, dict):
            for cluster in node.get("GalaxyCluster") or ():
                if isinstance(cluster, dict) and not _uuid_or_none(cluster.get("uuid")):
                    cluster["uuid"] = (_uuid_or_none(cluster.get("collection_uuid"))
                                       or _derived_uuid("misp-galaxy", str(cluster.get("tag_name")),
                                                        str(cluster.get("value"))))
            for child in node.values():
                if isinstance(child, (dict, list)):
                    self.galaxies(child)
        elif isinstance(node, list):
            for child in node:
                self.galaxies(child)


def check_event(raw: Any, where: str, source_key: str, *, max_attachment_bytes: int) -> CheckedEvent:
    """The event at ``where`` checked and repaired: missing uuids derived from its content, so
    that the same input always gives the same STIX ids."""
    if not isinstance(raw, dict):
        return CheckedEvent(f"event {where}", None, [f"event {where}: must be a JSON object, not "
                                                     f"{type(raw).__name__}"])
    event_uuid = _uuid_or_none(raw.get("uuid"))
    if event_uuid is None:
        if raw.get("uuid") is not None:
            return CheckedEvent(f"event {where}", None, [f"event {where}: uuid: {raw['uuid']!r} is not a UUID"])
        digest = hashlib.sha256(orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)).hexdigest()
        event_uuid = _derived_uuid(source_key, "event", digest)
    body = dict(raw)
    body["uuid"] = event_uuid
    label = f"event {event_uuid}"
    checker = _Checker(body, label, max_attachment_bytes)
    usable = checker.run()
    if usable:
        _fill_uuids(body, event_uuid)
    return CheckedEvent(label, body if usable else None, checker.problems, checker.notes)


def _fill_uuids(body: dict[str, Any], event_uuid: str) -> None:
    """Attributes, objects and sightings without a uuid get one derived from their place."""
    for i, attr in enumerate(body["Attribute"]):
        attr.setdefault("uuid", _derived_uuid(event_uuid, "attribute", str(i)))
        _fill_sightings(attr, event_uuid)
    for i, obj in enumerate(body["Object"]):
        obj.setdefault("uuid", _derived_uuid(event_uuid, "object", str(i)))
        for j, attr in enumerate(obj["Attribute"]):
            attr.setdefault("uuid", _derived_uuid(event_uuid, "object", str(i), str(j)))
            _fill_sightings(attr, event_uuid)


def _fill_sightings(attr: dict[str, Any], event_uuid: str) -> None:
    for k, sighting in enumerate(attr.get("Sighting") or ()):
        if isinstance(sighting, dict) and not sighting.get("uuid"):
            sighting["uuid"] = _derived_uuid(event_uuid, "sighting", attr["uuid"], str(k))


def _is_epoch(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.isascii() and value.isdigit()


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def _date_epoch(value: Any) -> str | None:
    if not isinstance(value, str) or not _is_date(value):
        return None
    return str(int(datetime.fromisoformat(value[:10]).replace(tzinfo=UTC).timestamp()))
