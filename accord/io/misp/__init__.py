"""MISP in and out: event JSON and feed directories (MISP core format, draft-dulaunoy-misp-core-format).

Both directions go through the MISP project's own converter, misp-stix, and PyMISP rather than
a mapping of Accord's own: importer.py (MISP -> STIX 2.1) and exporter.py (STIX 2.1 -> MISP
events and feeds). Heavy libraries are imported inside the functions that use them.
"""

from __future__ import annotations

from accord.io.misp.exporter import MispExporter, MispFeedExporter
from accord.io.misp.importer import MispImporter
from accord.services.formats import FormatRegistry


def register(registry: FormatRegistry) -> None:
    registry.add_importer(MispImporter())
    registry.add_exporter(MispExporter())
    registry.add_exporter(MispFeedExporter())
