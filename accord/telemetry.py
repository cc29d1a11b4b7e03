"""What the HTTP server tells its operator: one log line per request, Prometheus metrics, request ids.

Wired by app.py around the whole application (outside Starlette's error handling, so that a 500
carries a request id and is counted too). Three rules hold everywhere here:

- Logs carry no secrets: no header is ever logged (so no token and no Authorization value), no
  request or response body, and no query string (a misbehaving client may put a token there);
  the path and the route template are logged, with the user name once the credentials were accepted.
- Metric labels carry no ids and no names: the route is the template
  (``/{api_root}/collections/{collection_id}/objects/``), never the path, so /metrics reveals
  volumes and latencies, not which collections or who.
- /metrics answers only callers on loopback that did not come through a proxy (docs/operations.md).

With several workers, ``accord serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a private directory
before the workers start; prometheus_client then keeps each worker's values in files there and
/metrics adds them up.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accord.storage.base import Store

LOG_FORMATS = ("json", "text")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

request_log = logging.getLogger("accord.request")
server_log = logging.getLogger("accord.server")

# -- logs ---------------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# uvicorn passes a coloured copy of its messages; neither format wants it.
_IGNORED_EXTRAS = frozenset({"color_message"})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES and k not in _IGNORED_EXTRAS}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, pid, msg, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": _timestamp(record), "level": record.levelname.lower(),
                                "logger": record.name, "pid": record.process, "msg": record.getMessage()}
        line.update(_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


_PLAIN_VALUE = re.compile(r"[!-~]*")  # printable ASCII without spaces


def _text_value(value: Any) -> str:
    """A value as text; anything with spaces or control characters is quoted and escaped, so a
    request path (percent-decoded, it may hold a newline) cannot forge a log line."""
    text = "null" if value is None else str(value)
    return text if _PLAIN_VALUE.fullmatch(text) else orjson.dumps(text).decode()


class TextFormatter(logging.Formatter):
    """The same content for a person at a terminal: ``ts LEVEL logger msg key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={_text_value(v)}" for k, v in _fields(record).items())
        text = f"{_timestamp(record)} {record.levelname:<7} {record.name} [{record.process}] {record.getMessage()}"
        text = f"{text} {extras}" if extras else text
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def log_config(log_format: str) -> dict[str, Any]:
    """A logging.dictConfig for the server: uvicorn's and Accord's lines on stderr in one format.

    uvicorn applies it in the serving process and again in each worker. Its own access log is
    off; :class:`RequestTelemetry` writes the request lines instead."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    stderr = {"handlers": ["stderr"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"accord": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "accord",
                                "stream": "ext://sys.stderr"}},
        "loggers": {"uvicorn": stderr, "accord": stderr,
                    "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
    }


# -- metrics ------------------------------------------------------------------------------------

# From 1 ms (a page read) to a minute (a 100 MiB POST).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter("accord_http_requests", "HTTP requests answered, by route template, method and status.",
                   ["route", "method", "status"])
LATENCY = Histogram("accord_http_request_duration_seconds",
                    "Time from a request's arrival to the end of its response, by route template, method "
                    "and status.", ["route", "method", "status"], buckets=LATENCY_BUCKETS)
IN_FLIGHT = Gauge("accord_http_requests_in_flight", "Requests being served now.", multiprocess_mode="livesum")
TAXII_OBJECTS = Counter("accord_taxii_objects",
                        "Objects in TAXII Add Objects requests: outcome=added (stored, or already stored "
                        "identically) or failed (refused with a reason).", ["outcome"])
STORE_INFO = Gauge("accord_store_info", "The store this server uses: backend and schema revision (value 1).",
                   ["backend", "schema_revision"], multiprocess_mode="max")

# The label of requests that matched no route: raw paths would make a label per probe.
UNMATCHED = "unmatched"


def set_store_info(database_url: str, store: Store) -> None:
    backend = database_url.partition(":")[0].split("+")[0] or "unknown"
    STORE_INFO.labels(backend=backend, schema_revision=store.schema_revision() or "none").set(1)


def worker_stopped() -> None:
    """Forget this process's live gauges (in-flight requests) in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def render_metrics() -> bytes:
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def may_read_metrics(client_host: str | None, headers: Iterable[str]) -> bool:
    """Loopback callers only, and none that came through a reverse proxy (which would be on
    loopback too, but says whom it forwards for)."""
    if client_host is None or any(h in _FORWARDING_HEADERS for h in headers):
        return False
    try:
        return ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False


def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: Prometheus text format; anyone else gets the same 404 as an unknown path."""
    if not may_read_metrics(request.client.host if request.client else None, request.headers.keys()):
        raise HTTPException(404)
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)


# -- request ids and user names -----------------------------------------------------------------

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def request_id_from(value: bytes | None) -> str:
    """The caller's X-Request-ID when it is short and plain (letters, digits, ``._:-``), else a new one."""
    if value is not None:
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if _SANE_REQUEST_ID.fullmatch(text):
            return text
    return uuid.uuid4().hex


# -- the middleware -----------------------------------------------------------------------------

# A client that went away before any response (nginx's convention).
CLIENT_CLOSED = 499


class RequestTelemetry:
    """ASGI middleware: request id, log line and metrics for every HTTP request.

    The user name logged is the one the route authenticated (``request.state.username``, set by
    taxii.context.begin), never one the caller merely claimed. The worker's lifespan start and
    end are logged too."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
        else:
            await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                server_log.info("worker ready")
            elif message["type"] == "lifespan.shutdown.complete":
                worker_stopped()
                server_log.info("worker stopped")
            await send(message)

        return lifespan_send

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers = dict(scope.get("headers") or ())
        request_id = request_id_from(headers.get(b"x-request-id"))
        status: int | None = None
        bytes_in = bytes_out = 0
        # Only the status resource of an Add Objects request is kept, to count its objects.
        keep_body = scope["method"] == "POST"
        body: list[bytes] = []

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            nonlocal status, bytes_out
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*(message.get("headers") or ()),
                                                  (b"x-request-id", request_id.encode("ascii"))]}
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                bytes_out += len(chunk)
                if keep_body and status == 202:
                    body.append(chunk)
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, counting_receive, tagging_send)
        except Exception:
            status = status or 500
            raise
        finally:
            IN_FLIGHT.dec()
            await self._record(scope, headers, request_id, status or CLIENT_CLOSED, started,
                               bytes_in, bytes_out, b"".join(body))

    async def _record(self, scope: Scope, headers: dict[bytes, bytes], request_id: str, status: int,
                      started: float, bytes_in: int, bytes_out: int, body: bytes) -> None:
        elapsed = time.perf_counter() - started
        route_obj = scope.get("route")
        route: str = getattr(route_obj, "path", None) or UNMATCHED
        method: str = scope["method"]
        labels = {"route": route, "method": method, "status": str(status)}
        REQUESTS.labels(**labels).inc()
        LATENCY.labels(**labels).observe(elapsed)
        if body:
            _count_objects(body)
        state = scope.get("state")
        username = state.get("username") if isinstance(state, dict) else None
        client = scope.get("client")
        request_log.info("request", extra={
            "request_id": request_id, "method": method, "path": scope["path"], "route": route,
            "status": status, "duration_ms": round(elapsed * 1000, 3), "user": username,
            "bytes_in": bytes_in, "bytes_out": bytes_out, "client": client[0] if client else None})


def _count_objects(status_resource: bytes) -> None:
    try:
        resource = orjson.loads(status_resource)
    except orjson.JSONDecodeError:
        return
    if not isinstance(resource, dict):
        return
    for outcome, key in (("added", "success_count"), ("failed", "failure_count")):
        count = resource.get(key)
        if isinstance(count, int) and count > 0:
            TAXII_OBJECTS.labels(outcome=outcome).inc(count)
