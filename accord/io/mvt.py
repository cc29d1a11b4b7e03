"""Indicators for Amnesty International's Mobile Verification Toolkit (MVT): a ``.stix2`` file.

MVT (https://docs.mvt.re, ``mvt.common.indicators.Indicators.parse_stix2``) reads a STIX 2.1
bundle of ``malware`` and ``report`` objects, ``indicator`` objects and ``relationship`` objects:
an indicator belongs to the report that lists it in ``object_refs``, else to the malware a
relationship from it points at, else to a default collection. It reads a pattern as one
``[object:path='value']`` comparison (it splits the text on ``=``), for a fixed set of heads
(``MVT_HEADS``: domains, IPv4 addresses, URLs, e-mail addresses, process names, file names,
paths and hashes, Android app ids and certificate hashes, Android properties, iOS configuration
profile ids). So each indicator is rewritten to that shape: a pattern naming several values
becomes one indicator per value (ids derived from the original's), with its relationships and
report references following; values MVT would misread (holding ``=``, a quote or a backslash)
are left out and counted. Hashes are written ``file:hashes.sha256`` as Amnesty's own MVT
indicator files do, which every MVT version reads.

Revoked indicators are left out; expired ones are kept, since MVT examines phone backups and
logs of the past. Objects are spooled to a temporary SQLite file, newest version of each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, ClassVar

import orjson

from accord.io.indicators import derived_id
from accord.io.values_select import LatestSpool, equalities
from accord.services.formats import Exporter, ExportOptions, ExportSummary, FormatRegistry
from accord.stix.observables import address_pair
from accord.stix.patterns import Path as PropertyPath

_SIMPLE_HEADS: dict[tuple[str, PropertyPath], str] = {
    ("domain-name", ("value",)): "domain-name:value",
    ("ipv4-addr", ("value",)): "ipv4-addr:value",
    ("url", ("value",)): "url:value",
    ("email-addr", ("value",)): "email-addr:value",
    ("process", ("name",)): "process:name",
    ("file", ("name",)): "file:name",
    ("file", ("path",)): "file:path",
    ("app", ("id",)): "app:id",
    ("configuration-profile", ("id",)): "configuration-profile:id",
    ("android-property", ("name",)): "android-property:name",
}
_HASHES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256"}
# Every head MVT reads, for the documentation and the tests.
MVT_HEADS = frozenset([*_SIMPLE_HEADS.values(), *(f"file:hashes.{h}" for h in _HASHES.values()),
                       *(f"app:cert.{h}" for h in _HASHES.values())])
# The objects MVT groups indicators under.
COLLECTION_TYPES = ("malware", "report")
_MISREAD = ("=", "'", "\\")


def mvt_head(stype: str, path: PropertyPath, value: str) -> str | None:
    """MVT's name for a comparison's object and path, or None when MVT has no use for it."""
    head = _SIMPLE_HEADS.get((stype, path))
    if head is not None:
        return head
    if len(path) == 2 and isinstance(path[1], str) and (stype, path[0]) in (("file", "hashes"), ("app", "cert")):
        algorithm = _HASHES.get(path[1].upper().replace("-", ""))
        return None if algorithm is None else f"{stype}:{path[0]}.{algorithm}"
    if stype == "network-traffic" and path in (("dst_ref", "value"), ("src_ref", "value")):
        pair = address_pair(value)
        return {"ipv4-addr": "ipv4-addr:value", "domain-name": "domain-name:value"}.get(pair[0]) if pair else None
    return None


def mvt_parts(pattern: str) -> tuple[list[tuple[str, str]], int]:
    """The (head, value) comparisons MVT can read from ``pattern``, and how many it would misread."""
    parts: list[tuple[str, str]] = []
    misread = 0
    for stype, path, value in equalities(pattern):
        head = mvt_head(stype, path, value)
        if head is None:
            continue
        value = value.strip()
        if not value or any(c in value for c in _MISREAD) or value.startswith("[") or value.endswith("]"):
            misread += 1
        elif (head, value) not in parts:
            parts.append((head, value))
    return parts, misread


class MvtExporter(Exporter):
    name = "mvt"
    summary = "a STIX 2.1 .stix2 indicators file for Amnesty's Mobile Verification Toolkit (mvt-ios, mvt-android)"
    media_type = "application/stix+json;version=2.1"
    suffix = ".stix2"
    options: ClassVar[Mapping[str, str]] = {}

    def export(self, bodies: Iterable[bytes], out: BinaryIO, options: ExportOptions) -> ExportSummary:
        summary = ExportSummary()
        with LatestSpool() as spool:
            for body in bodies:
                summary.objects_in += 1
                obj = orjson.loads(body)
                if obj.get("type") in ("indicator", "relationship", *COLLECTION_TYPES):
                    spool.add(obj, body)
                else:
                    summary.skip("not read by MVT (only indicators, malware, reports, relationships)")
            superseded = summary.objects_in - sum(summary.skipped.values()) - spool.count()
            if superseded:
                summary.skip("older versions of exported objects", superseded)
            _Writer(spool, out, summary).write()
        return summary


class _Writer:
    """Writes the bundle from the spool: indicators first (their parts recorded), then what refers
    to them."""

    def __init__(self, spool: LatestSpool, out: BinaryIO, summary: ExportSummary) -> None:
        self.spool = spool
        self.out = out
        self.summary = summary
        self.first = True
        spool.connection.execute("CREATE TABLE parts (orig TEXT NOT NULL, part TEXT NOT NULL)")
        spool.connection.execute("CREATE INDEX parts_orig ON parts (orig)")

    def emit(self, obj: Mapping[str, Any]) -> None:
        self.out.write((b"" if self.first else b",\n") + orjson.dumps(obj))
        self.first = False

    def parts_of(self, orig: str) -> list[str]:
        rows = self.spool.connection.execute("SELECT part FROM parts WHERE orig = ?", (orig,))
        return [part for (part,) in rows]

    def write(self) -> None:
        self.out.write(b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":[\n')
        for body in self.spool.bodies("indicator"):
            self.indicator(orjson.loads(body))
        collections = set()
        for body in self.spool.bodies("malware"):
            obj = orjson.loads(body)
            collections.add(obj["id"])
            self.emit(obj)
            self.summary.written += 1
        for body in self.spool.bodies("report"):
            report = orjson.loads(body)
            refs: list[str] = []
            for ref in report.get("object_refs") or ():
                refs.extend(self.parts_of(ref) if ref.startswith("indicator--") else [ref])
            self.emit({**report, "object_refs": refs} if refs else report)
            self.summary.written += 1
        for body in self.spool.bodies("relationship"):
            rel = orjson.loads(body)
            parts = self.parts_of(rel.get("source_ref", ""))
            if not parts or rel.get("target_ref") not in collections:
                self.summary.skip("relationships MVT does not use (not from an exported indicator to malware)")
                continue
            for part in parts:
                rid = rel["id"] if part == rel["source_ref"] else derived_id("relationship", rel["id"], part)
                self.emit({**rel, "id": rid, "source_ref": part})
            self.summary.written += 1
        self.out.write(b"\n]}\n")

    def indicator(self, obj: dict[str, Any]) -> None:
        if obj.get("revoked") is True:
            self.summary.skip("revoked")
            return
        pattern = obj.get("pattern")
        if obj.get("pattern_type") != "stix" or not isinstance(pattern, str):
            self.summary.skip("indicators whose pattern is not STIX")
            return
        parts, misread = mvt_parts(pattern)
        if misread:
            self.summary.skip("values MVT would misread (=, quote or backslash in them)", misread)
        if not parts:
            self.summary.skip("indicators with no value MVT reads")
            return
        for head, value in parts:
            pid = obj["id"] if len(parts) == 1 else derived_id("indicator", obj["id"], head, value)
            self.spool.connection.execute("INSERT INTO parts VALUES (?, ?)", (obj["id"], pid))
            self.emit({**obj, "id": pid, "pattern": f"[{head}='{value}']", "pattern_type": "stix",
                       "pattern_version": "2.1"})
        self.summary.written += 1


def register(registry: FormatRegistry) -> None:
    registry.add_exporter(MvtExporter())
