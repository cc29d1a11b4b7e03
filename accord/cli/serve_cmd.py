"""Serving the node over HTTP: ``accord serve``."""

from __future__ import annotations

import click

from accord.cli.context import NodeContext


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Put a TLS-terminating proxy in front for anything but loopback.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.pass_obj
def serve(node: NodeContext, host: str, port: int) -> None:
    """Serve the TAXII 2.1 API (and /healthz) until interrupted.

    SIGINT or SIGTERM stops accepting connections, lets running requests finish, then exits.
    """
    import uvicorn  # the server stack is only needed by this command

    from accord.app import build_app

    app = build_app(node.settings, node.store())
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False, server_header=False)


COMMANDS = [serve]
