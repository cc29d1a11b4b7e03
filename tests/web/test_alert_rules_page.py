"""The alert rules page and acknowledging alerts in the web UI (web/alert_pages.py), in process:
who sees what of a rule (as GET /api/v1/alert-rules), the form's refusals (400, the field named,
nothing stored), the webhook secret shown once, removal, and the dashboard's Acknowledge. The
browser drives the same pages in test_alerts_browser.py."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from accord.app import build_app
from accord.policy.passwords import set_password
from accord.services.alerts import evaluate
from accord.settings import load_settings
from accord.storage.base import State
from accord.storage.sqlite import SQLiteStore
from tests.conftest import StepClock
from tests.services.alerting import World, indicator, make_world

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
USERS = (("olga", "cert-a", "org-admin"), ("ana", "cert-a", "analyst"), ("rita", "cert-a", "reader"),
         ("nick", "cert-b", "node-admin"), ("bob", "cert-b", "org-admin"))


class Browser:
    """One signed-in user's session, in process."""

    def __init__(self, world: World, tmp_path: Path, username: str):
        settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": world.store.url,
                                      "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_ALERT_RUNNER": "false",
                                      "ACCORD_KEY_FILE": str(tmp_path / "node.key"),
                                      "ACCORD_ALERT_WEBHOOK_PRIVATE_TARGETS": "true"})
        self.client = TestClient(build_app(settings, world.store, clock=world.clock), base_url="http://testserver",
                                 follow_redirects=False)
        token = CSRF.search(self.client.get("/login").text)
        assert token is not None
        signed_in = self.client.post("/login", data={"username": username, "password": PASSWORD,
                                                     "csrf": token.group(1)})
        assert signed_in.status_code == 303
        self.csrf = ""

    def get(self, path: str) -> Any:
        page = self.client.get(path)
        found = CSRF.search(page.text)
        self.csrf = found.group(1) if found else self.csrf
        return page

    def post(self, path: str, data: dict[str, Any]) -> Any:
        if not self.csrf:
            self.get("/alerts/rules")
        return self.client.post(path, data={"csrf": self.csrf, **data})


@pytest.fixture
def world(sqlite_store: SQLiteStore, clock: StepClock, tmp_path: Path) -> World:
    world = make_world(sqlite_store, clock, tmp_path)
    for username, org, role in USERS:
        sqlite_store.add_user(username, org=org, role=role)
        set_password(sqlite_store, username, PASSWORD)
    return world


class Browsers(dict[str, Browser]):
    """Each user's session, signed in when first asked for (signing in hashes a password)."""

    def __init__(self, world: World, tmp_path: Path):
        super().__init__()
        self.world, self.tmp_path = world, tmp_path

    def __missing__(self, username: str) -> Browser:
        self[username] = Browser(self.world, self.tmp_path, username)
        return self[username]


@pytest.fixture
def browsers(world: World, tmp_path: Path) -> Browsers:
    return Browsers(world, tmp_path)


def _rules_table(html: str) -> str:
    if 'id="rules"' not in html:
        return ""
    return html.split('<table class="results" id="rules">', 1)[1].split("</table>", 1)[0]


def test_listing_as_the_rest_api_shows_it(world: World, browsers: dict[str, Browser]) -> None:
    world.rule("watchlist", name="c2-watch", values=("secret-value.example",), webhook="http://127.0.0.1:9/hook-token")
    world.rule("sighting", name="partner-seen", partner="cert-b")
    olga = _rules_table(browsers["olga"].get("/alerts/rules").text)
    assert "c2-watch" in olga and "secret-value.example" in olga and "http://127.0.0.1:9/hook-token" in olga
    assert "sightings (seen) of cert-b's objects" in olga
    for other in ("ana", "rita", "nick"):  # a member without the details; another organisation's node-admin too
        page = browsers[other].get("/alerts/rules")
        assert page.status_code == 200
        table = _rules_table(page.text)
        assert "c2-watch" in table and "partner-seen" in table
        assert "secret-value.example" not in page.text and "hook-token" not in page.text
    assert "c2-watch" not in browsers["bob"].get("/alerts/rules").text  # another organisation's rules
    # Only who may manage them sees the form and the remove buttons (nick: cert-a's rules, not the form).
    form = browsers["olga"].get("/alerts/rules").text
    assert 'action="/alerts/rules"' in form and '<textarea id="rule-values" name="values" rows="6"></textarea>' in form
    # The partner choices: the organisations cert-a has an agreement with, never others of the node.
    assert re.findall(r'<option value="([^"]*)" >', form.split('id="rule-partner"')[1].split("</select>")[0]) == [
        "cert-b", "partner"]
    for name in ("ana", "rita"):
        page = browsers[name].get("/alerts/rules").text
        assert 'action="/alerts/rules"' not in page and "/remove" not in page
    nick = browsers["nick"].get("/alerts/rules").text
    assert "/remove" in nick and "New rule for cert-b" in nick


def test_a_new_rule_and_its_secret_once(world: World, browsers: dict[str, Browser]) -> None:
    olga = browsers["olga"]
    made = olga.post("/alerts/rules", {"name": "c2-watch", "kind": "watchlist",
                                       "values": "evil.example\n\n198.51.100.0/24\n",
                                       "webhook": "http://127.0.0.1:9/hook"})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    secret = re.search(r'id="rule-secret" class="secret" readonly value="([^"]+)"', made.text)
    assert secret is not None and len(secret.group(1)) >= 40
    (rule,) = world.store.alert_rules(world.pk["cert-a"])
    assert (rule.name, rule.values, rule.created_by) == ("c2-watch", ("evil.example", "198.51.100.0/24"), "olga")
    assert secret.group(1) not in olga.get("/alerts/rules").text
    plain = olga.post("/alerts/rules", {"name": "seen", "kind": "sighting", "partner": "partner",
                                        "sighting_types": ["seen", "false-positive"]})
    assert plain.status_code == 303 and plain.headers["location"] == "/alerts/rules?notice=rule-added"
    rule = next(r for r in world.store.alert_rules(world.pk["cert-a"]) if r.name == "seen")
    assert (rule.partner_name, rule.sighting_types) == ("partner", ("seen", "false-positive"))


@pytest.mark.parametrize(("form", "field", "message"), [
    ({"name": "x", "kind": "watchlist", "values": "evil.example\nhello"}, "values",
     "values: &#39;hello&#39;: not an IP address or network"),
    ({"name": "x", "kind": "own-indicators", "values": "evil.example"}, "values",
     "values: only a watchlist rule has values"),
    ({"name": "", "kind": "own-indicators"}, "name", "name: is required"),
    ({"name": "no spaces", "kind": "own-indicators"}, "name", "name: letters, digits"),
    ({"name": "x", "kind": "sighting", "partner": "stranger"}, "partner",
     "partner: &#39;stranger&#39; is no organisation this organisation has an agreement with"),
    ({"name": "x", "kind": "own-indicators", "webhook": "http://169.254.169.254/latest"}, "webhook",
     "webhook: &#39;http://169.254.169.254/latest&#39;:"),
    ({"name": "x", "kind": "own-indicators", "sighting_types": ["seen"]}, "sighting_types",
     "sighting_types: only a sighting rule has sighting types"),
    ({"name": "taken", "kind": "own-indicators"}, "name", "name: your organisation has a rule named &#39;taken&#39;"),
    ({"name": "x", "kind": "watchlist", "values": "\n".join(f"10.1.{i // 256}.{i % 256}" for i in range(10_001))},
     "values", "values: at most 10000 values at once; 10001 were given"),
])
def test_refusals_come_back_in_the_form(world: World, browsers: dict[str, Browser], form: dict[str, Any],
                                        field: str, message: str) -> None:
    world.rule("own-indicators", name="taken")
    before = world.store.alert_rules()
    audit = len(world.store.audit_records(action="alert.rule.add"))
    answer = browsers["olga"].post("/alerts/rules", form)
    assert answer.status_code == 400
    error = re.search(r'<p class="error" role="alert" id="rule-error">([^<]*)</p>', answer.text)
    assert error is not None and error.group(1).startswith(message), answer.text[:3000]
    (marked,) = re.findall(r'<(?:input|select|textarea|fieldset)[^>]*aria-invalid="true"[^>]*>', answer.text)
    assert f'name="{field}"' in marked or (field == "sighting_types" and marked.startswith("<fieldset"))
    if form.get("values"):
        assert form["values"].split("\n")[0] in answer.text  # what was typed is kept
    assert world.store.alert_rules() == before  # nothing stored
    assert len(world.store.audit_records(action="alert.rule.add")) == audit


def test_who_may_add_and_remove(world: World, browsers: dict[str, Browser]) -> None:
    rule = world.rule("own-indicators", name="mine")
    for name in ("ana", "rita"):
        refused = browsers[name].post("/alerts/rules", {"name": "x", "kind": "own-indicators"})
        assert refused.status_code == 403 and "only an org-admin of the organisation" in refused.text
        assert browsers[name].post(f"/alerts/rules/{rule}/remove", {}).status_code == 403
    assert browsers["bob"].post(f"/alerts/rules/{rule}/remove", {}).status_code == 404  # not cert-b's: as absent
    assert browsers["olga"].post("/alerts/rules/999999/remove", {}).status_code == 404
    assert browsers["olga"].post("/alerts/rules/x/remove", {}).status_code == 404
    no_csrf = browsers["olga"].client.post(f"/alerts/rules/{rule}/remove", data={})
    assert no_csrf.status_code == 403
    assert [r.name for r in world.store.alert_rules()] == ["mine"]
    gone = browsers["nick"].post(f"/alerts/rules/{rule}/remove", {})  # a node-admin: any organisation's
    assert gone.status_code == 303 and gone.headers["location"] == "/alerts/rules?notice=rule-removed"
    assert world.store.alert_rules() == []
    # A node-admin adds for its own organisation on this page, webhook included.
    added = browsers["nick"].post("/alerts/rules", {"name": "b-hook", "kind": "own-indicators",
                                                    "webhook": "http://127.0.0.1:9/b"})
    assert added.status_code == 200 and world.store.alert_rules()[0].org_name == "cert-b"


def test_acknowledge_on_the_dashboard(world: World, browsers: dict[str, Browser]) -> None:
    world.rule("watchlist", values=("ack.example",))
    first, _ = world.add("cert-b", indicator("[domain-name:value = 'one.ack.example']"),
                         indicator("[domain-name:value = 'two.ack.example']", name="second <b>one</b>"))
    evaluate(world.store, clock=world.clock)
    newer, older = world.store.alerts(world.pk["cert-a"], limit=10)
    rita = browsers["rita"].get("/").text
    assert "Acknowledge</button>" not in rita and rita.count(">open</span>") == 2  # a reader only reads
    assert browsers["rita"].post(f"/alerts/{older.uid}/acknowledge", {}).status_code == 403
    ana = browsers["ana"].get("/").text
    assert ana.count("Acknowledge</button>") == 2 and "second &lt;b&gt;one&lt;/b&gt;" in ana
    assert browsers["bob"].post(f"/alerts/{older.uid}/acknowledge", {}).status_code == 404  # not cert-b's
    done = browsers["ana"].post(f"/alerts/{older.uid}/acknowledge", {})
    assert done.status_code == 303 and done.headers["location"] == "/?notice=alert-acknowledged"
    page = browsers["ana"].get("/?notice=alert-acknowledged").text
    assert "Alert acknowledged." in page and "by ana" in page and page.count("Acknowledge</button>") == 1
    only_open = browsers["ana"].get("/?alerts=open").text
    assert f'data-alert="{newer.uid}"' in only_open and f'data-alert="{older.uid}"' not in only_open
    back = browsers["ana"].post(f"/alerts/{newer.uid}/acknowledge", {"back": "open"})
    assert back.headers["location"] == "/?alerts=open&notice=alert-acknowledged"
    assert "No alerts waiting to be acknowledged." in browsers["ana"].get("/?alerts=open").text
    # One no longer visible (its object retracted) is as one that does not exist.
    world.store.set_state(world.store.version_facts(first), State.RETRACTED, actor="test")
    assert browsers["olga"].post(f"/alerts/{older.uid}/acknowledge", {}).status_code == 404
