"""The dashboard's alerts (web/browse.py, templates/dashboard.html), in process: the signed-in
user's organisation's alerts, escaped, and only while the organisation may see what fired them."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from accord.app import build_app
from accord.policy.passwords import set_password
from accord.services.alerts import evaluate
from accord.settings import load_settings
from accord.storage.sqlite import SQLiteStore
from tests.conftest import StepClock
from tests.services.alerting import World, indicator, make_world

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def world(sqlite_store: SQLiteStore, clock: StepClock, tmp_path: Path) -> World:
    world = make_world(sqlite_store, clock, tmp_path)
    for username, org in (("alice", "cert-a"), ("bob", "cert-b")):
        sqlite_store.add_user(username, org=org, role="reader")
        set_password(sqlite_store, username, PASSWORD)
    return world


def _dashboard(world: World, tmp_path: Path, username: str) -> str:
    settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": world.store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_ALERT_RUNNER": "false"})
    client = TestClient(build_app(settings, world.store, clock=world.clock), base_url="http://testserver",
                        follow_redirects=False)
    token = CSRF.search(client.get("/login").text)
    assert token is not None
    signed_in = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)})
    assert signed_in.status_code == 303
    page = client.get("/")
    assert page.status_code == 200
    section = page.text.split('<h2 id="alerts-h">Alerts</h2>', 1)[1].split("</section>", 1)[0]
    return section


def test_dashboard_lists_the_organisations_alerts_escaped(world: World, tmp_path: Path) -> None:
    world.rule("watchlist", name="watch-evil", values=("evil.example",))
    (sid,) = world.add("cert-b", indicator("[domain-name:value = 'c2.evil.example']",
                                           name="<script>alert(1)</script>"))
    evaluate(world.store, clock=world.clock)
    section = _dashboard(world, tmp_path, "alice")
    assert "watch-evil" in section and f"/objects/{sid}" in section and "cert-b" in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section and "<script>" not in section
    assert "c2.evil.example (parent: evil.example)" in section
    assert "No alerts" in _dashboard(world, tmp_path, "bob")  # another organisation's alerts are not its own
    world.store.change_agreement("a-cert-b", action="suspend", actor="test")
    assert "No alerts" in _dashboard(world, tmp_path, "alice")  # no longer cert-a's to see
