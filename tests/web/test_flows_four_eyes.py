"""Four eyes in the browser: on a node with ACCORD_FOUR_EYES, what a publisher writes waits for
another publisher. paul writes, cannot publish his own (not from the queue, not by a tampered
form, not over REST), petra publishes from the Approvals page, and only then does bob (cert-b)
receive it, over TAXII and in his search."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.web.conftest import World
from tests.web.samples import domain_indicator, drafts, sdo, taxii_ids

if TYPE_CHECKING:
    from playwright.sync_api import Page

Login = Callable[..., "Page"]


@pytest.fixture(scope="module")
def web_env() -> dict[str, str]:
    return {"ACCORD_FOUR_EYES": "true"}


def test_a_second_publisher_approves_what_the_first_wrote(world: World, page: Page, login: Login, expect: Any,
                                                          problems: Any, screenshot: Callable[..., Path]) -> None:
    token = "Operation Gannet"  # the module's only test: its names need not be unique
    pauls = domain_indicator(f"{token}: paul's phishing domain", "gannet-login-portal.com", tlp="green")
    alices = sdo("malware", f"{token}: alice's loader", tlp="amber")
    world.add(alices, user="alice")

    # paul writes through the Import page: with four eyes there is no "Publish now", only a draft.
    login(page, "paul")
    page.goto("/import")
    page.fill("#text", httpx.Response(200, json={"type": "bundle", "id": "bundle--8c7f5c7e-3f0e-4c1d-9a51-"
                                                 "6c1b7e0f2a11", "objects": [pauls]}).text)
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review tbody tr")).to_have_count(1)
    expect(page.get_by_role("button", name="Publish now")).to_have_count(0)
    page.get_by_role("button", name="Save as draft").click()
    expect(page.get_by_role("status")).to_contain_text("state: draft")
    assert {pauls["id"], alices["id"]} <= drafts(world, "paul")
    assert taxii_ids(world, "bob", token) == set()

    # The queue: paul may approve alice's draft, not his own.
    page.get_by_role("link", name="Go to the approval queue").click()
    expect(page.get_by_text("Four eyes: you cannot publish what you wrote yourself.")).to_be_visible()
    own = page.locator("#drafts tbody tr", has_text=f"{token}: paul's")
    expect(own).to_contain_text("(yours: another publisher must approve)")
    expect(own.locator("input[name=publish]")).to_be_disabled()
    theirs = page.locator("#drafts tbody tr", has_text=f"{token}: alice's")
    expect(theirs.locator("input[name=publish]")).to_be_enabled()
    screenshot(page, "approvals", full_page=False)
    # "Select all" leaves his own unticked.
    page.get_by_label("Select all").check()
    expect(own.locator("input[name=publish]")).not_to_be_checked()
    # No Publish button on his object's page either.
    page.goto(f"/objects/{pauls['id']}")
    expect(page.locator("p.meta")).to_contain_text("draft")
    expect(page.get_by_role("button", name="Publish", exact=True)).to_have_count(0)

    # A tampered form (the disabled box enabled and ticked) is refused by the server.
    problems.allow(r"status of 403")
    page.goto("/approvals")
    box = page.locator("#drafts tbody tr", has_text=f"{token}: paul's").locator("input[name=publish]")
    box.evaluate("b => { b.disabled = false; b.checked = true; }")
    page.get_by_role("button", name="Publish selected").click()
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_contain_text(re.compile(r"four eyes|author|another publisher", re.I))
    # And over REST.
    with world.client("paul") as client:
        refused = client.post(f"/api/v1/objects/{pauls['id']}/publish", json={},
                              headers={"Accept": "application/json"})
    assert refused.status_code == 403, refused.text
    assert pauls["id"] in drafts(world, "paul")
    assert taxii_ids(world, "bob", token) == set()

    # petra, the second publisher, publishes both from the Approvals page.
    page.get_by_role("button", name="Sign out").click()
    login(page, "petra")
    page.get_by_role("link", name="Approvals").click()
    for row in (f"{token}: paul's", f"{token}: alice's"):
        page.locator("#drafts tbody tr", has_text=row).locator("input[name=publish]").check()
    page.get_by_role("button", name="Publish selected").click()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^Published"))
    expect(page.locator("#drafts tbody tr", has_text=token)).to_have_count(0)
    page.goto(f"/objects/{pauls['id']}")
    version = page.locator("ol.versions > li").first
    expect(version).to_contain_text("written by paul")
    expect(version).to_contain_text("released by petra")

    # bob (cert-b) receives both now: over TAXII and in his own search.
    assert taxii_ids(world, "bob", token) == {pauls["id"], alices["id"]}
    page.get_by_role("button", name="Sign out").click()
    login(page, "bob")
    page.goto("/search")
    page.fill("#q", token)
    page.press("#q", "Enter")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(page.locator("#results tbody tr", has_text=f"{token}: paul's").locator(".tlp")).to_have_text("TLP:GREEN")
    page.get_by_role("link", name=f"{token}: paul's phishing domain").click()
    expect(page.locator("p.meta")).to_contain_text("owned by cert-a")
