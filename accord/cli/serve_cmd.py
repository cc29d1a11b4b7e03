"""Serving the node over HTTP: ``accord serve``."""

from __future__ import annotations

import logging.config
import os
import shutil
import signal
import socket
import tempfile
from types import FrameType
from typing import Any

import click

from accord.cli.context import NodeContext
from accord.settings import SETTINGS, Settings

# The uvicorn factory each worker calls; it reads the settings this command resolved from the env.
WORKER_APP = "accord.app:worker_app"


def _pass_settings_down(settings: Settings) -> None:
    """Put every resolved setting in this process's environment, which the workers inherit.

    The environment, unlike a command line, is not readable by other users of the machine, so a
    database URL with a password stays private. The TOML file is not read again by the workers:
    they see exactly what this process resolved, flags included."""
    for setting in SETTINGS:
        os.environ[setting.env] = str(getattr(settings, setting.name))
    os.environ.pop("ACCORD_CONFIG", None)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    # uvicorn stops gracefully on SIGTERM and then raises it again once done; without a handler
    # of ours that second delivery would kill the process with status -15 after a clean stop.
    raise SystemExit(0)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Put a TLS-terminating proxy in front for anything but loopback.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), envvar="ACCORD_WORKERS",
              help="Worker processes sharing the port, each with its own database connections "
                   "(also ACCORD_WORKERS).")
@click.pass_obj
def serve(node: NodeContext, host: str, port: int, workers: int) -> None:
    """Serve the TAXII 2.1 API, /healthz and /metrics until stopped.

    SIGINT or SIGTERM stops accepting connections, lets running requests finish, then exits
    with status 0. One JSON log line per request goes to stderr (ACCORD_LOG_FORMAT=text for
    people).
    """
    settings = node.settings
    node.store()  # refuse a missing or outdated schema here, before any worker starts
    node.close()
    _pass_settings_down(settings)
    metrics_dir = tempfile.mkdtemp(prefix="accord-metrics-") if workers > 1 else None
    if metrics_dir is not None:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

    import uvicorn  # the server stack is only needed by this command

    from accord.telemetry import log_config, server_log

    logging_config = log_config(settings.log_format)
    logging.config.dictConfig(logging_config)
    signal.signal(signal.SIGTERM, _exit_quietly)
    backend = settings.database_url.partition(":")[0]
    server_log.info("starting", extra={"host": host, "port": port, "workers": workers, "backend": backend})
    try:
        options: dict[str, Any] = {
            "factory": True, "host": host, "port": port, "workers": workers, "log_config": logging_config,
            "log_level": "info", "access_log": False, "proxy_headers": False, "server_header": False}
        if workers == 1:
            uvicorn.run(WORKER_APP, **options)
        else:
            _run_workers(uvicorn.Config(WORKER_APP, **options))
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        server_log.info("stopped")


def _run_workers(config: Any) -> None:
    """uvicorn.run's multi-worker branch, with TCP_NODELAY on the listening socket.

    The workers receive the socket from the parent, and asyncio then does not recognise the
    accepted connections as TCP (their protocol number is lost on the way), so it leaves Nagle's
    algorithm on: a small response written in two pieces waited for the client's delayed ACK,
    44 ms per keep-alive request (match[id] 0.9 ms with one worker, 44 ms with two). Accepted
    sockets inherit the option from the listening one on Linux.
    """
    from uvicorn.supervisors import Multiprocess

    sock = config.bind_socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    Multiprocess(config, sockets=[sock]).run()


COMMANDS = [serve]
