"""Cross-site scripting: shared STIX content is written by other organisations, so every string of
it is hostile. Objects whose every string property carries script payloads, owned by a partner
(shared to the viewer) and by the viewer's own organisation, an organisation, an agreement and a
username carrying payloads, rendered on every page that can show them.

The pages here are opened in a browser context that IGNORES the Content-Security-Policy
(``bypass_csp``): the CSP would stop an inline payload from running even if a template failed to
escape it, and would hide the bug. So each page proves escaping on its own: no dialog opens, no
page error, no element with an event-handler attribute, no injected script, image or SVG, no
``javascript:`` link, and the payload's TEXT is on the page, with ``{{7*7}}`` shown literally.
Separately, every HTML response's CSP must forbid inline script.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from tests.web.conftest import TIMEOUT_MS, VIEWPORT, Problems, World
from tests.web.samples import relationship, sdo

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response

SCRIPT = "<script>alert(1)</script>"
ATTR = '"><img src=x onerror=alert(2)>'
SINGLE = "'><img src=x onerror=alert(3)>"
JS_URL = "javascript:alert(4)"
TEXTAREA = "</textarea><svg onload=alert(5)>"
TEMPLATE = "T{{7*7}}T"  # rendered by a template engine it would read T49T
EVIL = f"{SCRIPT} {ATTR} {TEXTAREA} {TEMPLATE}"  # no single quote: it also goes into pattern literals
EVERY = f"{EVIL} {SINGLE} {JS_URL}"

EVIL_ORG = f"org{SCRIPT}{ATTR}{TEMPLATE}"
EVIL_AGREEMENT = f"agreement{SCRIPT}{SINGLE}{TEMPLATE}"
EVIL_USER = f"user{ATTR}{TEXTAREA}{TEMPLATE}"

# What no page may contain, whatever it shows: event handlers, script without a /static/ source,
# the payloads' elements, a javascript: link, an SVG other than the object page's graph.
INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      if (a.name.startsWith("on")) found.push(`${el.tagName} ${a.name}=${a.value}`);
      if (["href", "src", "action", "formaction", "xlink:href"].includes(a.name)
          && /^\\s*javascript:/i.test(a.value)) found.push(`${el.tagName} ${a.name}=${a.value}`);
    }
  }
  for (const s of document.querySelectorAll("script")) {
    if (!s.src || new URL(s.src).pathname !== "/static/accord.js") found.push(`script ${s.src} ${s.text}`);
  }
  for (const i of document.querySelectorAll("img")) found.push(`img ${i.outerHTML}`);
  for (const s of document.querySelectorAll("svg:not(.graph)")) found.push(`svg ${s.outerHTML}`);
  return found;
}"""


def evil_strings(tag: str) -> dict[str, Any]:
    """A payload in each free-text property, custom x_ properties, labels and external references."""
    return {
        "description": f"description {tag} {EVERY}",
        "labels": [f"label-{tag}-{EVIL}", SINGLE],
        "x_evil": f"x_evil {tag} {EVERY}",
        "x_nested": {"inner": f"nested {EVERY}", "list": [JS_URL, SCRIPT]},
        "external_references": [{"source_name": f"source {EVERY}", "url": JS_URL,
                                 "description": f"ref {EVERY}", "external_id": ATTR}],
    }


@dataclass
class Evil:
    theirs: dict[str, Any]  # owned by EVIL_ORG, shared to cert-a, in two versions
    theirs_indicator: dict[str, Any]
    theirs_link: dict[str, Any]  # a relationship whose relationship_type is a payload
    ours: dict[str, Any]  # owned by cert-a, published by paul
    ours_link: dict[str, Any]
    draft: dict[str, Any]  # written by EVIL_USER, awaiting approval
    bundle: str  # a STIX bundle of payload objects, to paste into the import box


@pytest.fixture(scope="module")
def evil(world: World) -> Evil:
    store = world.store
    # The store takes any name; the web forms and REST refuse these (policy/administration.NAME),
    # but names also arrive through the CLI's store, older databases and partners' provenance.
    store.add_org(EVIL_ORG, kind="partner")
    store.set_grant(world.collection, EVIL_ORG, can_read=True, can_write=True)
    store.add_agreement(EVIL_AGREEMENT, parties=["cert-a", EVIL_ORG], max_tlp="amber", onward=False,
                        valid_from=None, valid_until=None, actor="test")
    world.user(EVIL_USER, org="cert-a", role="analyst")

    theirs = sdo("malware", f"theirs {EVIL}", tlp="amber", malware_types=[f"type {EVIL}"],
                 aliases=[EVERY], **evil_strings("theirs"))
    theirs_indicator = sdo("indicator", f"indicator {EVIL}", tlp="amber", pattern_type="stix",
                           pattern=f"[url:value = '{JS_URL}'] OR [domain-name:value = '{EVIL}']",
                           valid_from="2026-01-01T00:00:00Z", **evil_strings("indicator"))
    # relationship_type is refused unless it is a-z, 0-9 and hyphens (stix validation), so the
    # payloads ride in the relationship's other strings.
    theirs_link = relationship(theirs_indicator, "indicates", theirs, **evil_strings("link"))
    world.add(theirs, theirs_indicator, theirs_link, org=EVIL_ORG)
    world.add({**theirs, "modified": "2026-02-01T00:00:00.000Z", "name": f"theirs v2 {EVIL}",
               "description": f"changed {EVERY}", "x_evil": f"changed x_evil {EVERY}"}, org=EVIL_ORG)

    ours = sdo("tool", f"ours {EVIL}", tlp="amber", **evil_strings("ours"))
    ours_link = relationship(ours, "uses", theirs, **evil_strings("ours-link"))
    world.add(ours, ours_link, user="paul")
    draft = sdo("attack-pattern", f"draft {EVIL}", tlp="green", **evil_strings("draft"))
    world.add(draft, user=EVIL_USER)

    pasted = [sdo("campaign", f"pasted {EVIL}", tlp=None, **evil_strings("pasted")),
              sdo("indicator", f"pasted indicator {EVIL}", tlp=None, pattern_type="stix",
                  pattern=f"[domain-name:value = '{EVIL}']", valid_from="2026-01-01T00:00:00Z")]
    bundle = orjson.dumps({"type": "bundle", "id": "bundle--1b7d0a57-5c71-4f0a-9c36-2f2b8d4e7a10",
                           "objects": pasted}).decode()
    return Evil(theirs, theirs_indicator, theirs_link, ours, ours_link, draft, bundle)


@dataclass
class Html:
    """The HTML responses a test's browser received (URL, status, Content-Security-Policy)."""

    seen: list[tuple[str, int, str | None]] = field(default_factory=list)

    def record(self, response: Response) -> None:
        if response.headers.get("content-type", "").startswith("text/html"):
            self.seen.append((response.url, response.status, response.headers.get("content-security-policy")))


@pytest.fixture
def responses() -> Html:
    return Html()


@pytest.fixture
def naked(browser: Browser, world: World, problems: Problems, responses: Html,
          request: pytest.FixtureRequest) -> Iterator[Page]:
    """Like the harness's ``page`` (failing on dialogs, page errors and console errors), in a
    context that ignores the CSP: only escaping stands between a payload and a dialog."""
    from tests.web.conftest import _WORLD

    request.node.stash[_WORLD] = world
    context = browser.new_context(base_url=world.url, viewport=VIEWPORT, bypass_csp=True)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    context.on("weberror", problems._page_error)
    context.on("console", problems._console)
    context.on("dialog", problems._dialog)
    context.on("response", responses.record)
    try:
        yield context.new_page()
    finally:
        context.close()
    assert responses.seen, "no HTML page was loaded"
    for url, _, csp in responses.seen:
        assert csp, f"{url}: no Content-Security-Policy"
        script_src = next((d for d in csp.split(";") if d.strip().startswith("script-src")), None)
        assert script_src is not None, f"{url}: the CSP has no script-src: {csp}"
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, f"{url}: {csp}"


def inert(page: Page, *texts: str) -> None:
    """The page shows each of ``texts`` as text, nothing was injected, and templates did not run."""
    page.wait_for_load_state("load")
    found = page.evaluate(INJECTED)
    assert found == [], f"{page.url}: injected markup: {found}"
    body = page.locator("body").text_content() or ""
    source = page.content()
    for text in texts:
        assert text in body, f"{page.url}: {text!r} is not shown as text"
        assert html.escape(text, quote=False) in source, f"{page.url}: {text!r} is not escaped in the markup"
    assert "T49T" not in source, f"{page.url}: a template evaluated {TEMPLATE}"


def visit(page: Page, path: str, *texts: str, status: int = 200) -> None:
    answer = page.goto(path)
    assert answer is not None and answer.status == status, f"{path}: {answer.status if answer else None}"
    inert(page, *texts)


def sign_in(page: Page, world: World, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", world.users[username].password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/login"))


def obj(stix_id: str) -> str:
    return "/objects/" + quote(stix_id, safe="")


# ---------------------------------------------------------------- the reader's pages


def test_dashboard_search_and_facets(naked: Page, world: World, evil: Evil) -> None:
    sign_in(naked, world, "paul")
    inert(naked, f"theirs v2 {EVIL}"[:90], EVIL_ORG)  # shared by partners recently, with its owner
    visit(naked, "/search", f"theirs v2 {EVIL}", f"ours {EVIL}", EVIL_ORG, f"label-theirs-{EVIL}")
    # The owner facet carries the payload organisation's name; following it keeps it text.
    naked.locator(".facets a", has_text=EVIL_ORG).click()
    inert(naked, EVIL_ORG, f"theirs v2 {EVIL}")
    naked.get_by_role("link", name=f"Remove filter owner {EVIL_ORG}").click()
    inert(naked, EVIL_ORG)
    # Free text and a value search echo what was typed.
    naked.fill("#q", EVIL)
    naked.press("#q", "Enter")
    inert(naked, EVIL)
    visit(naked, "/search?q=" + quote(EVERY))
    assert naked.locator("#q").input_value() == EVERY
    visit(naked, "/search?owner=" + quote(EVIL_ORG) + "&type=" + quote(EVIL) + "&label=" + quote(EVIL), EVIL_ORG)


def test_object_pages_versions_graph_relationships_and_json(naked: Page, world: World, evil: Evil) -> None:
    sign_in(naked, world, "paul")
    for stix_id in (evil.theirs["id"], evil.theirs_indicator["id"], evil.theirs_link["id"], evil.ours["id"],
                    evil.ours_link["id"], evil.draft["id"]):
        naked.goto(obj(stix_id))
        for details in naked.locator("details").all():  # the diffs and the JSON view, opened
            details.locator("summary").first.click()
        inert(naked, EVIL)
    naked.goto(obj(evil.theirs["id"]))
    for details in naked.locator("details").all():
        details.locator("summary").first.click()
    inert(naked, f"theirs v2 {EVIL}", f"changed {EVERY}", f"description theirs {EVERY}",
          f"indicator {EVIL}"[:100], f"ours {EVIL}"[:100], EVIL_ORG, JS_URL, f"label-theirs-{SCRIPT}",
          f"nested {SCRIPT}")
    graph = naked.locator("svg.graph")
    assert graph.count() == 1
    assert f"indicator {EVIL}"[:40] in (graph.text_content() or "")  # the graph cuts names at 40
    assert f"ours {EVIL}"[:40] in (graph.text_content() or "")
    diff = naked.locator("table.diff").first
    assert f"changed {EVERY}" in (diff.text_content() or "")
    assert f"description theirs {EVERY}" in (diff.text_content() or "")
    json_view = naked.locator("pre.json")
    assert orjson.loads(json_view.text_content() or "")["x_evil"] == f"changed x_evil {EVERY}"
    naked.goto(obj(evil.draft["id"]))
    inert(naked, f"draft {EVIL}", EVIL_USER)  # written by the payload user


def test_receipts_name_the_partner_and_the_agreement(naked: Page, world: World, evil: Evil) -> None:
    user = "xss-reader"
    if user not in world.users:
        world.user(user, org=EVIL_ORG, role="reader")
    with world.client(user) as client:
        answer = client.get(f"/default/collections/{world.collection.id}/objects/{evil.ours['id']}/")
    assert answer.status_code == 200, answer.text
    sign_in(naked, world, "paul")
    visit(naked, obj(evil.ours["id"]), EVIL_ORG, EVIL_AGREEMENT)


def test_approvals_preview_and_import_review(naked: Page, world: World, evil: Evil) -> None:
    sign_in(naked, world, "paul")
    visit(naked, "/approvals", f"draft {EVIL}", EVIL_USER)
    visit(naked, "/preview", EVIL_ORG)
    visit(naked, "/preview?org=" + quote(EVIL_ORG), EVIL_ORG, f"ours {EVIL}")
    visit(naked, "/preview?org=cert-b&q=" + quote(EVIL), EVIL)
    visit(naked, "/preview?object=" + quote(evil.ours["id"]), EVIL_ORG, EVIL_AGREEMENT)
    # Import: paste a bundle of payload objects, and a paragraph of them.
    naked.goto("/import")
    naked.fill("#text", evil.bundle)
    naked.get_by_role("button", name="Review").click()
    inert(naked, f"pasted {EVIL}", f"pasted indicator {EVIL}")
    assert orjson.loads(naked.locator("input[name=bundle]").input_value())["objects"][0]["name"] == f"pasted {EVIL}"
    naked.get_by_role("button", name="Save as draft").click()
    inert(naked, f"pasted {EVIL}")
    naked.goto("/import")
    naked.fill("#text", f"Report {EVERY} seen with evil-xss-{TEMPLATE[1:-1]}.com and 198.51.100.99 {EVERY}")
    naked.get_by_role("button", name="Review").click()
    inert(naked)
    naked.get_by_role("button", name="Save as draft").click()
    inert(naked)


def test_error_and_sign_in_pages_echo_input_as_text(naked: Page, world: World, problems: Problems) -> None:
    problems.allow(r"status of (400|401|404)")
    visit(naked, "/login?next=" + quote(f"/{ATTR}"))
    # A "next" that is not a plain path on this site is not echoed at all: the form goes home.
    assert naked.locator("form[action^='/login']").get_attribute("action") == "/login?next=/"
    naked.fill("#username", EVERY)
    naked.fill("#password", "wrong")
    naked.click("button[type=submit]")
    inert(naked)
    assert naked.locator("#username").input_value() == EVERY
    sign_in(naked, world, "paul")
    visit(naked, "/preview?org=" + quote(EVERY), status=404)
    visit(naked, obj(f"malware--{EVIL}"), status=404)
    visit(naked, "/search?limit=" + quote(EVIL), status=400)


def test_the_payload_user_signs_in(naked: Page, world: World, evil: Evil) -> None:
    sign_in(naked, world, EVIL_USER)
    inert(naked, EVIL_USER)
    visit(naked, "/search", f"theirs v2 {EVIL}")


# ---------------------------------------------------------------- administration


def test_agreements_users_collections_and_audit(naked: Page, world: World, evil: Evil) -> None:
    sign_in(naked, world, "admin")
    visit(naked, "/agreements", EVIL_AGREEMENT, EVIL_ORG)
    naked.get_by_role("link", name=EVIL_AGREEMENT).click()
    inert(naked, EVIL_AGREEMENT, EVIL_ORG)
    visit(naked, "/admin/users", EVIL_USER, EVIL_ORG)
    visit(naked, "/admin/collections", EVIL_ORG)
    visit(naked, "/audit", EVIL_ORG, EVIL_AGREEMENT, EVIL_USER)
    visit(naked, "/audit?org=" + quote(EVIL_ORG) + "&agreement=" + quote(EVIL_AGREEMENT), EVIL_ORG)
    sign_out(naked)
    sign_in(naked, world, "olga")
    visit(naked, "/admin/users", EVIL_USER)
    visit(naked, "/audit", EVIL_USER)
    visit(naked, "/agreements", EVIL_AGREEMENT, EVIL_ORG)


def test_the_page_of_a_user_whose_name_has_a_slash(naked: Page, world: World, evil: Evil) -> None:
    sign_in(naked, world, "admin")
    naked.goto("/admin/users")
    naked.get_by_role("link", name=EVIL_USER).first.click()
    inert(naked, EVIL_USER)


# ---------------------------------------------------------------- the header, on every response


def test_every_html_response_forbids_inline_script(world: World, evil: Evil) -> None:
    """Without a browser: each page's Content-Security-Policy, signed in and not."""
    paths = ["/", "/search", "/import", "/approvals", "/preview", "/preview?org=cert-b", "/agreements",
             "/admin/users", "/admin/collections", "/audit", "/account", obj(evil.theirs["id"]),
             obj("malware--00000000-0000-4000-8000-000000000000"), "/search?limit=x"]
    with httpx.Client(base_url=world.url) as client:
        login = client.get("/login")
        assert "'unsafe-inline'" not in login.headers["content-security-policy"]
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        signed = client.post("/login", data={"username": "admin", "password": world.users["admin"].password,
                                             "csrf": csrf.group(1)})
        assert signed.status_code == 303, signed.text
        for path in paths:
            answer = client.get(path)
            assert answer.headers.get("content-type", "").startswith("text/html"), (path, answer.status_code,
                                                                                     answer.headers)
            csp = answer.headers["content-security-policy"]
            directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
            assert directives["script-src"] == ["'self'"], (path, csp)
            assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, (path, csp)
            assert directives["default-src"] == ["'none'"], (path, csp)
