"""The lookup page in a browser: what a partner finds, what stays hidden, warninglists, escaping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.web.conftest import World, unique
from tests.web.samples import domain_indicator, ip_indicator

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_a_partner_finds_what_is_shared_and_nothing_else(world: World, page: Page, login: Callable[..., Page],
                                                         expect: Any, screenshot: Callable[..., Path]) -> None:
    name = unique("lookup")
    shared = domain_indicator(f"{name} shared", f"{name}.shared-c2.example", tlp="amber")
    hidden = ip_indicator(f"{name} hidden", "192.0.2.77", tlp="red")  # RED for no recipient: not bob's
    world.add(shared, hidden, user="paul")
    login(page, "bob")
    page.goto("/lookup")
    values = [f"www.{name}.shared-c2.example", "192.0.2.77", "8.8.8.8", "<script>alert(1)</script>"]
    page.get_by_label("Values").fill("\n".join(values))
    page.get_by_role("button", name="Look up").click()
    rows = page.locator("#lookup tbody tr")
    expect(rows).to_have_count(4)
    # The parent domain's indicator is found, as a parent hit, with its TLP.
    first = page.locator(f"#lookup tr[data-value='www.{name}.shared-c2.example']")
    expect(first).to_contain_text(f"{name} shared")
    expect(first).to_contain_text("parent")
    expect(first).to_contain_text("TLP:AMBER")
    # RED for nobody: the same answer as a value nobody mentions.
    expect(page.locator("#lookup tr[data-value='192.0.2.77']")).to_contain_text("nothing you may see")
    assert f"{name} hidden" not in page.content() and hidden["id"] not in page.content()
    # A public resolver is flagged, and markup typed in comes back as text.
    expect(page.locator("#lookup tr[data-value='8.8.8.8']")).not_to_contain_text("none")
    expect(page.get_by_text("<script>alert(1)</script>").first).to_be_visible()
    screenshot(page, "lookup", full_page=False)
