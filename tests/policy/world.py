"""Random sharing worlds (hypothesis) and how to build one in a real store through its public API.

A strategy draws an oracle :class:`~tests.policy.oracle.World` with placeholder names, ids and
agreement windows relative to an instant T; :func:`materialise` makes the names and ids unique and
the windows absolute; :func:`build` creates it all with the Store API and ``ingest_document``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from dataclasses import dataclass

import orjson
from hypothesis import strategies as st

from accord.services.ingest import ingest_document
from accord.stix.stream import StixDocument
from accord.storage.base import Collection, Provenance, State, Store
from tests.policy.oracle import TLP1, TLP2, TLP_ORDER, Agreement, Version, World

DAY = 86_400_000_000
ROLES = ("reader", "analyst", "publisher", "org-admin", "node-admin")
TYPES = ("indicator", "malware")
CREATED = "2026-01-01T00:00:00.000Z"
STATEMENT = "marking-definition--5a1e0000-0000-4000-8000-000000000001"  # placeholder ids, made unique
UNKNOWN_REF = "marking-definition--dead0000-0000-4000-8000-000000000002"
STANDARD_REFS = tuple(TLP1.values()) + tuple(TLP2.values())

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


def materialise(spec: World, t: int, tag: str) -> World:
    """Unique names and ids (``tag``), absolute agreement windows (offsets from ``t``)."""
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
            recipients=frozenset(map(name, v.recipients)), target=None if v.target is None else fresh(v.target)))
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
    elif v.type == "indicator":
        obj.update(pattern="[ipv4-addr:value = '10.0.0.1']", pattern_type="stix", valid_from="2026-01-01T00:00:00Z")
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
    # One transaction per run of versions written with the same provenance, in version order
    # (a marking definition first, so that the objects referring to it find it known).
    runs: list[tuple[tuple[object, ...], list[Version]]] = []
    for v in sorted(world.versions, key=lambda v: (v.type != "marking-definition", v.modified)):
        state = State.DRAFT if v.state == "draft" else State.PUBLISHED
        key = (v.collection, v.owner, state, v.origin, tuple(sorted(v.recipients)))
        if runs and runs[-1][0] == key:
            runs[-1][1].append(v)
        else:
            runs.append((key, [v]))
    for (coll, owner, state, origin, recipients), versions in runs:
        assert isinstance(coll, str) and isinstance(owner, str) and isinstance(state, State)
        provenance = Provenance(org_pk[owner], state=state, owner_name=owner,
                                origin_org=None if origin is None else org_pk[str(origin)],
                                origin_node=None if origin is None else "peer.example",
                                recipients=tuple(org_pk[r] for r in recipients))  # type: ignore[union-attr]
        _ingest(store, collections[coll], [body(v) for v in versions], provenance)
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
    return Built(world, collections, org_pk)
