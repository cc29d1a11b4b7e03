"""A partner node that misbehaves cannot hurt ours: compressed bombs, oversized pages, endless
"more", a retraction feed that never moves, malformed objects. Each such link fails with a clear
error (or skips the bad object), the cycle goes on with the next link, and nothing is stored that
should not be. A small HTTP server on loopback plays the hostile peer."""

from __future__ import annotations

import gzip
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from accord.errors import ConfigError, SyncError
from accord.services.peering import add_peer
from accord.services.secrets import SecretBox
from accord.storage.base import Store
from accord.sync.client import PeerClient
from accord.sync.cycle import default_client, run_cycle
from tests.taxii.conftest import indicator

Handler = Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]


class HostilePeer:
    """Answers GETs with whatever ``handler(path, query)`` returns; counts requests."""

    def __init__(self, handler: Handler):
        outer = self
        self.requests = 0

        class RequestHandler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                path, _, query = self.path.partition("?")
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                status, headers, body = handler(path, params)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/taxii2/"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _json(body: object, **headers: str) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/taxii+json;version=2.1", **headers}, orjson.dumps(body)


def _discovery(path: str) -> tuple[int, dict[str, str], bytes] | None:
    if path == "/taxii2/":
        return _json({"title": "hostile", "api_roots": ["/root/"]})
    if path == "/api/v1/sync/retractions":
        return 404, {}, b"{}"
    return None


@pytest.fixture
def b(sqlite_store: Store, tmp_path: Path) -> tuple[Store, SecretBox]:
    sqlite_store.add_org("partner", kind="partner")
    return sqlite_store, SecretBox(tmp_path / "node.key")


def _cycle(store: Store, box: SecretBox, url: str) -> str | None:
    name = f"p-{uuid.uuid4().hex[:6]}"
    add_peer(store, box, name, url=url, username="u", token="t", org="partner", interval_s=60,
             accept_max_tlp="red", accept_types=[], links=[("pull", "c", "default")], actor="test")
    (run,) = run_cycle(store, box, default_client(""), peer_name=name)
    return run.error


def _serve(handler: Handler) -> Iterator[HostilePeer]:
    peer = HostilePeer(handler)
    try:
        yield peer
    finally:
        peer.close()


def test_a_compressed_response_is_refused_unread(b: tuple[Store, SecretBox]) -> None:
    store, box = b
    bomb = gzip.compress(b"[" + b"{}," * 3_000_000 + b"{}]")

    def handler(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return _discovery(path) or (200, {"Content-Encoding": "gzip"}, bomb)

    for peer in _serve(handler):
        error = _cycle(store, box, peer.url)
        assert error is not None and "Content-Encoding 'gzip'" in error
    assert store.stats().total_versions == 0


def test_more_objects_than_asked_for_is_refused(b: tuple[Store, SecretBox]) -> None:
    store, box = b

    def handler(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return _discovery(path) or _json({"objects": [{}] * (int(query["limit"]) + 1)})

    for peer in _serve(handler):
        error = _cycle(store, box, peer.url)
        assert error is not None and "at most 1000 were asked for" in error


def test_the_same_page_forever_stops_the_run(b: tuple[Store, SecretBox]) -> None:
    store, box = b
    page = {"more": True, "next": "again", "objects": [indicator(1)]}

    def handler(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return _discovery(path) or _json(page, **{"X-TAXII-Date-Added-Last": "2026-01-01T00:00:00.000001Z"})

    for peer in _serve(handler):
        error = _cycle(store, box, peer.url)
        assert error is not None and "not making progress" in error
        assert peer.requests < 10
    assert store.stats().total_versions == 1  # the page itself was fine, and stored once


def test_a_retraction_feed_that_never_moves_stops(b: tuple[Store, SecretBox]) -> None:
    store, box = b

    def handler(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if path == "/api/v1/sync/retractions":
            return _json({"retractions": [{"seq": 1, "id": "indicator--x", "version": "2026-01-01T00:00:00Z"}],
                          "more": True})
        return _discovery(path) or _json({"objects": []})

    for peer in _serve(handler):
        error = _cycle(store, box, peer.url)  # seq 1 is news once; "more", and seq 1 again, is not
        assert error is not None and "at or before 1 again" in error
        assert peer.requests < 10


def test_malformed_objects_fail_alone(b: tuple[Store, SecretBox]) -> None:
    store, box = b
    objects = [{"type": "marking-definition"}, {"type": "marking-definition", "id": ["x"]}, "text", indicator(2)]

    def handler(path: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return _discovery(path) or _json({"objects": objects}, **{"X-TAXII-Date-Added-Last": "2026-01-01T00:00:01Z"})

    for peer in _serve(handler):
        assert _cycle(store, box, peer.url) is None
    assert store.stats().total_versions == 1  # the one valid indicator


@pytest.mark.parametrize(("url", "message"), [
    ("http://partner.example/taxii2/", "over https"),
    ("https://user:secret@partner.example/taxii2/", "no credentials in the URL"),
    ("https://partner.example:+80/taxii2/", "not a usable URL"),
    ("ftp://partner.example/", r"not an http\(s\) URL"),
])
def test_peer_urls_that_would_leak_the_token_are_refused(b: tuple[Store, SecretBox], url: str, message: str) -> None:
    store, box = b
    with pytest.raises(ConfigError, match=message):
        add_peer(store, box, "p", url=url, username="u", token="t", org="partner", interval_s=60,
                 accept_max_tlp="red", accept_types=[], links=[], actor="test")
    assert store.peers() == []


def test_a_refusal_carries_the_partners_status_and_no_answer_carries_none() -> None:
    def answering(status: int, body: bytes) -> Callable[[httpx.Request], httpx.Response]:
        return lambda request: httpx.Response(status, stream=httpx.ByteStream(body))  # streamed, as a server's is

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rotated = orjson.dumps({"error": {"status": 409, "title": "Conflict", "detail": "key rotated"}})
    for transport, status, text in ((answering(409, rotated), 409, "answered 409: key rotated"),
                                    (answering(404, b"<html>"), 404, "answered 404 with a body that is not JSON"),
                                    (answering(200, b"<html>"), None, "answered 200 with a body that is not JSON"),
                                    (unreachable, None, "ConnectError")):
        client = PeerClient("http://peer.example/taxii2/", "u", "t", transport=httpx.MockTransport(transport))
        with client, pytest.raises(SyncError, match=text) as caught:
            client.overlap(["0" * 64], agreement=None, key="f" * 16)
        assert caught.value.peer_status == status
