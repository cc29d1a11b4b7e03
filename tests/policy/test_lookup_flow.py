"""Information flow through lookup (services/lookup.py): in random worlds (tests/policy/world.py),
a lookup returns exactly the objects the oracle (tests/policy/oracle.py) lets the reader see that
mention the value, and nothing that depends on an object outside the reader's gate: the answer
for the world's value is the answer for a value nobody mentions, plus the visible hits.

Every indicator of a world has the pattern ``[ipv4-addr:value = '10.0.0.1']``, so the address,
the networks around it and a network containing it must all find the same objects."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given

from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.lookup import BULK_FROM, ValueResult, lookup
from tests.policy.oracle import World
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import flow_settings
from tests.policy.world import sqlite_copy, stored_world, worlds


def _shape(result: ValueResult) -> tuple[object, ...]:
    """Everything of an answer except the value itself and its hits."""
    return (result.kinds, result.warninglists, result.problem, result.truncated)


def check_lookups(url: str, spec: tuple[World, frozenset[str]]) -> None:
    world_spec, resumed = spec
    with stored_world(url, world_spec, resumed, "w") as (store, built, t):
        world = built.world
        for username, (org, _) in world.users.items():
            for instant in (t - 1, t, t + 1):
                vis = visibility(store, Viewer.of(store.get_user(username)), instant)
                values = ["10.0.0.1", "10.0.0.0/24", "10.0.0.77", "10.9.9.9", "10.9.9.0/24"]
                exact, network, inside, nobody, nobody_net = answers = lookup(store, vis, values)
                # The same values in a bulk lookup (index summaries, classification in a thread of
                # its own, receipts written beside) answer alike.
                fillers = [f"h{n}.filler.example" for n in range(BULK_FROM)]
                assert lookup(store, vis, [*values, *fillers])[:len(values)] == answers
                versions = world.by_key()
                allowed = {stix_id for stix_id, mod in world.visible(org, instant)
                           if versions[stix_id, mod].type == "indicator"}
                where = f"lookup for {username} ({org}) at T{instant - t:+d}"
                assert {h.stix_id for h in exact.hits} == allowed, where
                assert {h.stix_id for h in network.hits} == allowed, where
                assert all(h.relation == "contains" for h in network.hits), where
                # 10.0.0.77 lies in no indexed network (the index holds 10.0.0.1 only).
                assert inside.hits == [] and nobody.hits == [] and nobody_net.hits == [], where
                assert _shape(exact) == _shape(nobody) and _shape(network) == _shape(nobody_net), where
                for hit in exact.hits:
                    assert world.tlp(next(v for v in world.versions if v.stix_id == hit.stix_id
                                          and world.sees(org, v, instant))) is not None
                    assert hit.sightings is not None and hit.sightings.shown == ()  # no sightings in these worlds
                CASES["lookup"] += 1
    WORLDS["lookup"] += 1


@flow_settings(60)
@given(spec=worlds())
def test_lookup_reveals_exactly_what_the_gate_allows(template_db: Path, spec: tuple[World, frozenset[str]]) -> None:
    with sqlite_copy(template_db) as path:
        check_lookups(f"sqlite:///{path}", spec)
