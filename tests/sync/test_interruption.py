"""Interrupted syncs converge: `accord sync run` killed at random moments, and responses cut off
mid-page by a proxy, at least ten times each. After each interruption the next run goes on; in
the end the pulling node holds every version exactly once, and the link's cursor was only ever
seen moving forward."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.services.ingest import ingest_items, iter_items
from accord.services.secrets import SecretBox
from accord.storage import open_store
from accord.storage.base import Provenance, Store
from accord.storage.peers import cursor_order
from tests.taxii.conftest import ROOT, Node, indicator, run_node

OBJECTS = 2500  # three pages of 1000
ROUNDS = 10


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def node_a(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    yield from run_node(request.param, request, tmp_path_factory.mktemp("a"), ACCORD_SYNC_SCHEDULER="false")


@pytest.fixture
def b_url(node_a: Node, request: pytest.FixtureRequest, tmp_path: Path, template_db: Path) -> str:
    """Node B's database, on the same backend as node A's."""
    if node_a.store.url.startswith("postgresql"):
        url: str = request.getfixturevalue("pg_url")
        return url
    path = tmp_path / "b.db"
    path.write_bytes(template_db.read_bytes())
    return f"sqlite:///{path}"


def _seed(a: Node) -> tuple[str, str, str, str]:
    tag = uuid.uuid4().hex[:6]
    collection = a.collection(f"big {tag}")
    a.store.add_org(f"cert-a-{tag}")
    a.store.add_org(f"cert-b-{tag}", kind="partner")
    a.store.add_agreement(f"ab-{tag}", parties=[f"cert-a-{tag}", f"cert-b-{tag}"], max_tlp="amber", onward=False,
                          valid_from=None, valid_until=None, actor="test")
    user, token = a.user(org=f"cert-b-{tag}", role="reader", read=(collection,))
    _more(a, collection.id, tag, 0)
    return collection.id, user, token, tag


def _more(a: Node, collection_id: str, tag: str, start: int) -> int:
    """Add OBJECTS more versions at A (so an interrupted sync always has work left); returns the total."""
    owner = a.store.get_org(f"cert-a-{tag}")
    with a.store.transaction() as tx:
        ingest_items(tx, a.store.get_collection(collection_id),
                     iter_items([indicator(i) for i in range(start, start + OBJECTS)]),
                     Provenance(owner.pk, owner_name=owner.name))
    return start + OBJECTS


def _node_b(tmp_path: Path, b_url: str, a_url: str, seeded: tuple[str, str, str, str]) -> tuple[Store, dict]:
    collection_id, user, token, tag = seeded
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ACCORD_DATABASE_URL": b_url,
           "ACCORD_DATA_DIR": str(tmp_path / "b"), "ACCORD_KEY_FILE": str(tmp_path / "b" / "node.key")}
    store = open_store(env["ACCORD_DATABASE_URL"])
    store.add_org(f"cert-a-{tag}", kind="partner")
    store.add_peer("node-a", url=f"{a_url}/taxii2/", username=user,
                   sealed_token=SecretBox(Path(env["ACCORD_KEY_FILE"])).seal(token), org=f"cert-a-{tag}",
                   interval_s=60, accept_max_tlp="red", accept_types=[], links=[("pull", collection_id, "default")],
                   actor="test")
    return store, env


def _sync(env: dict[str, str], kill_after: float | None) -> int | None:
    process = subprocess.Popen([sys.executable, "-m", "accord.cli", "sync", "run"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if kill_after is not None:
        try:
            return process.wait(kill_after)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return None
    return process.wait(120)


def _check_converged(store: Store, cursors: list[str], total: int = OBJECTS) -> None:
    link = store.get_peer("node-a").links[0]
    assert link.cursor is not None
    orders = [cursor_order(c) for c in [*cursors, link.cursor]]
    assert orders == sorted(orders), "the cursor moved backwards"
    stats = store.stats()
    assert stats.total_versions == total  # every version, none twice (one owner, one collection)
    pk = store.get_collection("default").pk
    assert stats.by_collection.get("default", stats.by_collection.get(str(pk))) == total


def test_killed_runs_converge(node_a: Node, tmp_path: Path, b_url: str) -> None:
    seeded = _seed(node_a)
    store, env = _node_b(tmp_path, b_url, node_a.url, seeded)
    total = OBJECTS
    rng = random.Random(7)
    cursors: list[str] = []
    kills = 0
    for _ in range(ROUNDS * 4):
        if _sync(env, kill_after=rng.uniform(0.3, 2.0)) is None:
            kills += 1
        else:  # the run finished: give the next one something to be interrupted in
            total = _more(node_a, seeded[0], seeded[3], total)
        cursor = store.get_peer("node-a").links[0].cursor
        if cursor is not None:
            cursors.append(cursor)
        if kills >= ROUNDS:
            break
    assert kills >= ROUNDS, f"only {kills} runs were still going when killed"
    assert _sync(env, kill_after=None) == 0
    _check_converged(store, cursors, total)
    assert _sync(env, kill_after=None) == 0  # and a further run changes nothing
    _check_converged(store, cursors, total)
    store.close()


class CuttingProxy:
    """Relays loopback TCP to a server, cutting each response off after a random number of bytes
    while ``cutting`` is set."""

    def __init__(self, target_port: int, rng: random.Random):
        self._target = target_port
        self._rng = rng
        self.cutting = True
        self.cuts = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self._target))
        budget = self._rng.randint(2_000, 400_000) if self.cutting else None

        def upward() -> None:
            try:
                while data := client.recv(65536):
                    upstream.sendall(data)
            except OSError:
                pass

        threading.Thread(target=upward, daemon=True).start()
        sent = 0
        try:
            while data := upstream.recv(65536):
                if budget is not None and sent + len(data) > budget:
                    client.sendall(data[:budget - sent])
                    self.cuts += 1
                    break
                client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._listener.close()


def test_responses_cut_mid_page_converge(node_a: Node, tmp_path: Path, b_url: str) -> None:
    port = int(node_a.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, random.Random(11))
    try:
        store, env = _node_b(tmp_path, b_url, f"http://127.0.0.1:{proxy.port}", _seed(node_a))
        cursors: list[str] = []
        failures = 0
        deadline = time.monotonic() + 120
        while proxy.cuts < ROUNDS and time.monotonic() < deadline:
            if _sync(env, kill_after=None) != 0:
                failures += 1
            cursor = store.get_peer("node-a").links[0].cursor
            if cursor is not None:
                cursors.append(cursor)
        assert proxy.cuts >= ROUNDS and failures >= 1
        proxy.cutting = False
        assert _sync(env, kill_after=None) == 0
        _check_converged(store, cursors)
        store.close()
    finally:
        proxy.close()
