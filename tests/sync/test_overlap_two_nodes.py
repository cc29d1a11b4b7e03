"""The overlap check between two real nodes: A serves on a loopback port (each backend), B asks it
with `accord overlap` (the CLI, in process) using the key A's operator made for their agreement.
B learns exactly which of its values appear in objects A lets B's organisation see (not a RED one
of A's, a draft, another organisation's, one above the ceiling), a value A stores after the first
question, and nothing with a wrong key; refusals (no active agreement, one B is not party to) are
clear and exit 1. Both sides audit the question without its values."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from accord.cli.main import cli
from accord.services.overlap import new_agreement_key, overlap_hash
from accord.services.secrets import SecretBox
from accord.settings import Settings, load_settings
from accord.stix.markings import TLP2_AMBER_STRICT, TLP2_GREEN, TLP2_RED
from accord.storage import open_store
from accord.storage.base import Provenance, State, Store
from tests.policy.world import _ingest
from tests.taxii.conftest import Node, indicator, run_node


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def node_a(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Path]]:
    workdir = tmp_path_factory.mktemp(f"overlap-a-{request.param}")
    for node in run_node(request.param, request, workdir):
        yield node, workdir  # the server's data directory holds its node key (ACCORD_DATA_DIR)


@pytest.fixture
def node_b(tmp_path: Path, template_db: Path) -> Iterator[tuple[Settings, Store]]:
    path = tmp_path / "b.db"
    path.write_bytes(template_db.read_bytes())
    settings = load_settings({"database_url": f"sqlite:///{path}", "data_dir": str(tmp_path / "b-data")}, env={})
    store = open_store(settings.database_url)
    yield settings, store
    store.close()


def _put(a: Node, collection: Any, pattern: str, marking: str, org: str, state: State = State.PUBLISHED) -> None:
    obj = indicator(0, pattern=pattern, object_marking_refs=[marking])
    _ingest(a.store, collection, [obj], Provenance(a.store.get_org(org).pk, state=state, owner_name=org))


def _seed_a(a: Node, workdir: Path) -> tuple[str, str, str, str, Any]:
    """A's side of the agreement: cert-a's data, cert-b's account, the agreement and its key."""
    tag = uuid.uuid4().hex[:6]
    collection = a.collection(f"shared {tag}")
    a.store.add_org(f"cert-a-{tag}")
    a.store.add_org(f"cert-b-{tag}", kind="partner")
    a.store.add_org(f"other-{tag}")
    agreement = f"ab-{tag}"
    a.store.add_agreement(agreement, parties=[f"cert-a-{tag}", f"cert-b-{tag}"], max_tlp="amber", onward=False,
                          valid_from=None, valid_until=None, actor="test")
    user, token = a.user(org=f"cert-b-{tag}", role="reader", read=(collection,))
    own = f"cert-a-{tag}"
    _put(a, collection, "[ipv4-addr:value = '203.0.113.10']", TLP2_GREEN, own)
    _put(a, collection, "[domain-name:value = 'c2.example.com']", TLP2_GREEN, own)
    _put(a, collection, "[ipv4-addr:value = '203.0.113.11']", TLP2_RED, own)  # RED, cert-b not a recipient
    _put(a, collection, "[ipv4-addr:value = '203.0.113.12']", TLP2_GREEN, own, State.DRAFT)
    _put(a, collection, "[ipv4-addr:value = '203.0.113.13']", TLP2_GREEN, f"other-{tag}")  # no agreement
    _put(a, collection, "[ipv4-addr:value = '203.0.113.14']", TLP2_AMBER_STRICT, own)  # above the ceiling
    key, _ = new_agreement_key(a.store, SecretBox(workdir / "node.key"), agreement, rotate=False, actor="test")
    return tag, user, token, key, collection


def _b(settings: Settings, *args: str, input: str | None = None) -> Result:
    env = {"ACCORD_DATA_DIR": str(settings.data_dir), "ACCORD_KEY_FILE": str(settings.key_file)}
    return CliRunner().invoke(cli, ["--db", settings.database_url, *args], input=input, env=env,
                              catch_exceptions=False)


# B's account on A is cert-b's there: on B, the node's own organisation (B's side of the agreement).
SET_KEY = ("peer", "overlap-key", "node-a", "--set", "-", "--for-org", "node")
ASKED = ["203.0.113.10", "C2.Example.COM.", "203.0.113.11", "203.0.113.12", "203.0.113.13", "203.0.113.14",
         "198.51.100.1", "203.0.113.20"]


def _overlap(settings: Settings, *values: str) -> set[str]:
    result = _b(settings, "overlap", "--peer", "node-a", "--json", *values)
    assert result.exit_code == 0, result.output
    return {o["value"] for o in orjson.loads(result.stdout)["overlap"]}


def test_b_learns_exactly_the_overlap_it_may_see(node_a: tuple[Node, Path], node_b: tuple[Settings, Store]) -> None:
    a, workdir = node_a
    settings, b = node_b
    tag, user, token, key, collection = _seed_a(a, workdir)
    b.add_org(f"cert-a-{tag}", kind="partner")
    b.add_peer("node-a", url=f"{a.url}/taxii2/", username=user, sealed_token=SecretBox(Path(settings.key_file)).seal(
        token), org=f"cert-a-{tag}", interval_s=60, accept_max_tlp="amber", accept_types=[],
        links=[("pull", collection.id, "default")], actor="test")
    assert _b(settings, *SET_KEY, input=key + "\n").exit_code == 0

    assert _overlap(settings, *ASKED) == {"203.0.113.10", "C2.Example.COM."}
    text = _b(settings, "overlap", "--peer", "node-a", "203.0.113.10", "hello")
    assert text.exit_code == 1 and text.stdout == "203.0.113.10\tipv4-addr\t203.0.113.10\n"
    assert "1 value asked of peer node-a (agreement ab-" in text.stderr and "1 held there too" in text.stderr
    assert "'hello': not an IP address" in text.stderr
    # A's hash table follows A's store: a value written after the first question is found.
    _put(a, collection, "[ipv4-addr:value = '203.0.113.20']", TLP2_GREEN, f"cert-a-{tag}")
    assert _overlap(settings, *ASKED) == {"203.0.113.10", "C2.Example.COM.", "203.0.113.20"}

    # Both sides audited the questions, without the values.
    asked = a.store.audit_records(action="overlap", org=f"cert-b-{tag}")
    assert len(asked) == 3 and asked[0].agreement == f"ab-{tag}" and orjson.loads(asked[0].detail)["matched"] == 2
    mine = b.audit_records(action="overlap.ask")
    assert len(mine) == 3 and all(b"203.0.113" not in r.detail for r in [*asked, *mine])

    # Hashes made with another key match nothing (a partner's own tool, sending no fingerprint) ...
    wrong = bytes(32)
    with httpx.Client(base_url=a.url, auth=(user, token)) as http:
        answer = http.post("/api/v1/overlap", json={"hashes": [overlap_hash(wrong, "ipv4-addr", "203.0.113.10")]})
        assert answer.status_code == 200 and answer.json()["matches"] == []
    # ... and through the CLI, whose key's fingerprint differs, the question is refused as rotated.
    assert _b(settings, *SET_KEY, input=wrong.hex() + "\n").exit_code == 0
    rotated = _b(settings, "overlap", "--peer", "node-a", "203.0.113.10")
    assert rotated.exit_code == 1 and "answered 409" in rotated.stderr and "rotated" in rotated.stderr
    assert _b(settings, *SET_KEY, input=key + "\n").exit_code == 0

    # No agreement in force: 403 with the reason; one B's organisation is not party to: 404.
    a.store.change_agreement(f"ab-{tag}", action="suspend", actor="test")
    refused = _b(settings, "overlap", "--peer", "node-a", "203.0.113.10")
    assert refused.exit_code == 1 and "answered 403" in refused.stderr
    assert "no active agreement with an overlap key" in refused.stderr
    a.store.change_agreement(f"ab-{tag}", action="resume", actor="test")
    assert _b(settings, *SET_KEY, "--agreement", "not-ours",
              input=key + "\n").exit_code == 0
    unknown = _b(settings, "overlap", "--peer", "node-a", "203.0.113.10")
    assert unknown.exit_code == 1 and "answered 404" in unknown.stderr
    assert "'not-ours' is unknown there" in unknown.stderr
