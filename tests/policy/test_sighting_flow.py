"""Information flow through sightings (services/sightings.py): in random worlds with sightings of
their indicators, what a reader is told about an indicator's sightings (lookup and the object
page) is exactly what the oracle (tests/policy/oracle.py) derives from the sharing rules: for each
sighting, its newest version the reader may see; the reader's own organisation's always, other
organisations' only once at least ``min_count`` of them are visible. Kinds and counts come from
those versions alone, so a hidden sighting (or a hidden newer version of a visible one) can
change nothing the reader receives, not even a total."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given

from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.lookup import lookup
from accord.services.objects import object_view
from accord.services.sightings import SightingSummary
from tests.policy.oracle import World
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import flow_settings
from tests.policy.world import sighted_worlds, sqlite_copy, stored_world

Expected = tuple[set[tuple[str, str, int, bool, bool]], bool]


def expected(world: World, reader: str, target: str, t: int, min_count: int) -> Expected:
    """(kind, count, ours, anonymous) of each sighting the reader is told of, and whether some are withheld."""
    told, withheld = world.sightings_told(reader, target, t, min_count)
    return {(v.stix_id, v.sighting[0], v.sighting[1], v.owner == reader, v.named_by is None)
            for v in told if v.sighting}, withheld


def told(summary: SightingSummary | None) -> Expected:
    assert summary is not None
    return {(s.stix_id, s.kind, s.count, s.ours, s.anonymous) for s in summary.shown}, summary.withheld


def check_sightings(url: str, spec: tuple[World, frozenset[str], int]) -> None:
    world_spec, resumed, min_count = spec
    with stored_world(url, world_spec, resumed, "s") as (store, built, t):
        world = built.world
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
    WORLDS["sightings"] += 1


@flow_settings(60)
@given(spec=sighted_worlds())
def test_sightings_reveal_exactly_what_the_gate_and_threshold_allow(
        template_db: Path, spec: tuple[World, frozenset[str], int]) -> None:
    with sqlite_copy(template_db) as path:
        check_sightings(f"sqlite:///{path}", spec)
