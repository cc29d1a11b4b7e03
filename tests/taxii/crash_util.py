"""Helpers for the `accord serve` crash harness (test_crash_serve.py).

A server here runs in a session (process group) of its own, so that one SIGKILL to the group
takes the parent and every worker down at once, the way a power cut or the OOM killer would.
Only the group of a server this module spawned is ever signalled.

``snapshot`` reads the tables the harness checks straight from the database, with the driver of
the backend, so that the checks do not depend on the store code under test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.taxii.conftest import MAX_CONTENT_LENGTH, ROOT, free_port

DEADLINE = 60.0


class ServerGone(Exception):
    """accord serve exited, or never answered /healthz, while being started."""


@dataclass
class Spawned:
    """One `accord serve` started in its own process group."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    workers: int

    def kill(self) -> None:
        """SIGKILL the whole group (parent and workers), then wait until none of them is left."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:  # orphaned workers are reaped by init, a moment later
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)
        raise ServerGone(f"processes of group {self.process.pid} survived SIGKILL")

    def terminate(self) -> int:
        """SIGTERM the parent (a graceful stop) and return its exit status; SIGKILL after a deadline."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def spawn(db_url: str, workdir: Path, *, workers: int) -> Spawned:
    """Start `accord serve` on a fresh loopback port and wait until /healthz answers."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ACCORD_DATA_DIR": str(workdir), "ACCORD_DATABASE_URL": db_url,
           "ACCORD_MAX_CONTENT_LENGTH": str(MAX_CONTENT_LENGTH), "ACCORD_AUTH_FAILURES_PER_MINUTE": "100000",
           "ACCORD_WORKERS": str(workers),
           # A killed parent leaves its metrics directory behind (docs/operations.md): keep it here.
           "TMPDIR": str(workdir)}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "accord.cli", "serve", "--host", "127.0.0.1",
                                    "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Spawned(f"http://127.0.0.1:{port}", process, log, workers)
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and process.poll() is None:
        if _healthy(server.url):
            return server
        time.sleep(0.02)
    status = process.poll()
    server.kill()
    raise ServerGone(f"accord serve {'did not become healthy' if status is None else f'exited with {status}'}:\n"
                     f"{log.read_text()}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# -- reading the database directly ----------------------------------------------------------------

@dataclass
class Snapshot:
    versions: list[tuple[int, str, str, str | None, str | None, bytes]]  # pk, stix_id, version, tlp, author, body
    members: list[tuple[int, int, int]]  # date_added, collection_pk, version_pk
    observables: list[tuple[str, str, int]]  # type, value, version_pk
    audit: list[tuple[int, str, str, str | None, bytes]]  # seq, actor, action, subject, detail
    orphans: dict[str, int]  # what points at a version that is not there, by table


ORPHANS = {
    "collection_objects": "SELECT count(*) FROM collection_objects m LEFT JOIN object_versions v "
                          "ON v.pk = m.version_pk WHERE v.pk IS NULL",
    "observables": "SELECT count(*) FROM observables o LEFT JOIN object_versions v "
                   "ON v.pk = o.version_pk WHERE v.pk IS NULL",
    "versions without membership": "SELECT count(*) FROM object_versions v WHERE NOT EXISTS "
                                   "(SELECT 1 FROM collection_objects m WHERE m.version_pk = v.pk)",
}


def _rows(db_url: str, sql: str) -> list[tuple[Any, ...]]:
    if db_url.startswith("sqlite:///"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(db_url, connect_timeout=10) as pg:
        return pg.execute(sql).fetchall()


def snapshot(db_url: str) -> Snapshot:
    versions = [(pk, sid, ver, tlp, author, bytes(body)) for pk, sid, ver, tlp, author, body in _rows(
        db_url, "SELECT pk, stix_id, version, tlp, author, body FROM object_versions ORDER BY pk")]
    members = [tuple(r) for r in _rows(db_url, "SELECT date_added, collection_pk, version_pk FROM collection_objects "
                                               "ORDER BY date_added")]
    observables = [tuple(r) for r in _rows(db_url, "SELECT type, value, version_pk FROM observables")]
    audit = [(seq, actor, action, subject, bytes(detail)) for seq, actor, action, subject, detail in _rows(
        db_url, "SELECT seq, actor, action, subject, detail FROM audit_log ORDER BY seq")]
    orphans = {name: _rows(db_url, sql)[0][0] for name, sql in ORPHANS.items()}
    return Snapshot(versions, members, observables, audit, orphans)


def sqlite_checks(db_url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(PRAGMA integrity_check, PRAGMA foreign_key_check) of a SQLite store; the first is [("ok",)]."""
    conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        return conn.execute("PRAGMA integrity_check").fetchall(), conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
