"""STIX 2.1 in and out: bundles, bare arrays, single objects, TAXII envelopes (and STIX 2.0)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from accord.services.formats import (
    Exporter,
    ExportOptions,
    ExportSummary,
    FormatRegistry,
    Imported,
    Importer,
    ImportOptions,
    Source,
)
from accord.stix.stream import BOM, Item, StixDocument

STIX_SUFFIXES = frozenset({".json", ".stix2", ".stix"})


def _looks_like_stix(head: bytes) -> bool:
    text = head.removeprefix(BOM).lstrip()
    if text.startswith(b"["):
        return b'"type"' in text[:4096]
    if not text.startswith(b"{"):
        return False
    window = text[:4096]
    # A bundle, a TAXII envelope, or one object with a STIX id ("type--uuid").
    return (b'"bundle"' in window or b'"objects"' in window
            or (b'"type"' in window and b'--' in window and b'"Event"' not in window))


class StixImporter(Importer):
    name = "stix"
    summary = "STIX 2.1 (or 2.0, upgraded): bundles, arrays of objects, single objects, TAXII envelopes"
    suffixes = STIX_SUFFIXES
    sniff_priority = 10
    suffix_priority = 10

    def sniff(self, head: bytes, source: Source) -> bool:
        return _looks_like_stix(head)

    def read(self, source: Source, options: ImportOptions) -> Imported:
        docs: list[StixDocument] = []

        def items() -> Iterator[Item]:
            with source.open() as stream:
                doc = StixDocument(stream.read, source=source.name, limits=options.limits)
                docs.append(doc)
                yield from doc
            doc.check_envelope()

        return Imported(items(), spec_version=lambda: docs[0].spec_version() if docs else None)


class StixExporter(Exporter):
    name = "stix"
    summary = "one STIX 2.1 bundle; each object exactly as stored (or as disclosed to the reader)"
    media_type = "application/stix+json;version=2.1"
    suffix = ".json"

    def export(self, bodies: Iterable[bytes], out: BinaryIO, options: ExportOptions) -> ExportSummary:
        summary = ExportSummary()
        out.write(b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":[')
        for body in bodies:
            if summary.written:
                out.write(b",\n")
            out.write(body)
            summary.objects_in += 1
            summary.written += 1
        out.write(b"]}\n")
        return summary


def register(registry: FormatRegistry) -> None:
    registry.add_importer(StixImporter())
    registry.add_exporter(StixExporter())
