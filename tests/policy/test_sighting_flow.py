"""Information flow through sightings (services/sightings.py): in random worlds with sightings of
their indicators, what a reader is told about an indicator's sightings (lookup and the object
page) is exactly what the oracle (tests/policy/oracle.py) derives from the sharing rules: for each
sighting, its newest version the reader may see; the reader's own organisation's always, other
organisations' only once at least ``min_count`` of them are visible. Kinds and counts come from
those versions alone, so a hidden sighting (or a hidden newer version of a visible one) can
change nothing the reader receives, not even a total."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.lookup import lookup
from accord.services.objects import object_view
from accord.services.sightings import KINDS, SightingSummary
from accord.storage import open_store
from accord.storage.sql import micros_now
from tests.policy.oracle import Version, World
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import flow_settings
from tests.policy.world import build, granular_refs, marking_sets, materialise, modified, worlds

Expected = tuple[set[tuple[str, str, int, bool]], bool]


@st.composite
def sighted_worlds(draw: st.DrawFn) -> tuple[World, frozenset[str], int]:
    """A world (tests/policy/world.py) with sightings of its indicators added, and a threshold."""
    world, resumed = draw(worlds())
    orgs, colls = sorted(world.kinds), sorted(world.default_tlp)
    indicators = sorted({v.stix_id for v in world.versions if v.type == "indicator"})
    if indicators:
        for k in range(draw(st.integers(1, 5))):
            target = draw(st.sampled_from(indicators))
            owner = draw(st.sampled_from(orgs))
            collection = draw(st.sampled_from(colls))
            for n in range(draw(st.integers(1, 2))):
                world.versions.append(Version(
                    f"sighting--00000000-0000-4000-8000-{k:012d}", modified(n), "sighting", collection, owner,
                    marking_refs=draw(marking_sets), granular_ref=draw(granular_refs),
                    state=draw(st.sampled_from(("published", "published", "draft", "retracted"))),
                    recipients=frozenset(draw(st.sets(st.sampled_from(orgs), max_size=2))),
                    target=target, sighting=(draw(st.sampled_from(KINDS)), draw(st.integers(0, 5)))))
    return world, resumed, draw(st.integers(1, 3))


def expected(world: World, reader: str, target: str, t: int, min_count: int) -> Expected:
    """(kind, count, ours) of each sighting the reader is told of, and whether some are withheld."""
    newest: dict[str, Version] = {}
    for v in world.versions:
        if (v.type == "sighting" and v.target == target and world.sees(reader, v, t)
                and (v.stix_id not in newest or v.modified > newest[v.stix_id].modified)):
            newest[v.stix_id] = v
    ours = {(s, v.sighting[0], v.sighting[1], True) for s, v in newest.items() if v.owner == reader and v.sighting}
    theirs = {(s, v.sighting[0], v.sighting[1], False) for s, v in newest.items() if v.owner != reader and v.sighting}
    withheld = min_count > 1 and len(theirs) < min_count
    return ours | (set() if withheld else theirs), withheld


def told(summary: SightingSummary | None) -> Expected:
    assert summary is not None
    return {(s.stix_id, s.kind, s.count, s.ours) for s in summary.shown}, summary.withheld


def check_sightings(url: str, spec: tuple[World, frozenset[str], int]) -> None:
    world_spec, resumed, min_count = spec
    t = micros_now()
    tag = f"s{uuid.uuid4().hex[:6]}-"
    world = materialise(world_spec, t, tag)
    store = open_store(url)
    try:
        build(store, world, frozenset(tag + n for n in resumed))
        indicators = sorted({v.stix_id for v in world.versions if v.type == "indicator"})
        for username, (org, _) in world.users.items():
            vis = visibility(store, Viewer.of(store.get_user(username)), t)
            [result] = lookup(store, vis, ["10.0.0.1"], sighting_min_count=min_count)
            hits = {h.stix_id: h for h in result.hits}
            for stix_id in indicators:
                where = f"sightings of {stix_id} for {username} ({org}), min_count {min_count}"
                want = expected(world, org, stix_id, t, min_count)
                if stix_id in hits:
                    assert told(hits[stix_id].sightings) == want, where + " (lookup)"
                    view = object_view(store, vis, stix_id, sighting_min_count=min_count)
                    assert told(view.sightings) == want, where + " (object page)"
                    assert all(e.label != "sighting of" for e in view.edges), where
                    CASES["sightings"] += 1
    finally:
        store.close()
    WORLDS["sightings"] += 1


@flow_settings(40)
@given(spec=sighted_worlds())
def test_sightings_reveal_exactly_what_the_gate_and_threshold_allow(
        template_db: Path, spec: tuple[World, frozenset[str], int]) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "accord.db"
        shutil.copyfile(template_db, path)
        check_sightings(f"sqlite:///{path}", spec)
