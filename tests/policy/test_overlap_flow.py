"""Information flow through the overlap check (services/overlap.py): in random worlds
(tests/policy/world.py), the hash of the world's value is in a reader's answer exactly when the
oracle (tests/policy/oracle.py) lets that reader see an indicator holding it, at T-1, T and T+1,
on both backends; a hash of a value nobody holds never is. Every indicator of a world has the
pattern ``[ipv4-addr:value = '10.0.0.1']``, so a world whose indicators are all hidden from a
reader must answer it as if the value were stored nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.overlap import AgreementKey, answer, fingerprint, overlap_hash
from accord.services.overlap_index import HashTables
from accord.storage.base import Agreement
from tests.policy.oracle import World
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import flow_settings
from tests.policy.world import postgres_copy, sqlite_copy, stored_world, worlds

KEY = bytes(range(32))
HELD = overlap_hash(KEY, "ipv4-addr", "10.0.0.1")
NOBODY = overlap_hash(KEY, "ipv4-addr", "10.9.9.9")
# The question's agreement only names the audit entry here: which agreement a reader may ask under
# is tests/services/test_overlap.py's business; this test holds the answer to the gate.
ASKED = AgreementKey(Agreement(0, "flow", (), (), "red", False, None, None, False, None, 0), KEY, fingerprint(KEY))


def check_overlaps(url: str, spec: tuple[World, frozenset[str]]) -> None:
    world_spec, resumed = spec
    tables = HashTables()
    with stored_world(url, world_spec, resumed, "w") as (store, built, t):
        world = built.world
        versions = world.by_key()
        for username, (org, _) in world.users.items():
            for instant in (t - 1, t, t + 1):
                vis = visibility(store, Viewer.of(store.get_user(username)), instant)
                matches = answer(store, vis, ASKED, tables, [NOBODY, HELD, HELD])
                sees = any(versions[stix_id, mod].type == "indicator" for stix_id, mod in world.visible(org, instant))
                assert matches == ([HELD] if sees else []), f"overlap for {username} ({org}) at T{instant - t:+d}"
                CASES["overlap"] += 1
    WORLDS["overlap"] += 1


@flow_settings(40)
@given(spec=worlds())
def test_overlap_reveals_exactly_what_the_gate_allows(template_db: Path, spec: tuple[World, frozenset[str]]) -> None:
    with sqlite_copy(template_db) as path:
        check_overlaps(f"sqlite:///{path}", spec)


@flow_settings(8)
@given(spec=worlds())
def test_overlap_on_postgres(request: pytest.FixtureRequest, spec: tuple[World, frozenset[str]]) -> None:
    with postgres_copy(request, "accord_overlap") as url:
        check_overlaps(url, spec)
