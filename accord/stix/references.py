"""What an object points at, for the index: the edges of the graph analysts walk.

The observable index (stix/observables.py) is keyed by (index type, value). References go in
the same index under the type ``ref`` with the target's STIX id as the value, so "which
relationships, sightings and reports name X" is one index seek, like a value lookup, and takes
no table or write path of its own. Only the references that make the graph are indexed:
a relationship's ends, what a sighting is of and where, and the contents of containers
(report, grouping, note, opinion, observed-data). ``created_by_ref`` and marking references
are left out: nearly every object has them, and nobody browses from a marking to its objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REF_INDEX = "ref"
# SDO/SRO types with references worth indexing, and the properties holding them.
_REF_PROPERTIES: dict[str, tuple[str, ...]] = {
    "relationship": ("source_ref", "target_ref"),
    "sighting": ("sighting_of_ref", "observed_data_refs", "where_sighted_refs"),
    "report": ("object_refs",),
    "grouping": ("object_refs",),
    "note": ("object_refs",),
    "opinion": ("object_refs",),
    "observed-data": ("object_refs",),
}
INDEXED_TYPES = tuple(_REF_PROPERTIES)


def references_of(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(REF_INDEX, target id)`` for every graph reference of ``obj``, each once."""
    names = _REF_PROPERTIES.get(obj.get("type"))  # type: ignore[arg-type]
    if names is None:
        return []
    found: dict[str, None] = {}
    for name in names:
        value = obj.get(name)
        if isinstance(value, str):
            found[value] = None
        elif isinstance(value, list):
            found.update((v, None) for v in value if isinstance(v, str))
    return [(REF_INDEX, target) for target in found]
