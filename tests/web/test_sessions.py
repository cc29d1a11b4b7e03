"""Web sign-in, sessions and form protection, in process (no browser): what policy/sessions.py and
web/pages.py promise, each shown to fail when the protection is missing.

The clock is injected, so session expiry is tested by moving time, not by sleeping.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from accord.app import build_app
from accord.errors import AuthenticationError
from accord.policy.credentials import Throttle, Throttled
from accord.policy.gate import Predicate
from accord.policy.passwords import set_password
from accord.policy.sessions import COOKIE, sign_in
from accord.settings import load_settings
from accord.storage.base import SearchFilter
from accord.storage.sqlite import SQLiteStore
from tests.conftest import StepClock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
MINUTE = 60 * 1_000_000
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def store(tmp_path: Path, clock: StepClock) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}", clock=clock)
    opened.initialise()
    opened.add_org("cert-a")
    opened.add_user("alice", org="cert-a", role="publisher")
    opened.add_user("rita", org="cert-a", role="reader")
    set_password(opened, "alice", PASSWORD)
    set_password(opened, "rita", PASSWORD)
    yield opened
    opened.close()


def _client(store: SQLiteStore, clock: StepClock, tmp_path: Path, **env: str) -> TestClient:
    settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_AUTH_FAILURES_PER_MINUTE": "5", **env})
    return TestClient(build_app(settings, store, clock=clock), base_url="http://testserver", follow_redirects=False)


@pytest.fixture
def client(store: SQLiteStore, clock: StepClock, tmp_path: Path) -> TestClient:
    return _client(store, clock, tmp_path)


def _login(client: TestClient, username: str = "alice", password: str = PASSWORD, next_path: str = "/") -> object:
    form = client.get("/login")
    token = CSRF.search(form.text)
    assert token is not None
    return client.post(f"/login?next={next_path}", data={"username": username, "password": password,
                                                          "csrf": token.group(1)})


def _csrf(client: TestClient, path: str = "/") -> str:
    found = CSRF.search(client.get(path).text)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/", "/search?q=x", "/import", "/approvals", "/preview", "/objects/indicator--x"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")


def test_sign_in_sets_a_protected_cookie_and_stores_only_its_digest(client: TestClient, store: SQLiteStore) -> None:
    response = _login(client)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert client.get("/").status_code == 200
    rows = store._reader().execute("SELECT digest FROM web_sessions").fetchall()
    assert len(rows) == 1 and value.encode() not in rows[0][0]
    hashed = store._reader().execute("SELECT password_hash FROM users WHERE username = 'alice'").fetchone()[0]
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient) -> None:
    wrong = _login(client, password="not the password at all")
    unknown = _login(client, username="nobody")
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert "Wrong username or password." in wrong.text and "Wrong username or password." in unknown.text  # type: ignore[attr-defined]
    assert COOKIE not in client.cookies


def test_sign_in_needs_the_form_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf": "forged"})
    assert response.status_code == 403
    assert COOKIE not in client.cookies


def test_sign_in_redirects_only_within_the_site(client: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/%09/evil.example"):
        client.cookies.clear()
        response = _login(client, next_path=target)
        assert response.headers["location"] == "/", target  # type: ignore[attr-defined]


def test_forms_need_the_session_token_and_this_origin(client: TestClient) -> None:
    _login(client)
    token = _csrf(client)
    assert client.post("/logout", data={}).status_code == 403
    assert client.post("/logout", data={"csrf": ("y" if token[0] == "x" else "x") + token[1:]}).status_code == 403
    assert client.post("/logout", data={"csrf": token}, headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.post("/logout", data={"csrf": token}, headers={"Origin": "null"}).status_code == 403
    assert client.get("/").status_code == 200  # none of those signed out
    # Behind a TLS proxy the browser's Origin says https while the server sees http: the host decides.
    assert client.post("/logout", data={"csrf": token}, headers={"Origin": "https://testserver"}).status_code == 303


def test_sign_out_ends_the_session_on_the_server(client: TestClient) -> None:
    _login(client)
    stolen = client.cookies[COOKIE]
    client.post("/logout", data={"csrf": _csrf(client)})
    client.cookies.set(COOKIE, stolen)
    assert client.get("/").status_code == 303


def test_a_session_ends_when_idle_and_at_its_lifetime(client: TestClient, clock: StepClock) -> None:
    _login(client)
    clock.now += 29 * MINUTE
    assert client.get("/").status_code == 200  # within the idle limit, and touched
    clock.now += 31 * MINUTE
    response = client.get("/")
    assert response.status_code == 303 and "notice=expired" in response.headers["location"]

    client.cookies.clear()
    _login(client)
    for _ in range(12 * 3):  # active every 20 minutes for 12 hours
        clock.now += 20 * MINUTE
        if client.get("/").status_code != 200:
            break
    assert client.get("/").status_code == 303


def test_changing_the_password_ends_sessions(client: TestClient, store: SQLiteStore) -> None:
    _login(client)
    set_password(store, "alice", "another long password")
    assert client.get("/").status_code == 303


def test_roles_limit_pages(client: TestClient) -> None:
    _login(client, username="rita")
    assert client.get("/approvals").status_code == 403
    assert client.get("/import").status_code == 403
    assert client.get("/search").status_code == 200


def test_failed_sign_ins_are_throttled_even_with_the_right_password(client: TestClient) -> None:
    for _ in range(5):
        assert _login(client, password="wrong password guess").status_code == 401  # type: ignore[attr-defined]
    refused = _login(client)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1  # type: ignore[attr-defined]


def test_the_throttle_counts_per_account_across_addresses(store: SQLiteStore, clock: StepClock) -> None:
    throttle = Throttle(3, clock)
    for address in (f"10.0.0.{n}" for n in range(15)):  # five times one address's allowance
        with pytest.raises(AuthenticationError):
            sign_in(store, throttle, address, "alice", "a wrong guess!", now=clock(), lifetime_micros=MINUTE)
    with pytest.raises(Throttled):
        sign_in(store, throttle, "10.0.1.1", "alice", PASSWORD, now=clock(), lifetime_micros=MINUTE)


def test_a_strangers_few_failures_do_not_lock_the_owner_out(store: SQLiteStore, clock: StepClock) -> None:
    throttle = Throttle(3, clock)
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            sign_in(store, throttle, "198.51.100.66", " ALICE", "a wrong guess!", now=clock(), lifetime_micros=MINUTE)
    with pytest.raises(Throttled):  # that address is blocked...
        sign_in(store, throttle, "198.51.100.66", "alice", PASSWORD, now=clock(), lifetime_micros=MINUTE)
    # ...the owner, elsewhere, is not
    sign_in(store, throttle, "10.0.0.5", "alice", PASSWORD, now=clock(), lifetime_micros=MINUTE)


def test_every_page_carries_the_security_headers(client: TestClient) -> None:
    _login(client)
    for path in ("/", "/login", "/search", "/static/accord.css", "/api/v1/openapi.json"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY", path
    assert client.get("/").headers["cache-control"] == "no-store"


def test_the_cookie_is_secure_when_the_node_is_behind_tls(store: SQLiteStore, clock: StepClock, tmp_path: Path) -> None:
    plain = _login(_client(store, clock, tmp_path))
    behind_proxy = _login(_client(store, clock, tmp_path, ACCORD_SESSION_COOKIE_SECURE="true"))
    assert "Secure" not in plain.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "Secure" in behind_proxy.headers["set-cookie"]  # type: ignore[attr-defined]


# -- the import review form ---------------------------------------------------------------------

REPORT = ("The actor staged payloads on update-check.example-bad.net and 203.0.113.77; the dropper's "
          "SHA-256 is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.")
INDICATOR = {"type": "indicator", "spec_version": "2.1", "id": "indicator--6f0c9a4e-2a55-4cf1-9d3e-5a1c1bb0e001",
             "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
             "pattern": "[ipv4-addr:value = '198.51.100.9']", "pattern_type": "stix",
             "valid_from": "2026-01-01T00:00:00Z"}


def _review(client: TestClient, text: str) -> dict[str, str]:
    """Post text to the import preview and return the review form's fields."""
    page = client.post("/import/preview", data={"csrf": _csrf(client, "/import"), "text": text, "format": "auto",
                                                "collection": "default", "tlp": "green"})
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page.text))
    fields["keep"] = re.findall(r'name="keep" value="([^"]+)"', page.text)  # type: ignore[assignment]
    fields["html"] = page.text
    return {k: v.replace("&#34;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
            .replace("&#39;", "'") if isinstance(v, str) else v for k, v in fields.items()}


def _commit(client: TestClient, fields: dict[str, str], action: str) -> None:
    data = {k: v for k, v in fields.items() if k != "html"}
    response = client.post("/import/commit", data={**data, "action": action})
    assert response.status_code == 200, response.text


def _states(store: SQLiteStore) -> set[str]:
    org = store.get_org("cert-a").pk
    return {r.state for r in store.search_versions(Predicate(f"v.owner_org = {org}"), SearchFilter(), limit=50)}


@pytest.fixture
def analyst_world(store: SQLiteStore) -> SQLiteStore:
    store.set_grant(store.get_collection("default"), "cert-a", can_read=True, can_write=True)
    return store


def test_prose_extractions_stay_drafts_whatever_the_form_says(client: TestClient, analyst_world: SQLiteStore) -> None:
    _login(client)
    fields = _review(client, REPORT)
    assert 'value="publish"' not in fields["html"]  # no Publish button for what prose gave
    assert len(fields["keep"]) >= 3
    _commit(client, fields, "publish")  # ...and a hand-made post of the button changes nothing
    assert _states(analyst_world) == {"draft"}


def test_a_reviewed_bundle_publishes_and_an_edited_one_is_only_a_draft(
        client: TestClient, analyst_world: SQLiteStore) -> None:
    _login(client)
    fields = _review(client, orjson.dumps({"type": "bundle", "id": "bundle--6f0c9a4e-2a55-4cf1-9d3e-5a1c1bb0e002",
                                           "objects": [INDICATOR]}).decode())
    assert 'value="publish"' in fields["html"]
    edited = {**fields, "bundle": fields["bundle"].replace("e001", "e009")}  # another object than reviewed
    edited["keep"] = [k.replace("e001", "e009") for k in fields["keep"]]  # type: ignore[assignment]
    _commit(client, edited, "publish")
    assert _states(analyst_world) == {"draft"}
    _commit(client, fields, "publish")
    assert _states(analyst_world) == {"draft", "published"}
