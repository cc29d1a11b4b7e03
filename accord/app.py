"""Wiring only: the ASGI application built from settings and a store.

Nothing here decides anything: the routes live in accord/taxii/, the rules in accord/policy/,
the use cases in accord/services/. This module and accord/cli/ are the only places that open a
concrete backend (through storage.open_store).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from accord.api import admin as api_admin
from accord.api import alerts as api_alerts
from accord.api import fallback as api_fallback
from accord.api import lookup as api_lookup
from accord.api import objects as api_objects
from accord.api import openapi as api_openapi
from accord.api import overlap as api_overlap
from accord.api import routes as api_routes
from accord.api import transfer as api_transfer
from accord.api.routes import ApiContext
from accord.errors import AccordError
from accord.policy.credentials import Throttle
from accord.policy.passwords import dummy_hash
from accord.services.alert_runner import AlertThread
from accord.services.audit_index import AuditIndexThread
from accord.services.decay import model_from_setting
from accord.services.overlap import OverlapResult
from accord.services.secrets import SecretBox
from accord.settings import Settings, load_settings
from accord.storage import open_store
from accord.storage.base import Store
from accord.storage.sql import micros_now
from accord.sync.cycle import LinkRun, default_client, run_cycle
from accord.sync.overlap import ask_peer
from accord.sync.scheduler import Scheduler, scheduler_thread
from accord.taxii.context import CURSOR_SECRET, TaxiiContext
from accord.taxii.errors import TaxiiError, handle_error
from accord.taxii.paging import Cursors
from accord.taxii.routes import ROUTES
from accord.telemetry import RequestTelemetry, metrics_endpoint, set_store_info
from accord.web import overlap_page
from accord.web import routes as web_routes
from accord.web.context import WEB_SECRET, WebContext, template_environment
from accord.web.headers import SecurityHeaders


def healthz(request: Request) -> Response:
    """Liveness and readiness: the store answers and its schema is the one this code expects."""
    store: Store = request.app.state.taxii.store
    store.check_schema()
    return JSONResponse({"status": "ok"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 in the error shape of the API the path is under."""
    if isinstance(exc, HTTPException) and request.url.path.startswith(api_fallback.API_PREFIX):
        return api_fallback.routing_error(exc)
    return await handle_error(request, exc)


def build_app(settings: Settings, store: Store, *, clock: Callable[[], int] = micros_now) -> Starlette:
    """The HTTP application over an open, initialised store; the store is closed at shutdown."""
    throttle = Throttle(settings.auth_failures_per_minute, clock)  # one count of failures for every API
    dummy_hash()  # before serving: see policy/passwords.py
    decay = model_from_setting(settings.decay_lifetimes)  # a bad table stops the server here, named
    context = TaxiiContext(
        store=store,
        max_content_length=settings.max_content_length,
        max_object_bytes=settings.max_object_bytes,
        max_nesting_depth=settings.max_nesting_depth,
        cursors=Cursors(store.node_secret(CURSOR_SECRET)),
        throttle=throttle,
        clock=clock,
        four_eyes=settings.four_eyes,
    )

    scheduler = scheduler_thread(
        Scheduler(store, SecretBox(Path(settings.key_file)), default_client(settings.sync_ca_bundle)),
        Path(settings.data_dir) / "sync.lock") if settings.sync_scheduler else None

    alerts = AlertThread(store, SecretBox(Path(settings.key_file)), Path(settings.data_dir) / "alerts.lock",
                         interval_s=settings.alert_interval, allow_private=settings.alert_webhook_private_targets,
                         clock=clock) if settings.alert_runner else None

    audit_index = AuditIndexThread(store, Path(settings.data_dir) / "audit-index.lock")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            audit_index.start()
        except OSError as exc:  # an unwritable data directory: reads by object stay exact, only slower
            logging.getLogger("accord.audit").warning("audit index thread not started: %s", exc)
        if scheduler is not None and scheduler.start():
            logging.getLogger("accord.sync").info("sync scheduler started in this worker")
        if alerts is not None and alerts.start():
            logging.getLogger("accord.alerts").info("alerts started in this worker")
        yield
        if scheduler is not None:
            scheduler.stop()
        if alerts is not None:
            alerts.stop()
        audit_index.stop()
        store.close()

    app = Starlette(
        routes=[Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics_endpoint, methods=["GET"]),
                *api_routes.ROUTES, *api_transfer.ROUTES, *api_admin.ROUTES, *api_objects.ROUTES, *api_lookup.ROUTES,
                *api_overlap.ROUTES, *api_alerts.ROUTES, *api_openapi.ROUTES,
                # TAXII before the UI: an API root may have any name, "agreements" included, and
                # its paths (always ending in "/") must never reach a page of the same prefix.
                *ROUTES, *web_routes.ROUTES],
        # Domain errors get their own entry so Starlette answers them in its exception middleware;
        # the Exception entry alone runs in the server-error middleware, which re-raises after
        # answering (a 4xx logged as a crash, the connection dropped).
        exception_handlers={TaxiiError: handle_error, HTTPException: http_error, AccordError: handle_error,
                            Exception: handle_error},
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
    )
    app.state.taxii = context
    app.state.api = ApiContext(store, throttle, clock, settings.four_eyes, settings.max_content_length,
                               settings.max_nesting_depth, settings.max_object_bytes, settings.node_name,
                               settings.correlation_cap, decay, settings.sighting_min_count, key_file=settings.key_file,
                               alert_webhook_private_targets=settings.alert_webhook_private_targets)
    app.state.api_log = logging.getLogger("accord.api")
    app.state.ask_peer = partial(overlap_with_peer, settings, store)  # the overlap page's asker (web/overlap_page.py)
    app.state.overlap_questions = threading.BoundedSemaphore(overlap_page.MAX_QUESTIONS)  # its places, per process
    app.state.overlap = api_overlap.OverlapContext(SecretBox(Path(settings.key_file)))
    app.state.web = WebContext(store, throttle, clock, store.node_secret(WEB_SECRET), template_environment(),
                               settings.four_eyes, settings.session_idle_minutes * 60_000_000,
                               settings.session_hours * 3600_000_000, settings.node_name,
                               settings.max_content_length, settings.max_nesting_depth, settings.max_object_bytes,
                               settings.session_cookie_secure, settings.correlation_cap, decay,
                               settings.sighting_min_count, key_file=settings.key_file,
                               alert_webhook_private_targets=settings.alert_webhook_private_targets)
    return app


def instrumented_app(settings: Settings, store: Store) -> RequestTelemetry:
    """The application as `accord serve` runs it: request ids, log lines and metrics around it."""
    set_store_info(settings.database_url, store)
    return RequestTelemetry(build_app(settings, store))


def worker_app() -> RequestTelemetry:
    """The uvicorn factory of `accord serve` (``accord.app:worker_app``), run in each worker.

    The settings come from the ACCORD_* environment that serve resolved and passed down, so no
    secret (a database password) appears on a command line."""
    settings = load_settings()
    store = open_store(settings.database_url)
    store.check_schema()
    return instrumented_app(settings, store)


def sync_cycle(settings: Settings, store: Store, *, peer_name: str | None = None) -> list[LinkRun]:
    """One sync cycle over every active peer (or the one named): what `accord sync run` does."""
    return run_cycle(store, SecretBox(Path(settings.key_file)), default_client(settings.sync_ca_bundle),
                     peer_name=peer_name)


def overlap_with_peer(settings: Settings, store: Store, peer_name: str, values: list[str], *,
                      actor: str) -> OverlapResult:
    """Which of these values a partner's node holds too, asked with keyed hashes: `accord overlap`."""
    return ask_peer(store, SecretBox(Path(settings.key_file)), default_client(settings.sync_ca_bundle), peer_name,
                    values, actor=actor)
