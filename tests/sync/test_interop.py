"""Interop of federation with the OASIS reference implementations, and the client's SSRF rules.

* Accord pulls from medallion (the OASIS TAXII 2.1 server, memory backend) seeded with real data:
  Amnesty's Cytrox indicators and medallion's own test fixture (several versions of one object,
  two versions that share one ``date_added``). medallion runs as a subprocess on a free loopback
  port, from a config and data file written into the test's directory, and is stopped by its pid.
* taxii2-client (the OASIS client) syncs from a live ``accord serve`` the way a foreign partner
  would: ``as_pages`` with ``added_after`` from the last ``X-TAXII-Date-Added-Last``.
* A peer that redirects, or whose discovery names an API root on another origin, is refused.
"""

from __future__ import annotations

import copy
import http.server
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from taxii2client import v21 as taxii2client

from accord.app import sync_cycle
from accord.errors import SyncError
from accord.services.secrets import SecretBox
from accord.settings import Settings
from accord.stix.versions import version_key
from accord.storage.base import Store, VersionQuery
from accord.sync.client import PeerClient
from accord.sync.cycle import run_cycle
from tests.conftest import shared_data
from tests.sync.test_two_nodes import _ALL, LEVELS, _seed_a, node_a, node_b  # noqa: F401  (fixtures)
from tests.taxii.conftest import TAXII, Node, Server, free_port, indicator

MEDALLION_USER, MEDALLION_PASSWORD = "accord", "interop-secret"
PAGE = 40  # medallion's max_page_size: the pulls below take several pages, through `next`
OASIS_COLLECTION = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"  # medallion's fixture, API root trustgroup1
CYTROX_COLLECTION = "c7e0a1c2-9d3b-4e55-8f0e-1b2a3c4d5e6f"
EMPTY_COLLECTIONS = [f"e0000000-0000-4000-8000-00000000000{i}" for i in range(4)]  # for tests that POST


# --- medallion ----------------------------------------------------------------------------------


@dataclass
class Medallion(Server):  # url: its discovery URL; stop() by pid, as for `accord serve`
    _served: dict[str, set[tuple[str, str]]] = field(default_factory=dict)

    def root(self, api_root: str = "trustgroup1") -> str:
        return self.url.replace("/taxii2/", f"/{api_root}/")

    def http(self) -> httpx.Client:
        return httpx.Client(auth=(MEDALLION_USER, MEDALLION_PASSWORD), headers={"Accept": TAXII}, timeout=30)

    def served(self, collection: str) -> set[tuple[str, str]]:
        """(id, Accord's version key) of every version medallion serves from a collection, through `next`.
        Kept per collection: each first page costs medallion seconds (it scans the collection quadratically)."""
        if collection in self._served:
            return self._served[collection]
        out = self._served[collection] = set()
        params = {"match[version]": "all", "limit": str(PAGE)}  # medallion needs `limit` beside `next`
        with self.http() as http:
            while True:
                envelope = http.get(f"{self.root()}collections/{collection}/objects/", params=params).json()
                out |= {(o["id"], version_key(o)) for o in envelope.get("objects", [])}
                if not envelope.get("more"):
                    return out
                params["next"] = envelope["next"]

    def post(self, collection: str, objects: list[dict[str, Any]]) -> None:
        with self.http() as http:
            answer = http.post(f"{self.root()}collections/{collection}/objects/",
                               content=orjson.dumps({"objects": objects}), headers={"Content-Type": TAXII})
        assert answer.status_code == 202 and answer.json()["success_count"] == len(objects), answer.text


def _medallion_data(port: int) -> dict[str, Any]:
    """medallion's own fixture (read from shared data, rewritten to our port), plus the Cytrox
    indicators as one more collection with a distinct date_added per object, and empty ones."""
    fixture = json.loads(shared_data("oasis-cti-taxii-server", "medallion", "test", "data",
                                     "default_data.json").read_text())
    cytrox = json.loads(shared_data("amnesty-investigations", "2021-12-16_cytrox", "cytrox.stix2").read_text())
    base = f"http://127.0.0.1:{port}"
    data: dict[str, Any] = copy.deepcopy(fixture)
    roots = [r.replace("http://localhost:5000", base) for r in fixture["/discovery"]["api_roots"]]
    data["/discovery"].update(api_roots=roots, default=f"{base}/trustgroup1/")
    collections = data["trustgroup1"]["collections"]
    objects = cytrox["objects"]
    collections.append({
        "id": CYTROX_COLLECTION, "title": "Cytrox (Amnesty, 2021-12-16)", "can_read": True, "can_write": False,
        "media_types": ["application/stix+json;version=2.1"], "objects": objects,
        "manifest": [{"id": o["id"], "date_added": f"2021-12-16T10:00:{i // 1000:02d}.{i % 1000:03d}000Z",
                      "version": o.get("modified") or o["created"],
                      "media_type": "application/stix+json;version=2.1"} for i, o in enumerate(objects)]})
    for cid in EMPTY_COLLECTIONS:
        collections.append({"id": cid, "title": "posted to by a test", "can_read": True, "can_write": True,
                            "media_types": ["application/stix+json;version=2.1"], "objects": [], "manifest": []})
    return data


def start_medallion(workdir: Path) -> Medallion:
    port = free_port()
    data_file, config_file = workdir / "medallion-data.json", workdir / "medallion-config.json"
    data_file.write_text(json.dumps(_medallion_data(port)))
    config_file.write_text(json.dumps({
        "users": {MEDALLION_USER: MEDALLION_PASSWORD},
        "taxii": {"max_page_size": PAGE},
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(data_file), "session_timeout": 30, "check_interval": 10}}))
    log = workdir / "medallion.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1",
                                    "--port", str(port), str(config_file)], stdout=out, stderr=subprocess.STDOUT)
    server = Medallion(f"http://127.0.0.1:{port}/taxii2/", process, log)
    deadline = time.monotonic() + 30
    while not _answers(server):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"medallion did not start (exit status {process.returncode}):\n{log.read_text()}")
        time.sleep(0.1)
    return server


def _answers(server: Medallion) -> bool:
    try:
        with server.http() as http:
            return http.get(server.url).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def medallion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Medallion]:
    pytest.importorskip("medallion", reason="medallion (the OASIS TAXII server) is a dev dependency")
    server = start_medallion(tmp_path_factory.mktemp("medallion"))
    try:
        yield server
    finally:
        server.stop()


# --- node B, pulling ----------------------------------------------------------------------------


def _add_peer(settings: Settings, store: Store, url: str, links: list[tuple[str, str, str]], *,
              name: str = "partner", username: str = MEDALLION_USER, token: str = MEDALLION_PASSWORD) -> None:
    org = f"org-{name}"
    store.add_org(org, kind="partner")
    store.add_peer(name, url=url, username=username, sealed_token=SecretBox(Path(settings.key_file)).seal(token),
                   org=org, interval_s=60, accept_max_tlp="red", accept_types=[], links=links, actor="test")


def _held(store: Store, collection: str = "default") -> set[tuple[str, str]]:
    pk = store.get_collection(collection).pk
    return {(row.stix_id, row.version) for row in store.iter_visible(VersionQuery(collection_pk=pk), _ALL)}


@pytest.mark.realdata
def test_accord_pulls_everything_medallion_serves(medallion: Medallion, node_b: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, b = node_b
    oasis = b.add_collection("oasis", description="medallion's fixture").id
    _add_peer(settings, b, medallion.url, [("pull", CYTROX_COLLECTION, "default"),
                                             ("pull", OASIS_COLLECTION, oasis)])
    served_cytrox, served_oasis = medallion.served(CYTROX_COLLECTION), medallion.served(OASIS_COLLECTION)
    assert len(served_cytrox) == 687
    # medallion's fixture holds 8 versions; it serves 7: a malware version without spec_version counts
    # as STIX 2.0 there, and without match[spec_version] only an object's newest spec version is served.
    assert len(served_oasis) == 7

    first = sync_cycle(settings, b)
    assert [r.error for r in first] == [None, None]
    assert [(r.transfer.objects, r.transfer.stored) for r in first if r.transfer] == [(687, 687), (7, 7)]
    assert _held(b) == served_cytrox and _held(b, oasis) == served_oasis
    cursors = [link.cursor for link in b.get_peer("partner").links]
    # The cursor is the last page's X-TAXII-Date-Added-Last: the newest date_added in each collection.
    assert cursors == ["2021-12-16T10:00:00.686000Z", "2017-12-31T13:49:53.935000Z"]

    again = sync_cycle(settings, b)
    assert [(r.error, r.transfer.objects, r.transfer.stored) for r in again if r.transfer] == [(None, 0, 0)] * 2
    assert [link.cursor for link in b.get_peer("partner").links] == cursors
    assert _held(b) == served_cytrox and _held(b, oasis) == served_oasis


class _LosesConnection(PeerClient):
    """A client whose pull breaks after ``pages`` pages, as when medallion's ``next`` session expires
    (medallion drops a paging session ``session_timeout`` seconds after its first page, however busy)."""

    def __init__(self, *args: Any, pages: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.left = pages

    def get_objects(self, collection_id: str, **kwargs: Any) -> Any:
        if self.left == 0:
            raise SyncError("connection lost (test)")
        self.left -= 1
        return super().get_objects(collection_id, **kwargs)


def _interrupted_then_resumed(settings: Settings, b: Store, pages: int) -> tuple[int, int]:
    """One cycle that breaks after ``pages`` pages, then a whole one: (versions held after each)."""
    box = SecretBox(Path(settings.key_file))
    broken = run_cycle(b, box, lambda peer, token: _LosesConnection(peer.url, peer.username, token, pages=pages))
    assert [r.error for r in broken] == ["connection lost (test)"]
    after_break = len(_held(b))
    resumed = sync_cycle(settings, b)
    assert [r.error for r in resumed] == [None]
    return after_break, len(_held(b))


@pytest.mark.realdata
def test_a_broken_pull_resumes_after_the_last_stored_page(medallion: Medallion,
                                                          node_b: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, b = node_b
    _add_peer(settings, b, medallion.url, [("pull", CYTROX_COLLECTION, "default")])
    assert _interrupted_then_resumed(settings, b, pages=3) == (3 * PAGE, 687)
    assert _held(b) == medallion.served(CYTROX_COLLECTION)


@pytest.mark.realdata
def test_a_broken_pull_inside_one_posted_envelope_loses_nothing(medallion: Medallion,
                                                                node_b: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, b = node_b
    collection = EMPTY_COLLECTIONS[0]
    medallion.post(collection, [indicator(i) for i in range(100)])  # one envelope: one date_added for all
    _add_peer(settings, b, medallion.url, [("pull", collection, "default")])
    after_break, after_resume = _interrupted_then_resumed(settings, b, pages=1)
    assert after_break == PAGE
    assert after_resume == 100, f"{100 - after_resume} of the 100 versions medallion serves were never pulled"


# --- a foreign partner syncing from Accord with taxii2-client ------------------------------------------


def _sync_with_taxii2client(collection: Any, added_after: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """What a foreign node does each cycle: every version added after its cursor, in pages of 2 through
    ``next``; the new cursor is the last page's X-TAXII-Date-Added-Last (taxii2-client returns bodies
    only, so the header is read with a response hook on its requests session)."""
    seen: list[str] = []

    def remember(response: Any, *args: Any, **kwargs: Any) -> None:
        if "X-TAXII-Date-Added-Last" in response.headers:
            seen.append(response.headers["X-TAXII-Date-Added-Last"])

    hooks = collection._conn.session.hooks["response"]
    hooks.append(remember)
    try:
        filters = {"version": "all", **({"added_after": added_after} if added_after else {})}
        objects = [o for page in taxii2client.as_pages(collection.get_objects, per_request=2, **filters)
                   for o in page.get("objects", [])]
    finally:
        hooks.remove(remember)
    return objects, seen[-1] if seen else added_after


def test_taxii2client_syncs_what_the_agreement_allows(node_a: Node) -> None:  # noqa: F811
    collection, sync_user, sync_token, seeded = _seed_a(node_a)
    allowed = ("clear", "green", "amber")  # the agreement stops at AMBER: no AMBER+STRICT, no RED
    server = taxii2client.Server(f"{node_a.url}/taxii2/", user=sync_user, password=sync_token)
    remote = next(c for c in server.default.collections if c.id == collection.id)

    first, cursor = _sync_with_taxii2client(remote, None)
    assert sorted(o["id"] for o in first) == sorted(seeded[level] for level in allowed)
    assert cursor is not None

    # A's own members then publish a new version of every object and one new object at every TLP.
    _, publisher = node_a.user(org=f"cert-a-{seeded['tag']}", role="publisher", read=(collection,),
                               write=(collection,))
    updates = [indicator(i, stix_id=seeded[level], modified="2026-02-01T00:00:00.000Z",
                         object_marking_refs=[ref]) for i, (level, ref) in enumerate(LEVELS.items())]
    fresh = {level: indicator(20 + i, object_marking_refs=[ref]) for i, (level, ref) in enumerate(LEVELS.items())}
    with node_a.client(publisher) as c:
        posted = c.post(f"/default/collections/{collection.id}/objects/", headers={"Content-Type": TAXII},
                        content=orjson.dumps({"objects": updates + list(fresh.values())}))
        assert posted.status_code == 202 and posted.json()["success_count"] == 10

    second, later = _sync_with_taxii2client(remote, cursor)
    expected = {(seeded[level], "2026-02-01T00:00:00.000Z") for level in allowed}
    expected |= {(str(fresh[level]["id"]), "2026-01-01T00:00:00.000Z") for level in allowed}
    assert {(o["id"], o["modified"]) for o in second} == expected and len(second) == 6
    assert later is not None and later > cursor

    third, last = _sync_with_taxii2client(remote, later)
    assert third == [] and last == later


# --- outbound safety: redirects and foreign API roots ----------------------------------------------------


class _Loopback(http.server.ThreadingHTTPServer):
    """A tiny HTTP server on a free loopback port that answers each path from a table and counts requests."""

    def __init__(self, routes: dict[str, tuple[int, dict[str, str], bytes]]):
        self.routes = routes
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> _Loopback:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Loopback

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        status, headers, body = self.server.routes.get(self.path.split("?")[0], (404, {}, b"{}"))
        self.send_response(status)
        for name, value in {"Content-Type": TAXII, "Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _discovery(api_root: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, orjson.dumps({"title": "a peer", "default": api_root, "api_roots": [api_root]})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(status: int, node_b: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, b = node_b
    with _Loopback({"/taxii2/": (200, {}, b'{"title": "elsewhere", "api_roots": []}')}) as target:
        moved = (status, {"Location": f"{target.url}/taxii2/"}, b"")
        with _Loopback({"/taxii2/": moved}) as peer:
            _add_peer(settings, b, f"{peer.url}/taxii2/", [("pull", "c", "default")])
            runs = sync_cycle(settings, b)
        assert len(runs) == 1 and runs[0].error is not None
        assert f"answered {status} redirecting to '{target.url}/taxii2/'" in runs[0].error
        assert "redirects are not followed" in runs[0].error
        assert peer.requests == ["/taxii2/"] and target.requests == []
    assert b.get_peer("partner").links[0].last_error == runs[0].error


def test_a_redirect_of_a_page_request_is_not_followed(node_b: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, b = node_b
    with _Loopback({}) as target:
        with _Loopback({}) as peer:
            peer.routes.update({"/taxii2/": _discovery(f"{peer.url}/root/"),
                                "/root/collections/c/objects/": (302, {"Location": f"{target.url}/steal"}, b"")})
            _add_peer(settings, b, f"{peer.url}/taxii2/", [("pull", "c", "default")])
            runs = sync_cycle(settings, b)
        assert runs[0].error is not None and f"redirecting to '{target.url}/steal'" in runs[0].error
        assert [p.split("?")[0] for p in peer.requests] == ["/taxii2/", "/root/collections/c/objects/"]
        assert target.requests == []


@pytest.mark.parametrize("elsewhere", ["http://localhost:{port}/root/", "http://127.0.0.1:{port}/root/",
                                       "https://127.0.0.1:{port}/root/"])
def test_an_api_root_on_another_origin_is_refused(elsewhere: str, node_b: tuple[Settings, Store]) -> None:  # noqa: F811
    settings, b = node_b
    with _Loopback({}) as target:
        api_root = elsewhere.format(port=target.server_address[1])
        target.routes["/root/collections/c/objects/"] = (200, {}, b'{"objects": []}')
        with _Loopback({}) as peer:
            peer.routes["/taxii2/"] = _discovery(api_root)
            _add_peer(settings, b, f"{peer.url}/taxii2/", [("pull", "c", "default")])
            runs = sync_cycle(settings, b)
        assert runs[0].error is not None and f"refusing to contact {api_root}collections/c/objects/" in runs[0].error
        assert "not on the peer's origin" in runs[0].error
        assert peer.requests == ["/taxii2/"] and target.requests == []
