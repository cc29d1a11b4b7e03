"""The one gate: every decision about who may see or write what is made here, and nowhere else.

The sharing rules (DESIGN.md; docs/sharing-model.md explains them with examples) are compiled,
once per request, into a list of :class:`Allowance` values: each one a way the viewer may see a
version (its own organisation's; CLEAR in a collection it may read; under one agreement; as a
named RED recipient; onward, through two agreements). Both forms of the gate are read off that
one list, so they cannot drift apart:

* :meth:`Visibility.predicate` ORs the allowances into a SQL boolean that storage queries put
  in their WHERE clause: listings, pages and counts are filtered inside the database;
* :meth:`Visibility.allowance_for` answers for one version in Python (single-object checks,
  granular-marking redaction, the audit log's "under which agreement").

Everything fails closed: a version whose TLP is unknown matches no allowance but its owner's;
an unmarked version takes its collection's default TLP; an agreement that is suspended, ended,
not yet valid or expired contributes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

from accord.policy.roles import Role
from accord.policy.viewer import Viewer
from accord.stix.markings import CLEAR, GREEN, RED, TLP_LEVELS, TLP_RANK
from accord.storage.base import Agreement, Collection, State, Store, VersionFacts
from accord.storage.ordering import placeholders


class Marked(Protocol):
    """Anything that carries a version's own TLP (None: unmarked): its facts, or a listed row."""

    @property
    def tlp(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Predicate:
    """A SQL boolean expression with ``?`` placeholders and its parameters.

    Column references use the aliases storage queries agree on: ``c`` for collections,
    ``m`` for collection_objects, ``v`` for object_versions.
    """

    sql: str
    params: tuple[object, ...] = ()


T = TypeVar("T")
ALLOW_ALL = Predicate("1 = 1")
DENY_ALL = Predicate("1 = 0")


@dataclass(frozen=True, slots=True)
class Allowance:
    """One way the viewer may see versions. ``None`` in a field means "no restriction"."""

    why: str  # 'owner', 'clear', or the agreement's name (onward: both agreements' names)
    owners: frozenset[int] | None = None
    levels: frozenset[str] | None = None  # effective TLP levels; None: any, unknown included
    published_only: bool = True
    types: frozenset[str] | None = None
    collections: frozenset[int] | None = None
    recipient: int | None = None  # the viewer's organisation must be a named recipient
    received_only: bool = False  # only versions received from another node
    agreement: str | None = None

    def admits(self, facts: VersionFacts, collection_pk: int, level: str) -> bool:
        return ((self.owners is None or facts.owner_org in self.owners)
                and (self.levels is None or level in self.levels)
                and (not self.published_only or facts.state == State.PUBLISHED)
                and (self.types is None or facts.type in self.types)
                and (self.collections is None or collection_pk in self.collections)
                and (self.recipient is None or self.recipient in facts.recipients)
                and (not self.received_only or facts.origin_org is not None))


def _intersect(a: frozenset[T] | None, b: frozenset[T] | None) -> frozenset[T] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


@dataclass(frozen=True)
class Visibility:
    """What one viewer may see, at one instant. ``allowances`` is None for the node operator."""

    viewer: Viewer
    allowances: tuple[Allowance, ...] | None
    defaults: dict[int, str]  # collection pk -> default TLP, for unmarked versions

    @property
    def sees_everything(self) -> bool:
        return self.allowances is None

    def level(self, version: Marked, collection_pk: int) -> str:
        """The TLP a version is judged and shown at in a collection: its own, or the collection's
        default when unmarked. Takes a listed row as well as its facts (a bulk lookup shows
        5,000 levels, and building facts only to read one field cost a microsecond each)."""
        return version.tlp if version.tlp is not None else self.defaults.get(collection_pk, "unknown")

    def allowance_for(self, facts: VersionFacts, collection_pk: int, *, level: str | None = None) -> Allowance | None:
        """The first allowance that lets the viewer see this version in this collection, or None.
        ``level`` judges the version as if it carried that TLP (used for granular markings)."""
        if self.allowances is None:
            return Allowance("operator", published_only=False)
        effective = level if level is not None else self.level(facts, collection_pk)
        for allowance in self.allowances:
            if allowance.admits(facts, collection_pk, effective):
                return allowance
        return None

    def predicate(self) -> Predicate:
        if self.allowances is None:
            return ALLOW_ALL
        if not self.allowances:
            return DENY_ALL
        clauses: list[str] = []
        params: list[object] = []
        for a in self.allowances:
            parts: list[str] = []
            if a.owners is not None:
                parts.append(f"v.owner_org IN ({placeholders(len(a.owners))})" if a.owners else "1 = 0")
                params.extend(sorted(a.owners))
            if a.published_only:
                parts.append("v.state = ?")
                params.append(State.PUBLISHED.value)
            if a.levels is not None:
                levels = sorted(a.levels)
                defaulted = sorted(pk for pk, default in self.defaults.items() if default in a.levels)
                level_sql = f"v.tlp IN ({placeholders(len(levels))})"
                params.extend(levels)
                if defaulted:
                    in_defaulted = f"m.collection_pk IN ({placeholders(len(defaulted))})"
                    level_sql = f"({level_sql} OR (v.tlp IS NULL AND {in_defaulted}))"
                    params.extend(defaulted)
                parts.append(level_sql)
            if a.types is not None:
                parts.append(f"v.type IN ({placeholders(len(a.types))})" if a.types else "1 = 0")
                params.extend(sorted(a.types))
            if a.collections is not None:
                parts.append(f"m.collection_pk IN ({placeholders(len(a.collections))})" if a.collections else "1 = 0")
                params.extend(sorted(a.collections))
            if a.recipient is not None:
                parts.append("EXISTS (SELECT 1 FROM version_recipients r WHERE r.version_pk = v.pk AND r.org_pk = ?)")
                params.append(a.recipient)
            if a.received_only:
                parts.append("v.origin_org IS NOT NULL")
            clauses.append("(" + " AND ".join(parts or ["1 = 1"]) + ")")
        return Predicate("(" + " OR ".join(clauses) + ")", tuple(params))


def _levels_upto(ceiling: str) -> frozenset[str]:
    """TLP levels an agreement with this ceiling lets flow, RED excepted (RED also needs a recipient)."""
    top = TLP_RANK.get(ceiling, -1)
    return frozenset(level for level in TLP_LEVELS if TLP_RANK[level] <= top and level != RED)


def _scope(values: tuple[T, ...]) -> frozenset[T] | None:
    return frozenset(values) if values else None


def compile_allowances(org_pk: int, agreements: list[Agreement], readable: frozenset[int],
                       local_orgs: frozenset[int], now: int) -> tuple[Allowance, ...]:
    """The allowances of a member of organisation ``org_pk`` (see the module docstring and
    docs/sharing-model.md for each rule)."""
    found: list[Allowance] = [
        Allowance("owner", owners=frozenset({org_pk}), published_only=False),
        Allowance("clear", levels=frozenset({CLEAR}), collections=readable),
    ]
    active = [a for a in agreements if a.state_at(now) == "active"]
    for a in active:
        if org_pk not in a.parties:
            continue
        others = frozenset(a.parties) - {org_pk}
        if not others:
            continue
        common = {"owners": others, "types": _scope(a.types), "collections": _scope(a.collections),
                  "agreement": a.name}
        levels = _levels_upto(a.max_tlp)
        if levels:
            found.append(Allowance(a.name, levels=levels, **common))  # type: ignore[arg-type]
        if a.max_tlp == RED:
            found.append(Allowance(a.name, levels=frozenset({RED}), recipient=org_pk, **common))  # type: ignore[arg-type]
    # Onward: GREEN data received from partner O reaches us through a local organisation L whose
    # agreement with O allows onward sharing, and our own agreement with L.
    for first in active:
        if not first.onward or TLP_RANK.get(first.max_tlp, -1) < TLP_RANK[GREEN]:
            continue
        for second in active:
            if second is first or org_pk not in second.parties or TLP_RANK.get(second.max_tlp, -1) < TLP_RANK[GREEN]:
                continue
            bridges = (frozenset(first.parties) & frozenset(second.parties) & local_orgs) - {org_pk}
            for bridge in sorted(bridges):
                origins = frozenset(first.parties) - {bridge, org_pk}
                types = _intersect(_scope(first.types), _scope(second.types))
                collections = _intersect(_scope(first.collections), _scope(second.collections))
                if origins and types != frozenset() and collections != frozenset():
                    found.append(Allowance(f"{first.name} (onward via {second.name})", owners=origins,
                                           levels=frozenset({GREEN}), types=types, collections=collections,
                                           received_only=True, agreement=second.name))
    return tuple(found)


def visibility(store: Store, viewer: Viewer, now: int) -> Visibility:
    """Compile what ``viewer`` may see at ``now``. The node operator (CLI without --as) sees all."""
    collections = store.collections()
    defaults = {c.pk: c.default_tlp for c in collections}
    if viewer.org_pk is None:
        return Visibility(viewer, None, defaults)
    # CLEAR needs the organisation's own read grant: a node-admin's role opens every collection's
    # TAXII surface for administration, not other organisations' data in it.
    granted = {g.collection_pk for g in store.grants() if g.org_pk == viewer.org_pk and g.can_read}
    readable = frozenset(c.pk for c in collections if c.pk in granted)
    local = frozenset(o.pk for o in store.orgs() if o.kind == "local")
    return Visibility(viewer, compile_allowances(viewer.org_pk, store.agreements(), readable, local, now), defaults)


def org_visibility(store: Store, org_pk: int, now: int) -> Visibility:
    """What any member of an organisation may see: a partner org's view, for exports and sync push."""
    org = next(o for o in store.orgs() if o.pk == org_pk)
    return visibility(store, Viewer(f"(organisation {org.name})", org.pk, org.name, Role.READER), now)


@dataclass(frozen=True, slots=True)
class CollectionAccess:
    can_read: bool
    can_write: bool


def collection_access(store: Store, viewer: Viewer, collection: Collection) -> CollectionAccess:
    """A collection's TAXII can_read/can_write for the caller: grants decide which collections an
    organisation may browse and write; the allowances decide which objects in them it sees."""
    if viewer.is_node_admin:
        return CollectionAccess(True, True)
    if viewer.org_pk is None:
        return CollectionAccess(False, False)
    for grant in store.grants(collection):
        if grant.org_pk == viewer.org_pk:
            return CollectionAccess(grant.can_read, grant.can_write and viewer.role.at_least(Role.ANALYST))
    return CollectionAccess(False, False)


def known_collections(store: Store, viewer: Viewer) -> frozenset[int] | None:
    """Collections the viewer may know exist (the same rule as :func:`collections_predicate`):
    those its organisation may read, or write as an analyst or above; None: every one (node-admin,
    operator). A visible object can sit in a collection the viewer may not know (an agreement
    reaches it there): its name is then not the viewer's to learn."""
    if viewer.is_node_admin or viewer.org_pk is None:
        return None
    writer = viewer.role.at_least(Role.ANALYST)
    return frozenset(g.collection_pk for g in store.grants() if g.org_pk == viewer.org_pk
                     and (g.can_read or (writer and g.can_write)))


def collections_predicate(viewer: Viewer) -> Predicate:
    """Collections the viewer may know exist: those it can read or write (alias ``c``)."""
    if viewer.is_node_admin:
        return ALLOW_ALL
    if viewer.org_pk is None:
        return DENY_ALL
    # The same rule as collection_access: a write grant counts only for analysts and above.
    usable = "(g.can_read OR g.can_write)" if viewer.role.at_least(Role.ANALYST) else "g.can_read"
    return Predicate("c.pk IN (SELECT g.collection_pk FROM collection_grants g "
                     f"WHERE g.org_pk = ? AND {usable})", (viewer.org_pk,))


def objects_predicate(vis: Visibility, viewer: Viewer, store: Store, collection: Collection) -> Predicate:
    """Object versions of ``collection`` the viewer may read (aliases ``m`` and ``v``): nothing
    unless the viewer may read the collection, then what its allowances admit."""
    if not collection_access(store, viewer, collection).can_read:
        return DENY_ALL
    return vis.predicate()


def as_level(facts: VersionFacts, level: str) -> VersionFacts:
    return facts._replace(tlp=level)
