"""The browser harness itself, before any UI page exists: Chromium starts, a page of the live server
loads, the problem hooks record what they should, and a browser test with a page error or a
dialog fails."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.taxii.conftest import indicator
from tests.web.conftest import ROOT, Problems, World

if TYPE_CHECKING:  # only for annotations: without playwright the tests skip instead of failing to import
    from playwright.sync_api import Browser, Page

TLP_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"


def test_chromium_starts(browser: Browser) -> None:
    assert browser.is_connected()
    assert browser.version.split(".")[0].isdigit()


def test_a_page_of_the_live_server_loads(page: Page, world: World, expect: Any) -> None:
    answer = page.goto("/healthz")
    assert answer is not None and answer.status == 200
    expect(page).to_have_url(f"{world.url}/healthz")
    expect(page.locator("body")).to_contain_text('"status"')


def test_the_page_error_hook_records_an_uncaught_exception(page: Page, problems: Problems) -> None:
    page.goto("/healthz")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new Error('x') })")
    assert problems.unexpected() == ["uncaught page error: x"]
    assert problems.take() == ["uncaught page error: x"]  # taken: the test does not fail on it
    assert problems.unexpected() == []


def test_the_console_hook_records_errors_and_allow_tolerates_expected_ones(page: Page, problems: Problems) -> None:
    page.goto("/healthz")
    with page.expect_event("console"):
        page.evaluate("console.error('boom')")
    with page.expect_event("console"):
        page.evaluate("console.log('fine')")  # not an error: not recorded
    recorded = problems.unexpected()
    assert len(recorded) == 1 and recorded[0].startswith("console error: boom"), recorded
    problems.allow("boom")
    assert problems.unexpected() == []


def test_the_dialog_hook_records_and_dismisses_alert(page: Page, problems: Problems) -> None:
    page.goto("/healthz")
    page.evaluate("alert(1)")  # returns: the hook dismissed the dialog
    assert page.evaluate("confirm('sure?')") is False  # dismissed, not accepted
    assert problems.unexpected() == ["JavaScript dialog opened: alert: 1", "JavaScript dialog opened: confirm: sure?"]
    assert problems.take() == ["alert: 1", "confirm: sure?"]


def test_screenshots_go_to_the_tmp_dir_by_default(page: Page, screenshot: Callable[..., Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_SCREENSHOTS", raising=False)
    page.goto("/healthz")
    path = screenshot(page, "harness-healthz")
    assert path == tmp_path / "screenshots" / "harness-healthz.png"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="screenshot name"):
        screenshot(page, "../escape")


def test_the_world_is_seeded_and_shares_as_agreed(world: World) -> None:
    seeded = {u.username: (u.org, u.role) for u in world.users.values()}
    assert seeded.items() >= {"alice": ("cert-a", "analyst"), "paul": ("cert-a", "publisher"),
                              "petra": ("cert-a", "publisher"), "admin": ("node", "node-admin"),
                              "bob": ("cert-b", "reader")}.items()
    assert world.store.get_org("cert-b").kind == "partner"
    if world.passwords_error is None:
        from accord.policy.passwords import verify_password

        assert verify_password(world.store, "alice", world.users["alice"].password).username == "alice"
    published = world.add(indicator(1, object_marking_refs=[TLP_AMBER]), user="paul")
    draft = world.add(indicator(2), user="alice")  # an analyst's write is a draft
    status = world.post_taxii("paul", indicator(3))
    assert status["success_count"] == 1
    with world.client("bob") as bob:
        answer = bob.get(f"/default/collections/{world.collection.id}/objects/")
    assert answer.status_code == 200, answer.text
    seen = {o["id"] for o in answer.json().get("objects", [])}
    assert published[0] in seen
    assert draft[0] not in seen


BROKEN = '''
def test_throws(page):
    page.goto("/healthz")
    with page.expect_event("pageerror"):
        page.evaluate("setTimeout(() => { throw new Error('thrown in the page') })")

def test_alerts(page):
    page.goto("/healthz")
    page.evaluate("alert('xss')")

def test_logs_an_error(page):
    page.goto("/healthz")
    with page.expect_event("console"):
        page.evaluate("console.error('logged in the page')")
'''


@pytest.mark.slow
@pytest.mark.usefixtures("browser")  # skips (or fails under CI) as the other browser tests do
def test_a_browser_test_with_a_page_error_or_a_dialog_fails(tmp_path: Path) -> None:
    """The hooks fail the test (not only record): run three such tests in a pytest of their own."""
    (tmp_path / "test_broken.py").write_text(textwrap.dedent(BROKEN))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CI", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                          "-p", "tests.conftest", "-p", "tests.web.conftest", "-p", "no:cacheprovider", "-q",
                          str(tmp_path / "test_broken.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "3 failed" in out, out
    assert "uncaught page error: thrown in the page" in out
    assert "JavaScript dialog opened: alert: xss" in out
    assert "console error: logged in the page" in out
    assert "accord serve log (tail)" in out  # the server's log is attached to a failing test
