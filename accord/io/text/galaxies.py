"""Named entities from MISP galaxies (the copy shipped in ``pymispgalaxies``), as STIX-ready entities.

Galaxies read, in order of precedence, and what each cluster becomes:

====================== ============================== =====================================
galaxy                 cluster                        STIX object
====================== ============================== =====================================
mitre-intrusion-set    ATT&CK group (G....)           intrusion-set (+ mitre-attack reference)
threat-actor           MISP threat actor              threat-actor, or the intrusion-set above
                                                      when it carries that group's name
surveillance-vendor    surveillance vendor            identity, class organization; its
                                                      ``products`` become malware
mitre-malware          ATT&CK malware (S....)         malware (+ mitre-attack reference)
mitre-tool             ATT&CK tool (S....)            tool (+ mitre-attack reference)
malpedia               malware family                 malware
tool                   MISP "tool" (mostly malware)   malware
mitre-attack-pattern   ATT&CK technique (T....)       attack-pattern, matched by its id only
====================== ============================== =====================================

A cluster whose name is already taken by an entity of the same kind (group, vendor, software)
is merged into it: its names become aliases, its relations are added. Synonyms that another
entity already owns are not taken over, so one galaxy's loose synonym cannot rename another's
group. When one name belongs to a group and to software ("Turla"), the group wins, then the
vendor. Products of a vendor are matched only in a document that names the vendor as well.

Loading the galaxies takes a few seconds; it happens once per process, on first use.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from accord.io.text.gazetteer import Entity, Gazetteer
from accord.io.text.vocabulary import SECTORS, country_names

# (galaxy, kind, STIX type) in order of precedence.
GALAXIES = (
    ("mitre-intrusion-set", "group", "intrusion-set"),
    ("threat-actor", "group", "threat-actor"),
    ("surveillance-vendor", "vendor", "identity"),
    ("mitre-malware", "software", "malware"),
    ("mitre-tool", "software", "tool"),
    ("malpedia", "software", "malware"),
    ("tool", "software", "malware"),
)
TECHNIQUES = "mitre-attack-pattern"
_KIND_ORDER = {"group": 0, "vendor": 1, "software": 2}
_ATTACK_ID = re.compile(r"^[GSTM]\d{4}(?:\.\d{3})?$")
_ATTACK_SUFFIX = re.compile(r"^(.*\S)\s+-\s+([GSTM]\d{4}(?:\.\d{3})?)$")


@dataclass(frozen=True)
class Technique:
    external_id: str
    name: str
    uuid: str


@dataclass
class Knowledge:
    """Everything the importer can recognise: the gazetteer, ATT&CK techniques by id, and the
    galaxies' combined version (it dates the objects made from them, see report.py)."""

    gazetteer: Gazetteer
    techniques: dict[str, Technique]
    by_uuid: dict[str, Entity]
    version: int


_lock = threading.Lock()
_knowledge: Knowledge | None = None


def knowledge() -> Knowledge:
    global _knowledge
    with _lock:
        if _knowledge is None:
            _knowledge = _build()
        return _knowledge


def _meta(value: Any) -> dict[str, Any]:
    meta = getattr(value, "meta", None)
    if meta is None:
        return {}
    data: dict[str, Any] = meta.to_dict()
    return data


def _names(value: str, meta: dict[str, Any]) -> tuple[str, str | None, list[str]]:
    """The cluster's name without ATT&CK's " - G0007" suffix, its ATT&CK id, and its other names."""
    match = _ATTACK_SUFFIX.match(value)
    name, external_id = (match.group(1), match.group(2)) if match else (value, None)
    # Some clusters list the ATT&CK id among the synonyms; it is an external reference, not a name.
    synonyms = [s for s in meta.get("synonyms", ()) if isinstance(s, str) and s.strip() and not _ATTACK_ID.match(s)]
    return name, external_id or meta.get("external_id"), synonyms


class _Builder:
    def __init__(self) -> None:
        self.owner: dict[tuple[str, str], Entity] = {}  # (kind, lower name) -> entity
        self.entities: list[tuple[str, Entity]] = []  # (kind, entity)
        self.by_uuid: dict[str, Entity] = {}
        self.products: list[tuple[Entity, str]] = []

    def cluster(self, kind: str, stix_type: str, galaxy: str, value: Any) -> None:
        meta = _meta(value)
        name, external_id, synonyms = _names(value.value, meta)
        entity = self.owner.get((kind, name.lower()))
        if entity is None:
            entity = Entity(f"galaxy:{value.uuid}", stix_type, name, external_id=external_id,
                            props={"galaxy": galaxy})
            self.entities.append((kind, entity))
        elif external_id and entity.external_id is None:
            entity.external_id = external_id
        entity.uuids.add(str(value.uuid))
        self.by_uuid[str(value.uuid)] = entity
        entity.related.extend((str(r["dest-uuid"]), str(r.get("type", "related-to")))
                              for r in getattr(value, "related", None) or () if isinstance(r, dict))
        for alias in [name, *synonyms]:
            owned = self.owner.setdefault((kind, alias.lower()), entity)
            if owned is entity and alias != entity.name and alias not in entity.aliases:
                entity.aliases.append(alias)
        if kind == "vendor":
            self.products.extend((entity, p) for p in meta.get("products", ()) if isinstance(p, str))

    def product(self, vendor: Entity, product: str) -> None:
        """A vendor's product: the software entity of that name, or a new malware entity."""
        entity = self.owner.get(("software", product.lower()))
        if entity is None:
            entity = Entity(f"product:{vendor.key}:{product.lower()}", "malware", product, needs_vendor=True,
                            props={"galaxy": "surveillance-vendor"})
            self.owner[("software", product.lower())] = entity
            self.entities.append(("software", entity))
        if vendor not in entity.vendors:
            entity.vendors.append(vendor)

    def gazetteer(self) -> Gazetteer:
        gaz = Gazetteer()
        # Group names first: Gazetteer keeps the first entity added for a name.
        for (_kind, lower), entity in sorted(self.owner.items(), key=lambda item: _KIND_ORDER[item[0][0]]):
            spelt = entity.name if entity.name.lower() == lower else next(
                (a for a in entity.aliases if a.lower() == lower), None)
            if spelt is not None:
                gaz.add(spelt, entity)
        return gaz


def _clusters(names: Iterable[str]) -> Iterable[tuple[str, Any]]:
    from pymispgalaxies.api import Cluster

    for name in names:
        yield name, Cluster(name, skip_duplicates=True)


def _build() -> Knowledge:
    builder = _Builder()
    version = 0
    loaded = dict(_clusters([g for g, _, _ in GALAXIES] + [TECHNIQUES]))
    for galaxy, kind, stix_type in GALAXIES:
        cluster = loaded[galaxy]
        version += int(cluster.version)
        for value in cluster.cluster_values.values():
            builder.cluster(kind, stix_type, galaxy, value)
    # Products last, so that one the galaxies already know as software ("Pegasus") stays that.
    for vendor, product in builder.products:
        builder.product(vendor, product)
    techniques: dict[str, Technique] = {}
    for value in loaded[TECHNIQUES].cluster_values.values():
        name, external_id, _ = _names(value.value, _meta(value))
        if external_id and external_id.startswith("T"):
            techniques[external_id] = Technique(external_id, name, str(value.uuid))
    version += int(loaded[TECHNIQUES].version)
    gaz = builder.gazetteer()
    countries: dict[str, Entity] = {}
    for name, code, short in country_names():
        country = countries.setdefault(code, Entity(f"country:{code}", "location", short, props={"country": code}))
        gaz.add(name, country)
    for sector, phrases in SECTORS.items():
        entity = Entity(f"sector:{sector}", "identity", f"{sector} sector",
                        props={"identity_class": "class", "sectors": [sector]})
        for phrase in phrases:
            gaz.add(phrase, entity, any_case=True)
    return Knowledge(gaz, techniques, builder.by_uuid, version)

