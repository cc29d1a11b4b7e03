"""kill -9 of `accord serve` at random moments while clients POST, on both backends.

Three client threads, each its own user and organisation, POST small envelopes of unique objects
(indicators whose patterns yield observables and some whose do not, SCOs, malware; some with TLP
1.0 or 2.0 markings; some with a statement marking definition placed after the objects that
reference it) over a fresh connection per request. A response of 202 whose status lists an
object as a success acknowledges it. A controller SIGKILLs the server's whole process group
(parent and workers) at a random moment, starts it again on the same database (alternating one
and two workers) and goes on; a client whose request was cut off waits for the restart and either
sends the same envelope again, as a real client would, or gives it up. After the last round:

- every acknowledged object is stored with identical content (`accord export` as the operator);
- each envelope is all or nothing (one request is one transaction), and whatever is stored, acknowledged
  or not, is exactly what was sent, with its collection membership, its observables
  (accord.stix.observables on the stored body), its effective TLP (accord.stix.markings on its
  refs) and its author;
- the 'write' audit entries cover the stored versions exactly: walked in chain order against the
  versions in date_added order, each entry accounts for a run of versions from one envelope of its
  actor, and `accord audit verify` passes;
- nothing points at a missing version, and SQLite passes `PRAGMA integrity_check` (after every kill)
  and `PRAGMA foreign_key_check`.

The harness prints kills, acknowledged objects, interrupted requests and losses. Waits are bounded;
nothing asserts on how long anything took.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from accord.cli.main import cli
from accord.policy.tokens import new_token
from accord.stix.markings import (
    TLP1_AMBER,
    TLP1_GREEN,
    TLP1_WHITE,
    TLP2_AMBER_STRICT,
    TLP2_CLEAR,
    TLP2_RED,
    UNKNOWN,
    definition_level,
    tlp_of_refs,
)
from accord.stix.observables import observables_of
from accord.stix.timestamps import timestamp_key
from accord.storage import open_store
from tests.conftest import _pg_admin
from tests.taxii.conftest import TAXII, _database
from tests.taxii.crash_util import DEADLINE, Spawned, snapshot, spawn, sqlite_checks

SEED = 20261126
KILLS = 22
CLIENTS = 3
ROLES = ("publisher", "analyst", "publisher")  # analysts' writes are drafts: both release states
TLP_REFS = (TLP1_WHITE, TLP1_GREEN, TLP1_AMBER, TLP2_CLEAR, TLP2_AMBER_STRICT, TLP2_RED)


# -- what the clients send -----------------------------------------------------------------------

def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _stamp(rng: random.Random) -> str:
    return (f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z")


def _ipv4(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def _pattern(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return f"[ipv4-addr:value = '{_ipv4(rng)}']"
    if kind == 1:
        return f"[domain-name:value = 'h{rng.getrandbits(32):x}.example.org']"
    if kind == 2:
        return f"[file:hashes.'SHA-256' = '{rng.getrandbits(256):064x}']"
    if kind == 3:
        return f"[url:value = 'http://u{rng.getrandbits(32):x}.example.net/p']"
    if kind == 4:
        return (f"[ipv4-addr:value = '{_ipv4(rng)}'] OR "
                f"[domain-name:value = 'c{rng.getrandbits(32):x}.example.com']")
    return f"[process:pid = {rng.randint(2, 60000)}]"  # a valid pattern that indexes nothing


def _object(rng: random.Random) -> dict[str, Any]:
    kind = rng.random()
    created = _stamp(rng)
    if kind < 0.65:
        return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{_uuid(rng)}", "created": created,
                "modified": created, "name": f"crash {rng.getrandbits(24)}", "pattern": _pattern(rng),
                "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
    if kind < 0.8:
        return {"type": "malware", "spec_version": "2.1", "id": f"malware--{_uuid(rng)}", "created": created,
                "modified": created, "name": f"family {rng.getrandbits(24)}", "is_family": True}
    if kind < 0.9:
        return {"type": "ipv4-addr", "spec_version": "2.1", "id": f"ipv4-addr--{_uuid(rng)}", "value": _ipv4(rng)}
    return {"type": "domain-name", "spec_version": "2.1", "id": f"domain-name--{_uuid(rng)}",
            "value": f"s{rng.getrandbits(32):x}.example.info"}


@dataclass
class Envelope:
    client: int
    username: str
    objects: list[dict[str, Any]]
    body: bytes = b""
    ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.body = orjson.dumps({"objects": self.objects})
        self.ids = frozenset(o["id"] for o in self.objects)


def make_envelope(rng: random.Random, client: int, username: str) -> Envelope:
    objects = [_object(rng) for _ in range(rng.randint(2, 25))]
    for obj in objects:
        if rng.random() < 0.4:
            obj["object_marking_refs"] = [rng.choice(TLP_REFS)]
    if rng.random() < 0.25:
        # A statement marking definition after the objects that carry it (as ATT&CK orders its
        # bundle): their TLP is settled at the end of the transaction.
        statement = {"type": "marking-definition", "spec_version": "2.1", "id": f"marking-definition--{_uuid(rng)}",
                     "created": _stamp(rng), "definition_type": "statement",
                     "definition": {"statement": f"crash harness {rng.getrandbits(32)}"}}
        for obj in rng.sample(objects, k=min(3, len(objects))):
            obj["object_marking_refs"] = [*obj.get("object_marking_refs", ()), statement["id"]]
        objects.append(statement)
    return Envelope(client, username, objects)


# -- the controller and the clients --------------------------------------------------------------

@dataclass
class Harness:
    path: str
    cond: threading.Condition = field(default_factory=threading.Condition)
    url: str | None = None
    generation: int = 0
    stopping: bool = False
    sent: list[Envelope] = field(default_factory=list)
    acknowledged: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> (status version, body)
    posts: int = 0
    interrupted: int = 0
    errors: list[str] = field(default_factory=list)

    def serving(self, url: str | None) -> None:
        with self.cond:
            self.url = url
            if url is not None:
                self.generation += 1
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def current(self) -> tuple[int, str] | None:
        """(generation, url) of the server up now, waiting for one; None once stopping."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.stopping or self.url is not None, timeout=DEADLINE):
                self.errors.append("no server came up in time")
                return None
            return None if self.stopping or self.url is None else (self.generation, self.url)

    def wait_past(self, generation: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.stopping or (self.generation > generation and self.url is not None),
                               timeout=DEADLINE)

    def client(self, index: int, username: str, token: str, seed: str) -> None:
        try:
            self._client(index, username, token, seed)
        except BaseException as exc:  # a client that dies must fail the test, not thin the load
            with self.cond:
                self.errors.append(f"client {index}: {exc!r}")

    def _client(self, index: int, username: str, token: str, seed: str) -> None:
        rng = random.Random(seed)
        retry: Envelope | None = None
        headers = {"Accept": TAXII, "Content-Type": TAXII, "Authorization": f"Bearer {token}"}
        # A fresh connection per request, so that the kernel spreads them over the workers.
        with httpx.Client(headers=headers, limits=httpx.Limits(max_keepalive_connections=0),
                          timeout=DEADLINE) as http:
            while True:
                up = self.current()
                if up is None:
                    return
                generation, url = up
                envelope = retry or make_envelope(rng, index, username)
                retry = None
                with self.cond:
                    self.sent.append(envelope)
                    self.posts += 1
                try:
                    response = http.post(url + self.path, content=envelope.body)
                except httpx.TransportError:
                    with self.cond:
                        self.interrupted += 1
                    if rng.random() < 0.5:
                        retry = envelope  # send it again once the server is back
                    self.wait_past(generation)
                    continue
                status = response.json() if response.status_code == 202 else {}
                if response.status_code != 202 or status.get("failure_count") or \
                        status.get("success_count") != len(envelope.objects):
                    with self.cond:
                        self.errors.append(f"{response.status_code}: {response.text[:500]}")
                    continue
                bodies = {o["id"]: orjson.dumps(o) for o in envelope.objects}
                with self.cond:
                    for success in status["successes"]:
                        self.acknowledged[success["id"]] = (success["version"], bodies[success["id"]])


def _setup(db_url: str, collection_title: str) -> tuple[str, int, list[tuple[str, str]]]:
    """A collection and one writer (own organisation, own token) per client; (id, pk, [(user, token)])."""
    store = open_store(db_url)
    try:
        collection = store.add_collection(collection_title, description="crash harness")
        writers = []
        for i in range(CLIENTS):
            org = f"crash-org-{i}"
            store.add_org(org)
            username = f"crash-writer-{i}"
            store.add_user(username, org=org, role=ROLES[i])
            token, digest = new_token()
            store.add_token(username, digest)
            store.set_grant(collection, org, can_read=True, can_write=True)
            writers.append((username, token))
        return collection.id, collection.pk, writers
    finally:
        store.close()


# -- the checks ------------------------------------------------------------------------------------

def _expected_tlp(obj: dict[str, Any], levels: dict[str, str]) -> str | None:
    refs = [r for r in obj.get("object_marking_refs") or () if isinstance(r, str)]
    return tlp_of_refs(refs, levels) if refs else None


def check_store(db_url: str, harness: Harness, collection_id: str, collection_pk: int) -> dict[str, int]:
    """Every property the module docstring lists; returns a few counts for the summary."""
    runner = CliRunner()
    exported = runner.invoke(cli, ["--db", db_url, "export"], catch_exceptions=False)
    assert exported.exit_code == 0, exported.output
    as_exported = {o["id"]: orjson.dumps(o) for o in orjson.loads(exported.stdout)["objects"]}
    lost = sorted(i for i, (_, body) in harness.acknowledged.items() if as_exported.get(i) != body)
    assert not lost, f"{len(lost)} acknowledged objects lost or changed, e.g. {lost[:5]}"

    posted: dict[str, tuple[Envelope, dict[str, Any]]] = {}
    for envelope in harness.sent:
        for obj in envelope.objects:
            posted.setdefault(obj["id"], (envelope, obj))
    snap = snapshot(db_url)
    assert snap.orphans == {name: 0 for name in snap.orphans}, snap.orphans
    by_pk = {pk: (sid, ver, tlp, author, body) for pk, sid, ver, tlp, author, body in snap.versions}
    stored = {sid: pk for pk, (sid, *_) in by_pk.items()}
    assert len(stored) == len(by_pk), "an object stored in two versions (each was sent with one)"
    assert stored.keys() <= posted.keys(), "a stored object nobody sent"
    assert set(as_exported) == stored.keys()

    for envelope in {id(e): e for e in harness.sent}.values():  # one request is one transaction
        present = envelope.ids & stored.keys()
        assert present in (set(), envelope.ids), \
            f"envelope of {envelope.username} half stored: {len(present)} of {len(envelope.ids)} objects"

    levels = {}
    for _, _, _, _, body in by_pk.values():
        obj = orjson.loads(body)
        if obj["type"] == "marking-definition":
            level = definition_level(obj)
            levels[obj["id"]] = UNKNOWN if level is None else level
    members: dict[int, list[int]] = {}
    for _, cpk, vpk in snap.members:
        members.setdefault(vpk, []).append(cpk)
    observed: dict[int, set[tuple[str, str]]] = {}
    for otype, value, vpk in snap.observables:
        observed.setdefault(vpk, set()).add((otype, value))
    indexed = 0
    for pk, (sid, version, tlp, author, body) in by_pk.items():
        envelope, sent = posted[sid]
        assert body == orjson.dumps(sent), f"{sid}: stored content differs from what was sent"
        obj = orjson.loads(body)
        stamp = obj.get("modified", obj.get("created"))
        if stamp is not None:
            assert version == timestamp_key(stamp), (sid, version)
        assert members.get(pk) == [collection_pk], f"{sid}: membership rows {members.get(pk)}"
        expected = set(observables_of(obj))
        assert observed.get(pk, set()) == expected, f"{sid}: observables {observed.get(pk)} != {expected}"
        indexed += bool(expected)
        assert tlp == _expected_tlp(obj, levels), f"{sid}: tlp {tlp!r} for refs {obj.get('object_marking_refs')}"
        assert author == envelope.username, (sid, author)
    for sid, (version, _) in harness.acknowledged.items():
        obj = orjson.loads(by_pk[stored[sid]][4])
        if "modified" in obj or "created" in obj:
            assert version == obj.get("modified", obj.get("created")), (sid, version)

    # The 'write' entries in chain order account for the versions in commit (date_added) order:
    # each takes the next `stored + added` versions, all from one envelope of the entry's actor.
    order = [by_pk[vpk][0] for _, cpk, vpk in snap.members if cpk == collection_pk]
    writes = [(seq, actor, orjson.loads(detail)) for seq, actor, action, subject, detail in snap.audit
              if action == "write" and subject == collection_id]
    at = 0
    for seq, actor, detail in writes:
        count = detail["stored"] + detail["added"]
        run = order[at:at + count]
        assert run and len(run) == count, f"audit entry {seq} ({actor}) records {count} versions, {len(run)} left"
        assert len({id(posted[sid][0]) for sid in run}) == 1, f"audit entry {seq} spans several envelopes"
        assert set(run) == posted[run[0]][0].ids, f"audit entry {seq} covers part of an envelope"
        assert {posted[sid][0].username for sid in run} == {actor}, f"audit entry {seq}: actor {actor}"
        at += len(run)
    assert at == len(order), f"{len(order) - at} stored versions without a 'write' audit entry"
    verified = runner.invoke(cli, ["--db", db_url, "audit", "verify"], catch_exceptions=False)
    assert verified.exit_code == 0, verified.output

    if db_url.startswith("sqlite:///"):
        integrity, foreign = sqlite_checks(db_url)
        assert integrity == [("ok",)], integrity
        assert foreign == [], foreign
    return {"stored": len(stored), "indexed": indexed, "writes": len(writes),
            "markings": sum(1 for sid in stored if sid.startswith("marking-definition--"))}


# -- the test --------------------------------------------------------------------------------------

@pytest.fixture
def crash_db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    url, pg_name = _database(backend, request, tmp_path)
    yield url
    if pg_name is not None:
        _pg_admin(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


@pytest.mark.slow
def test_random_kills_of_serve_lose_nothing_acknowledged(backend: str, crash_db: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(f"{SEED}-{backend}")
    collection_id, collection_pk, writers = _setup(crash_db, "crash harness")
    harness = Harness(f"/default/collections/{collection_id}/objects/")
    threads = [threading.Thread(target=harness.client, args=(i, user, token, f"{SEED}-{backend}-client-{i}"),
                                daemon=True) for i, (user, token) in enumerate(writers)]
    for t in threads:
        t.start()
    kills = 0
    server: Spawned | None = None
    try:
        for round_ in range(KILLS):
            server = spawn(crash_db, tmp_path, workers=1 + round_ % 2)
            harness.serving(server.url)
            time.sleep(rng.uniform(0.05, 1.2))
            harness.serving(None)
            server.kill()
            server = None
            kills += 1
            if crash_db.startswith("sqlite:///"):
                integrity, _ = sqlite_checks(crash_db)
                assert integrity == [("ok",)], f"after kill {kills}: {integrity}"
        # A last server, to take the retries, then stopped gracefully.
        server = spawn(crash_db, tmp_path, workers=2)
        harness.serving(server.url)
        time.sleep(0.5)
        harness.stop()
        for t in threads:
            t.join(timeout=DEADLINE)
        assert not any(t.is_alive() for t in threads), "a client did not finish"
        harness.serving(None)
        assert server.terminate() == 0, server.log.read_text()
        server = None
    finally:
        harness.stop()
        if server is not None:
            server.kill()
    assert not harness.errors, harness.errors[:5]
    counts = check_store(crash_db, harness, collection_id, collection_pk)
    with capsys.disabled():  # the figures belong in the CI log
        print(f"\nserve crash harness ({backend}): kills={kills} posts={harness.posts} "
              f"interrupted={harness.interrupted} acknowledged={len(harness.acknowledged)} "
              f"stored={counts['stored']} indexed={counts['indexed']} writes={counts['writes']} lost=0")
    assert kills >= 20
    assert harness.interrupted > 0, "no kill caught a request in flight"
