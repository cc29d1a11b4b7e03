"""The overlap page (accord/web/overlap_page.py): a user has this node ask a partner's node which
values it holds too, and only those who may (services/overlap.askable_peers) can.

In process (TestClient over build_app, the asker replaced by a recording fake): who gets the page,
the menu link and which peers, for every role and kind of organisation; a peer not listed, a post
without the form token; each answer of the partner's node as its message. In a browser, against a
second real node serving the overlap check (the partner, over HTTP): held values shown and others
not, markup shown as text, both audit logs naming the question and never a value, a reader
refused, a rotated key explained.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from accord.app import build_app
from accord.errors import ConfigError, SyncError
from accord.policy.passwords import set_password
from accord.policy.tokens import new_token
from accord.services.overlap import OverlapResult, new_agreement_key, set_peer_key, unseal_key
from accord.services.secrets import SecretBox
from accord.settings import load_settings
from accord.storage.base import OPERATOR, Provenance
from accord.storage.sqlite import SQLiteStore
from accord.sync.client import PeerClient
from accord.sync.overlap import ask_peer
from tests.conftest import StepClock
from tests.policy.world import _ingest
from tests.taxii.conftest import Node, run_node
from tests.web.conftest import World, password_for, unique
from tests.web.samples import domain_indicator, ip_indicator, sdo
from tests.web.test_admin_pages import App, TestClient

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.web.conftest import Problems

KEY = "00" * 16 + "ff" * 16
MENU_LINK = 'href="/overlap"'


# ---------------------------------------------------------------- in process: who may ask


@dataclass
class Asked:
    """A stand-in for the asker app.py wires in: records each question, answers or fails as told."""

    calls: list[tuple[str, list[str], str]] = field(default_factory=list)
    failure: Exception | None = None

    def __call__(self, peer_name: str, values: list[str], *, actor: str) -> OverlapResult:
        self.calls.append((peer_name, values, actor))
        if self.failure is not None:
            raise self.failure
        return OverlapResult(peer_name, "b-a", "5d0c1e7f9a3b2c41", len(values), len(values),
                             [(values[0], "ipv4-addr", values[0])], [])


def _node_app(store: SQLiteStore, data_dir: Path, clock: StepClock,
              users: tuple[tuple[str, str, str], ...] = ()) -> Starlette:
    """A node's application over ``store``, with these (username, organisation, role) able to sign in."""
    for username, org, role in users:
        store.add_user(username, org=org, role=role)
        set_password(store, username, password_for(username))
    settings = load_settings(env={"ACCORD_DATA_DIR": str(data_dir), "ACCORD_DATABASE_URL": store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_ALERT_RUNNER": "false"})
    return build_app(settings, store, clock=clock)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[App, Asked]]:
    """cert-a (local) has an active agreement with cert-b and a suspended one with cert-c; `other`
    (local) a GREEN one with cert-b; cert-b and cert-c (partners) have one with each other. node-b
    (cert-b) and node-c (cert-c) hold a partner's key asked as cert-a, node-b3 (cert-b) one whose
    organisation nobody named, node-b2 (cert-b) none."""
    clock = StepClock()
    store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}", clock=clock)
    store.initialise()
    for name, kind in (("cert-a", "local"), ("other", "local"), ("cert-b", "partner"), ("cert-c", "partner")):
        store.add_org(name, kind=kind)
    for name, parties in (("a-b", ["cert-a", "cert-b"]), ("a-c", ["cert-a", "cert-c"]), ("b-c", ["cert-b", "cert-c"])):
        store.add_agreement(name, parties=parties, max_tlp="amber", onward=False, valid_from=None, valid_until=None,
                            actor="test")
    store.change_agreement("a-c", action="suspend", actor="test")
    store.add_agreement("o-b", parties=["other", "cert-b"], max_tlp="green", onward=False, valid_from=None,
                        valid_until=None, actor="test")
    box = SecretBox(tmp_path / "node.key")
    for peer, org, for_org in (("node-b", "cert-b", "cert-a"), ("node-c", "cert-c", "cert-a"),
                               ("node-b2", "cert-b", None), ("node-b3", "cert-b", None)):
        store.add_peer(peer, url=f"https://{peer}.example/taxii2/", username="us", sealed_token=box.seal("t"), org=org,
                       interval_s=60, accept_max_tlp="amber", accept_types=(), links=[], actor="test")
        if peer != "node-b2":
            set_peer_key(store, box, peer, KEY, remote_agreement=None, for_org=for_org, actor=OPERATOR)
    built = _node_app(store, tmp_path, clock, (
        ("rita", "cert-a", "reader"), ("alice", "cert-a", "analyst"), ("paul", "cert-a", "publisher"),
        ("otto", "other", "org-admin"), ("bea", "cert-b", "publisher"), ("admin", "node", "node-admin")))
    asked = Asked()
    built.state.ask_peer = asked
    yield App(store, TestClient(built, raise_server_exceptions=True, base_url="http://testserver"), built.state.web,
              clock), asked
    store.close()


def _listed(html: str) -> set[str]:
    return {peer for peer in ("node-b", "node-c", "node-b2", "node-b3") if f'<option value="{peer}"' in html}


def test_who_gets_the_page_the_menu_link_and_which_peers(app: tuple[App, Asked]) -> None:
    web, asked = app
    # otto's organisation has an agreement with cert-b too, but node-b's key is asked as cert-a: the
    # partner would answer otto as cert-a. node-b3's key names no organisation: node-admins only.
    expected = {"rita": None, "otto": None, "bea": None,  # a reader; another local org; a partner's
                "alice": {"node-b"}, "paul": {"node-b"},  # cert-a: cert-c's agreement is suspended, node-b2 unkeyed
                "admin": {"node-b", "node-c", "node-b3"}}
    for username, peers in expected.items():
        session = web.session(username)
        page = session.get("/overlap")
        assert (MENU_LINK in session.get("/lookup").text) == (peers is not None), username
        if peers is None:
            assert page.status_code == 403 and MENU_LINK not in page.text, username
            refused = session.post("/overlap", {"peer": "node-b", "values": "198.51.100.7"})
            assert refused.status_code == 403, username
        else:
            assert page.status_code == 200 and _listed(page.text) == peers, username
    assert asked.calls == []


def test_a_question_goes_out_as_the_user_through_a_peer_they_may_ask_only(app: tuple[App, Asked]) -> None:
    web, asked = app
    alice = web.session("alice")
    for peer in ("node-c", "node-b2", "node-b3", "nobody"):  # not hers, unkeyed, admins', absent: one answer
        refused = alice.post("/overlap", {"peer": peer, "values": "198.51.100.7"})
        assert refused.status_code == 400 and "choose one of the partner nodes listed" in refused.text, peer
    assert alice.post("/overlap", {"peer": "node-b", "values": "198.51.100.7"}, csrf=False).status_code == 403
    assert alice.post("/overlap", {"peer": "node-b", "values": " \n "}).status_code == 400
    assert asked.calls == []
    page = alice.get("/overlap")
    assert "node-b · cert-b · key " in page.text and " · as cert-a</option>" in page.text
    answered = alice.post("/overlap", {"peer": "node-b", "values": "198.51.100.7\n198.51.100.7\nfoo"})
    assert answered.status_code == 200 and 'data-value="198.51.100.7"' in answered.text
    assert asked.calls == [("node-b", ["198.51.100.7", "foo"], "alice")]
    too_many = alice.post("/overlap", {"peer": "node-b", "values": "\n".join(f"10.0.{i // 256}.{i % 256}"
                                                                            for i in range(10_001))})
    assert too_many.status_code == 400 and "at most 10000 values" in too_many.text and len(asked.calls) == 1


@pytest.mark.parametrize(("status", "says"), [(409, "was rotated"), (401, "did not accept this node&#39;s credentials"),
                                              (403, "refuses the question"), (404, "does not know the agreement"),
                                              (None, "could not be reached"), (500, "answered 500")])
def test_each_failure_of_the_partners_node_is_explained(app: tuple[App, Asked], status: int | None, says: str) -> None:
    web, asked = app
    asked.failure = SyncError("peer node-b: POST https://node-b.example/api/v1/overlap answered <b>x</b>",
                              peer_status=status)
    for username, detailed in (("alice", False), ("admin", True)):
        failed = web.session(username).post("/overlap", {"peer": "node-b", "values": "198.51.100.7"})
        assert failed.status_code == 502 and says in failed.text, username
        assert "198.51.100.7</textarea>" in failed.text  # the values stay in the form, to ask again
        # The peer's address and the partner's words: the operator's business, and escaped.
        assert ("https://node-b.example/api/v1/overlap" in failed.text) == detailed, username
        assert "<b>x</b>" not in failed.text


def test_a_key_this_node_cannot_use_is_explained_without_the_key_files_path(app: tuple[App, Asked],
                                                                              tmp_path: Path) -> None:
    """The node key file was replaced: the sealed key no longer opens. The reason names the key
    file and what the operator must do: a node-admin's business, like a failure's detail."""
    web, asked = app
    record = web.store.peer_overlap_key("node-b")
    assert record is not None
    replaced = tmp_path / "replaced" / "node.key"
    with pytest.raises(ConfigError) as caught:
        unseal_key(SecretBox(replaced), record)
    assert str(replaced) in str(caught.value)
    asked.failure = caught.value
    for username, detailed in (("alice", False), ("admin", True)):
        failed = web.session(username).post("/overlap", {"peer": "node-b", "values": "198.51.100.7"})
        assert failed.status_code == 500, username
        assert "This node&#39;s key for the peer cannot be used; ask this node&#39;s operator." in failed.text
        assert "198.51.100.7</textarea>" in failed.text, username
        assert (str(replaced) in failed.text) == detailed, username
        assert ("accord peer overlap-key" in failed.text) == detailed, username


def test_questions_beyond_the_limit_are_turned_away_at_once(app: tuple[App, Asked]) -> None:
    """Each question holds a server thread until the partner answers (up to OVERLAP_TIMEOUT): past
    the per-process limit, a question is answered 503 at once rather than queued behind them."""
    web, asked = app
    web.client.app.state.overlap_questions = threading.BoundedSemaphore(1)  # type: ignore[attr-defined]
    entered, release = threading.Event(), threading.Event()
    answer = asked.__call__

    def slow(peer_name: str, values: list[str], *, actor: str) -> OverlapResult:
        entered.set()
        assert release.wait(20)
        return answer(peer_name, values, actor=actor)

    web.client.app.state.ask_peer = slow  # type: ignore[attr-defined]
    first: list[int] = []
    waiting = threading.Thread(target=lambda: first.append(
        web.session("alice").post("/overlap", {"peer": "node-b", "values": "198.51.100.7"}).status_code))
    waiting.start()
    try:
        assert entered.wait(30)
        for username in ("paul", "admin"):  # anyone, node-admins too: the threads are everyone's
            busy = web.session(username).post("/overlap", {"peer": "node-b", "values": "198.51.100.8"})
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "60", username
            assert "already asking partners&#39; nodes" in busy.text and "198.51.100.8</textarea>" in busy.text
        assert web.session("paul").get("/overlap").status_code == 200  # the form itself is not limited
    finally:
        release.set()
        waiting.join(30)
    assert first == [200] and [c[2] for c in asked.calls] == ["alice"]
    # The place is given back after an answer and after a failure alike.
    asked.failure = SyncError("down", peer_status=None)
    web.client.app.state.ask_peer = asked  # type: ignore[attr-defined]
    assert web.session("paul").post("/overlap", {"peer": "node-b", "values": "198.51.100.9"}).status_code == 502
    asked.failure = None
    assert web.session("paul").post("/overlap", {"peer": "node-b", "values": "198.51.100.9"}).status_code == 200


# ---------------------------------------------------------------- in process, two nodes: asked as whom


@dataclass
class TwoNodes:
    b: App  # the asking node, with cert-a and `other` as local organisations
    a: SQLiteStore  # cert-b's node, answering
    amber: str  # a value A holds in an AMBER object it shares with cert-a only


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[TwoNodes]:
    """A (cert-b's node) shares an AMBER value with cert-a, whose account peer node-a uses on A.
    On B both cert-a (AMBER) and `other` (GREEN) have an agreement with cert-b; the partner's key
    is kept for node-a as cert-a's. B reaches A's app in process (no port opened)."""
    clock = StepClock()
    a = SQLiteStore(f"sqlite:///{tmp_path / 'a.db'}", clock=clock)
    a.initialise()
    a.add_org("cert-b")
    a.add_org("cert-a", kind="partner")
    a.add_agreement("b-a", parties=["cert-b", "cert-a"], max_tlp="amber", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    shared = a.add_collection("shared with cert-a", alias="shared")
    a.set_grant(shared, "cert-a", can_read=True, can_write=False)
    a.add_user("node-b", org="cert-a", role="reader")
    token, digest = new_token()
    a.add_token("node-b", digest)
    amber = f"amber-{uuid.uuid4().hex[:6]}.example"
    _ingest(a, shared, [domain_indicator("amber", amber, tlp="amber")],
            Provenance(a.get_org("cert-b").pk, owner_name="cert-b"))
    (tmp_path / "a").mkdir()
    key, _ = new_agreement_key(a, SecretBox(tmp_path / "a" / "node.key"), "b-a", rotate=False, actor="test")
    a_http = TestClient(_node_app(a, tmp_path / "a", clock), base_url="https://node-a.example")

    def to_a(request: httpx.Request) -> httpx.Response:
        answered = a_http.request(request.method, str(request.url), content=request.content,
                                  headers=dict(request.headers))
        return httpx.Response(answered.status_code, headers=answered.headers,
                              stream=httpx.ByteStream(answered.content))  # streamed, as a server's is

    b = SQLiteStore(f"sqlite:///{tmp_path / 'b.db'}", clock=clock)
    b.initialise()
    for name, kind in (("cert-a", "local"), ("other", "local"), ("cert-b", "partner")):
        b.add_org(name, kind=kind)
    for name, party, tlp in (("a-b", "cert-a", "amber"), ("other-b", "other", "green")):
        b.add_agreement(name, parties=[party, "cert-b"], max_tlp=tlp, onward=False, valid_from=None,
                        valid_until=None, actor="test")
    b_box = SecretBox(tmp_path / "node.key")
    b.add_peer("node-a", url="https://node-a.example/taxii2/", username="node-b", sealed_token=b_box.seal(token),
               org="cert-b", interval_s=3600, accept_max_tlp="amber", accept_types=(), links=[], actor="test")
    set_peer_key(b, b_box, "node-a", key, remote_agreement=None, for_org="cert-a", actor=OPERATOR)
    built = _node_app(b, tmp_path, clock, (("alice", "cert-a", "analyst"), ("carla", "cert-a", "org-admin"),
                                           ("olga", "other", "analyst"), ("oscar", "other", "org-admin")))
    built.state.ask_peer = partial(ask_peer, b, b_box, lambda peer, tok: PeerClient(
        peer.url, peer.username, tok, transport=httpx.MockTransport(to_a)))
    yield TwoNodes(App(b, TestClient(built, raise_server_exceptions=True, base_url="http://testserver"),
                       built.state.web, clock), a, amber)
    a_http.close()
    b.close()
    a.close()


def test_a_local_organisation_cannot_ask_as_another(two_nodes: TwoNodes) -> None:
    """`other` has its own (GREEN) agreement with cert-b, but the peer's account on A is cert-a's:
    A would answer olga with what it shares with cert-a (AMBER) and record the question as cert-a's."""
    b, a, amber = two_nodes.b, two_nodes.a, two_nodes.amber
    olga = b.session("olga")
    assert olga.get("/overlap").status_code == 403
    refused = olga.post("/overlap", {"peer": "node-a", "values": amber})
    assert refused.status_code == 403 and amber not in refused.text
    assert a.audit_records(action="overlap") == [] and b.store.audit_records(action="overlap.ask") == []

    answered = b.session("alice").post("/overlap", {"peer": "node-a", "values": amber})
    assert answered.status_code == 200 and f'<tr data-value="{amber}"' in answered.text
    assert "Asked peer <strong>node-a</strong> as <strong>cert-a</strong>" in answered.text
    theirs, = a.audit_records(action="overlap")
    mine, = b.store.audit_records(action="overlap.ask")
    assert (theirs.actor, theirs.org) == ("node-b", "cert-a")
    assert (mine.actor, mine.org, mine.subject) == ("alice", "cert-a", "node-a")
    assert orjson.loads(mine.detail)["partner"] == "cert-b"
    # cert-a's org-admin sees its member's question in the audit view; other's does not.
    assert "overlap.ask" in b.session("carla").get("/audit").text
    assert "overlap.ask" not in b.session("oscar").get("/audit").text


# ---------------------------------------------------------------- in a browser, against a real partner node


@dataclass
class Partner:
    """cert-b's node (A, answering) and what B (the world's node, asking) keeps for it as peer node-b."""

    node: Node
    box: SecretBox
    agreement: str
    held: list[str]  # values A holds in objects cert-a may see there
    hidden: list[str]  # values A holds only in objects cert-a may not see there


@pytest.fixture(scope="module")
def partner(world: World, request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Partner]:
    workdir = tmp_path_factory.mktemp("overlap-partner")
    for node in run_node("sqlite", request, workdir, ACCORD_SYNC_SCHEDULER="false"):
        a = node.store
        a.add_org("cert-b")
        a.add_org("cert-a", kind="partner")
        a.add_agreement("b-a", parties=["cert-b", "cert-a"], max_tlp="amber", onward=False, valid_from=None,
                        valid_until=None, actor="test")
        collection = node.collection("shared with cert-a")
        username, token = node.user(org="cert-a", role="reader", read=(collection,))
        tag = uuid.uuid4().hex[:6]
        held = [f"c2-{tag}.example", "203.0.113.10", f"http://c2-{tag}.example/<script>alert(1)</script>"]
        objects = [domain_indicator("domain", held[0], tlp="green"), ip_indicator("ip", held[1], tlp="green"),
                   sdo("indicator", "url", tlp="green", pattern=f"[url:value = '{held[2]}']", pattern_type="stix",
                       valid_from="2026-01-01T00:00:00Z"),
                   ip_indicator("red", "203.0.113.11", tlp="red")]  # RED, cert-a no recipient: hidden from B
        _ingest(a, collection, objects, Provenance(a.get_org("cert-b").pk, owner_name="cert-b"))
        box = SecretBox(workdir / "node.key")  # the server's data directory holds its node key
        key, _ = new_agreement_key(a, box, "b-a", rotate=False, actor="test")
        b_box = SecretBox(world.log.parent / "node.key")  # likewise for the world's server
        world.store.add_peer("node-b", url=f"{node.url}/taxii2/", username=username, sealed_token=b_box.seal(token),
                             org="cert-b", interval_s=3600, accept_max_tlp="amber", accept_types=(), links=[],
                             actor="test")
        set_peer_key(world.store, b_box, "node-b", key, remote_agreement=None, for_org="cert-a", actor="test")
        yield Partner(node, box, "b-a", held, ["203.0.113.11"])


def _ask(page: Page, values: list[str]) -> None:
    page.get_by_label("Partner node").select_option("node-b")
    page.get_by_label("Values").fill("\n".join(values))
    page.get_by_role("button", name="Ask").click()


def test_an_analyst_learns_which_values_the_partner_holds(world: World, partner: Partner, page: Page,
                                                          login: Callable[..., Page], expect: Any,
                                                          screenshot: Callable[..., Path]) -> None:
    login(page, "alice")
    page.get_by_role("link", name="Overlap check").click()
    expect(page.locator("h1")).to_have_text("Overlap check")
    key = world.store.peer_overlap_key("node-b")
    assert key is not None
    expect(page.get_by_label("Partner node")).to_contain_text(f"node-b · cert-b · key {key.fingerprint}")
    absent, markup = "198.51.100.99", "<script>alert(1)</script>"
    asked = [partner.held[0].upper(), *partner.held[1:], *partner.hidden, absent, markup]
    _ask(page, asked)
    expect(page.locator("#summary")).to_have_text(f"3 of {len(asked) - 1} values held there too")
    expect(page.locator("#summary + p")).to_contain_text(
        f"Asked peer node-b as cert-a under agreement {partner.agreement} with key {key.fingerprint}")
    held = page.locator("#overlap tbody tr")
    expect(held).to_have_count(3)
    assert held.evaluate_all("rows => rows.map(r => r.dataset.value)") == [partner.held[0].upper(), *partner.held[1:]]
    expect(page.locator("#overlap tbody")).to_contain_text(f"domain-name {partner.held[0]}")
    expect(page.locator("#not-held li")).to_have_text([*partner.hidden, absent])
    expect(page.locator("#not-asked li")).to_have_text([f"{markup} not an IP address or network, domain, URL, "
                                                        "e-mail address or hash"])
    assert page.locator("#main script").count() == 0  # the markup, held or not, is text (and no dialog opened)
    screenshot(page, "overlap", full_page=False)

    # Both audit logs name the question (here with the user who asked), and neither holds a value.
    mine = world.store.audit_records(action="overlap.ask")[-1]
    assert (mine.actor, mine.org, mine.subject) == ("alice", "cert-a", "node-b")  # asked as cert-a, by alice
    assert orjson.loads(mine.detail)["matched"] == 3 and orjson.loads(mine.detail)["partner"] == "cert-b"
    theirs = partner.node.store.audit_records(action="overlap")[-1]
    assert theirs.org == "cert-a" and theirs.agreement == partner.agreement
    for entry in (mine, theirs):
        assert not any(v.lower().encode() in entry.detail.lower() for v in [*asked, *partner.held])


def test_a_reader_gets_no_link_and_403(world: World, partner: Partner, page: Page, login: Callable[..., Page],
                                       expect: Any, problems: Problems) -> None:
    problems.allow(r"status of 403")
    reader = world.user(unique("reader"), org="cert-a", role="reader")
    login(page, reader.username)
    expect(page.get_by_role("link", name="Overlap check")).to_have_count(0)
    answer = page.goto("/overlap")
    assert answer is not None and answer.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.get_by_role("link", name="Overlap check")).to_have_count(0)


def test_a_rotated_key_is_explained_not_answered_as_no_overlap(world: World, partner: Partner, page: Page,
                                                               login: Callable[..., Page], expect: Any,
                                                               problems: Problems) -> None:
    problems.allow(r"status of 502")
    before = len(world.store.audit_records(action="overlap.ask"))
    new_key, _ = new_agreement_key(partner.node.store, partner.box, partner.agreement, rotate=True, actor="test")
    try:
        login(page, "alice")
        page.goto("/overlap")
        _ask(page, [partner.held[1]])
        expect(page.locator("#failure")).to_contain_text("overlap key for our agreement was rotated")
        expect(page.locator("#overlap")).to_have_count(0)
        assert partner.node.url not in page.content()  # the peer's address is for node-admins
        expect(page.get_by_label("Values")).to_have_value(partner.held[1])
        # Not answered, but sent: recorded as a failed question of one hash.
        entries = world.store.audit_records(action="overlap.ask")
        assert len(entries) == before + 1
        assert {k: orjson.loads(entries[-1].detail)[k] for k in ("hashes", "matched", "failed")} == {
            "hashes": 1, "matched": 0, "failed": True}
    finally:  # B's operator sets the new key: asking works again
        set_peer_key(world.store, SecretBox(world.log.parent / "node.key"), "node-b", new_key, remote_agreement=None,
                     for_org="cert-a", actor="test")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("#overlap tbody tr")).to_have_count(1)
