"""The administration pages of the web UI (accord/web/admin.py, users.py, audit_pages.py):
agreements, collections and grants, users, passwords and tokens, the audit log.

Two kinds of test: fast ones in process (Starlette's TestClient over build_app, signed in through
policy/sessions.py) for who may do what, CSRF, 400s that name the field and 404s that do not tell
"absent" from "not yours"; and browser tests (the harness of conftest.py) for the flows a person
goes through: add and suspend an agreement, add a user who then signs in, make a token and use
it, read the audit log and see its chain break when a row is tampered with.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from accord.app import build_app
from accord.errors import AuthenticationError
from accord.policy.passwords import set_password
from accord.policy.sessions import COOKIE, csrf_token, sign_in
from accord.settings import load_settings
from accord.storage.base import Store
from accord.storage.sqlite import SQLiteStore
from accord.web.context import WebContext
from tests.conftest import StepClock
from tests.web.conftest import World, password_for, unique

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.web.conftest import Problems


# ---------------------------------------------------------------- in process: the rules


@dataclass
class App:
    store: Store
    client: TestClient
    ctx: WebContext
    clock: StepClock

    def session(self, username: str) -> Session:
        cookie, _ = sign_in(self.store, self.ctx.throttle, "testclient", username, password_for(username),
                            now=self.clock(), lifetime_micros=self.ctx.lifetime_micros)
        return Session(self, cookie, csrf_token(self.ctx.secret, hashlib.sha256(cookie.encode()).digest()))


@dataclass
class Session:
    app: App
    cookie: str
    csrf: str

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.app.client.get(path, params=params or None, headers=self._cookie, follow_redirects=False)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True) -> httpx.Response:
        form = {**(data or {}), **({"csrf": self.csrf} if csrf else {})}
        return self.app.client.post(path, data=form, headers=self._cookie, follow_redirects=False)

    @property
    def _cookie(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.cookie}"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    clock = StepClock()
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}", clock=clock)
    store.initialise()
    for name, kind in (("cert-a", "local"), ("cert-b", "partner"), ("cert-c", "local")):
        store.add_org(name, kind=kind)
    shared = store.add_collection("Shared intel", alias="shared")
    store.set_grant(shared, "cert-a", can_read=True, can_write=True)
    store.add_agreement("a-b", parties=["cert-a", "cert-b"], max_tlp="amber", onward=False, valid_from=None,
                        valid_until=None, actor="test")
    store.add_agreement("b-c", parties=["cert-b", "cert-c"], max_tlp="green", onward=False, valid_from=None,
                        valid_until=None, actor="test")
    for username, org, role in (("alice", "cert-a", "analyst"), ("olga", "cert-a", "org-admin"),
                                ("admin", "node", "node-admin"), ("bob", "cert-b", "reader"),
                                ("carl", "cert-c", "org-admin")):
        store.add_user(username, org=org, role=role)
        set_password(store, username, password_for(username))
    settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false"})
    built = build_app(settings, store, clock=clock)
    client = TestClient(built, raise_server_exceptions=True, base_url="http://testserver")
    yield App(store, client, built.state.web, clock)
    store.close()


def test_a_form_post_without_the_csrf_field_is_refused(app: App) -> None:
    admin = app.session("admin")
    form = {"name": "new-one", "parties": ["cert-a", "cert-c"], "max_tlp": "green"}
    refused = admin.post("/agreements", form, csrf=False)
    assert refused.status_code == 403 and "reload the page" in refused.text
    forged = admin.post("/agreements", {**form, "csrf": "x" * 43}, csrf=False)
    assert forged.status_code == 403
    assert "new-one" not in {a.name for a in app.store.agreements()}
    done = admin.post("/agreements", form)
    assert done.status_code == 303 and done.headers["location"] == "/agreements/new-one?notice=agreement-added"
    assert "new-one" in {a.name for a in app.store.agreements()}
    for path in ("/agreements/a-b/suspend", "/admin/collections", "/admin/users", "/account/password"):
        assert admin.post(path, {"title": "x"}, csrf=False).status_code == 403, path


def test_each_page_refuses_the_roles_below_it(app: App) -> None:
    bob, alice, olga, carl = (app.session(u) for u in ("bob", "alice", "olga", "carl"))
    for session in (bob, alice):
        for path in ("/admin/users", "/audit", "/admin/collections"):
            answer = session.get(path)
            assert answer.status_code == 403 and "Your role does not allow this page." in answer.text, path
    assert olga.get("/admin/collections").status_code == 403
    assert olga.get("/admin/users").status_code == 200 and olga.get("/audit").status_code == 200
    # Acting needs the role too, not only seeing the page.
    refused = olga.post("/agreements", {"name": "x", "parties": ["cert-a", "cert-b"]})
    assert refused.status_code == 403 and "node-admin" in refused.text
    assert olga.post("/agreements/a-b/suspend").status_code == 403
    assert app.store.get_agreement("a-b").state_at(app.clock()) == "active"
    assert olga.post("/admin/collections", {"title": "mine"}).status_code == 403
    assert bob.post("/admin/users", {"username": "x", "org": "cert-b", "role": "reader",
                                     "password": "long-enough-password"}).status_code == 403
    # An org-admin adds users to their own organisation only, and never a node-admin.
    other_org = carl.post("/admin/users", {"username": "sneaky", "org": "cert-a", "role": "reader",
                                           "password": "long-enough-password"})
    assert other_org.status_code == 403
    too_high = olga.post("/admin/users", {"username": "boss", "org": "cert-a", "role": "node-admin",
                                          "password": "long-enough-password"})
    assert too_high.status_code == 403 and "node-admin" in too_high.text
    assert {u.username for u in app.store.users()}.isdisjoint({"sneaky", "boss"})
    assert '<option value="node-admin"' not in olga.get("/admin/users").text


def test_what_a_viewer_may_not_see_is_the_same_404_as_what_does_not_exist(app: App) -> None:
    bob, olga, carl = app.session("bob"), app.session("olga"), app.session("carl")
    listed = olga.get("/agreements").text
    assert "a-b" in listed and "b-c" not in listed
    assert "b-c" in bob.get("/agreements").text
    hidden, absent = olga.get("/agreements/b-c"), olga.get("/agreements/nope")
    assert hidden.status_code == absent.status_code == 404 and hidden.text == absent.text
    assert olga.post("/agreements/b-c/suspend").text == olga.post("/agreements/nope/suspend").text
    hidden, absent = carl.get("/admin/users/alice"), carl.get("/admin/users/nobody")
    assert hidden.status_code == absent.status_code == 404 and hidden.text == absent.text
    assert olga.get("/admin/users/alice").status_code == 200
    users = carl.get("/admin/users").text
    assert "carl" in users and "alice" not in users and "olga" not in users
    # Tokens: someone else's is as absent as one that never existed.
    token = app.store.add_token("alice", b"\x01" * 32)
    foreign = carl.post(f"/admin/tokens/{token.pk}/revoke")
    assert foreign.status_code == 404 and foreign.text == carl.post("/admin/tokens/999999/revoke").text
    assert app.store.tokens("alice")[0].revoked is None
    assert bob.post("/admin/users/alice/tokens", {"label": "x"}).status_code == 404


@pytest.mark.parametrize(("form", "field"), [
    ({"parties": ["cert-a", "cert-b"]}, "name"),
    ({"name": "bad name!", "parties": ["cert-a", "cert-b"]}, "name"),
    ({"name": "x", "parties": ["cert-a"]}, "parties"),
    ({"name": "x", "parties": ["cert-a", "nobody"]}, "parties"),
    ({"name": "x", "parties": ["cert-a", "cert-b"], "max_tlp": "purple"}, "max_tlp"),
    ({"name": "x", "parties": ["cert-a", "cert-b"], "valid_from": "31/12/2026"}, "valid_from"),
    ({"name": "x", "parties": ["cert-a", "cert-b"], "valid_from": "2026-02-01", "valid_until": "2026-01-01"},
     "valid_until"),
    ({"name": "x", "parties": ["cert-a", "cert-b"], "collections": ["none-such"]}, "collections"),
    ({"name": "x", "parties": ["cert-a", "cert-b"], "types": "indicator Not_A_Type"}, "types"),
])
def test_bad_agreement_input_names_the_field(app: App, form: dict[str, Any], field: str) -> None:
    answer = app.session("admin").post("/agreements", form)
    assert answer.status_code == 400, answer.text
    assert re.search(rf'role="alert">{field}: ', answer.text), answer.text
    assert {a.name for a in app.store.agreements()} == {"a-b", "b-c"}


def test_agreement_form_creates_dated_scoped_agreements_and_changes_them(app: App) -> None:
    admin = app.session("admin")
    answer = admin.post("/agreements", {"name": "mou-2026", "parties": ["cert-a", "cert-c"], "max_tlp": "amber",
                                        "onward": "yes", "valid_from": "2020-01-01", "valid_until": "2999-01-01",
                                        "collections": ["shared"], "types": "indicator, malware"})
    assert answer.status_code == 303
    added = app.store.get_agreement("mou-2026")
    assert (added.party_names, added.max_tlp, added.onward, added.types) == (("cert-a", "cert-c"), "amber", True,
                                                                             ("indicator", "malware"))
    assert added.valid_from == 1_577_836_800_000_000 and added.collections == (app.store.get_collection("shared").pk,)
    assert admin.post("/agreements", {"name": "mou-2026", "parties": ["cert-a", "cert-c"]}).status_code == 409
    page = admin.get("/agreements/mou-2026").text
    assert "2020-01-01 00:00:00 UTC" in page and "indicator, malware" in page and "Shared intel" not in page
    assert ">shared<" in page or "shared;" in page
    for action, state in (("suspend", "suspended"), ("resume", "active"), ("end", "ended")):
        changed = admin.post(f"/agreements/mou-2026/{action}", {"back": "list"})
        assert changed.status_code == 303 and changed.headers["location"] == f"/agreements?notice=agreement-{action}"
        assert app.store.get_agreement("mou-2026").state_at(app.clock()) == state
    # Agreements added with the CLI may have a / in their name; their pages and buttons work alike.
    app.store.add_agreement("cert-a/cert-c", parties=["cert-a", "cert-c"], max_tlp="green", onward=False,
                            valid_from=None, valid_until=None, actor="test")
    assert 'href="/agreements/cert-a/cert-c"' in admin.get("/agreements").text
    assert admin.get("/agreements/cert-a/cert-c").status_code == 200
    assert admin.post("/agreements/cert-a/cert-c/suspend").headers["location"] == \
        "/agreements/cert-a/cert-c?notice=agreement-suspend"
    assert app.store.get_agreement("cert-a/cert-c").suspended
    again = admin.post("/agreements/mou-2026/resume")
    assert again.status_code == 409 and "ended" in again.text
    actors = [r.actor for r in app.store.audit_records(agreement="mou-2026")]
    assert actors == ["admin"] * 4


def test_collections_and_grants(app: App) -> None:
    admin = app.session("admin")
    assert admin.post("/admin/collections", {"title": "<b>Ministry</b> feed", "alias": "ministry",
                                             "default_tlp": "green"}).status_code == 303
    added = app.store.get_collection("ministry")
    assert (added.title, added.default_tlp) == ("<b>Ministry</b> feed", "green")
    (record,) = app.store.audit_records(action="collection.add")
    assert record.actor == "admin" and record.subject == added.id
    shown = admin.get("/admin/collections").text
    assert "&lt;b&gt;Ministry&lt;/b&gt; feed" in shown and "<b>Ministry" not in shown
    assert admin.post("/admin/collections", {"title": "again", "alias": "ministry"}).status_code == 409
    bad = admin.post("/admin/collections", {"title": "", "alias": "x"})
    assert bad.status_code == 400 and "title: is required" in bad.text

    grant = admin.post(f"/admin/collections/{added.id}/grant", {"org": "cert-b", "can_read": "yes"})
    assert grant.status_code == 303
    assert [(g.org_name, g.can_read, g.can_write) for g in app.store.grants(added)] == [("cert-b", True, False)]
    admin.post(f"/admin/collections/{added.id}/grant", {"org": "cert-b", "can_read": "yes", "can_write": "yes"})
    assert [(g.can_read, g.can_write) for g in app.store.grants(added)] == [(True, True)]
    neither = admin.post(f"/admin/collections/{added.id}/grant", {"org": "cert-b"})
    assert neither.status_code == 400 and "access: tick read, write or both" in neither.text
    unknown = admin.post(f"/admin/collections/{added.id}/grant", {"org": "nobody", "can_read": "yes"})
    assert unknown.status_code == 400 and "org: unknown organisation" in unknown.text
    assert admin.post("/admin/collections/none-such/grant", {"org": "cert-b", "can_read": "yes"}).status_code == 404
    assert admin.post(f"/admin/collections/{added.id}/revoke", {"org": "cert-b"}).status_code == 303
    assert app.store.grants(added) == []


def test_users_passwords_and_tokens(app: App) -> None:
    olga = app.session("olga")
    weak = olga.post("/admin/users", {"username": "newbie", "org": "cert-a", "role": "analyst", "password": "short"})
    assert weak.status_code == 400 and "password: the password is too short" in weak.text
    assert "newbie" not in {u.username for u in app.store.users()}  # no user is left without a password
    added = olga.post("/admin/users", {"username": "newbie", "org": "cert-a", "role": "analyst",
                                       "password": "newbie-initial-pw"})
    assert added.status_code == 303 and added.headers["location"] == "/admin/users/newbie?notice=user-added"
    assert app.store.get_user("newbie").role == "analyst"
    assert _cookie_and_csrf(app, "newbie", "newbie-initial-pw")[0]  # the initial password signs in
    taken = olga.post("/admin/users", {"username": "alice", "org": "cert-a", "role": "reader",
                                       "password": "long-enough-password"})
    assert taken.status_code == 409

    assert olga.post("/admin/users/newbie/password", {"password": "a-new-password-1"}).status_code == 303
    assert olga.post("/admin/users/olga/password", {"password": "a-new-password-1"}).status_code == 403

    # A new token is a new way in as that user: not an org-admin's to make for someone else...
    refused = olga.post("/admin/users/newbie/tokens", {"label": "by olga"})
    assert refused.status_code == 403 and not app.store.tokens("newbie")
    assert "Create token" not in olga.get("/admin/users/newbie").text
    # ...nor may an org-admin manage the accounts of node-admins or other org-admins.
    app.store.add_user("cert-a-operator", org="cert-a", role="node-admin")
    assert olga.post("/admin/users/cert-a-operator/password", {"password": "a-new-password-1"}).status_code == 404
    assert olga.get("/admin/users/cert-a-operator").status_code == 404
    # A node-admin makes one; the org-admin sees and revokes it.
    made = app.session("admin").post("/admin/users/newbie/tokens", {"label": "<script>x</script>",
                                                                    "expires_in_days": "30"})
    assert made.status_code == 200 and made.headers["cache-control"] == "no-store"
    secret = re.search(r'value="(acc_[A-Za-z0-9_-]+)"', made.text)
    assert secret is not None and "<script>x" not in made.text
    (token,) = app.store.tokens("newbie")
    assert token.label == "<script>x</script>" and token.expires is not None
    user_page = olga.get("/admin/users/newbie").text
    assert secret.group(1) not in user_page and "&lt;script&gt;x&lt;/script&gt;" in user_page
    bad_days = app.session("admin").post("/admin/users/newbie/tokens", {"expires_in_days": "0"})
    assert bad_days.status_code == 400 and "expires_in_days:" in bad_days.text
    revoked = olga.post(f"/admin/tokens/{token.pk}/revoke")
    assert revoked.status_code == 303 and app.store.tokens("newbie")[0].revoked is not None


def test_disabling_a_user_ends_its_sessions_until_it_is_enabled(app: App) -> None:
    olga = app.session("olga")
    added = olga.post("/admin/users", {"username": "leaver", "org": "cert-a", "role": "analyst",
                                       "password": "leaver-initial-pw"})
    assert added.status_code == 303
    leaver = Session(app, *_cookie_and_csrf(app, "leaver", "leaver-initial-pw"))
    assert leaver.get("/account").status_code == 200
    assert "Disable user" in olga.get("/admin/users/leaver").text
    done = olga.post("/admin/users/leaver/disable")
    assert done.status_code == 303 and done.headers["location"] == "/admin/users/leaver?notice=user-disabled"
    assert leaver.get("/account").status_code == 303  # signed out: its session ended
    with pytest.raises(AuthenticationError):
        sign_in(app.store, app.ctx.throttle, "t", "leaver", "leaver-initial-pw", now=app.clock(),
                lifetime_micros=app.ctx.lifetime_micros)
    shown = olga.get("/admin/users/leaver").text
    assert "Enable user" in shown and "Disable user" not in shown
    # Not one's own account, and not an account the org-admin does not administer (the same 404).
    assert olga.post("/admin/users/olga/disable").status_code == 403
    assert olga.post("/admin/users/carl/disable").status_code == olga.post(
        "/admin/users/nobody/disable").status_code == 404
    assert olga.post("/admin/users/leaver/enable").status_code == 303
    assert _cookie_and_csrf(app, "leaver", "leaver-initial-pw")[0]
    # Disabled by a node-admin: the org-admin may not enable it, and is told so instead of a button.
    assert app.session("admin").post("/admin/users/leaver/disable").status_code == 303
    assert "only a node-admin may enable" in olga.get("/admin/users/leaver").text
    assert olga.post("/admin/users/leaver/enable").status_code == 403
    assert app.session("admin").post("/admin/users/leaver/enable").status_code == 303
    assert [r.action for r in app.store.audit_records() if r.subject == "leaver"][-2:] == ["user.disable",
                                                                                        "user.enable"]


def test_every_user_changes_their_own_password_with_the_current_one(app: App) -> None:
    bob = app.session("bob")
    assert bob.get("/account").status_code == 200
    new = "bob-brand-new-password"
    wrong = bob.post("/account/password", {"current_password": "guess-guess-guess", "new_password": new,
                                           "confirm_password": new})
    assert wrong.status_code == 400 and "current_password: this is not your current password" in wrong.text
    differ = bob.post("/account/password", {"current_password": password_for("bob"), "new_password": new,
                                            "confirm_password": new + "x"})
    assert differ.status_code == 400 and "confirm_password:" in differ.text
    short = bob.post("/account/password", {"current_password": password_for("bob"), "new_password": "short",
                                           "confirm_password": "short"})
    assert short.status_code == 400 and "new_password:" in short.text
    done = bob.post("/account/password", {"current_password": password_for("bob"), "new_password": new,
                                          "confirm_password": new})
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=password-changed"
    assert bob.get("/account").status_code == 303  # the session ended with the old password
    assert sign_in(app.store, app.ctx.throttle, "t", "bob", new, now=app.clock(),
                   lifetime_micros=app.ctx.lifetime_micros)[0]
    # A user's own tokens, from the account page.
    bob = Session(app, *_cookie_and_csrf(app, "bob", new))
    made = bob.post("/admin/users/bob/tokens", {"from": "account"})
    assert made.status_code == 200 and 'href="/account"' in made.text


def _cookie_and_csrf(app: App, username: str, password: str) -> tuple[str, str]:
    cookie, _ = sign_in(app.store, app.ctx.throttle, "t", username, password, now=app.clock(),
                        lifetime_micros=app.ctx.lifetime_micros)
    return cookie, csrf_token(app.ctx.secret, hashlib.sha256(cookie.encode()).digest())


ORG_CELL = re.compile(r'<tr data-seq="\d+">(?:<td[^>]*>[^<]*</td>){3}<td[^>]*>([^<]*)</td>')


def test_audit_page_scope_filters_and_paging(app: App) -> None:
    admin, carl = app.session("admin"), app.session("carl")
    for i in range(60):
        app.store.add_user(f"filler-{i:02d}", org="cert-c", role="reader", actor="carl")
    shown = carl.get("/audit", action="user.add")
    assert shown.status_code == 200
    orgs = ORG_CELL.findall(shown.text)
    assert len(orgs) == 50 and set(orgs) == {"cert-c"}
    seqs = [int(s) for s in re.findall(r'<tr data-seq="(\d+)">', shown.text)]
    assert seqs == sorted(seqs, reverse=True)
    older = re.search(r'href="/audit\?([^"]+)" rel="next"', shown.text)
    assert older is not None
    rest = carl.get("/audit?" + older.group(1).replace("&amp;", "&"))
    more = [int(s) for s in re.findall(r'<tr data-seq="(\d+)">', rest.text)]
    assert more and max(more) < min(seqs) and 'rel="next"' not in rest.text
    assert len(seqs) + len(more) == 61  # carl himself, and the 60 fillers
    assert "Chain verified" not in shown.text  # the chain is the node-admin's
    assert carl.get("/audit", org="cert-a").status_code == 403
    assert carl.get("/audit", before="x").status_code == 400
    node_view = admin.get("/audit", org="cert-a")
    assert "Chain verified" in node_view.text
    assert set(ORG_CELL.findall(node_view.text)) == {"cert-a"}
    by_agreement = admin.get("/audit", agreement="a-b").text
    assert "agreement.add" in by_agreement and "b-c" not in by_agreement


def test_audit_records_page_newest_first(app: App) -> None:
    everything = app.store.audit_records()
    newest = app.store.audit_records(newest_first=True, limit=3)
    assert [r.seq for r in newest] == [r.seq for r in everything][::-1][:3]
    older = app.store.audit_records(newest_first=True, before=newest[-1].seq, limit=2)
    assert [r.seq for r in older] == [newest[-1].seq - 1, newest[-1].seq - 2]


# ---------------------------------------------------------------- in the browser: the flows


def test_node_admin_adds_an_agreement_and_suspends_and_resumes_it(page: Page, login: Callable[..., Page],
                                                                  expect: Any, screenshot: Callable[..., Path]) -> None:
    login(page, "admin")
    page.goto("/agreements")
    name = unique("mou")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Parties (two or more)").select_option(["cert-a", "cert-b"])
    page.get_by_label("Highest TLP").select_option("amber")
    page.get_by_label("Valid from").fill("2020-01-01")
    page.get_by_label("Valid until").fill("2999-12-31")
    page.get_by_label("Only these STIX types (space-separated; empty: all)").fill("indicator")
    page.get_by_label("Onward sharing of GREEN allowed").check()
    page.get_by_role("button", name="Add agreement").click()
    expect(page.locator("h1")).to_have_text(f"Agreement {name}")
    expect(page.locator(".notice")).to_have_text("Agreement added.")
    expect(page.locator("#agreement .state")).to_have_text("active")
    page.get_by_role("link", name="Agreements").first.click()
    row = page.locator(f'tr[data-agreement="{name}"]')
    expect(row).to_contain_text("cert-a, cert-b")
    expect(row).to_contain_text("TLP:AMBER")
    expect(row).to_contain_text("allowed")
    screenshot(page, "agreements")
    row.get_by_role("button", name=f"Suspend agreement {name}").click()
    expect(page.locator(".notice")).to_contain_text("Agreement suspended")
    expect(page.locator(f'tr[data-agreement="{name}"] .state')).to_have_text("suspended")
    page.locator(f'tr[data-agreement="{name}"]').get_by_role("button", name=f"Resume agreement {name}").click()
    expect(page.locator(f'tr[data-agreement="{name}"] .state')).to_have_text("active")


def test_org_admin_adds_a_user_who_can_then_sign_in(page: Page, login: Callable[..., Page], expect: Any,
                                                    world: World, browser: Any,
                                                    screenshot: Callable[..., Path]) -> None:
    login(page, "olga")
    page.goto("/admin/users")
    username = unique("analyst")
    page.get_by_label("Username").fill(username)
    expect(page.get_by_label("Organisation")).to_have_value("cert-a")
    page.get_by_label("Role").select_option("publisher")
    page.get_by_label("Initial password (at least 12 characters)").fill("first-Password-99")
    page.get_by_role("button", name="Add user").click()
    expect(page.locator("h1")).to_have_text(f"User {username}")
    expect(page.locator(".notice")).to_contain_text("User added")
    page.get_by_role("link", name="Users").first.click()
    expect(page.locator(f'tr[data-user="{username}"]')).to_contain_text("publisher")
    screenshot(page, "users")
    # The new user signs in, in a browser of their own.
    context = browser.new_context(base_url=world.url)
    try:
        other = context.new_page()
        login(other, username, "first-Password-99")
        expect(other.locator(".who")).to_contain_text(f"{username} · cert-a · publisher")
    finally:
        context.close()


def test_org_admin_disables_a_user_and_enables_it_again(page: Page, login: Callable[..., Page], expect: Any,
                                                       world: World) -> None:
    username = unique("leaver")
    world.store.add_user(username, org="cert-a", role="reader")
    login(page, "olga")
    page.goto(f"/admin/users/{username}")
    expect(page.locator("#user")).to_contain_text("enabled")
    page.get_by_role("button", name="Disable user").click()
    expect(page.locator(".notice")).to_contain_text("User disabled")
    expect(page.locator("#user")).to_contain_text("disabled")
    assert world.store.get_user(username).disabled
    page.get_by_role("button", name="Enable user").click()
    expect(page.locator(".notice")).to_contain_text("User enabled")
    assert not world.store.get_user(username).disabled


def test_a_token_is_shown_once_and_works_against_taxii(page: Page, login: Callable[..., Page], expect: Any,
                                                       world: World, screenshot: Callable[..., Path]) -> None:
    login(page, "admin")  # only the user or a node-admin makes a token for an account
    page.goto("/admin/users/alice")
    label = unique("feed-reader")
    page.get_by_label("Label (what it is for)").fill(label)
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("h1")).to_have_text("New API token for alice")
    secret = page.get_by_label(re.compile("^Token")).input_value()
    assert secret.startswith("acc_") and secret not in page.url
    screenshot(page, "token-created")
    with httpx.Client(base_url=world.url, headers={"Accept": "application/taxii+json;version=2.1"}) as client:
        answer = client.get("/taxii2/", headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200, answer.text
        page.get_by_role("link", name="Done").click()
        expect(page.locator("h1")).to_have_text("User alice")
        assert secret not in page.content()  # shown once: never again
        page.reload()
        assert secret not in page.content()
        row = page.locator("tr[data-token]", has_text=label)
        row.get_by_role("button", name=re.compile("^Revoke token")).click()
        expect(page.locator(".notice")).to_have_text("Token revoked.")
        expect(page.locator("tr[data-token]", has_text=label)).to_contain_text("revoked")
        assert client.get("/taxii2/", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert secret not in world.log.read_text(errors="replace")


def test_node_admin_adds_a_collection_and_grants_it(page: Page, login: Callable[..., Page], expect: Any,
                                                    world: World, screenshot: Callable[..., Path]) -> None:
    login(page, "admin")
    page.get_by_role("link", name="Collections").click()
    title = unique("Sector feed")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Default TLP of unmarked objects").select_option("green")
    page.get_by_role("button", name="Add collection").click()
    expect(page.locator(".notice")).to_have_text("Collection added.")
    section = page.locator("section.card", has=page.get_by_role("heading", name=title))
    expect(section).to_contain_text("TLP:GREEN")
    section.get_by_label("Organisation").select_option("cert-b")
    section.get_by_label("Write").check()
    section.get_by_role("button", name="Set grant").click()
    expect(page.locator(".notice")).to_have_text("Grant saved.")
    section = page.locator("section.card", has=page.get_by_role("heading", name=title))
    expect(section.locator('tr[data-org="cert-b"]')).to_contain_text("yes")
    screenshot(page, "collections")
    collection = next(c for c in world.store.collections() if c.title == title)
    assert [(g.org_name, g.can_read, g.can_write) for g in world.store.grants(collection)] == [("cert-b", True, True)]
    section.get_by_role("button", name=f"Remove the grant of cert-b on {title}").click()
    expect(page.locator(".notice")).to_have_text("Grant removed.")
    assert world.store.grants(collection) == []


def test_a_reader_gets_403_on_the_users_page(page: Page, login: Callable[..., Page], expect: Any,
                                             problems: Problems) -> None:
    problems.allow(r"status of 403")
    login(page, "bob")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    answer = page.goto("/admin/users")
    assert answer is not None and answer.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")


def test_every_user_has_an_account_page(page: Page, login: Callable[..., Page], expect: Any) -> None:
    login(page, "alice")
    page.get_by_role("link", name="Account").click()
    expect(page.locator("h1")).to_have_text("Your account")
    expect(page.get_by_label("Current password")).to_be_visible()


def test_org_admin_sees_only_own_organisation_audit_entries(page: Page, login: Callable[..., Page],
                                                             expect: Any, world: World) -> None:
    world.user(unique("b-reader"), org="cert-b", role="reader")  # an entry about cert-b
    login(page, "olga")
    page.goto("/audit")
    expect(page.locator("h1")).to_have_text("Audit log")
    expect(page.locator("#chain")).to_have_count(0)  # the chain is the node-admin's
    orgs = page.locator("#audit tbody tr td:nth-child(4)").all_inner_texts()
    assert orgs and set(orgs) == {"cert-a"}, orgs
    page.get_by_label("Action").fill("user.add")
    page.get_by_role("button", name="Filter").click()
    actions = page.locator("#audit tbody tr td:nth-child(5)").all_inner_texts()
    assert actions and set(actions) == {"user.add"}


def test_audit_page_shows_the_chain_verified_and_then_broken(page: Page, login: Callable[..., Page], expect: Any,
                                                             world: World, screenshot: Callable[..., Path]) -> None:
    login(page, "admin")
    page.goto("/audit")
    expect(page.locator("#chain")).to_contain_text("Chain verified")
    screenshot(page, "audit")
    store = world.store
    with store._write() as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE audit_log SET actor = actor || 'x' WHERE seq = 3")
    try:
        page.reload()
        expect(page.locator("#chain")).to_contain_text("Chain BROKEN at entry 3")
        expect(page.locator("#chain")).to_contain_text("altered")
    finally:
        with store._write() as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE audit_log SET actor = substr(actor, 1, length(actor) - 1) WHERE seq = 3")
    page.reload()
    expect(page.locator("#chain")).to_contain_text("Chain verified")
