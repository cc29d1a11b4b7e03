"""Browser tests of the analyst web UI: Debian's Chromium driven by Playwright against a real `accord serve`.

Fixtures (see test_harness.py for each in use):

- ``browser`` (session): one headless Chromium, /usr/bin/chromium, never a downloaded browser.
  Missing Chromium or the playwright package skips the tests with the reason, except under CI
  (CI set), where it is a failure: CI must run them.
- ``web_env`` (module): extra environment for the module's server, e.g. ``{"ACCORD_FOUR_EYES": "true"}``;
  override it in a test module to change settings.
- ``world`` (module): a live server (tests/taxii's run_node, which starts it with start_server) on
  a fresh database (SQLite; ACCORD_WEB_BACKEND=postgres for PostgreSQL) seeded with organisations,
  users (each with a password and a TAXII token), a shared collection with grants and an agreement;
  ``world.add(...)`` stores STIX objects.
- ``page`` (function): a fresh browser context and page at ``world.url`` (relative URLs work:
  ``page.goto("/search")``). The test FAILS on an uncaught page error, a console error or any
  JavaScript dialog (alert/confirm/prompt: what an XSS payload would open). ``problems`` is that
  record: ``problems.allow(regex)`` tolerates an expected console error (a deliberate 404),
  ``problems.take()`` hands the record to the test and clears it.
- ``login(page, username, password=None, *, expect_success=True)``: signs in through the form;
  skips the test when ``accord.policy.passwords`` cannot be imported (no passwords were set).
- ``expect``: Playwright's auto-waiting assertions, ``expect(page.locator("h1")).to_have_text("Search")``.
- ``screenshot(page, name)``: a PNG in docs/ui/NAME.png when ACCORD_SCREENSHOTS=1, else in the
  test's tmp dir; returns the path.

Every test under tests/web is marked ``browser`` (``-m "not browser"`` leaves them out).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import httpx
import orjson
import pytest

from accord.policy.tokens import new_token
from accord.policy.viewer import Viewer
from accord.services.ingest import ingest_document
from accord.services.release import write_provenance
from accord.stix.stream import StixDocument
from accord.storage.base import Collection, Store
from tests.taxii.conftest import TAXII, Node, run_node

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, WebError

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SCREENSHOTS = ROOT / "docs" / "ui"
CHROMIUM = os.environ.get("ACCORD_CHROMIUM", "/usr/bin/chromium")
# What Chromium needs on this closed network and in a container: without the background-networking
# switches its own connections (updates, sync, QUIC probes) are refused and slow every page down.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 10_000  # per action and navigation: a UI that takes longer is broken, not slow
VIEWPORT = {"width": 1280, "height": 800}  # fixed, so the screenshots in docs/ui/ stay comparable
SERVER_LOG_LINES = 60  # lines of the server's log attached to a failing test's report
# Chromium fetches /favicon.ico by itself for a page that names no icon (/healthz, a JSON answer) and
# logs the failed fetch as a console error the page never caused. Only that implicit fetch is
# tolerated: an icon a UI page names in <link rel=icon> that fails to load still fails the test.
IMPLICIT_FAVICON = r"\(https?://[^/]+/favicon\.ico/?\)$"

# The seeded world: (username, organisation, role). `node` is the node operator's own organisation.
ORGS = (("cert-a", "local"), ("cert-b", "partner"))
USERS = (
    ("alice", "cert-a", "analyst"),
    ("paul", "cert-a", "publisher"),
    ("petra", "cert-a", "publisher"),  # a second publisher: the four-eyes approver
    ("olga", "cert-a", "org-admin"),
    ("admin", "node", "node-admin"),
    ("bob", "cert-b", "reader"),
)


def password_for(username: str) -> str:
    """The seeded password of a user: long and mixed, to satisfy any reasonable password rule."""
    return f"{username}-Correct-Horse-42!"


# ---------------------------------------------------------------- marking


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.browser)


# ---------------------------------------------------------------- the browser


def _unavailable(reason: str) -> NoReturn:
    """Skip, saying why; under CI a missing browser is a failure (CI must run the browser tests)."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"the playwright package is not installed ({exc}); pip install -e '.[dev]'")
    if shutil.which(CHROMIUM) is None:
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set ACCORD_CHROMIUM); "
                     "never `playwright install`")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


# ---------------------------------------------------------------- the server and its world


@dataclass
class WebUser:
    username: str
    org: str
    role: str
    password: str
    token: str  # a TAXII/REST bearer token


@dataclass
class World:
    """A running server, the test's handle on its database, and what was seeded in it."""

    node: Node
    collection: Collection  # "Shared intel": cert-a reads and writes, cert-b reads
    users: dict[str, WebUser]
    four_eyes: bool
    passwords_error: str | None  # why no passwords were set (accord.policy.passwords missing), or None

    @property
    def url(self) -> str:
        return self.node.url

    @property
    def store(self) -> Store:
        return self.node.store

    @property
    def log(self) -> Path:
        """The server's stdout and stderr."""
        return self.node.server.log

    def add(self, *objects: dict[str, Any], user: str | None = None, org: str = "cert-a", draft: bool = False,
            collection: Collection | None = None, recipients: Sequence[str] = ()) -> list[str]:
        """Store STIX objects through the ingest service, as the server would; returns their ids.

        As ``user`` (a username): owned by their organisation, in the state their role gives
        (an analyst's writes are drafts; a publisher's are published unless ``draft``; with four
        eyes every write is a draft). Without ``user``: as `accord import --org ORG`, published
        unless ``draft``. ``recipients`` names the organisations a RED object is for.
        """
        viewer = Viewer.operator() if user is None else Viewer.of(self.store.get_user(user))
        provenance = write_provenance(self.store, viewer, draft=draft, four_eyes=self.four_eyes,
                                      org=org if user is None else None, recipients=recipients)
        with self.store.transaction() as tx:
            doc = StixDocument(io.BytesIO(orjson.dumps({"objects": list(objects)})).read, source="test")
            report = ingest_document(tx, collection or self.collection, doc, provenance)
        assert not report.refused, report
        return [str(o["id"]) for o in objects]

    def client(self, username: str) -> httpx.Client:
        """An HTTP client authenticated as ``username`` with their token (TAXII Accept header)."""
        return self.node.client(self.users[username].token)

    def post_taxii(self, username: str, *objects: dict[str, Any],
                   collection: Collection | None = None) -> dict[str, Any]:
        """POST objects to the collection over TAXII as ``username``; returns the status resource."""
        c = collection or self.collection
        with self.client(username) as client:
            answer = client.post(f"/default/collections/{c.id}/objects/",
                                 content=orjson.dumps({"objects": list(objects)}), headers={"Content-Type": TAXII})
        assert answer.status_code == 202, answer.text
        status: dict[str, Any] = answer.json()
        return status

    def user(self, username: str, *, org: str = "cert-a", role: str = "analyst") -> WebUser:
        """Add one more user (with a password when passwords exist, and a token)."""
        self.store.add_user(username, org=org, role=role)
        token, digest = new_token()
        self.store.add_token(username, digest)
        user = WebUser(username, org, role, password_for(username), token)
        if self.passwords_error is None:
            from accord.policy.passwords import set_password
            set_password(self.store, username, user.password)
        self.users[username] = user
        return user


@pytest.fixture(scope="module")
def web_env() -> dict[str, str]:
    """Extra environment for the module's `accord serve`; override in a module to change settings."""
    return {}


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          web_env: dict[str, str]) -> Iterator[World]:
    backend = os.environ.get("ACCORD_WEB_BACKEND", "sqlite")
    if backend not in ("sqlite", "postgres"):
        pytest.fail(f"ACCORD_WEB_BACKEND={backend!r}: use sqlite or postgres")
    env = {"ACCORD_SYNC_SCHEDULER": "false", "ACCORD_LOG_FORMAT": "text", **web_env}
    four_eyes = env.get("ACCORD_FOUR_EYES", "false").strip().lower() in ("1", "true", "yes", "on")
    nodes = run_node(backend, request, tmp_path_factory.mktemp(f"web-{backend}"), **env)
    node = next(nodes)
    try:
        yield _seed(node, four_eyes)
    finally:
        nodes.close()


def _seed(node: Node, four_eyes: bool) -> World:
    store = node.store
    try:
        from accord.policy.passwords import set_password
        passwords_error = None
    except ImportError as exc:
        set_password = None
        passwords_error = f"accord.policy.passwords cannot be imported ({exc}): no user has a password"
    for name, kind in ORGS:
        store.add_org(name, kind=kind)
    collection = store.add_collection("Shared intel", description="what cert-a shares with its partners")
    store.set_grant(collection, "cert-a", can_read=True, can_write=True)
    store.set_grant(collection, "cert-b", can_read=True, can_write=False)
    store.add_agreement("cert-a/cert-b", parties=["cert-a", "cert-b"], max_tlp="amber", onward=False,
                        valid_from=None, valid_until=None, actor="test")
    users: dict[str, WebUser] = {}
    for username, org, role in USERS:
        store.add_user(username, org=org, role=role)
        token, digest = new_token()
        store.add_token(username, digest)
        users[username] = WebUser(username, org, role, password_for(username), token)
        if set_password is not None:
            set_password(store, username, users[username].password)
    return World(node, collection, users, four_eyes, passwords_error)


# ---------------------------------------------------------------- pages and their problems


class Problems:
    """What went wrong in the browser during one test: page errors, console errors, dialogs."""

    def __init__(self) -> None:
        self.errors: list[str] = []  # uncaught exceptions and console errors
        self.dialogs: list[str] = []  # "alert: 1", "confirm: Delete?", ...
        self._allowed: list[re.Pattern[str]] = [re.compile(IMPLICIT_FAVICON)]

    def allow(self, pattern: str) -> None:
        """Tolerate console/page errors matching ``pattern`` (re.search), e.g. r"status of 404"."""
        self._allowed.append(re.compile(pattern))

    def take(self) -> list[str]:
        """What was recorded so far and not allowed (errors, then dialogs), cleared: the test has
        handled it and will not fail on it."""
        taken = [*self._errors_not_allowed(), *self.dialogs]
        self.errors.clear()
        self.dialogs.clear()
        return taken

    def unexpected(self) -> list[str]:
        """What would fail the test if it ended now."""
        return self._errors_not_allowed() + [f"JavaScript dialog opened: {d}" for d in self.dialogs]

    def _errors_not_allowed(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self._allowed)]

    def _page_error(self, error: WebError) -> None:
        self.errors.append(f"uncaught page error: {error.error}")

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.errors.append(f"console error: {message.text}" + (f" ({where})" if where else ""))

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()  # once a handler is listening, Playwright no longer dismisses it itself


_PROBLEMS = pytest.StashKey[Problems]()
_WORLD = pytest.StashKey[World]()


@pytest.fixture
def problems(request: pytest.FixtureRequest) -> Problems:
    record = Problems()
    request.node.stash[_PROBLEMS] = record
    return record


@pytest.fixture
def page(browser: Browser, world: World, problems: Problems, request: pytest.FixtureRequest) -> Iterator[Page]:
    request.node.stash[_WORLD] = world
    context = browser.new_context(base_url=world.url, viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    # On the context, not the page: pages the UI opens (popups, new tabs) are watched too.
    context.on("weberror", problems._page_error)
    context.on("console", problems._console)
    context.on("dialog", problems._dialog)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a browser test that left an unexpected page error, console error or dialog; attach the
    tail of the server's log to any failing one."""
    try:
        result = yield
        record = item.stash.get(_PROBLEMS, None)
        if record is not None and (unexpected := record.unexpected()):
            pytest.fail("the browser reported problems:\n  " + "\n  ".join(unexpected), pytrace=False)
        return result
    except BaseException:
        world = item.stash.get(_WORLD, None)
        if world is not None and world.log.exists():
            tail = world.log.read_text(errors="replace").splitlines()[-SERVER_LOG_LINES:]
            item.add_report_section("call", "accord serve log (tail)", "\n".join(tail))
        raise


# ---------------------------------------------------------------- helpers as fixtures


@pytest.fixture
def login(world: World) -> Callable[..., Page]:
    """``login(page, username, password=None, *, expect_success=True) -> page``: sign in through
    the /login form (password: the seeded one). With ``expect_success`` it asserts that the
    browser left /login; with False it only submits (for tests of refused sign-ins)."""

    def sign_in(page: Page, username: str, password: str | None = None, *, expect_success: bool = True) -> Page:
        if world.passwords_error is not None:
            pytest.skip(world.passwords_error)
        if password is None:
            password = world.users[username].password
        page.goto("/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")
        if expect_success:
            assert not page.url.split("?")[0].endswith("/login"), \
                f"signing in as {username!r} stayed on {page.url}:\n{page.inner_text('body')[:2000]}"
        return page

    return sign_in


@pytest.fixture
def expect(browser: Browser) -> Any:
    """Playwright's auto-waiting assertions (``expect(page.locator("h1")).to_have_text(...)``),
    with the harness's timeout; a fixture so that a machine without playwright skips, not crashes."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[..., Path]:
    """``screenshot(page, name, *, full_page=True) -> path``: docs/ui/NAME.png with
    ACCORD_SCREENSHOTS=1 (for the docs), otherwise in the test's tmp dir (the tree stays clean)."""

    def take(page: Page, name: str, *, full_page: bool = True) -> Path:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise ValueError(f"screenshot name {name!r}: use lower-case letters, digits and dashes")
        folder = SCREENSHOTS if os.environ.get("ACCORD_SCREENSHOTS") == "1" else tmp_path / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


def unique(prefix: str) -> str:
    """A short unique name, for objects and users a test adds to the module's shared world."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
