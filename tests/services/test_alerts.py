"""Alert rules evaluated over what was added (services/alerts.py), on both backends, with real
stores: what fires, what never fires (anything the rule's organisation may not see), and that a
window is recorded once, whatever interrupts the evaluation. The world is tests/services/alerting.py's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from accord.errors import AlreadyExistsError, NotFoundError, RequestError
from accord.policy.gate import Visibility, visibility
from accord.policy.viewer import Viewer
from accord.services.alert_rules import RuleRequest, add_rule
from accord.services.alert_views import acknowledge, alert_json, alert_page, still_matched, visible_alerts
from accord.services.alerts import Watchlist, evaluate
from accord.services.release import ReleaseError
from accord.stix.markings import TLP2_AMBER, TLP2_AMBER_STRICT, TLP2_GREEN, TLP2_RED
from accord.storage.base import OPERATOR, NewAlert, State, Store
from tests.conftest import StepClock
from tests.services.alerting import World, indicator, make_world, sighting


@pytest.fixture
def world(backend_store: Store, clock: StepClock, tmp_path: Path) -> World:
    return make_world(backend_store, clock, tmp_path)


@pytest.fixture
def sqlite_world(sqlite_store: Store, clock: StepClock, tmp_path: Path) -> World:
    """For what does not depend on the backend (checking a rule before anything is stored)."""
    return make_world(sqlite_store, clock, tmp_path)


def test_watchlist_fires_on_exact_parent_and_within(world: World) -> None:
    world.rule("watchlist", values=("evil.example", "198.51.100.0/24", "203.0.113.9"))
    exact, parent, within, nothing = world.add(
        "cert-b", indicator("[ipv4-addr:value = '203.0.113.9']"), indicator("[domain-name:value = 'c2.evil.example']"),
        indicator("[ipv4-addr:value = '198.51.100.77']"), indicator("[domain-name:value = 'evil.example.org']"))
    world.add("cert-a", indicator("[domain-name:value = 'evil.example']"))  # its own: never an alert
    assert world.run() == 3
    assert sorted(world.fired()["watchlist"]) == sorted([exact, parent, within])
    matched = {a.stix_id: orjson.loads(a.matched) for a in world.store.alerts(world.pk["cert-a"], limit=10)}
    assert matched[parent]["values"] == [{"value": "evil.example", "observable": ["domain-name", "c2.evil.example"],
                                          "relation": "parent"}]
    assert matched[within]["values"][0]["relation"] == "within"
    assert nothing not in matched
    # The alert is a disclosure: a receipt on the "alert" channel names what cert-a received.
    receipts = world.store.audit_records(org="cert-a", action="receive")
    assert [orjson.loads(r.detail)["channel"] for r in receipts] == ["alert"]
    assert {sid for sid, *_ in world.store.audit_items([receipts[0].seq])[receipts[0].seq]} == {exact, parent, within}
    assert world.run() == 0  # evaluated once


def test_nothing_fires_for_what_the_organisation_may_not_see(world: World) -> None:
    world.rule("watchlist", values=("hidden.example",))
    world.rule("own-indicators")
    world.add("cert-a", indicator("[domain-name:value = 'hidden.example']"))  # shared with everything below
    hidden = "[domain-name:value = 'hidden.example']"
    world.add("stranger", indicator(hidden))  # no agreement
    world.add("cert-b", indicator(hidden, marking=TLP2_AMBER_STRICT))  # above the agreement's ceiling
    world.add("cert-b", indicator(hidden, marking=TLP2_RED))  # RED, and the agreement does not allow RED
    world.add("cert-b", indicator(hidden, marking=TLP2_RED), recipients=("cert-a",))  # named, still no RED allowed
    (draft,) = world.add("cert-b", indicator(hidden), state=State.DRAFT)
    world.add("cert-b", indicator("[domain-name:value = 'other.example']", description="hidden.example",
                                  granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["pattern"]}],
                                  **{"x_note": "the pattern is RED for cert-a"}))
    world.add("cert-b", {**indicator(hidden), "granular_markings": [
        {"marking_ref": TLP2_RED, "selectors": ["pattern"]}]})  # the matching value is granular RED
    assert world.run() == 0
    assert world.fired() == {}
    assert world.store.audit_records(org="cert-a", action="receive") == []
    # Published, the draft gets a new date_added: the cursor meets it, and it fires (once).
    world.store.set_state(world.store.version_facts(draft), State.PUBLISHED, actor="test")
    assert world.run() == 2
    assert world.fired() == {"watchlist": [draft], "own-indicators": [draft]}


def test_sighting_rule(world: World) -> None:
    world.rule("sighting", name="from-partner", partner="partner")
    world.rule("sighting", name="any", sighting_types=("seen", "false-positive"))
    (theirs,) = world.add("partner", indicator("[ipv4-addr:value = '192.0.2.1']"), received=True)
    (cert_b,) = world.add("cert-b", indicator("[ipv4-addr:value = '192.0.2.2']"))
    (mine,) = world.add("cert-a", indicator("[ipv4-addr:value = '192.0.2.3']"))
    (red,) = world.add("partner", indicator("[ipv4-addr:value = '192.0.2.4']", marking=TLP2_RED), received=True)
    seen_here, fp, of_cert_b = world.add("cert-b", sighting(theirs), sighting(theirs, x_accord_sighting_type=
                                                                               "false-positive"), sighting(cert_b))
    world.add("cert-a", sighting(mine))  # its own indicator: no partner's
    world.add("cert-a", sighting(red))  # cert-a may not see the sighted object
    world.add("stranger", sighting(theirs))  # cert-a may not see the sighting
    world.add("partner", sighting(theirs), received=True)  # seen at the partner's node, not here
    world.add("cert-b", sighting(theirs, x_opencti_negative=True, granular_markings=[
        {"marking_ref": TLP2_GREEN, "selectors": ["count"]}]))  # OpenCTI's false positive
    assert world.run() == 5  # from-partner 1, any 4
    fired = world.fired()
    assert fired["from-partner"] == [seen_here]
    assert len(fired["any"]) == 4 and {seen_here, fp, of_cert_b} <= set(fired["any"])
    related = {a.stix_id: a.related for a in world.store.alerts(world.pk["cert-a"], limit=10)}
    assert len(related[seen_here]) == 1  # the sighted object was disclosed with it


def test_own_indicators_correlates_on_ingest(world: World) -> None:
    world.rule("own-indicators")
    (mine,) = world.add("cert-a", indicator("[file:hashes.'SHA-256' = '" + "ab" * 32 + "']"))
    (draft,) = world.add("cert-a", indicator("[ipv4-addr:value = '198.51.100.1']"), state=State.DRAFT)
    theirs, unrelated = world.add("partner", indicator("[file:hashes.sha256 = '" + "AB" * 32 + "']"),
                                  indicator("[ipv4-addr:value = '198.51.100.2']"), received=True)
    (again,) = world.add("cert-b", indicator("[ipv4-addr:value = '198.51.100.1']"))
    assert world.run() == 2
    alerts = {a.stix_id: orjson.loads(a.matched) for a in world.store.alerts(world.pk["cert-a"], limit=10)}
    assert alerts[theirs] == {"shared": [{"observable": ["file:hashes.SHA-256", "ab" * 32], "own": [mine]}]}
    assert alerts[again]["shared"][0]["own"] == [draft]  # its own drafts are its own
    assert unrelated not in alerts


def test_rules_only_count_what_is_added_after_them(world: World) -> None:
    (before,) = world.add("cert-b", indicator("[domain-name:value = 'old.example']"))
    world.rule("watchlist", values=("old.example",))
    (after,) = world.add("cert-b", indicator("[domain-name:value = 'old.example']"))
    assert world.run() == 1
    assert world.fired() == {"watchlist": [after]}
    assert before != after


def test_small_windows_give_the_same_alerts(world: World) -> None:
    world.rule("watchlist", values=("w.example",))
    ids = world.add("cert-b", *[indicator(f"[domain-name:value = 'h{i}.w.example']") for i in range(7)])
    report = evaluate(world.store, clock=world.clock, window=2)
    assert (report.windows, report.alerts) == (4, 7)
    assert sorted(world.fired()["watchlist"]) == sorted(ids)


def test_a_failed_window_records_nothing(world: World) -> None:
    """record_alerts is all or nothing: an alert that cannot be stored rolls back the cursor, the
    other alerts and the receipts with it; evaluating again records the window once."""
    world.rule("watchlist", values=("x.example",))
    world.add("cert-b", indicator("[domain-name:value = 'x.example']"))
    position = world.store.alert_position()
    upto = world.store.membership_window(position, 500)
    assert upto is not None
    rule = world.store.alert_rules()[0]
    row = world.store.added_between(position, upto, visibility(world.store, Viewer.operator(), 0).predicate())[0]
    twins = [NewAlert("same-uid", rule.pk, rule.org_pk, row.pk, row.stix_id, row.date_added, b"{}"),
             NewAlert("same-uid", rule.pk, rule.org_pk, row.pk + 10_000, row.stix_id, row.date_added, b"{}")]
    with pytest.raises(AlreadyExistsError):
        world.store.record_alerts(position, upto, twins, [])
    assert world.store.alert_position() == position
    assert world.store.alerts(None, limit=10) == []
    assert world.run() == 1 and world.run() == 0
    assert len(world.store.alerts(None, limit=10)) == 1


def test_two_runners_record_a_window_once(world: World) -> None:
    """A second runner that evaluates the same window while the first is still at it: whichever
    commits second finds the cursor moved and records nothing (the injected clock lets the
    second run start exactly in the middle of the first one's window)."""
    world.rule("watchlist", values=("race.example",))
    world.add("cert-b", indicator("[domain-name:value = 'race.example']"))
    inner: list[int] = []

    def clock() -> int:
        if not inner:
            inner.append(evaluate(world.store, clock=world.clock).alerts)
        return world.clock()

    outer = evaluate(world.store, clock=clock)
    assert inner == [1] and outer.contended and outer.alerts == 0
    assert len(world.store.alerts(None, limit=10)) == 1
    assert len(world.store.audit_records(org="cert-a", action="receive")) == 1


def test_alerts_listed_only_while_visible(world: World) -> None:
    world.rule("watchlist", values=("later.example",))
    world.add("cert-b", indicator("[domain-name:value = 'later.example']", name="<b>bold</b>"))
    world.run()
    viewer = Viewer.of(world.store.add_user("ann", org="cert-a", role="reader"))
    shown = visible_alerts(world.store, visibility(world.store, viewer, world.clock()), world.pk["cert-a"],
                           limit=10, channel="rest")
    assert [v.name for v in shown] == ["<b>bold</b>"] and shown[0].owner == "cert-b"
    world.store.change_agreement("a-cert-b", action="suspend", actor="test")
    assert visible_alerts(world.store, visibility(world.store, viewer, world.clock()), world.pk["cert-a"],
                          limit=10, channel="rest") == []


@pytest.mark.parametrize(("request_", "problem"), [
    (RuleRequest("cert-a", "x", "nonsense"), "kind"),
    (RuleRequest("cert-a", "bad name!", "watchlist", values=("a.example",)), "name"),
    (RuleRequest("no-org", "x", "watchlist", values=("a.example",)), "org"),
    (RuleRequest("cert-a", "x", "watchlist"), "values"),
    (RuleRequest("cert-a", "x", "watchlist", values=("hello",)), "values"),
    (RuleRequest("cert-a", "x", "own-indicators", values=("a.example",)), "values"),
    (RuleRequest("cert-a", "x", "sighting", partner="cert-a"), "partner"),
    (RuleRequest("cert-a", "x", "sighting", partner="nobody"), "partner"),
    (RuleRequest("cert-a", "x", "watchlist", values=("a.example",), partner="cert-b"), "partner"),
    (RuleRequest("cert-a", "x", "sighting", sighting_types=("maybe",)), "sighting_types"),
    (RuleRequest("cert-a", "x", "sighting", webhook="ftp://hooks.example/x"), "webhook"),
])
def test_bad_rules_name_the_property(sqlite_world: World, request_: RuleRequest, problem: str) -> None:
    with pytest.raises(RequestError) as err:
        add_rule(sqlite_world.store, sqlite_world.box, request_, actor="test", allow_private=False)
    assert err.value.parameter == problem
    assert sqlite_world.store.alert_rules() == []


def test_rule_names_are_unique_per_organisation(world: World) -> None:
    world.rule("own-indicators", name="mine")
    world.rule("own-indicators", name="mine", org="cert-b")
    with pytest.raises(AlreadyExistsError, match="'mine'"):
        world.rule("own-indicators", name="mine")


_KILLED_RUNNER = """
import sys, time
from accord.services.alerts import evaluate
from accord.storage import open_store

calls = 0

def clock():
    global calls
    calls += 1
    if calls == int(sys.argv[2]):  # in the middle of a window: evaluated, not yet recorded
        print("paused", flush=True)
        time.sleep(60)
    return time.time_ns() // 1000

evaluate(open_store(sys.argv[1]), clock=clock, window=1)
"""


def test_kill_9_in_the_middle_of_a_pass_loses_and_repeats_nothing(sqlite_world: World) -> None:
    """A runner killed while evaluating a window: the windows it recorded stay recorded, the one it
    was in is evaluated again by the next run, and every version fires its rule exactly once."""
    world = sqlite_world
    world.rule("watchlist", values=("kill.example",))
    ids = world.add("cert-b", *[indicator(f"[domain-name:value = 'h{i}.kill.example']") for i in range(5)])
    runner = subprocess.Popen([sys.executable, "-c", _KILLED_RUNNER, world.store.url, "4"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert runner.stdout is not None and runner.stdout.readline() == "paused\n"
        os.kill(runner.pid, signal.SIGKILL)
    finally:
        runner.wait(30)
        if runner.stdout is not None:
            runner.stdout.close()
    assert len(world.store.alerts(None, limit=10)) == 3  # three windows were recorded before the kill
    assert world.run() == 2
    assert sorted(world.fired()["watchlist"]) == sorted(ids)
    receipts = world.store.audit_records(org="cert-a", action="receive")
    items = world.store.audit_items([r.seq for r in receipts])
    assert sorted(sid for r in receipts for sid, *_ in items[r.seq]) == sorted(ids)  # each received once


def test_watchlist_relations() -> None:
    watch = Watchlist(["Evil.Example", "198.51.100.0/24", "2001:db8:1::/48", "203.0.113.9",
                       "d41d8cd98f00b204e9800998ecf8427e"])
    relations = {(t, v): m["relation"] + " " + m["value"] for m in watch.matches([
        ("domain-name", "evil.example"), ("domain-name", "a.b.evil.example"), ("domain-name", "evil.example.org"),
        ("ipv4-addr", "198.51.100.200"), ("ipv4-addr", "198.51.100.0/25"), ("ipv4-addr", "198.51.0.0/16"),
        ("ipv4-addr", "198.51.101.1"), ("ipv6-addr", "2001:db8:1:ff::1"), ("ipv6-addr", "2001:db8:2::1"),
        ("ipv4-addr", "203.0.113.9"), ("file:hashes.MD5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("url", "http://evil.example/x")]) for t, v in [m["observable"]]}
    assert relations == {
        ("domain-name", "evil.example"): "exact Evil.Example",
        ("domain-name", "a.b.evil.example"): "parent Evil.Example",
        ("ipv4-addr", "198.51.100.200"): "within 198.51.100.0/24",
        ("ipv4-addr", "198.51.100.0/25"): "within 198.51.100.0/24",
        ("ipv6-addr", "2001:db8:1:ff::1"): "within 2001:db8:1::/48",
        ("ipv4-addr", "203.0.113.9"): "exact 203.0.113.9",
        ("file:hashes.MD5", "d41d8cd98f00b204e9800998ecf8427e"): "exact d41d8cd98f00b204e9800998ecf8427e",
    }


def test_paging_skips_hidden_alerts_across_reads(world: World) -> None:
    """Pages of visible alerts only, however the hidden ones fall across the reads of ``batch``."""
    world.rule("watchlist", values=("pages.example",))
    ids = world.add("cert-b", *[indicator(f"[domain-name:value = 'p{i}.pages.example']") for i in range(9)])
    assert world.run() == 9
    for hidden in (ids[8], ids[7], ids[5], ids[2], ids[1], ids[0]):
        world.store.set_state(world.store.version_facts(hidden), State.RETRACTED, actor="test")
    viewer = Viewer.of(world.store.add_user("ann", org="cert-a", role="reader"))
    vis = visibility(world.store, viewer, world.clock())
    for limit in (1, 2, 3):
        pages, before = [], None
        while True:
            page = alert_page(world.store, vis, world.pk["cert-a"], limit=limit, before=before, channel="rest",
                              batch=1)
            pages.append([v.alert.stix_id for v in page.alerts])
            if page.next is None:
                break
            before = page.next
        visible = [ids[6], ids[4], ids[3]]
        assert pages == [visible[i:i + limit] for i in range(0, len(visible), limit)], limit


def _lower_the_ceiling(world: World) -> None:
    """cert-a and cert-b's AMBER agreement ends and a GREEN one follows: a GREEN object of cert-b
    stays visible to cert-a, its AMBER parts (granular markings) no longer are."""
    world.store.change_agreement("a-cert-b", action="end", actor="test")
    world.store.add_agreement("a-cert-b-green", parties=["cert-a", "cert-b"], max_tlp="green", onward=False,
                              valid_from=None, valid_until=None, actor="test")


def _amber_pattern(pattern: str) -> dict[str, object]:
    """A GREEN indicator whose pattern (the value that matches) is AMBER."""
    return indicator(pattern, marking=TLP2_GREEN, name="partly amber",
                     granular_markings=[{"marking_ref": TLP2_AMBER, "selectors": ["pattern"]}])


def test_matched_values_no_longer_visible_are_not_listed(world: World) -> None:
    """Review finding: an alert's stored ``matched`` holds values of the object as the organisation
    received it when the rule fired. After the ceiling drops, a value the organisation may no
    longer see must not be listed: an alert whose every match is now hidden is not listed at all."""
    world.rule("watchlist", values=("ceiling.example",))
    world.rule("own-indicators")
    world.add("cert-a", indicator("[domain-name:value = 'ours.ceiling.example']"))
    world.add("cert-b", _amber_pattern("[domain-name:value = 'ours.ceiling.example']"))
    assert world.run() == 2
    viewer = Viewer.of(world.store.add_user("ann", org="cert-a", role="reader"))

    def listed() -> list[dict[str, object]]:
        vis = visibility(world.store, viewer, world.clock())
        return [v.matched for v in visible_alerts(world.store, vis, world.pk["cert-a"], limit=10, channel="rest")]

    assert len(listed()) == 2
    _lower_the_ceiling(world)
    assert world.store.listed_versions(
        [a.version_pk for a in world.store.alerts(world.pk["cert-a"], limit=10)],
        visibility(world.store, viewer, world.clock()).predicate()), "the object itself is still visible"
    assert listed() == []


def test_still_matched_keeps_what_the_body_still_carries() -> None:
    body = indicator("[domain-name:value = 'a.example'] OR [ipv4-addr:value = '198.51.100.7']")
    a = {"value": "a.example", "observable": ["domain-name", "a.example"], "relation": "exact"}
    b = {"value": "b.example", "observable": ["domain-name", "x.b.example"], "relation": "parent"}
    assert still_matched({"values": [a, b]}, body) == {"values": [a]}
    assert still_matched({"values": [b]}, body) is None
    shared = {"observable": ["ipv4-addr", "198.51.100.7"], "own": ["indicator--1"]}
    assert still_matched({"shared": [shared]}, body) == {"shared": [shared]}
    assert still_matched({"shared": [shared]}, {**body, "pattern": "[domain-name:value = 'a.example']"}) is None
    seen = sighting("indicator--1")
    fired = {"sighting_of_ref": "indicator--1", "sighting_type": "seen", "sighted_by": "cert-b", "from": "cert-a"}
    assert still_matched(fired, seen) == fired
    assert still_matched(fired, {k: v for k, v in seen.items() if k != "sighting_of_ref"}) is None
    assert still_matched({"something": "else"}, body) is None


def test_acknowledging(world: World) -> None:
    """An analyst or above of the alert's organisation acknowledges it; a reader may not (whatever
    the id); an alert of another organisation, or one no longer visible, is as one nobody has."""
    world.rule("watchlist", values=("ack.example",))
    first, second = world.add("cert-b", indicator("[domain-name:value = 'one.ack.example']"),
                              indicator("[domain-name:value = 'two.ack.example']"))
    assert world.run() == 2
    users = {name: Viewer.of(world.store.add_user(name, org=org, role=role)) for name, org, role in (
        ("rita", "cert-a", "reader"), ("ann", "cert-a", "analyst"), ("bea", "cert-b", "org-admin"))}

    def vis(name: str) -> Visibility:
        return visibility(world.store, users[name], world.clock())

    newer, older = world.store.alerts(world.pk["cert-a"], limit=10)
    with pytest.raises(ReleaseError, match="acknowledging an alert needs the analyst role"):
        acknowledge(world.store, vis("rita"), older.uid, channel="rest")
    with pytest.raises(ReleaseError):
        acknowledge(world.store, vis("rita"), "no-such-alert", channel="rest")
    for name, uid in (("bea", older.uid), ("ann", "no-such-alert"), ("ann", "x" * 1000), ("ann", "a\x00b")):
        with pytest.raises(NotFoundError):
            acknowledge(world.store, vis(name), uid, channel="rest")
    done = acknowledge(world.store, vis("ann"), older.uid, channel="rest")
    assert done.alert.acknowledged_by == "ann" and done.alert.stix_id == first
    assert alert_json(done)["acknowledged"]["by"] == "ann"
    ids = {flag: [v.alert.uid for v in visible_alerts(world.store, vis("rita"), world.pk["cert-a"], limit=10,
                                                      acknowledged=flag, channel="rest")]
           for flag in (None, True, False)}
    assert ids == {None: [newer.uid, older.uid], True: [older.uid], False: [newer.uid]}
    # No longer visible: as absent, and nothing recorded.
    world.store.set_state(world.store.version_facts(second), State.RETRACTED, actor="test")
    with pytest.raises(NotFoundError):
        acknowledge(world.store, vis("ann"), newer.uid, channel="rest")
    assert world.store.get_alert(newer.uid).acknowledged is None
    # The node operator (the CLI without --as) acknowledges any organisation's alert it can find.
    operator = visibility(world.store, Viewer.operator(), world.clock())
    assert acknowledge(world.store, operator, newer.uid, channel="cli").alert.acknowledged_by == OPERATOR
    assert [e.actor for e in world.store.audit_records(action="alert.ack")] == ["ann", OPERATOR]
