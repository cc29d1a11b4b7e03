"""`accord serve` as an operator runs it: several workers, graceful shutdown, logs, /metrics.

Every server here is a real subprocess on a free loopback port (tests/taxii/conftest.py), stopped
by its pid. Waits are bounded by deadlines; nothing asserts on how long anything took.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from accord.storage import open_store
from accord.telemetry import JsonFormatter, TextFormatter, may_read_metrics, request_id_from
from tests.conftest import BACKENDS, _pg_admin
from tests.taxii.conftest import TAXII, Node, _database, bundle_of, indicator, run_node, start_server

OBJECTS_ROUTE = "/{api_root}/collections/{collection_id}/objects/"
DEADLINE = 60.0


@pytest.fixture(scope="module", params=BACKENDS)
def node2(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A server with two workers on a fresh database, per backend."""
    yield from run_node(request.param, request, tmp_path_factory.mktemp(f"serve2-{request.param}"),
                        ACCORD_WORKERS="2")


def wait_for(what: str, check: Callable[[], Any]) -> Any:
    """Poll ``check`` until it returns something truthy, or fail after a generous deadline."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def log_lines(node: Node) -> list[dict[str, Any]]:
    """The server's log so far, every line parsed as JSON (a line that is not JSON fails the test)."""
    lines = node.server.log.read_text(encoding="utf-8").splitlines()
    complete = lines if node.server.log.read_bytes().endswith(b"\n") else lines[:-1]
    return [orjson.loads(line) for line in complete if line]


def request_line(node: Node, request_id: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(f"the log line of request {request_id}", lambda: next(
        (line for line in log_lines(node) if line.get("request_id") == request_id), None))
    return found


def metrics(node: Node) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by (name, sorted labels)."""
    response = httpx.get(f"{node.url}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and labels.items() <= dict(ls).items())


# -- several workers ----------------------------------------------------------------------------

WRITERS = 6
POSTS_PER_WRITER = 12
OBJECTS_PER_POST = 10


def test_two_workers_serve_concurrent_writers_and_a_paging_reader_misses_nothing(node2: Node) -> None:
    """Writers POST through both workers while a reader pages the collection with `next` and,
    at the end of the data, `added_after`: every acknowledged object is read exactly once."""
    collection = node2.collection()
    username, token = node2.user(read=(collection,), write=(collection,))
    path = f"/default/collections/{collection.id}/objects/"
    before = metrics(node2)
    acknowledged: list[str] = []
    lock = threading.Lock()
    writers_done = threading.Event()
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            # A fresh connection per request, so that the kernel spreads them over both workers.
            with httpx.Client(base_url=node2.url, headers={"Accept": TAXII, "Content-Type": TAXII,
                                                           "Authorization": f"Bearer {token}"},
                              limits=httpx.Limits(max_keepalive_connections=0), timeout=60) as client:
                for p in range(POSTS_PER_WRITER):
                    objects = [indicator(w * 10_000 + p * 100 + i) for i in range(OBJECTS_PER_POST)]
                    response = client.post(path, content=orjson.dumps(bundle_of(*objects)))
                    assert response.status_code == 202, response.text
                    status = response.json()
                    assert status["success_count"] == OBJECTS_PER_POST, status
                    with lock:
                        acknowledged.extend(s["id"] for s in status["successes"])
        except BaseException as exc:
            errors.append(exc)

    seen: list[str] = []

    def reader() -> None:
        try:
            with node2.client(token) as client:
                added_after: str | None = None
                while True:
                    finished = writers_done.is_set()
                    base = {"added_after": added_after} if added_after else {}
                    page: dict[str, Any] = {"more": True}
                    while page["more"]:
                        params = {**base, "limit": "7", **({"next": page["next"]} if "next" in page else {})}
                        response = client.get(path, params=params)
                        assert response.status_code == 200, response.text
                        page = response.json()
                        seen.extend(o["id"] for o in page["objects"])
                        if page["objects"]:
                            added_after = response.headers["X-TAXII-Date-Added-Last"]
                    if finished:
                        return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    reading = threading.Thread(target=reader)
    reading.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    writers_done.set()
    reading.join(timeout=300)
    assert not errors, errors
    assert len(acknowledged) == WRITERS * POSTS_PER_WRITER * OBJECTS_PER_POST
    assert len(seen) == len(set(seen)), "the reader saw an object twice"
    assert set(seen) == set(acknowledged)

    # Both workers took part (their pids are on the request lines), and /metrics adds them up.
    posts = wait_for("every POST's log line", lambda: (lines := [
        line for line in log_lines(node2) if line.get("method") == "POST" and line.get("path") == path
    ]) and len(lines) == WRITERS * POSTS_PER_WRITER and lines)
    assert len({line["pid"] for line in posts}) == 2, "one worker served every POST"
    assert {line["user"] for line in posts} == {username}
    after = metrics(node2)
    assert total(after, "accord_http_requests_total", route=OBJECTS_ROUTE, method="POST", status="202") - total(
        before, "accord_http_requests_total", route=OBJECTS_ROUTE, method="POST", status="202"
    ) == WRITERS * POSTS_PER_WRITER
    assert total(after, "accord_taxii_objects_total", outcome="added") - total(
        before, "accord_taxii_objects_total", outcome="added") == len(acknowledged)
    assert total(after, "accord_http_request_duration_seconds_count", route=OBJECTS_ROUTE, method="POST") >= len(
        posts)


# -- logs and request ids -----------------------------------------------------------------------

def test_one_json_line_per_request_without_secrets(node2: Node) -> None:
    collection = node2.collection()
    username, token = node2.user(read=(collection,), write=(collection,))
    marker = f"body-marker-{uuid.uuid4().hex}"
    path = f"/default/collections/{collection.id}/objects/"
    with node2.client(token, username) as client:
        posted = client.post(path, content=orjson.dumps(bundle_of(indicator(1, description=marker))),
                             headers={"Content-Type": TAXII, "X-Request-ID": "trace-42.a:b"})
        listed = client.get(path, params={"limit": "5", "secret": token})
    with node2.client(token) as client:
        bearer = client.get("/taxii2/")
        unchecked = client.get("/taxii2/openapi.json")  # served without looking at credentials
    refused = httpx.get(f"{node2.url}/taxii2/", headers={"Accept": TAXII, "X-Request-ID": "x" * 200,
                                                          "Authorization": f"Bearer {token}x"})
    assert posted.status_code == 202 and listed.status_code == 200 and bearer.status_code == 200
    assert refused.status_code == 401
    assert posted.headers["X-Request-ID"] == "trace-42.a:b"
    assert len(listed.headers["X-Request-ID"]) == 32
    assert len(refused.headers["X-Request-ID"]) == 32  # too long: replaced by a fresh id

    post_line = request_line(node2, "trace-42.a:b")
    assert post_line["level"] == "info" and post_line["ts"].endswith("Z")
    assert {k: post_line[k] for k in ("method", "path", "route", "status", "user")} == {
        "method": "POST", "path": path, "route": OBJECTS_ROUTE, "status": 202, "user": username}
    assert post_line["bytes_in"] == len(posted.request.content) and post_line["bytes_out"] == len(posted.content)
    assert isinstance(post_line["duration_ms"], float)
    list_line = request_line(node2, listed.headers["X-Request-ID"])
    assert list_line["path"] == path and list_line["user"] == username  # no query string
    assert request_line(node2, bearer.headers["X-Request-ID"])["user"] == username
    assert request_line(node2, refused.headers["X-Request-ID"])["user"] is None
    assert request_line(node2, unchecked.headers["X-Request-ID"])["user"] is None

    text = node2.server.log.read_text(encoding="utf-8")
    assert token not in text and marker not in text
    assert "authorization" not in text.lower() and "secret" not in text
    lines = log_lines(node2)  # every line is JSON, uvicorn's own included
    assert any(line["logger"] == "accord.server" and line["msg"] == "starting" for line in lines)


def test_request_ids_are_taken_only_when_plain() -> None:
    assert request_id_from(b"abc-123_x.y:z") == "abc-123_x.y:z"
    for bad in (b"", b"has space", b"-starts-with-dash", b"x" * 129, b"caf\xc3\xa9", b"a\nb", None):
        generated = request_id_from(bad)
        assert len(generated) == 32 and generated != bad


# -- /metrics -----------------------------------------------------------------------------------

def test_metrics_name_no_collection_and_no_user(node2: Node) -> None:
    collection = node2.collection()
    username, token = node2.user(read=(collection,), write=(collection,))
    with node2.client(token) as client:
        assert client.get(f"/default/collections/{collection.id}/objects/").status_code == 200
        assert client.get(f"/default/collections/{collection.id}/objects/indicator--{uuid.uuid4()}/"
                          ).status_code == 404
    samples = metrics(node2)
    text = httpx.get(f"{node2.url}/metrics").text
    assert collection.id not in text and username not in text and "indicator--" not in text
    routes = {dict(labels).get("route") for (name, labels) in samples if name == "accord_http_requests_total"}
    assert OBJECTS_ROUTE in routes
    assert all(r is not None and (r.startswith("/") or r == "unmatched") for r in routes)
    backend = "postgresql" if node2.store.url.startswith("postgresql") else "sqlite"
    assert total(samples, "accord_store_info", backend=backend) == 1
    assert total(samples, "accord_http_requests_in_flight") >= 1  # this very request


def test_metrics_refuse_proxied_and_remote_callers(node2: Node) -> None:
    unknown = httpx.get(f"{node2.url}/nothing/here/at/all")
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        proxied = httpx.get(f"{node2.url}/metrics", headers={header: "203.0.113.9"})
        assert proxied.status_code == 404
        assert proxied.content == unknown.content
    assert may_read_metrics("127.0.0.1", []) and may_read_metrics("127.8.0.3", ["accept"])
    assert may_read_metrics("::1", [])
    for host in ("203.0.113.9", "10.0.0.1", "::ffff:203.0.113.9", "testclient", None):
        assert not may_read_metrics(host, [])


# -- graceful shutdown --------------------------------------------------------------------------

@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, pg_name = _database(request.param, request, tmp_path)
    yield url
    if pg_name is not None:
        _pg_admin(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_a_post_in_flight_finish_then_exits_0(database: str, tmp_path: Path, workers: int) -> None:
    server = start_server(database, tmp_path, ACCORD_WORKERS=str(workers))
    store = open_store(database)
    node = Node(server.url, store, server)
    try:
        collection = node.collection()
        _, token = node.user(read=(collection,), write=(collection,))
        objects = [indicator(n) for n in range(3000)]
        body = orjson.dumps(bundle_of(*objects))
        signalled = threading.Event()
        answer: list[httpx.Response] = []
        errors: list[BaseException] = []

        def slow_body() -> Iterator[bytes]:
            yield body[:65536]
            # The rest only once the server has been told to stop.
            if not signalled.wait(DEADLINE):
                raise RuntimeError("SIGTERM was never sent")
            for start in range(65536, len(body), 65536):
                yield body[start:start + 65536]

        def post() -> None:
            try:
                with node.client(token) as client:
                    answer.append(client.post(f"/default/collections/{collection.id}/objects/",
                                              content=slow_body(), headers={"Content-Type": TAXII}))
            except BaseException as exc:
                errors.append(exc)

        posting = threading.Thread(target=post)
        posting.start()
        # The POST is in flight (besides this scrape itself) ...
        wait_for("the POST to be in flight", lambda: total(metrics(node), "accord_http_requests_in_flight") >= 2)
        os.kill(server.process.pid, signal.SIGTERM)
        # ... and every worker has begun its shutdown before the rest of the body goes out.
        wait_for("the workers to begin shutting down", lambda: sum(
            line["msg"] == "Shutting down" for line in log_lines(node)) == workers)
        signalled.set()
        posting.join(timeout=DEADLINE)
        assert not errors, errors
        assert answer[0].status_code == 202, answer[0].text
        assert answer[0].json()["success_count"] == len(objects)
        assert server.process.wait(timeout=DEADLINE) == 0
        stored = {orjson.loads(b)["id"] for _, b in store.added_after(collection.pk, 0, len(objects) + 1)}
        assert stored == {o["id"] for o in objects}
        lines = log_lines(node)
        assert any(line.get("status") == 202 and line.get("method") == "POST" for line in lines)
        assert lines[-1]["msg"] == "stopped"
    finally:
        signalled.set()
        server.stop()
        store.close()


# -- log formats --------------------------------------------------------------------------------

def _record(**fields: Any) -> logging.LogRecord:
    record = logging.LogRecord("accord.request", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(fields)
    return record


def test_log_lines_cannot_be_forged_through_a_path() -> None:
    forged = "/a\n2026-01-01T00:00:00.000Z INFO    accord.request [1] request user=admin"
    text = TextFormatter().format(_record(path=forged, user=None, status=200))
    assert "\n" not in text
    assert 'path="/a\\n2026' in text and "user=null" in text and "status=200" in text
    line = orjson.loads(JsonFormatter().format(_record(path=forged)))
    assert line["path"] == forged and line["msg"] == "request" and line["level"] == "info"


def test_a_failure_is_logged_with_its_traceback_in_one_json_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = _record()
        record.exc_info = sys.exc_info()
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in orjson.loads(text)["exc"]
