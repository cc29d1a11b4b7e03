"""Three real nodes: A shares with B up to AMBER with onward sharing; B shares with C; C pulls from
B. B holds exactly what A's agreement gives it, C only what the onward rule allows (CLEAR, and
GREEN because A's agreement allows onward sharing), never AMBER, AMBER+STRICT or RED; a second
cycle changes nothing; a retraction at A reaches B and then C, and each side's audit log says so.
Runs on both backends (A and B are live `accord serve` processes; C is a store)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from accord.app import sync_cycle
from accord.services.secrets import SecretBox
from accord.settings import Settings, load_settings
from accord.storage import open_store
from accord.storage.base import State, Store
from tests.sync.test_two_nodes import LEVELS, _ids
from tests.taxii.conftest import TAXII, Node, indicator, run_node

NO_SCHEDULER = {"ACCORD_SYNC_SCHEDULER": "false"}  # the test runs each cycle itself


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def nodes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Node]]:
    backend = request.param
    for a in run_node(backend, request, tmp_path_factory.mktemp(f"a-{backend}"), **NO_SCHEDULER):
        for b in run_node(backend, request, tmp_path_factory.mktemp(f"b-{backend}"), **NO_SCHEDULER):
            yield a, b


def _settings(store: Store, data_dir: Path) -> Settings:
    return load_settings({"database_url": store.url, "data_dir": str(data_dir)}, env={})


def _state(store: Store, stix_id: str) -> set[str]:
    return {f.state for f in store.version_facts(stix_id)}


def test_three_nodes_onward_rules_and_retraction(nodes: tuple[Node, Node], tmp_path: Path,
                                                 template_db: Path) -> None:
    a, b = nodes
    tag = uuid.uuid4().hex[:6]
    shared_a = a.collection(f"a-b {tag}")
    shared_b = b.collection(f"b-c {tag}")
    a_org, b_org, c_org = f"cert-a-{tag}", f"cert-b-{tag}", f"cert-c-{tag}"

    # A: its members, B as a partner, an agreement up to AMBER that lets B pass GREEN on.
    a.store.add_org(a_org)
    a.store.add_org(b_org, kind="partner")
    a.store.add_agreement(f"ab-{tag}", parties=[a_org, b_org], max_tlp="amber", onward=True,
                          valid_from=None, valid_until=None, actor="test")
    _, a_publisher = a.user(org=a_org, role="publisher", read=(shared_a,), write=(shared_a,))
    b_at_a, b_token = a.user(org=b_org, role="publisher", read=(shared_a,))
    objects = {level: indicator(i, object_marking_refs=[ref]) for i, (level, ref) in enumerate(LEVELS.items())}
    with a.client(a_publisher) as c:
        assert c.post(f"/default/collections/{shared_a.id}/objects/", headers={"Content-Type": TAXII},
                      content=orjson.dumps({"objects": list(objects.values())})).json()["success_count"] == 5
    ids = {level: str(obj["id"]) for level, obj in objects.items()}

    # B: A as a partner (mirroring A's onward permission), C as a partner, and C's account.
    b.store.add_org(a_org, kind="partner")
    b.store.add_org(c_org, kind="partner")
    b.store.add_agreement(f"ba-{tag}", parties=["node", a_org], max_tlp="amber", onward=True,
                          valid_from=None, valid_until=None, actor="test")
    b.store.add_agreement(f"bc-{tag}", parties=["node", c_org], max_tlp="amber", onward=False,
                          valid_from=None, valid_until=None, actor="test")
    c_at_b, c_token = b.user(org=c_org, role="publisher", read=(shared_b,))
    b_settings = _settings(b.store, tmp_path / "b")
    b.store.add_peer("node-a", url=f"{a.url}/taxii2/", username=b_at_a,
                     sealed_token=SecretBox(Path(b_settings.key_file)).seal(b_token), org=a_org, interval_s=60,
                     accept_max_tlp="red", accept_types=[], links=[("pull", shared_a.id, shared_b.id)], actor="test")

    # C: a store of its own, pulling from B.
    c_path = tmp_path / "c.db"
    c_path.write_bytes(template_db.read_bytes())
    c = open_store(f"sqlite:///{c_path}")
    c_settings = _settings(c, tmp_path / "c")
    c.add_org(b_org, kind="partner")
    c.add_peer("node-b", url=f"{b.url}/taxii2/", username=c_at_b,
               sealed_token=SecretBox(Path(c_settings.key_file)).seal(c_token), org=b_org, interval_s=60,
               accept_max_tlp="red", accept_types=[], links=[("pull", shared_b.id, "default")], actor="test")
    try:
        assert [r.error for r in sync_cycle(b_settings, b.store)] == [None]
        assert [r.error for r in sync_cycle(c_settings, c)] == [None]
        at_b, at_c = _ids(b.store, shared_b.id), _ids(c)
        assert set(at_b) == {ids[level] for level in ("clear", "green", "amber")}
        assert set(at_c) == {ids[level] for level in ("clear", "green")}

        # A second round changes nothing anywhere.
        again = sync_cycle(b_settings, b.store) + sync_cycle(c_settings, c)
        assert [(r.error, r.transfer.stored if r.transfer else None) for r in again] == [(None, 0), (None, 0)]
        assert (_ids(b.store, shared_b.id), _ids(c)) == (at_b, at_c)

        # A retracts its GREEN object: one cycle per hop takes it back at B, then at C.
        retracted = httpx.post(f"{a.url}/api/v1/objects/{ids['green']}/retract",
                               headers={"Authorization": f"Bearer {a_publisher}"}, timeout=30)
        assert retracted.status_code == 200, retracted.text
        runs = sync_cycle(b_settings, b.store)
        assert runs[0].transfer is not None and runs[0].transfer.retracted == 1
        assert _state(b.store, ids["green"]) == {State.RETRACTED.value}
        assert _state(c, ids["green"]) == {State.PUBLISHED.value}  # not yet: C has not synced
        runs = sync_cycle(c_settings, c)
        assert runs[0].transfer is not None and runs[0].transfer.retracted == 1
        assert _state(c, ids["green"]) == {State.RETRACTED.value}
        assert _state(c, ids["clear"]) == {State.PUBLISHED.value}

        # Each side's audit log records the exchange and the retraction.
        assert any(r.action == "receive" and r.org == b_org for r in a.store.audit_records(stix_id=ids["green"]))
        assert [r.action for r in b.store.audit_records(stix_id=ids["green"])][-1] == "retract"
        assert [r.action for r in c.audit_records(stix_id=ids["green"])][-1] == "retract"
        assert {r.action for r in c.audit_records(org=b_org)} >= {"sync.pull", "write"}
    finally:
        c.close()
