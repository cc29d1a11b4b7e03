"""Alert rules and acknowledging alerts in the browser (web/alert_pages.py, the dashboard): an
org-admin makes a rule through the form (a refused value comes back in the form, the webhook
secret is shown once), an analyst acknowledges the alert it raised, a reader only reads. The
rules of who may do what are test_alert_rules_page.py's, in process."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from accord.services.alerts import evaluate
from accord.storage.sql import micros_now
from tests.services.alerting import indicator
from tests.web.conftest import World, unique

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.web.conftest import Problems


@pytest.fixture(scope="module")
def web_env() -> dict[str, str]:
    # Evaluation is run by the test (not a thread of the server); the webhook is a loopback address.
    return {"ACCORD_ALERT_RUNNER": "false", "ACCORD_ALERT_WEBHOOK_PRIVATE_TARGETS": "true"}


def test_org_admin_makes_a_rule_and_an_analyst_acknowledges_its_alert(
        page: Page, login: Callable[..., Page], expect: Any, world: World, browser: Any, problems: Problems,
        screenshot: Callable[..., Path]) -> None:
    problems.allow(r"status of 400 \(Bad Request\) \(http://[^)]*/alerts/rules\)$")  # the refused form, on purpose
    login(page, "olga")
    page.get_by_role("link", name="Alert rules").first.click()
    expect(page.locator("h1")).to_have_text("Alert rules")
    name, domain = unique("c2-watch"), f"{unique('evil')}.example"
    expect(page.get_by_label(re.compile("^Watchlist values"))).to_have_value("")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Kind").select_option("watchlist")
    page.get_by_label(re.compile("^Watchlist values")).fill(f"{domain}\nnot a value")
    page.get_by_label(re.compile("^Webhook")).fill("http://127.0.0.1:9/hooks/accord")
    page.get_by_role("button", name="Add rule").click()
    # Refused: the form comes back with the field named and what was typed; nothing was stored.
    expect(page.locator("#rule-error")).to_contain_text("values: 'not a value': not an IP address")
    expect(page.get_by_label(re.compile("^Watchlist values"))).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(re.compile("^Watchlist values"))).to_have_value(f"{domain}\nnot a value")
    assert not [r for r in world.store.alert_rules() if r.name == name]
    page.get_by_label(re.compile("^Watchlist values")).fill(domain)
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("h1")).to_have_text(f"New alert rule {name}")
    secret = page.get_by_label("Webhook secret").input_value()
    assert len(secret) >= 40 and secret not in page.url
    page.get_by_role("link", name="Done").click()
    row = page.locator(f'tr[data-rule="{name}"]')
    expect(row).to_contain_text("watchlist")
    expect(row).to_contain_text("http://127.0.0.1:9/hooks/accord")  # org-admins see the webhook
    row.get_by_text("1 value").click()
    expect(row).to_contain_text(domain)
    screenshot(page, "alert-rules")
    assert secret not in page.content()

    (sid,) = world.add(indicator(f"[domain-name:value = 'c2.{domain}']", name="C2 <script>alert(1)</script>"),
                       org="cert-b")
    assert evaluate(world.store, clock=micros_now).alerts == 1
    context = browser.new_context(base_url=world.url)
    try:
        reader = context.new_page()
        world.user(unique("reader"), role="reader")
        login(reader, next(u for u in world.users if u.startswith("reader-")))
        alert = reader.locator("#alerts tr[data-alert]", has_text=name)
        expect(alert).to_contain_text("open")
        expect(alert.get_by_role("button")).to_have_count(0)  # a reader only reads
        reader.get_by_role("link", name="Alert rules").first.click()
        expect(reader.locator(f'tr[data-rule="{name}"]')).not_to_contain_text(domain)  # details: org-admins'
    finally:
        context.close()
    page.get_by_role("button", name="Sign out").click()
    login(page, "alice")  # an analyst
    alert = page.locator("#alerts tr[data-alert]", has_text=name)
    expect(alert).to_contain_text(f"c2.{domain} (parent: {domain})")
    expect(alert.get_by_role("link")).to_have_attribute("href", f"/objects/{sid}")
    screenshot(page, "dashboard-alerts")
    page.get_by_role("link", name="Only those not acknowledged yet").click()
    alert.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(page.locator(".notice")).to_have_text("Alert acknowledged.")
    expect(page.locator("#alerts tr[data-alert]", has_text=name)).to_have_count(0)  # no longer open
    page.get_by_role("link", name="Show all").click()
    expect(page.locator("#alerts tr[data-alert]", has_text=name)).to_contain_text("acknowledged by alice")

    page.get_by_role("button", name="Sign out").click()
    login(page, "olga")
    page.goto("/alerts/rules")
    page.locator(f'tr[data-rule="{name}"]').get_by_role("button", name=f"Remove rule {name}").click()
    expect(page.locator(".notice")).to_have_text("Alert rule removed, with its alerts.")
    expect(page.locator(f'tr[data-rule="{name}"]')).to_have_count(0)
