"""The STIX 2.1 objects made from what a document states: a report and everything it refers to.

Ids and timestamps are deterministic, so importing the same document again stores nothing:

- SCOs: STIX 2.1 section 2.9 ids (accord.io.indicators).
- Indicators and the report: ids derived from the document's content hash (the indicator's
  pattern, the report's name), dated with the document's date (accord.io.text.document).
- Objects made from galaxies (groups, software, vendors, techniques, their relationships):
  ids derived from the galaxy cluster's uuid, the same from every document, so that twenty
  reports naming Turla share one intrusion-set. They are dated ``GALAXY_EPOCH`` plus the
  galaxies' combined version in seconds: a newer pymispgalaxies makes a newer version of them,
  never a conflicting one.
- Countries, sectors and CVEs: ids derived from the ISO code, sector or CVE id; ``FIXED_EPOCH``.

Relationships are only those a galaxy states (ATT&CK "uses", malware "variant-of", a vendor's
products) between two things the text names, and only in the combinations STIX 2.1 defines
(section 4.1, the relationship tables of each object); a vendor's product is ``related-to``
the vendor's identity, as STIX defines no "developed-by" for malware to identity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from accord.io.indicators import KINDS, derived_id, indicator, observable
from accord.io.text.galaxies import Technique
from accord.io.text.gazetteer import Entity
from accord.io.text.iocs import Found
from accord.stix.timestamps import format_micros, parse_to_micros

GALAXY_KEY = "accord:misp-galaxy"
FIXED_KEY = "accord:vocabulary"
GALAXY_EPOCH = "2020-01-01T00:00:00.000Z"
FIXED_EPOCH = "2020-01-01T00:00:00.000Z"
# (source type, relationship type, target type) a galaxy relation may become.
ALLOWED = frozenset({
    *((s, "uses", t) for s in ("intrusion-set", "threat-actor", "malware")
      for t in ("malware", "tool", "attack-pattern")),
    ("malware", "variant-of", "malware"),
})
_ATTACK_PATHS = {"G": "groups", "S": "software", "T": "techniques"}


@dataclass(frozen=True)
class Extraction:
    """What one document states, ready to become STIX."""

    source_key: str
    name: str
    date: str
    values: list[Found]
    entities: list[Entity]
    techniques: list[Technique]
    galaxy_version: int
    description: str


def attack_reference(external_id: str) -> dict[str, str]:
    path = _ATTACK_PATHS[external_id[0]]
    return {"source_name": "mitre-attack", "external_id": external_id,
            "url": f"https://attack.mitre.org/{path}/{external_id.replace('.', '/')}"}


def _base(stix_type: str, stix_id: str, stamp: str, **props: Any) -> dict[str, Any]:
    return {"type": stix_type, "spec_version": "2.1", "id": stix_id, "created": stamp, "modified": stamp, **props}


def entity_id(entity: Entity) -> str:
    key = FIXED_KEY if entity.key.startswith(("country:", "sector:")) else GALAXY_KEY
    return derived_id(entity.stix_type, key, entity.key)


def _entity(entity: Entity, galaxy_stamp: str) -> dict[str, Any]:
    if entity.stix_type == "location":
        return _base("location", entity_id(entity), FIXED_EPOCH, name=entity.name, country=entity.props["country"])
    if entity.stix_type == "identity" and entity.key.startswith("sector:"):
        return _base("identity", entity_id(entity), FIXED_EPOCH, name=entity.name, identity_class="class",
                     sectors=entity.props["sectors"])
    obj = _base(entity.stix_type, entity_id(entity), galaxy_stamp, name=entity.name)
    if entity.aliases and entity.stix_type != "identity":
        obj["aliases"] = sorted(entity.aliases)
    if entity.stix_type == "malware":
        obj["is_family"] = True
    if entity.stix_type == "identity":
        obj["identity_class"] = "organization"
    refs = [attack_reference(entity.external_id)] if entity.external_id else []
    refs += [{"source_name": f"misp-galaxy:{entity.props.get('galaxy', 'unknown')}", "external_id": uuid}
             for uuid in sorted(entity.uuids)]
    if refs:
        obj["external_references"] = refs
    return obj


def _technique(tech: Technique, stamp: str) -> dict[str, Any]:
    return _base("attack-pattern", derived_id("attack-pattern", GALAXY_KEY, tech.uuid), stamp, name=tech.name,
                 external_references=[attack_reference(tech.external_id)])


def _relationship(source: str, rel: str, target: str, stamp: str, description: str) -> dict[str, Any]:
    return _base("relationship", derived_id("relationship", GALAXY_KEY, source, rel, target), stamp,
                 relationship_type=rel, source_ref=source, target_ref=target, description=description)


def _relationships(entities: Iterable[Entity], techniques: Iterable[Technique], stamp: str) -> Iterator[dict[str, Any]]:
    present = {e.key: e for e in entities}
    targets: dict[str, tuple[str, str]] = {}  # galaxy uuid -> (STIX type, id)
    for e in present.values():
        for uuid in e.uuids:
            targets[uuid] = (e.stix_type, entity_id(e))
    for tech in techniques:
        targets[tech.uuid] = ("attack-pattern", derived_id("attack-pattern", GALAXY_KEY, tech.uuid))
    seen: set[tuple[str, str, str]] = set()
    for e in present.values():
        source = entity_id(e)
        for dest, rel in e.related:
            target = targets.get(dest)
            if target is None or (e.stix_type, rel, target[0]) not in ALLOWED or (source, rel, target[1]) in seen:
                continue
            seen.add((source, rel, target[1]))
            yield _relationship(source, rel, target[1], stamp,
                                f"Stated by MISP galaxy {e.props.get('galaxy')}; the text names both.")
        for vendor in e.vendors:
            if vendor.key in present:
                yield _relationship(source, "related-to", entity_id(vendor), stamp,
                                    f"{e.name} is a product of {vendor.name} (MISP surveillance-vendor galaxy).")


def stix_objects(found: Extraction) -> Iterator[dict[str, Any]]:
    """The objects for one document, the report last (it refers to all the others)."""
    micros = parse_to_micros(GALAXY_EPOCH)
    assert micros is not None
    galaxy_stamp = format_micros(micros + found.galaxy_version * 1_000_000)
    refs: list[str] = []

    def emit(obj: dict[str, Any]) -> dict[str, Any]:
        refs.append(obj["id"])
        return obj

    for value in found.values:
        if value.kind == "cve":
            yield emit(_base("vulnerability", derived_id("vulnerability", FIXED_KEY, value.value), FIXED_EPOCH,
                             name=value.value,
                             external_references=[{"source_name": "cve", "external_id": value.value}]))
            continue
        kind = KINDS[value.kind]
        yield emit(observable(kind, value.value))
        yield emit(indicator(kind, value.value, source_key=found.source_key, created=found.date))
    for entity in found.entities:
        yield emit(_entity(entity, galaxy_stamp))
    for tech in found.techniques:
        yield emit(_technique(tech, galaxy_stamp))
    for rel in _relationships(found.entities, found.techniques, galaxy_stamp):
        yield emit(rel)
    if refs:
        yield _base("report", derived_id("report", found.source_key, found.name), found.date, name=found.name,
                    description=found.description, report_types=["threat-report"], published=found.date,
                    object_refs=refs)
