"""Random three-node worlds (hypothesis): whatever the agreements, markings, onward flags and
inbound policies, after B pulls from A and C pulls from B, each node holds exactly what the rules
give it, and C never holds A's AMBER, AMBER+STRICT or RED data.

The rules, stated independently of the gate (the oracle):
- B holds A's version when A's agreement with B covers its TLP at A (RED needs a named recipient,
  and this world names none) and B's inbound policy accepts its marking;
- C holds B's own version when B's agreement with C covers its TLP at B, or it is CLEAR;
- C holds A's version (held at B) only if it is CLEAR, or GREEN with onward sharing allowed and
  B's agreement with C reaching GREEN;
- and C's inbound policy accepts its marking.
An unmarked version takes its collection's default TLP (AMBER here) on each node.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.app import sync_cycle
from accord.services.secrets import SecretBox
from accord.settings import load_settings
from accord.stix.markings import TLP_LEVELS, TLP_RANK
from accord.storage import open_store
from tests.policy.test_information_flow import flow_settings
from tests.sync.test_two_nodes import LEVELS, _ids
from tests.taxii.conftest import TAXII, Node, indicator, run_node

UNMARKED = "unmarked"
DEFAULT_TLP = "amber"  # every collection's default here
MARKS = [*TLP_LEVELS, UNMARKED]


@dataclass(frozen=True)
class World:
    ab_max: str
    onward: bool  # A lets B pass GREEN on; B's operator mirrors it in B's agreement with A
    bc_max: str
    accept_b: str
    accept_c: str
    at_a: tuple[str, ...]  # markings of A's objects
    at_b: tuple[str, ...]  # markings of B's own objects


worlds = st.builds(World, st.sampled_from(TLP_LEVELS), st.booleans(), st.sampled_from(TLP_LEVELS),
                   st.sampled_from(TLP_LEVELS), st.sampled_from(TLP_LEVELS),
                   st.lists(st.sampled_from(MARKS), min_size=1, max_size=6).map(tuple),
                   st.lists(st.sampled_from(MARKS), max_size=4).map(tuple))


def _level(mark: str) -> str:
    return DEFAULT_TLP if mark == UNMARKED else mark


def _covers(ceiling: str, mark: str) -> bool:
    level = _level(mark)
    return level != "red" and TLP_RANK[level] <= TLP_RANK[ceiling]


def _accepts(policy: str, mark: str) -> bool:
    return mark == UNMARKED or TLP_RANK[mark] <= TLP_RANK[policy]


def expected(world: World) -> tuple[set[int], set[tuple[str, int]]]:
    """(indexes of A's objects at B, (node, index) of objects at C)."""
    at_b = {i for i, m in enumerate(world.at_a) if _covers(world.ab_max, m) and _accepts(world.accept_b, m)}
    at_c: set[tuple[str, int]] = set()
    for i in at_b:
        level = _level(world.at_a[i])
        onward_ok = level == "clear" or (level == "green" and world.onward and TLP_RANK[world.bc_max] >= 1)
        if onward_ok and _accepts(world.accept_c, world.at_a[i]):
            at_c.add(("a", i))
    for i, m in enumerate(world.at_b):
        if (_level(m) == "clear" or _covers(world.bc_max, m)) and _accepts(world.accept_c, m):
            at_c.add(("b", i))
    return at_b, at_c


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def nodes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node]]:
    quiet = {"ACCORD_SYNC_SCHEDULER": "false"}
    for a in run_node(request.param, request, tmp_path_factory.mktemp("wa"), **quiet):
        for b in run_node(request.param, request, tmp_path_factory.mktemp("wb"), **quiet):
            yield a, b


def _objects(marks: tuple[str, ...], base: int) -> list[dict[str, object]]:
    return [indicator(base + i, **({"object_marking_refs": [LEVELS[m]]} if m != UNMARKED else {}))
            for i, m in enumerate(marks)]


@flow_settings(12)
@given(world=worlds)
def test_no_node_holds_what_the_rules_deny(nodes: tuple[Node, Node], tmp_path_factory: pytest.TempPathFactory,
                                           template_db: Path, world: World) -> None:
    a, b = nodes
    tag = uuid.uuid4().hex[:8]
    work = tmp_path_factory.mktemp(f"world-{tag}")
    a_org, b_org, c_org = f"a-{tag}", f"b-{tag}", f"c-{tag}"
    col_a, col_b = a.collection(f"wa {tag}"), b.collection(f"wb {tag}")

    a.store.add_org(a_org)
    a.store.add_org(b_org, kind="partner")
    a.store.add_agreement(f"ab-{tag}", parties=[a_org, b_org], max_tlp=world.ab_max, onward=world.onward,
                          valid_from=None, valid_until=None, actor="test")
    _, a_pub = a.user(org=a_org, role="publisher", write=(col_a,))
    b_at_a, b_token = a.user(org=b_org, role="reader", read=(col_a,))
    from_a = _objects(world.at_a, 0)
    with a.client(a_pub) as c:
        assert c.post(f"/default/collections/{col_a.id}/objects/", headers={"Content-Type": TAXII},
                      content=orjson.dumps({"objects": from_a})).status_code == 202

    b.store.add_org(a_org, kind="partner")
    b.store.add_org(c_org, kind="partner")
    b.store.add_agreement(f"ba-{tag}", parties=["node", a_org], max_tlp=world.ab_max, onward=world.onward,
                          valid_from=None, valid_until=None, actor="test")
    b.store.add_agreement(f"bc-{tag}", parties=["node", c_org], max_tlp=world.bc_max, onward=False,
                          valid_from=None, valid_until=None, actor="test")
    c_at_b, c_token = b.user(org=c_org, role="reader", read=(col_b,))
    b_settings = load_settings({"database_url": b.store.url, "data_dir": str(work / "b")}, env={})
    b.store.add_peer(f"a-{tag}", url=f"{a.url}/taxii2/", username=b_at_a, org=a_org, interval_s=60,
                     sealed_token=SecretBox(Path(b_settings.key_file)).seal(b_token), accept_max_tlp=world.accept_b,
                     accept_types=[], links=[("pull", col_a.id, col_b.id)], actor="test")
    _, b_pub = b.user(org="node", role="publisher", write=(col_b,))
    own = _objects(world.at_b, 100)
    if own:
        with b.client(b_pub) as c:
            assert c.post(f"/default/collections/{col_b.id}/objects/", headers={"Content-Type": TAXII},
                          content=orjson.dumps({"objects": own})).status_code == 202

    c_path = work / "c.db"
    c_path.write_bytes(template_db.read_bytes())
    c_store = open_store(f"sqlite:///{c_path}")
    try:
        c_settings = load_settings({"database_url": c_store.url, "data_dir": str(work / "c")}, env={})
        c_store.add_org(b_org, kind="partner")
        c_store.add_peer("b", url=f"{b.url}/taxii2/", username=c_at_b, org=b_org, interval_s=60,
                         sealed_token=SecretBox(Path(c_settings.key_file)).seal(c_token),
                         accept_max_tlp=world.accept_c, accept_types=[], links=[("pull", col_b.id, "default")],
                         actor="test")
        assert [r.error for r in sync_cycle(b_settings, b.store, peer_name=f"a-{tag}")] == [None]
        assert [r.error for r in sync_cycle(c_settings, c_store)] == [None]

        want_b, want_c = expected(world)
        got_b = {i for i, o in enumerate(from_a) if o["id"] in _ids(b.store, col_b.id)}
        assert got_b == want_b, f"B holds A's objects {sorted(got_b)}, the rules give {sorted(want_b)}"
        held_c = _ids(c_store)
        got_c = ({("a", i) for i, o in enumerate(from_a) if o["id"] in held_c}
                 | {("b", i) for i, o in enumerate(own) if o["id"] in held_c})
        assert got_c == want_c, f"C holds {sorted(got_c)}, the rules give {sorted(want_c)}"
        assert not any(_level(world.at_a[i]) in ("amber", "amber+strict", "red") for node, i in got_c if node == "a")
    finally:
        c_store.close()
