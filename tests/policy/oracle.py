"""The sharing gate's rules, written from the specification alone (not from accord/policy/).

A world is plain data: organisations, users, collections with grants, agreements and object
versions with their markings and release state. :func:`sees` says whether a reader organisation
may see one version at an instant; :func:`granular_kept` whether a granularly marked property
survives for that reader. Nothing here imports Accord: the tests compare the real read paths
against these answers.

:meth:`World.sightings_told` and :func:`decay_score` state what a reader is told of an object's
sightings and the decay score it is given (docs/early-warning.md, "Sightings" and "Decay").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

TLP_ORDER = ("clear", "green", "amber", "amber+strict", "red")
RANK = {level: i for i, level in enumerate(TLP_ORDER)}
UNKNOWN = "unknown"

# The standard TLP marking-definition ids: TLP 1.0 (STIX 2.1 spec, section 7.2.1.4) and TLP 2.0
# (the OASIS TLP 2.0 marking-definition extension).
TLP1 = {
    "white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
TLP2 = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
DAY = 86_400_000_000  # microseconds
# Every indicator of a world (tests/policy/world.py) is valid from this instant unless its version
# says otherwise, has no confidence (base 50) and names an IPv4 address (a lifetime of 30 days).
INDICATOR_VALID_FROM = "2026-01-01T00:00:00Z"
INDICATOR_BASE, INDICATOR_LIFETIME_DAYS = 50, 30
STANDARD = {TLP1["white"]: "clear", TLP1["green"]: "green", TLP1["amber"]: "amber", TLP1["red"]: "red",
            **{ref: level for level, ref in TLP2.items()}}


@dataclass(frozen=True)
class Agreement:
    name: str
    parties: frozenset[str]
    max_tlp: str
    onward: bool = False
    valid_from: int | None = None
    valid_until: int | None = None  # exclusive
    suspended: bool = False
    ended: bool = False
    collections: frozenset[str] = frozenset()  # empty: every collection
    types: frozenset[str] = frozenset()  # empty: every type

    def active(self, t: int) -> bool:
        return (not self.ended and not self.suspended
                and (self.valid_from is None or self.valid_from <= t)
                and (self.valid_until is None or t < self.valid_until))

    def covers(self, collection: str, stix_type: str) -> bool:
        return ((not self.collections or collection in self.collections)
                and (not self.types or stix_type in self.types))


@dataclass(frozen=True)
class Version:
    stix_id: str
    modified: str
    type: str
    collection: str
    owner: str
    marking_refs: tuple[str, ...] = ()
    granular_ref: str | None = None  # a granular marking on "description", if any
    state: str = "published"
    recipients: frozenset[str] = frozenset()
    origin: str | None = None
    # A sighting's sighting_of_ref, kind and count (other types: None).
    target: str | None = None
    sighting: tuple[str, int] | None = None
    # A sighting's first_seen and last_seen (one instant, microseconds; None: it gives no time),
    # and the identity it names in created_by_ref and where_sighted_refs (None: anonymous).
    seen_at: int | None = None
    named_by: str | None = None
    valid_from: int | None = None  # an indicator's (microseconds); None: INDICATOR_VALID_FROM

    @property
    def key(self) -> tuple[str, str]:
        return (self.stix_id, self.modified)


@dataclass
class World:
    kinds: dict[str, str] = field(default_factory=dict)  # org -> 'local' | 'partner'
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # username -> (org, role)
    default_tlp: dict[str, str] = field(default_factory=dict)  # collection -> default TLP
    grants: dict[tuple[str, str], tuple[bool, bool]] = field(default_factory=dict)  # (coll, org) -> (r, w)
    agreements: list[Agreement] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    known_markings: frozenset[str] = frozenset()  # non-TLP marking definitions stored (statements)

    # -- effective TLP ---------------------------------------------------------------------
    def ref_level(self, ref: str) -> str | None:
        """A marking ref's TLP level; None for a known non-TLP definition; 'unknown' otherwise."""
        if ref in STANDARD:
            return STANDARD[ref]
        if ref in self.known_markings:
            return None
        return UNKNOWN

    def tlp(self, v: Version) -> str:
        levels = [lv for lv in (self.ref_level(r) for r in v.marking_refs) if lv is not None]
        if UNKNOWN in levels:
            return UNKNOWN
        if not levels:
            return self.default_tlp[v.collection]
        return max(levels, key=RANK.__getitem__)

    # -- visibility ------------------------------------------------------------------------
    def can_read(self, org: str, collection: str) -> bool:
        return self.grants.get((collection, org), (False, False))[0]

    def reaches(self, username: str, collection: str) -> bool:
        """TAXII: a reader reaches a collection's objects with a read grant; node-admin: all."""
        org, role = self.users[username]
        return role == "node-admin" or self.can_read(org, collection)

    def sees(self, reader: str, v: Version, t: int, level: str | None = None) -> bool:
        """Rules 1 and 2a-2d: may organisation ``reader`` see ``v`` at ``t`` (as if its TLP were ``level``)."""
        return self.rule(reader, v, t, level) is not None

    def rule(self, reader: str, v: Version, t: int, level: str | None = None) -> str | None:
        """The first rule ('1', '2a', '2b', '2c', '2d') that lets ``reader`` see ``v``, or None."""
        if reader == v.owner:
            return "1"
        if v.state != "published":
            return None
        tlp = self.tlp(v) if level is None else level
        if tlp == UNKNOWN:
            return None
        if tlp == "clear" and self.can_read(reader, v.collection):
            return "2a"
        usable = [a for a in self.agreements
                  if a.active(t) and a.covers(v.collection, v.type)]
        direct = [a for a in usable if reader in a.parties and v.owner in a.parties]
        if tlp != "red" and any(RANK[tlp] <= RANK[a.max_tlp] for a in direct):
            return "2b"
        if tlp == "red" and reader in v.recipients and any(a.max_tlp == "red" for a in direct):
            return "2c"
        if tlp == "green" and v.origin is not None:
            wide = [a for a in usable if RANK[a.max_tlp] >= RANK["green"]]
            for a1 in wide:
                if not a1.onward or v.owner not in a1.parties:
                    continue
                for a2 in wide:
                    if a2.name == a1.name or reader not in a2.parties:
                        continue
                    for local in a1.parties & a2.parties:
                        if (self.kinds[local] == "local" and local != reader and v.owner != local):
                            return "2d"
        return None

    def granular_kept(self, reader: str, v: Version, t: int) -> bool:
        """Whether the granularly marked ``description`` reaches ``reader`` (who sees ``v``)."""
        if v.granular_ref is None or reader == v.owner:
            return True
        level = self.ref_level(v.granular_ref)
        if level is None:  # a known non-TLP marking (a statement) restricts nothing
            return True
        if level == UNKNOWN:
            return False
        return self.sees(reader, v, t, level)

    def visible(self, reader: str, t: int, collection: str | None = None) -> set[tuple[str, str]]:
        return {v.key for v in self.versions
                if (collection is None or v.collection == collection) and self.sees(reader, v, t)}

    def by_key(self) -> dict[tuple[str, str], Version]:
        return {v.key: v for v in self.versions}

    # -- sightings and decay -----------------------------------------------------------------
    def sightings_told(self, reader: str | None, target: str, t: int, min_count: int) -> tuple[list[Version], bool]:
        """The sightings of ``target`` that ``reader`` is told of (each one's newest version the
        reader may see), and whether other organisations' are withheld: the reader's own always,
        others' only once at least ``min_count`` of them are visible. ``reader`` None: the node
        operator, told of every sighting's newest version, whatever its state."""
        newest: dict[str, Version] = {}
        for v in self.versions:
            if (v.type == "sighting" and v.target == target and (reader is None or self.sees(reader, v, t))
                    and (v.stix_id not in newest or v.modified > newest[v.stix_id].modified)):
                newest[v.stix_id] = v
        ours = [v for v in newest.values() if v.owner == reader]
        theirs = [v for v in newest.values() if v.owner != reader]
        withheld = reader is not None and min_count > 1 and len(theirs) < min_count
        return ours + ([] if withheld else theirs), withheld


def micros(timestamp: str) -> int:
    """An RFC 3339 UTC timestamp as microseconds since the epoch (exactly: no float)."""
    moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00")) - datetime(1970, 1, 1, tzinfo=UTC)
    return (moment.days * 86_400 + moment.seconds) * 1_000_000 + moment.microseconds


def decay_score(indicator: Version, told: list[Version], now: int) -> int:
    """The score at ``now`` of a world indicator's version (as its reader receives it) from the
    sightings its reader is told of: the formula of docs/early-warning.md with base 50, a 30-day
    lifetime and speed 1. A sighting of count 0 says nothing unless it is an expiry; a time in the
    future counts as now; a false positive halves the score once per organisation reporting one.
    Rounded as Python's round() does."""
    if any(v.sighting is not None and v.sighting[0] == "expired" for v in told):
        return 0
    counted = [v for v in told if v.sighting is not None and v.sighting[1] > 0]
    fresh = [min(v.seen_at, now) for v in counted if v.sighting and v.sighting[0] == "seen" and v.seen_at is not None]
    valid_from = micros(INDICATOR_VALID_FROM) if indicator.valid_from is None else indicator.valid_from
    start = max([min(valid_from, now), *fresh])
    fraction = min(1.0, (now - start) / (INDICATOR_LIFETIME_DAYS * DAY))
    false_positives = len({v.owner for v in counted if v.sighting and v.sighting[0] == "false-positive"})
    return round(INDICATOR_BASE * (1.0 - fraction) * 0.5 ** false_positives)
