"""A real `accord serve` per test module and backend, and helpers to make callers and collections.

The server runs as a subprocess on a free loopback port against a fresh database (a SQLite file,
or a PostgreSQL database copied from the session template). The test process opens the same
database through the Store API to create organisations, users, tokens, grants and collections,
exactly as the CLI would. The server runs in a process group of its own, which is stopped at
teardown (a SIGTERM to its parent, then a SIGKILL to the group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from accord.policy.tokens import new_token
from accord.storage import open_store
from accord.storage.base import Collection, Store
from tests.conftest import BACKENDS, _pg_admin, _pg_url

TAXII = "application/taxii+json;version=2.1"
MAX_CONTENT_LENGTH = 4 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM the parent; SIGKILL its whole process group if it has not exited in 15 s, and
        any worker that outlived it (a parent killed before it joined its workers orphans them,
        and an orphan would go on serving its port and holding its database for the whole run).

        The group is signalled only while its leader is not yet reaped (an exited leader stays a
        zombie until waited for, which keeps its pid, and so the group's id, from being reused):
        a group id whose leader was reaped could by then name somebody else's group."""
        if self.process.returncode is not None:
            return  # reaped already (a test waited for it): its group id is no longer ours to signal
        os.kill(self.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and os.waitid(
                os.P_PID, self.process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)


def start_server(db_url: str, workdir: Path, **env: str) -> Server:
    """Start `accord serve` and wait until /healthz answers (or fail with the server's log)."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "ACCORD_DATA_DIR": str(workdir),
                   "ACCORD_DATABASE_URL": db_url, "ACCORD_MAX_CONTENT_LENGTH": str(MAX_CONTENT_LENGTH),
                   "ACCORD_AUTH_FAILURES_PER_MINUTE": "100000", **env}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "accord.cli", "serve", "--host", "127.0.0.1",
                                    "--port", str(port)], env=environment, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT,
                                   start_new_session=True)  # a group of its own, for stop()
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"accord serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"accord serve did not become healthy:\n{log.read_text()}")


@dataclass
class Node:
    """A running server and the test's own handle on its database."""

    url: str
    store: Store
    server: Server
    _made: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"{self.url}/default"

    def collection(self, title: str = "test collection") -> Collection:
        return self.store.add_collection(title, description=f"{title} for a test")

    def user(self, *, role: str = "analyst", org: str | None = None, read: tuple[Collection, ...] = (),
             write: tuple[Collection, ...] = ()) -> tuple[str, str]:
        """A new user (in a new organisation unless ``org`` is given) with a token; returns
        (username, token). ``read``/``write`` grant the organisation those collections."""
        if org is None:
            org = f"org-{uuid.uuid4().hex[:8]}"
            self.store.add_org(org)
        username = f"user-{uuid.uuid4().hex[:8]}"
        self.store.add_user(username, org=org, role=role)
        token, digest = new_token()
        self.store.add_token(username, digest)
        for c in {*read, *write}:
            self.store.set_grant(c, org, can_read=c in read, can_write=c in write)
        return username, token

    def client(self, token: str | None = None, username: str | None = None) -> httpx.Client:
        headers = {"Accept": TAXII}
        auth: tuple[str, str] | None = None
        if token is not None and username is not None:
            auth = (username, token)
        elif token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, auth=auth, timeout=30)


def _database(backend: str, request: pytest.FixtureRequest, workdir: Path) -> tuple[str, str | None]:
    """(url, PostgreSQL database name to drop or None) of a fresh, initialised database."""
    if backend == "postgres":
        template: str = request.getfixturevalue("pg_template")
        name = f"accord_taxii_{uuid.uuid4().hex[:12]}"
        _pg_admin(f"CREATE DATABASE {name} TEMPLATE {template}")
        return _pg_url(name), name
    url = f"sqlite:///{workdir / 'accord.db'}"
    store = open_store(url)
    store.initialise()
    store.close()
    return url, None


def run_node(backend: str, request: pytest.FixtureRequest, workdir: Path, **env: str) -> Iterator[Node]:
    url, pg_name = _database(backend, request, workdir)
    server = start_server(url, workdir, **env)
    store = open_store(url)
    try:
        yield Node(server.url, store, server)
    finally:
        server.stop()
        store.close()
        if pg_name is not None:
            _pg_admin(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


@pytest.fixture(scope="module", params=BACKENDS)
def node(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A live server on a fresh database, shared by the tests of one module, per backend."""
    yield from run_node(request.param, request, tmp_path_factory.mktemp(f"node-{request.param}"))


def bundle_of(*objects: dict[str, object]) -> dict[str, object]:
    return {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)}


def indicator(n: int = 0, *, modified: str = "2026-01-01T00:00:00.000Z", stix_id: str | None = None,
              **extra: object) -> dict[str, object]:
    return {"type": "indicator", "spec_version": "2.1", "id": stix_id or f"indicator--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z", "modified": modified, "name": f"indicator {n}",
            "pattern": f"[ipv4-addr:value = '10.0.{n // 256 % 256}.{n % 256}']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", **extra}
