"""Random sharing worlds (hypothesis) and how to build one in a real store through its public API.

A strategy draws an oracle :class:`~tests.policy.oracle.World` with placeholder names, ids and
instants (agreement windows; sighting times and indicators' valid_from) relative to an instant T;
:func:`materialise` makes the names and ids unique and the instants absolute; :func:`build`
creates it all with the Store API and ``ingest_document``. :func:`sighted_worlds` adds sightings
of a world's indicators. :func:`stored_world` does both in a fresh store (:func:`sqlite_copy`,
:func:`postgres_copy`).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from hypothesis import strategies as st

from accord.services.ingest import ingest_document
from accord.stix.stream import StixDocument
from accord.stix.timestamps import format_micros
from accord.storage import open_store
from accord.storage.base import Collection, Provenance, State, Store
from accord.storage.sql import micros_now
from tests.conftest import _pg_admin, _pg_url
from tests.policy.oracle import DAY, INDICATOR_VALID_FROM, TLP1, TLP2, TLP_ORDER, Agreement, Version, World

ROLES = ("reader", "analyst", "publisher", "org-admin", "node-admin")
TYPES = ("indicator", "malware")
CREATED = "2026-01-01T00:00:00.000Z"
STATEMENT = "marking-definition--5a1e0000-0000-4000-8000-000000000001"  # placeholder ids, made unique
UNKNOWN_REF = "marking-definition--dead0000-0000-4000-8000-000000000002"
STANDARD_REFS = tuple(TLP1.values()) + tuple(TLP2.values())
SIGHTING_KINDS = ("seen", "false-positive", "expired")
SIGHTING_KIND_DRAWS = ("seen", "seen", "false-positive", "seen", "expired")  # an expiry zeroes a score: rarer
SIGHTING_COUNTS = (1, 3, 0)  # 0: looked and did not see it
# Instants in days from T: when a sighting saw its indicator (None: it gives no time; 2: a claim
# from the future), and an indicator version's valid_from (None: INDICATOR_VALID_FROM, long past);
# first what hypothesis draws first, a time that gives a score. Each is moved TIME_SKEW earlier
# (an odd hour, minutes and microseconds), so that no score lands on a rounding tie, nor near one,
# however the arithmetic is ordered.
SEEN_DAYS = (-5, -20, None, -40, -29, -12, -1, 0, 2)
VALID_FROM_DAYS = (-10, -25, None, 1)
TIME_SKEW = 3_723_000_017

# Agreement windows as (valid_from, valid_until) offsets from T: open, current, expired, not yet
# valid, and the boundaries (valid_from = T is active at T, valid_until = T is not).
WINDOWS: tuple[tuple[int | None, int | None], ...] = (
    (None, None), (-DAY, None), (None, DAY), (-DAY, DAY), (DAY, None), (None, -DAY), (-2 * DAY, -DAY),
    (DAY, 2 * DAY), (0, None), (None, 0), (1, None), (None, 1), (-1, 1),
)


def modified(n: int) -> str:
    return f"2026-01-01T00:00:{n + 1:02d}.000Z"


marking_sets = st.one_of(
    st.just(()),  # unmarked: the collection's default
    st.sampled_from(STANDARD_REFS).map(lambda r: (r,)),
    st.lists(st.sampled_from(STANDARD_REFS), min_size=2, max_size=3).map(tuple),  # conflicting: strictest
    st.just((UNKNOWN_REF,)),
    st.just((STATEMENT,)),  # a known non-TLP marking: still the default
    st.tuples(st.just(STATEMENT), st.sampled_from(STANDARD_REFS)),
    st.tuples(st.sampled_from(STANDARD_REFS), st.just(UNKNOWN_REF)),
)
# A sighting's markings: every level, unmarked and unknown, but shareable ones (CLEAR, GREEN) most
# often: others' sightings must often be visible for the threshold (and feedback) to matter.
sighting_markings = st.sampled_from((
    (TLP2["green"],), (TLP2["clear"],), (), (TLP1["green"],), (TLP1["white"],), (TLP2["amber"],),
    (TLP2["amber+strict"],), (TLP2["red"],), (UNKNOWN_REF,), (STATEMENT, TLP2["green"])))
granular_refs = st.one_of(st.none(), st.sampled_from(STANDARD_REFS), st.just(UNKNOWN_REF), st.just(STATEMENT))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, frozenset[str]]:
    """A world and the agreements to suspend and then resume (active again, as if never suspended)."""
    n_orgs = draw(st.integers(2, 5))
    orgs = [f"o{i}" for i in range(n_orgs)]
    world = World(kinds={o: draw(st.sampled_from(("local", "partner"))) for o in orgs})
    for o in orgs:
        for j in range(draw(st.integers(1, 2))):
            world.users[f"{o}u{j}"] = (o, draw(st.sampled_from(ROLES)))
    colls = [f"c{i}" for i in range(draw(st.integers(1, 3)))]
    for c in colls:
        world.default_tlp[c] = draw(st.sampled_from(TLP_ORDER))
        for o in orgs:
            grant = draw(st.sampled_from((None, None, (True, False), (True, True), (False, True))))
            if grant is not None:
                world.grants[(c, o)] = grant
    resumed: set[str] = set()
    windows = st.one_of(st.just((None, None)), st.sampled_from(WINDOWS))  # half open-ended and active
    chain: tuple[str, str, str] | None = None
    if n_orgs >= 3 and draw(st.booleans()):
        # Bias towards onward sharing (rule 2d): owner O -> local bridge L -> reader R, through two
        # agreements; their windows, states and scopes are drawn like any other agreement's below.
        owner, bridge, reader = draw(st.permutations(orgs))[:3]
        world.kinds[bridge] = "local"
        chain = (owner, bridge, reader)
    for i in range(draw(st.integers(0 if chain is None else 2, 4))):
        window = draw(windows)
        status = draw(st.sampled_from(("ok", "ok", "ok", "suspended", "ended", "resumed")))
        if status == "resumed":
            resumed.add(f"a{i}")
        parties = frozenset(draw(st.sets(st.sampled_from(orgs), min_size=2, max_size=n_orgs)))
        onward = draw(st.booleans())
        if chain is not None and i < 2:
            parties = frozenset(chain[:2] if i == 0 else chain[1:])
            onward = onward or i == 0
        world.agreements.append(Agreement(
            name=f"a{i}", parties=parties, max_tlp=draw(st.sampled_from(TLP_ORDER[1:] if i < 2 else TLP_ORDER)),
            onward=onward,
            valid_from=window[0], valid_until=window[1], suspended=status == "suspended", ended=status == "ended",
            collections=draw(st.one_of(st.just(frozenset()), st.sets(st.sampled_from(colls), max_size=2))),
            types=draw(st.one_of(st.just(frozenset()), st.sets(st.sampled_from(TYPES), max_size=1)))))
    if draw(st.booleans()):
        world.known_markings = frozenset({STATEMENT})
        world.versions.append(Version(STATEMENT, CREATED, "marking-definition", colls[0], orgs[0]))
    for k in range(draw(st.integers(1, 6))):
        stix_type = draw(st.sampled_from(TYPES))
        owner = draw(st.sampled_from(orgs))
        collection = draw(st.sampled_from(colls))
        origin = draw(st.one_of(st.none(), st.just(owner), st.sampled_from(orgs)))
        markings = marking_sets
        if chain is not None and draw(st.booleans()):
            owner, origin = chain[0], draw(st.sampled_from((chain[0], None)) if k == 0 else st.just(chain[0]))
            markings = st.one_of(st.just((TLP1["green"],)), st.just((TLP2["green"],)), marking_sets)
        for n in range(draw(st.integers(1, 3))):
            world.versions.append(Version(
                f"{stix_type}--00000000-0000-4000-8000-{k:012d}", modified(n), stix_type, collection, owner,
                marking_refs=draw(markings), granular_ref=draw(granular_refs),
                state=draw(st.sampled_from(("published", "published", "published", "draft", "retracted"))),
                recipients=frozenset(draw(st.sets(st.sampled_from(orgs), max_size=2))), origin=origin))
    return world, frozenset(resumed)


@st.composite
def sighted_worlds(draw: st.DrawFn) -> tuple[World, frozenset[str], int]:
    """A world with sightings of its indicators added, and a threshold (``sighting_min_count``).

    Each indicator version is valid from an instant relative to T (or the fixed one). Each
    sighting has an owner, a collection, markings, a state, recipients and an origin like any
    version, a kind and a count, a time (or none) relative to T, and names its owner's identity
    (an ``identity`` version of that organisation, with markings and a state of its own) or, when
    anonymous, nobody."""
    world, resumed = draw(worlds())
    orgs, colls = sorted(world.kinds), sorted(world.default_tlp)
    if draw(st.booleans()):
        # An agreement in force for every type and collection among all or some organisations, so
        # that other organisations' sightings are often visible (and the threshold decides).
        parties = draw(st.one_of(st.just(set(orgs)), st.sets(st.sampled_from(orgs), min_size=2)))
        world.agreements.append(Agreement(name=f"a{len(world.agreements)}", parties=frozenset(parties),
                                          max_tlp=draw(st.sampled_from(TLP_ORDER[1:]))))
    for i, v in enumerate(world.versions):
        if v.type == "indicator":
            days = draw(st.sampled_from(VALID_FROM_DAYS))
            world.versions[i] = dataclasses.replace(v, valid_from=None if days is None else days * DAY - TIME_SKEW)
    indicators = sorted({v.stix_id for v in world.versions if v.type == "indicator"})
    identities: dict[str, str] = {}
    if indicators:
        for k in range(draw(st.integers(1, 8))):
            target = draw(st.sampled_from(indicators))
            owner = draw(st.sampled_from(orgs))
            collection = draw(st.sampled_from(colls))
            origin = draw(st.one_of(st.none(), st.just(owner), st.sampled_from(orgs)))  # received from a node
            named_by = None
            if draw(st.booleans()):
                if owner not in identities:
                    identities[owner] = f"identity--00000000-0000-4000-8000-{len(identities):012d}"
                    world.versions.append(Version(
                        identities[owner], modified(0), "identity", collection, owner,
                        marking_refs=draw(st.one_of(st.just((TLP2["green"],)), marking_sets)),
                        state=draw(st.sampled_from(("published", "published", "draft")))))
                named_by = identities[owner]
            for n in range(draw(st.integers(1, 2))):
                days = draw(st.sampled_from(SEEN_DAYS))
                world.versions.append(Version(
                    f"sighting--00000000-0000-4000-8000-{k:012d}", modified(n), "sighting", collection, owner,
                    marking_refs=draw(sighting_markings), granular_ref=draw(granular_refs),
                    state=draw(st.sampled_from(("published", "published", "published", "draft", "retracted"))),
                    recipients=frozenset(draw(st.sets(st.sampled_from(orgs), max_size=2))),
                    target=target,
                    sighting=(draw(st.sampled_from(SIGHTING_KIND_DRAWS)), draw(st.sampled_from(SIGHTING_COUNTS))),
                    origin=origin, seen_at=None if days is None else days * DAY - TIME_SKEW, named_by=named_by))
    return world, resumed, draw(st.integers(1, 3))


def materialise(spec: World, t: int, tag: str) -> World:
    """Unique names and ids (``tag``), absolute agreement windows, sighting times and indicators'
    valid_from (offsets from ``t``)."""
    ids: dict[str, str] = {}

    def fresh(stix_id: str) -> str:
        if stix_id not in ids:
            ids[stix_id] = f"{stix_id.split('--')[0]}--{uuid.uuid4()}"
        return ids[stix_id]

    def name(n: str) -> str:
        return f"{tag}{n}"

    def ref(r: str) -> str:
        return fresh(r) if r in (STATEMENT, UNKNOWN_REF) else r

    world = World(kinds={name(o): k for o, k in spec.kinds.items()},
                  users={name(u): (name(o), r) for u, (o, r) in spec.users.items()},
                  default_tlp={name(c): d for c, d in spec.default_tlp.items()},
                  grants={(name(c), name(o)): g for (c, o), g in spec.grants.items()},
                  known_markings=frozenset(ref(m) for m in spec.known_markings))
    for a in spec.agreements:
        world.agreements.append(dataclasses.replace(
            a, name=name(a.name), parties=frozenset(map(name, a.parties)),
            valid_from=None if a.valid_from is None else t + a.valid_from,
            valid_until=None if a.valid_until is None else t + a.valid_until,
            collections=frozenset(map(name, a.collections))))
    for v in spec.versions:
        world.versions.append(dataclasses.replace(
            v, stix_id=ref(v.stix_id) if v.stix_id == STATEMENT else fresh(v.stix_id),
            collection=name(v.collection), owner=name(v.owner), origin=None if v.origin is None else name(v.origin),
            marking_refs=tuple(map(ref, v.marking_refs)),
            granular_ref=None if v.granular_ref is None else ref(v.granular_ref),
            recipients=frozenset(map(name, v.recipients)), target=None if v.target is None else fresh(v.target),
            seen_at=None if v.seen_at is None else t + v.seen_at,
            valid_from=None if v.valid_from is None else t + v.valid_from,
            named_by=None if v.named_by is None else fresh(v.named_by)))
    return world


def body(v: Version) -> dict[str, object]:
    """The STIX object of one version of the world."""
    if v.type == "marking-definition":
        return {"type": "marking-definition", "spec_version": "2.1", "id": v.stix_id, "created": CREATED,
                "definition_type": "statement", "definition": {"statement": "Handle with care."}}
    obj: dict[str, object] = {"type": v.type, "spec_version": "2.1", "id": v.stix_id, "created": CREATED,
                              "modified": v.modified, "name": f"{v.type} {v.modified}"}
    if v.type == "sighting":
        del obj["name"]
        kind, count = v.sighting or ("seen", 1)
        obj.update(sighting_of_ref=v.target, count=count, x_accord_sighting_type=kind)
        if v.seen_at is not None:
            obj["first_seen"] = obj["last_seen"] = format_micros(v.seen_at)
        if v.named_by is not None:
            obj.update(created_by_ref=v.named_by, where_sighted_refs=[v.named_by])
    elif v.type == "identity":
        obj["identity_class"] = "organization"
    elif v.type == "indicator":
        obj.update(pattern="[ipv4-addr:value = '10.0.0.1']", pattern_type="stix",
                   valid_from=INDICATOR_VALID_FROM if v.valid_from is None else format_micros(v.valid_from))
    else:
        obj["is_family"] = False
    if v.marking_refs:
        obj["object_marking_refs"] = list(v.marking_refs)
    if v.granular_ref is not None:
        obj["description"] = "the granularly marked part"
        obj["granular_markings"] = [{"marking_ref": v.granular_ref, "selectors": ["description"]}]
    return obj


@dataclass
class Built:
    world: World
    collections: dict[str, Collection]
    org_pk: dict[str, int]


def _ingest(store: Store, collection: Collection, objects: list[dict[str, object]], provenance: Provenance) -> None:
    data = orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})
    chunks = [data]

    def read(n: int) -> bytes:
        return chunks.pop() if chunks else b""

    with store.transaction() as tx:
        report = ingest_document(tx, collection, StixDocument(read, source="world"), provenance)
    assert not report.refused, report.refused


def build(store: Store, world: World, resumed: frozenset[str] = frozenset()) -> Built:
    """Create ``world`` in ``store``: organisations, users, collections, grants, agreements, versions."""
    org_pk = {o: store.add_org(o, kind=k).pk for o, k in world.kinds.items()}
    for username, (org, role) in world.users.items():
        store.add_user(username, org=org, role=role)
    collections = {c: store.add_collection(c, alias=c, default_tlp=d) for c, d in world.default_tlp.items()}
    for (c, o), (r, w) in world.grants.items():
        store.set_grant(collections[c], o, can_read=r, can_write=w)
    for a in world.agreements:
        store.add_agreement(a.name, parties=sorted(a.parties), max_tlp=a.max_tlp, onward=a.onward,
                            valid_from=a.valid_from, valid_until=a.valid_until,
                            collections=sorted(collections[c].id for c in a.collections), types=sorted(a.types),
                            actor="test")
        if a.suspended or a.name in resumed:
            store.change_agreement(a.name, action="suspend", actor="test")
        if a.name in resumed:
            store.change_agreement(a.name, action="resume", actor="test")
        if a.ended:
            store.change_agreement(a.name, action="end", actor="test")
    built = Built(world, collections, org_pk)
    ingest_versions(store, built, world.versions)
    retracted: dict[str, list[int]] = defaultdict(list)
    order: dict[str, list[Version]] = defaultdict(list)
    for v in sorted(world.versions, key=lambda v: v.modified):
        order[v.stix_id].append(v)
    for stix_id, versions in order.items():
        retracted[stix_id] = [i for i, v in enumerate(versions) if v.state == "retracted"]
    for stix_id, indexes in retracted.items():
        if indexes:
            owner = order[stix_id][0].owner
            facts = store.version_facts(stix_id, org_pk[owner])
            assert len(facts) == len(order[stix_id])
            store.set_state([facts[i] for i in indexes], State.RETRACTED, actor="test")
    return built


def ingest_versions(store: Store, built: Built, versions: list[Version]) -> None:
    """Write ``versions`` (drafts or published) of ``built``'s world: one transaction per run of
    versions with the same provenance, in version order (a marking definition first, so that the
    objects referring to it find it known)."""
    runs: list[tuple[tuple[str, str, State, str | None, tuple[str, ...]], list[Version]]] = []
    for v in sorted(versions, key=lambda v: (v.type != "marking-definition", v.modified)):
        state = State.DRAFT if v.state == "draft" else State.PUBLISHED
        key = (v.collection, v.owner, state, v.origin, tuple(sorted(v.recipients)))
        if runs and runs[-1][0] == key:
            runs[-1][1].append(v)
        else:
            runs.append((key, [v]))
    org_pk = built.org_pk
    for (coll, owner, state, origin, recipients), run in runs:
        provenance = Provenance(org_pk[owner], state=state, owner_name=owner,
                                origin_org=None if origin is None else org_pk[origin],
                                origin_node=None if origin is None else "peer.example",
                                recipients=tuple(org_pk[r] for r in recipients))
        _ingest(store, built.collections[coll], [body(v) for v in run], provenance)


# -- fresh stores to build worlds in ------------------------------------------------------------
@contextmanager
def sqlite_copy(template_db: Path) -> Iterator[Path]:
    """A copy of the session's initialised SQLite database (tests/conftest.py ``template_db``), in
    a directory of its own that is removed afterwards."""
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "accord.db"
        shutil.copyfile(template_db, path)
        yield path


@contextmanager
def postgres_copy(request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database copied from the session's migrated template
    (tests/conftest.py ``pg_template``), dropped afterwards."""
    template: str = request.getfixturevalue("pg_template")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
    try:
        yield _pg_url(name)
    finally:
        _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def stored_world(url: str, spec: World, resumed: frozenset[str], prefix: str) -> Iterator[tuple[Store, Built, int]]:
    """``spec`` materialised at T = now, its names made unique (``prefix`` and a random tag), and
    built in the store at ``url``: the open store, what was built, and T. The store is closed after."""
    t = micros_now()
    tag = f"{prefix}{uuid.uuid4().hex[:6]}-"
    world = materialise(spec, t, tag)
    store = open_store(url)
    try:
        yield store, build(store, world, frozenset(tag + n for n in resumed)), t
    finally:
        store.close()
