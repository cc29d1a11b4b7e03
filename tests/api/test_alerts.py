"""REST alerts (accord/api/alerts.py): a rule's secret shown once, 400s naming the property, the
alerts of the caller's organisation only, paged. Who may call what is in the authorization matrix
(tests/api/test_rest_authorization_matrix.py); what fires is tests/services/test_alerts.py's."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from accord.app import build_app
from accord.policy.tokens import new_token
from accord.services.alerts import evaluate
from accord.settings import load_settings
from accord.storage.base import State
from accord.storage.sqlite import SQLiteStore
from tests.conftest import StepClock
from tests.services.alerting import World, indicator, make_world

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


class Api:
    def __init__(self, world: World, client: TestClient):
        self.world, self.client = world, client
        self.tokens: dict[str, str] = {}

    def user(self, username: str, org: str, role: str) -> None:
        self.world.store.add_user(username, org=org, role=role)
        token, digest = new_token()
        self.world.store.add_token(username, digest)
        self.tokens[username] = token

    def send(self, who: str, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.client.request(method, path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"},
                                   content=None if body is None else orjson.dumps(body))


@pytest.fixture
def api(sqlite_store: SQLiteStore, clock: StepClock, tmp_path: Path) -> Api:
    world = make_world(sqlite_store, clock, tmp_path)
    settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": sqlite_store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_ALERT_RUNNER": "false",
                                  "ACCORD_KEY_FILE": str(tmp_path / "node.key"),
                                  "ACCORD_ALERT_WEBHOOK_PRIVATE_TARGETS": "true"})
    found = Api(world, TestClient(build_app(settings, sqlite_store, clock=clock), raise_server_exceptions=False))
    for username, org, role in (("ann", "cert-a", "org-admin"), ("rita", "cert-a", "reader"),
                                ("bob", "cert-b", "org-admin"), ("nick", "cert-b", "node-admin")):
        found.user(username, org, role)
    return found


def test_secret_shown_once_and_alerts_of_the_callers_organisation(api: Api) -> None:
    created = api.send("ann", "POST", "/api/v1/alert-rules", {"name": "watch", "kind": "watchlist",
                                                               "values": ["evil.example"],
                                                               "webhook": "http://127.0.0.1:9/hook"})
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["org"] == "cert-a" and rule["created_by"] == "ann" and len(rule["secret"]) >= 40
    listed = api.send("rita", "GET", "/api/v1/alert-rules")
    assert listed.status_code == 200 and [r["name"] for r in listed.json()["rules"]] == ["watch"]
    assert rule["secret"] not in listed.text and "secret" not in listed.json()["rules"][0]
    # The values and the webhook address are the organisation's org-admins' business.
    assert (listed.json()["rules"][0]["values"], listed.json()["rules"][0]["webhook"]) == ([], None)
    assert api.send("ann", "GET", "/api/v1/alert-rules").json()["rules"][0]["webhook"] == "http://127.0.0.1:9/hook"
    # A node-admin of another organisation sees the rule without them, and may not point cert-a's
    # rules at an address of its own.
    theirs = api.send("nick", "GET", "/api/v1/alert-rules").json()["rules"]
    assert [(r["name"], r["values"], r["webhook"]) for r in theirs] == [("watch", [], None)]
    hook = api.send("nick", "POST", "/api/v1/alert-rules", {"org": "cert-a", "name": "mine", "kind": "own-indicators",
                                                             "webhook": "http://127.0.0.1:9/elsewhere"})
    assert hook.status_code == 403 and "org-admin of the organisation itself" in hook.text
    assert api.send("nick", "POST", "/api/v1/alert-rules", {"org": "cert-a", "name": "plain",
                                                             "kind": "own-indicators"}).status_code == 201
    assert api.send("bob", "GET", "/api/v1/alert-rules").json() == {"rules": []}
    ids = [api.world.add("cert-b", indicator(f"[domain-name:value = 'h{i}.evil.example']"))[0] for i in range(3)]
    evaluate(api.world.store, clock=api.world.clock)
    first = api.send("rita", "GET", "/api/v1/alerts", limit=2)
    assert first.status_code == 200
    page = first.json()
    assert [a["object"]["id"] for a in page["alerts"]] == ids[:0:-1] and "next" in page
    rest = api.send("rita", "GET", "/api/v1/alerts", limit=2, cursor=page["next"]).json()
    assert [a["object"]["id"] for a in rest["alerts"]] == ids[:1] and "next" not in rest
    alert = rest["alerts"][0]
    assert (alert["rule"], alert["kind"], alert["object"]["owner"], alert["object"]["tlp"]) == (
        "watch", "watchlist", "cert-b", "amber")
    assert alert["matched"]["values"][0]["relation"] == "parent"
    assert alert["delivery"] == {"state": "pending", "attempts": 0, "last_error": None}
    assert api.send("bob", "GET", "/api/v1/alerts").json() == {"alerts": []}
    removed = api.send("ann", "DELETE", f"/api/v1/alert-rules/{rule['id']}")
    assert removed.status_code == 200 and "secret" not in removed.json()
    assert api.send("rita", "GET", "/api/v1/alerts").json() == {"alerts": []}


@pytest.mark.parametrize(("body", "detail"), [
    ({"name": "x", "kind": "watchlist", "values": ["hello"]}, "'values': 'hello': not an IP address"),
    ({"name": "x", "kind": "watchlist", "values": "evil.example"}, "'values' must be a list of strings"),
    ({"name": "x", "kind": "maybe"}, "'kind': 'maybe' is not a rule kind"),
    ({"kind": "own-indicators"}, "'name' is required"),
    ({"name": "x", "kind": "own-indicators", "colour": "red"}, "'colour' is not a property of this request"),
    ({"name": "x", "kind": "own-indicators", "webhook": "ftp://x.example/"},
     "'webhook': 'ftp://x.example/': only http and https URLs are allowed"),
    ({"name": "x", "kind": "sighting", "partner": "nobody"},
     "'partner': 'nobody' is no organisation this organisation has an agreement with"),
])
def test_bad_rules_are_400s_naming_the_property(api: Api, body: dict[str, Any], detail: str) -> None:
    response = api.send("ann", "POST", "/api/v1/alert-rules", body)
    assert response.status_code == 400
    assert response.json()["error"]["detail"].startswith(detail), response.text


def test_a_taken_name_is_409(api: Api) -> None:
    assert api.send("ann", "POST", "/api/v1/alert-rules", {"name": "x", "kind": "own-indicators"}).status_code == 201
    taken = api.send("ann", "POST", "/api/v1/alert-rules", {"name": "x", "kind": "own-indicators"})
    assert taken.status_code == 409 and "'x'" in taken.json()["error"]["detail"]


def test_pages_count_only_the_alerts_shown(api: Api) -> None:
    """Review finding: a page is ``limit`` alerts the caller may see, and "next" appears only when
    more of those follow, however many hidden alerts lie between or after them."""
    assert api.send("ann", "POST", "/api/v1/alert-rules", {"name": "watch", "kind": "watchlist",
                                                            "values": ["paged.example"]}).status_code == 201
    ids = [api.world.add("cert-b", indicator(f"[domain-name:value = 'h{i}.paged.example']"))[0] for i in range(5)]
    evaluate(api.world.store, clock=api.world.clock)
    for hidden in (ids[0], ids[2], ids[4]):  # the newest, one between, the oldest: retracted by their owner
        api.world.store.set_state(api.world.store.version_facts(hidden), State.RETRACTED, actor="test")
    first = api.send("rita", "GET", "/api/v1/alerts", limit=2).json()
    assert [a["object"]["id"] for a in first["alerts"]] == [ids[3], ids[1]]
    assert "next" not in first  # only hidden alerts are older
    one = api.send("rita", "GET", "/api/v1/alerts", limit=1).json()
    assert [a["object"]["id"] for a in one["alerts"]] == [ids[3]] and "next" in one
    rest = api.send("rita", "GET", "/api/v1/alerts", limit=1, cursor=one["next"]).json()
    assert [a["object"]["id"] for a in rest["alerts"]] == [ids[1]] and "next" not in rest


def test_the_cursor_is_sealed_and_bound_to_the_caller(api: Api) -> None:
    """Review finding: alerts are numbered node-wide, so a plain number as the cursor let an
    organisation count other organisations' alerts from the gaps between its own. The cursor is
    sealed: no number in it, a number or another user's cursor is refused with a 400 naming it."""
    api.user("rick", "cert-a", "reader")
    assert api.send("ann", "POST", "/api/v1/alert-rules", {"name": "watch", "kind": "watchlist",
                                                            "values": ["sealed.example"]}).status_code == 201
    for i in range(3):
        api.world.add("cert-b", indicator(f"[domain-name:value = 'h{i}.sealed.example']"))
    evaluate(api.world.store, clock=api.world.clock)
    alerts = api.world.store.alerts(api.world.store.get_org("cert-a").pk, limit=10)
    cursor = api.send("rita", "GET", "/api/v1/alerts", limit=1).json()["next"]
    assert not any(str(a.pk) == cursor or cursor.isdigit() for a in alerts)
    assert api.send("rita", "GET", "/api/v1/alerts", limit=1, cursor=cursor).status_code == 200
    for who, forged in (("rita", str(alerts[0].pk)), ("rick", cursor), ("rita", cursor[:-4] + "AAAA")):
        refused = api.send(who, "GET", "/api/v1/alerts", limit=1, cursor=forged)
        assert refused.status_code == 400, (who, forged)
        assert "cursor" in refused.json()["error"]["detail"]


def test_acknowledging_and_the_filter(api: Api) -> None:
    api.user("ana", "cert-a", "analyst")
    assert api.send("ann", "POST", "/api/v1/alert-rules", {"name": "watch", "kind": "watchlist",
                                                            "values": ["ack.example"]}).status_code == 201
    first, second = (api.world.add("cert-b", indicator(f"[domain-name:value = 'h{i}.ack.example']"))[0]
                     for i in range(2))
    evaluate(api.world.store, clock=api.world.clock)
    listed = api.send("rita", "GET", "/api/v1/alerts").json()["alerts"]
    assert [a["acknowledged"] for a in listed] == [None, None]
    older = listed[1]["id"]
    assert api.send("rita", "POST", f"/api/v1/alerts/{older}/acknowledge").status_code == 403  # a reader
    assert api.send("bob", "POST", f"/api/v1/alerts/{older}/acknowledge").status_code == 404  # not cert-b's
    done = api.send("ana", "POST", f"/api/v1/alerts/{older}/acknowledge")
    assert done.status_code == 200, done.text
    assert done.json()["id"] == older and done.json()["object"]["id"] == first
    assert done.json()["acknowledged"]["by"] == "ana" and done.json()["acknowledged"]["at"].endswith("Z")
    again = api.send("ann", "POST", f"/api/v1/alerts/{older}/acknowledge").json()
    assert again["acknowledged"] == done.json()["acknowledged"]  # the first acknowledgement stands
    only = {flag: [a["object"]["id"] for a in api.send("rita", "GET", "/api/v1/alerts",
                                                       acknowledged=flag).json()["alerts"]]
            for flag in ("true", "false")}
    assert only == {"true": [first], "false": [second]}
    bad = api.send("rita", "GET", "/api/v1/alerts", acknowledged="no")
    assert bad.status_code == 400 and "'acknowledged' must be true or false" in bad.text
