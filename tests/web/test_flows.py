"""What an analyst does in the web UI, end to end, as real users in Chromium against a live
`accord serve`: sign in and out, search, read an object, import a report, preview what a partner
receives (and check it against what the partner then really reads over TAXII), and see an agreement
change what a partner gets. Four eyes is in test_flows_four_eyes.py (it needs other settings).

The first test also takes the screenshots of docs/ui.md (ACCORD_SCREENSHOTS=1 writes docs/ui/*.png).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from accord.policy.sessions import COOKIE
from tests.web.conftest import Problems, World, unique
from tests.web.samples import domain_indicator, drafts, ip_indicator, relationship, sdo, taxii_ids, taxii_objects

if TYPE_CHECKING:
    from playwright.sync_api import Page

Login = Callable[..., "Page"]
Shot = Callable[..., Path]


def table_ids(page: Page, table: str) -> set[str]:
    """The object ids linked from the rows of the table with id ``table``."""
    hrefs = page.locator(f"#{table} tbody a[href^='/objects/']").evaluate_all("links => links.map(a => a.href)")
    return {httpx.URL(h).path.removeprefix("/objects/") for h in hrefs}


# ---------------------------------------------------------------- screenshots for docs/ui.md


def test_screenshots_of_the_main_pages(world: World, page: Page, login: Login, expect: Any,
                                      screenshot: Shot) -> None:
    """A small, plausible world, and each main page as an analyst sees it (viewport-size PNGs)."""
    # What cert-b shared with cert-a: a campaign, its malware and indicators.
    lynx = sdo("malware", "SilentLynx loader", tlp="green", description="Loader delivered by ISO attachments.",
               labels=["loader"], malware_types=["dropper"])
    wave = sdo("campaign", "Ministry phishing wave, March 2026", tlp="amber",
               description="Spear-phishing of foreign-affairs staff with invitation-themed ISO files.")
    c2 = ip_indicator("SilentLynx C2 server", "198.51.100.23", tlp="amber")
    lure = domain_indicator("Lure domain invitation-mfa.example", "invitation-mfa.example", tlp="green")
    actor = sdo("intrusion-set", "Harbour Crane", tlp="amber", aliases=["HC-17"])
    world.add(lynx, wave, c2, lure, actor,
              relationship(c2, "indicates", lynx), relationship(lure, "indicates", wave),
              relationship(wave, "uses", lynx), relationship(wave, "attributed-to", actor),
              org="cert-b")
    # What cert-a wrote itself: published by paul, drafts by alice.
    world.add(domain_indicator("Credential harvester portal-gov-login.example", "portal-gov-login.example",
                               tlp="green"),
              ip_indicator("Scanner seen on the ministry VPN", "203.0.113.77", tlp="amber"),
              sdo("vulnerability", "CVE-2026-1234 in the VPN appliance", tlp="clear"), user="paul")
    world.add(ip_indicator("Exfiltration host from the incident of 3 March", "192.0.2.44", tlp="amber"),
              domain_indicator("Payload host cdn-update-check.example", "cdn-update-check.example", tlp="amber"),
              user="alice")

    page.goto("/login")
    screenshot(page, "sign-in", full_page=False)
    login(page, "paul")
    expect(page.locator("h1")).to_have_text("Dashboard")
    screenshot(page, "dashboard", full_page=False)

    page.goto("/search?owner=cert-b")  # one facet chosen: what partners sent
    expect(page.locator(".facets a.active")).to_have_text("✕ cert-b")
    screenshot(page, "search", full_page=False)

    page.goto(f"/objects/{lynx['id']}")
    expect(page.locator("svg.graph")).to_be_visible()
    page.evaluate("window.scrollTo(0, document.getElementById('graph-h').offsetTop - 16)")
    screenshot(page, "object", full_page=False)

    page.goto("/import")
    page.fill("#text", "On 3 March the host 192.0.2.61 served the ISO lure from invitation-mfa.example; "
                       "the payload (SHA-256 4f7b1c6f4e2a5c0c8f2a9d3b1e6a7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b) "
                       "called home to 198.51.100.23. Victims were told to visit www.example.com first.")
    page.get_by_role("button", name="Review").click()
    expect(page.locator("h1")).to_have_text("Review what was found")
    screenshot(page, "import-review", full_page=False)

    page.goto("/preview?org=cert-b")
    expect(page.locator("#preview")).to_be_visible()
    screenshot(page, "sharing-preview", full_page=False)


# ---------------------------------------------------------------- sign-in


def test_sign_in_wrong_password_and_sign_out(world: World, page: Page, login: Login, expect: Any,
                                             problems: Any) -> None:
    problems.allow(r"status of 401")  # the refused sign-in answers 401, which Chromium logs
    login(page, "alice", "not-her-password", expect_success=False)
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    expect(page.locator("#username")).to_have_value("alice")  # kept; the password is not

    login(page, "alice")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator(".who")).to_contain_text("alice · cert-a · analyst")
    old_cookie = next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)
    page.goto("/search")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login\?notice=signed-out"))
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    assert COOKIE not in {c["name"] for c in page.context.cookies()}
    # Back: the search page is not cached (no-store) and the session is over: the login page.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fsearch"))
    expect(page.locator("h1")).to_contain_text("Sign in")
    # The old cookie, replayed by someone who kept it, is dead on the server too.
    with httpx.Client(base_url=world.url, cookies={COOKIE: old_cookie}) as client:
        answer = client.get("/search")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


# ---------------------------------------------------------------- search


def test_search_value_text_facets_badges_and_keyboard(world: World, page: Page, login: Login, expect: Any) -> None:
    token = unique("kestrel")
    ip = "198.51.100.201"
    world.add(ip_indicator(f"{token} C2 address", ip, tlp="green"),
              domain_indicator(f"{token} phishing domain", f"{token}.example", tlp="amber"),
              sdo("malware", f"{token} backdoor", tlp="amber", description="A backdoor, written in Go."),
              org="cert-b")
    login(page, "alice")

    # "/" from anywhere on the dashboard focuses the search box; typing a value looks it up.
    page.locator("h1").click()
    page.keyboard.press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type(ip)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    expect(page.get_by_text("Looked up as a value")).to_be_visible()
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{token} C2 address")
    expect(rows.first.locator(".tlp")).to_have_text("TLP:GREEN")
    expect(rows.first).to_contain_text("cert-b")

    # Free text finds all three; the type facet narrows to one, and removing it widens again.
    page.fill("#q", token)
    page.press("#q", "Enter")
    expect(rows).to_have_count(3)
    expect(page.locator("#results .tlp").filter(has_text="TLP:AMBER")).to_have_count(2)
    page.locator(".facets a", has_text=re.compile(r"^malware$")).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"{token} backdoor")
    page.get_by_role("link", name="Remove filter type malware").click()
    expect(rows).to_have_count(3)
    page.locator(".facets a", has_text=re.compile(r"^amber$")).click()
    expect(rows).to_have_count(2)
    expect(page.locator("#q")).to_have_value(token)  # the text stays with the facet

    # Keyboard only: from the search box, Tab reaches the first result's link.
    page.focus("#q")
    first = page.locator("#results tbody a").first
    for _ in range(60):
        page.keyboard.press("Tab")
        if first.evaluate("link => link === document.activeElement"):
            break
    else:
        raise AssertionError("60 presses of Tab never reached the first result")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/objects/"))
    expect(page.locator("h1")).to_contain_text(token)


# ---------------------------------------------------------------- the object page


def test_object_page_properties_versions_relationships_provenance_receipts(
        world: World, page: Page, login: Login, expect: Any) -> None:
    token = unique("osprey")
    malware = sdo("malware", f"{token} dropper", tlp="amber", description="first description")
    c2 = ip_indicator(f"{token} C2", "198.51.100.77", tlp="amber")
    hidden = sdo("tool", f"{token} internal tool", tlp="red")  # RED, no recipients: cert-b never sees it
    world.add(malware, c2, hidden, relationship(c2, "indicates", malware),
              relationship(malware, "uses", hidden), user="paul")
    world.add({**malware, "modified": "2026-02-01T00:00:00.000Z", "description": "second description"},
              user="paul")

    login(page, "paul")
    page.goto(f"/objects/{malware['id']}")
    expect(page.locator("h1")).to_have_text(f"{token} dropper")
    props = page.locator("table.props")
    expect(props.locator("tr", has=page.locator("th", has_text="description"))).to_contain_text("second description")
    expect(props.locator("tr", has=page.locator("th", has_text="is_family"))).to_contain_text("true")
    meta = page.locator("p.meta")
    expect(meta.locator(".tlp")).to_have_text("TLP:AMBER")
    expect(meta).to_contain_text("published")
    expect(meta).to_contain_text("owned by cert-a")

    # Versions: two, the newest first, with a diff of what changed and who wrote and released it.
    versions = page.locator("ol.versions > li")
    expect(versions).to_have_count(2)
    expect(versions.first).to_contain_text("2026-02-01T00:00:00")
    expect(versions.first).to_contain_text("written by paul")
    expect(versions.first).to_contain_text("released by paul")
    versions.first.locator("summary").click()
    diff = versions.first.locator("table.diff")
    expect(diff).to_be_visible()
    changed = diff.locator("tbody tr", has=page.locator("th", has_text=re.compile(r"^description$")))
    expect(changed.locator("td.old")).to_have_text("first description")
    expect(changed.locator("td.new")).to_have_text("second description")
    expect(diff.locator("tbody th")).to_have_text(["description", "modified"])

    # Relationships: listed, and drawn.
    graph = page.locator("svg.graph")
    expect(graph).to_be_visible()
    expect(graph.locator("circle")).to_have_count(3)  # the object and its two neighbours
    expect(graph).to_contain_text("indicates")
    links = page.locator("section[aria-labelledby=graph-h] table.results tbody tr")
    expect(links).to_have_count(2)
    expect(links.filter(has_text="indicates")).to_contain_text(f"{token} C2")
    expect(links.filter(has_text="uses")).to_contain_text(f"{token} internal tool")

    # Nobody has received it yet; bob reads it over TAXII and the receipt appears for the owner.
    expect(page.get_by_role("heading", name="Who received it")).to_be_visible()
    expect(page.get_by_text("No other organisation has received this object.")).to_be_visible()
    assert malware["id"] in taxii_ids(world, "bob", token)
    page.reload()
    receipts = page.locator("section[aria-labelledby=rcpt-h] tbody tr")
    expect(receipts.first).to_contain_text("cert-b")
    expect(receipts.first).to_contain_text("cert-a/cert-b")
    expect(receipts.first).to_contain_text("taxii")

    # The partner sees the object and its provenance, not who received it, and not the RED tool.
    page.get_by_role("button", name="Sign out").click()
    login(page, "bob")
    page.goto(f"/objects/{malware['id']}")
    expect(page.locator("h1")).to_have_text(f"{token} dropper")
    expect(page.locator("p.meta")).to_contain_text("owned by cert-a")
    expect(page.get_by_role("heading", name="Relationships")).to_be_visible()
    expect(page.get_by_role("heading", name="Who received it")).to_have_count(0)
    expect(page.get_by_text(f"{token} internal tool")).to_have_count(0)
    expect(page.get_by_role("button", name="Retract")).to_have_count(0)


def test_we_saw_this_reports_sightings_that_the_partner_then_sees(
        world: World, page: Page, login: Login, expect: Any) -> None:
    token = unique("heron")
    c2 = ip_indicator(f"{token} C2", "198.51.100.78", tlp="green")
    world.add(c2, user="paul")
    section = page.locator("section[aria-labelledby=sight-h]")

    def report(kind: str, count: str) -> None:
        page.goto(f"/objects/{c2['id']}")
        section.locator("summary", has_text="We saw this").click()
        section.get_by_label("Kind").select_option(kind)
        section.get_by_label("Count").fill(count)
        section.get_by_label("TLP").select_option("green")
        section.get_by_role("button", name="Report sighting").click()

    # An analyst's report is a draft of cert-a: cert-a sees it, nobody else yet.
    login(page, "alice")
    report("false-positive", "2")
    expect(page.locator("p.notice")).to_contain_text("recorded as a draft")
    expect(section.locator("tbody tr")).to_have_count(1)
    expect(section.locator("tbody tr")).to_contain_text("false-positive")
    page.get_by_role("button", name="Sign out").click()

    # A publisher's is published at once.
    login(page, "paul")
    report("seen", "5")
    expect(page.locator("p.notice")).to_have_text("Sighting recorded.")
    expect(section).to_contain_text("Seen 5×, false positive 2×")
    page.get_by_role("button", name="Sign out").click()

    # The partner sees the published one only, and as a reader cannot report.
    login(page, "bob")
    page.goto(f"/objects/{c2['id']}")
    expect(section.locator("tbody tr")).to_have_count(1)
    expect(section.locator("tbody tr")).to_contain_text("seen")
    expect(section.locator("tbody tr")).to_contain_text("cert-a")
    expect(section).to_contain_text("Seen 5×")
    expect(section.locator("summary", has_text="We saw this")).to_have_count(0)


# ---------------------------------------------------------------- import


REPORT = ("Incident {token}: the phishing mail came from {bad_domain}, whose MX is at 203.0.113.45. "
          "The dropper (SHA-256 {sha}) fetched its second stage from 198.51.100.45. "
          "The mail's footer linked to {benign}, the ministry's own site.")


def test_import_a_pasted_report_review_untick_and_store(world: World, page: Page, login: Login,
                                                        expect: Any) -> None:
    token = unique("heron")
    bad_domain, benign = f"{token}-mail.com", f"{token}-ministry.org"
    sha = "9f2b5c0d1e3a4f6b7c8d9e0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4"
    login(page, "paul")
    page.get_by_role("link", name="Import").click()
    page.fill("#text", REPORT.format(token=token, bad_domain=bad_domain, sha=sha, benign=benign))
    page.get_by_role("button", name="Review").click()  # format "detect": prose is read as a report
    expect(page.locator("h1")).to_have_text("Review what was found")
    expect(page.get_by_text("Extracted from prose")).to_be_visible()
    review = page.locator("#review tbody tr")
    for value in (bad_domain, benign, "203.0.113.45", "198.51.100.45", sha):
        expect(review.filter(has_text=value).first).to_be_visible()  # the observable and its indicator
    # Prose always goes through a publisher's review: no "Publish now" here.
    expect(page.get_by_role("button", name="Publish now")).to_have_count(0)
    ids = set(page.locator("#review tbody input[name=keep]").evaluate_all("boxes => boxes.map(b => b.value)"))
    # The footer's link is the ministry's own site: a false positive. Untick it (its rows).
    false_positive = review.filter(has_text=benign).locator("input[name=keep]")
    dropped = set(false_positive.evaluate_all("boxes => boxes.map(b => b.value)"))
    assert dropped and dropped < ids
    for box in false_positive.all():
        box.uncheck()
    page.get_by_role("button", name="Save as draft").click()

    expect(page.locator("h1")).to_have_text("Imported")
    expect(page.get_by_role("status")).to_contain_text("state: draft")
    expect(page.locator("main ul.plain li")).to_have_count(len(ids) - len(dropped))
    expect(page.locator("main ul.plain")).not_to_contain_text(benign)

    # What was stored, read back over REST and TAXII: the kept ones as cert-a's drafts, the
    # unticked ones nowhere, and nothing for the partner before a publisher releases it.
    kept = ids - dropped
    queue = drafts(world, "paul")
    assert kept <= queue
    assert not dropped & queue
    mine = {o["id"]: o for o in taxii_objects(world, "paul")}
    assert kept <= mine.keys()
    assert not dropped & mine.keys()
    assert not [o for o in mine.values() if o.get("value") == benign or benign in str(o.get("pattern", ""))]
    assert not kept & taxii_ids(world, "bob")

    # paul publishes them from the approval queue (no four eyes on this node); bob receives them.
    page.get_by_role("link", name="Go to the approval queue").click()
    for stix_id in kept:
        page.locator(f"#drafts input[name=publish][value^='{stix_id} ']").check()
    page.get_by_role("button", name="Publish selected").click()
    expect(page.get_by_role("status")).to_contain_text("Published")
    received = {o["id"] for o in taxii_objects(world, "bob")}
    assert kept <= received
    assert not dropped & received


def test_import_a_pasted_stix_bundle_and_publish_now(world: World, page: Page, login: Login, expect: Any) -> None:
    token = unique("plover")
    keep = domain_indicator(f"{token} kept", f"{token}.example", tlp="green")
    drop = domain_indicator(f"{token} test entry", "localhost.example", tlp="green")
    bundle = {"type": "bundle", "id": "bundle--6a1c2e0e-4d6f-4e44-9a8c-2c4c1e4b6f01", "objects": [keep, drop]}
    login(page, "paul")
    page.goto("/import")
    page.fill("#text", httpx.Response(200, json=bundle).text)
    page.get_by_role("button", name="Review").click()
    expect(page.locator("#review tbody tr")).to_have_count(2)
    page.locator(f"#review input[value='{drop['id']}']").uncheck()
    page.get_by_role("button", name="Publish now").click()
    expect(page.get_by_role("status")).to_contain_text("state: published")
    received = taxii_ids(world, "bob", token)
    assert received == {keep["id"]}
    assert drop["id"] not in {o["id"] for o in taxii_objects(world, "paul")}


# ---------------------------------------------------------------- sharing preview


def test_sharing_preview_shows_exactly_what_the_partner_receives(world: World, page: Page, login: Login,
                                                                  expect: Any) -> None:
    token = unique("wren")
    cert_b = world.store.get_org("cert-b")
    objects = {
        "clear": sdo("vulnerability", f"{token} clear", tlp="clear"),
        "green": sdo("malware", f"{token} green", tlp="green"),
        "amber": sdo("malware", f"{token} amber", tlp="amber"),
        "unmarked": sdo("tool", f"{token} unmarked (collection default)", tlp=None),
        "red": sdo("malware", f"{token} red for cert-b", tlp="red"),
    }
    world.add(*objects.values(), user="paul")
    world.add(sdo("malware", f"{token} red for nobody", tlp="red"), user="paul")
    world.add(sdo("malware", f"{token} draft", tlp="green"), user="paul", draft=True)
    world.add(sdo("malware", f"{token} alice's draft", tlp="clear"), user="alice")
    assert cert_b.kind == "partner"

    login(page, "paul")
    page.get_by_role("link", name="Sharing preview").click()
    page.select_option("#org", "cert-b")
    page.fill("#pq", token)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#preview")).to_be_visible()
    previewed = table_ids(page, "preview")
    expected = {objects[k]["id"] for k in ("clear", "green", "amber", "unmarked")}
    assert previewed == expected, sorted(page.locator("#preview tbody tr").all_inner_texts())
    expect(page.locator("main h2")).to_have_text(f"cert-b receives {len(expected)} objects")

    # Both ways: what bob reads over TAXII, and in his own search, is exactly the preview.
    assert taxii_ids(world, "bob", token) == previewed
    page.get_by_role("button", name="Sign out").click()
    login(page, "bob")
    page.goto(f"/search?q={token}")
    assert table_ids(page, "results") == previewed

    # The object view of the preview explains each answer.
    page.get_by_role("button", name="Sign out").click()
    login(page, "paul")
    page.goto(f"/objects/{objects['red']['id']}")
    page.get_by_role("link", name="Who will receive this?").click()
    row = page.locator("#recipients tbody tr", has_text="cert-b")
    expect(row).to_contain_text("no")
    page.goto(f"/objects/{objects['green']['id']}")
    page.get_by_role("link", name="Who will receive this?").click()
    expect(page.locator("#recipients tbody tr", has_text="cert-b")).to_contain_text("yes")


# ---------------------------------------------------------------- agreements


def test_an_agreement_changes_what_a_partner_sees(world: World, page: Page, login: Login, expect: Any,
                                                  screenshot: Shot, problems: Problems) -> None:
    token = unique("tern")
    partner = "cert-c"  # a new partner: no agreement with cert-a yet
    world.store.add_org(partner, kind="partner")
    world.store.set_grant(world.collection, partner, can_read=True, can_write=False)
    carol = world.user("carol", org=partner, role="reader").username
    green = sdo("malware", f"{token} green", tlp="green")
    amber = sdo("malware", f"{token} amber", tlp="amber")
    world.add(green, amber, user="paul")

    login(page, "paul")
    # Without an agreement cert-c is not one of cert-a's partners: paul cannot even preview it
    # (which organisations a node has is not his to learn), and it receives nothing.
    problems.allow(r"status of 404")
    answer = page.goto(f"/preview?org={partner}&q={token}")
    assert answer is not None and answer.status == 404
    page.goto("/preview")
    assert partner not in page.locator("#org").inner_text()
    assert taxii_ids(world, carol, token) == set()

    # The node admin agrees GREEN between cert-a and the new partner on the Agreements page.
    page.get_by_role("button", name="Sign out").click()
    login(page, "admin")
    agreement = f"cert-a+{partner}"
    answer = page.goto("/agreements")
    assert answer is not None and answer.status == 200, "the /agreements page is missing"
    page.get_by_label("Name", exact=True).fill(agreement)
    page.get_by_label("Parties (two or more)").select_option(["cert-a", partner])
    page.get_by_label("Highest TLP").select_option("green")
    page.get_by_role("button", name="Add agreement").click()
    expect(page.get_by_role("status")).to_have_text("Agreement added.")
    stored = world.store.get_agreement(agreement)
    assert (stored.max_tlp, stored.onward) == ("green", False)
    page.goto("/agreements")
    expect(page.locator(f"#agreements tr[data-agreement='{agreement}']")).to_contain_text("active")
    screenshot(page, "agreements", full_page=False)

    # Now the partner receives the GREEN object, not the AMBER one; the preview said so first.
    assert taxii_ids(world, carol, token) == {green["id"]}
    page.get_by_role("button", name="Sign out").click()
    login(page, "paul")
    page.goto(f"/preview?org={partner}&q={token}")
    assert table_ids(page, "preview") == {green["id"]}
    page.goto(f"/objects/{green['id']}")
    page.get_by_role("link", name="Who will receive this?").click()
    expect(page.locator("#recipients tbody tr", has_text=partner)).to_contain_text(agreement)

    # Suspended, it lets nothing through any more.
    page.get_by_role("button", name="Sign out").click()
    login(page, "admin")
    page.goto("/agreements")
    page.get_by_role("button", name=f"Suspend agreement {agreement}").click()
    expect(page.locator(f"#agreements tr[data-agreement='{agreement}']")).to_contain_text("suspended")
    assert taxii_ids(world, carol, token) == set()

    # The audit log recorded each change, and carol's reads.
    page.goto("/audit")
    expect(page.locator("#chain")).to_contain_text("Chain verified")
    for action in ("agreement.add", "agreement.suspend", "receive"):
        expect(page.locator("#audit tbody tr", has_text=action).first).to_be_visible()
    expect(page.locator("#audit tbody tr", has_text="agreement.add").first).to_contain_text(agreement)
    screenshot(page, "audit", full_page=False)
