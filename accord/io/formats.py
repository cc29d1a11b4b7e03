"""Transitional alias: the format interface lives in accord/services/formats.py (outer packages
such as cli and api may not import io, so the interface they share sits in services)."""

from accord.services.formats import *  # noqa: F403
from accord.services.formats import (  # noqa: F401
    SNIFF_BYTES,
    Exporter,
    ExportOptions,
    ExportSummary,
    FormatRegistry,
    Imported,
    Importer,
    ImportOptions,
    Source,
    check_params,
    parse_params,
    registry,
)
