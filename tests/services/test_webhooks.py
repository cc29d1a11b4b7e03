"""Webhook delivery (services/webhooks.py) against a real HTTP server on a loopback port: the
signature, the payload as the organisation receives it, retries after a 500 with backoff, giving
up, withholding what is no longer the organisation's to see, and the SSRF refusals."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson
import pytest

from accord.errors import RequestError
from accord.services.alert_rules import RuleRequest, add_rule
from accord.services.webhooks import (
    ALERT_HEADER,
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    TargetRefused,
    check_target,
    deliver_due,
)
from accord.stix.markings import TLP2_AMBER, TLP2_GREEN, TLP2_RED
from accord.storage.base import Store
from tests.conftest import StepClock
from tests.services.alerting import Receiver, World, indicator, make_world, receiving

HOUR = 3600 * 1_000_000


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def world(backend_store: Store, clock: StepClock, tmp_path: Path) -> World:
    return make_world(backend_store, clock, tmp_path)


@pytest.fixture
def sqlite_world(sqlite_store: Store, clock: StepClock, tmp_path: Path) -> World:
    """Delivery's storage (claims, outcomes) runs on both backends in the first test; the rest is HTTP."""
    return make_world(sqlite_store, clock, tmp_path)


def _state(world: World) -> tuple[str | None, int, str | None]:
    (alert,) = world.store.alerts(None, limit=10)
    return alert.delivery, alert.attempts, alert.last_error


def test_signed_delivery_retried_after_a_500(world: World, receiver: Receiver) -> None:
    _, secret = world.rule_and_secret("watchlist", values=("hook.example",), webhook=receiver.url)
    assert secret is not None and len(secret) >= 40
    (sid,) = world.add("cert-b", indicator("[domain-name:value = 'hook.example']", description="for cert-b only",
                                           granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["description"]}]))
    assert world.run() == 1
    receiver.statuses = [500]
    now = world.clock()
    report = deliver_due(world.store, world.box, now=now, allow_private=True)
    assert (report.delivered, report.retrying) == (0, 1)
    assert _state(world) == ("pending", 1, "the webhook answered HTTP 500")
    assert deliver_due(world.store, world.box, now=now + 1_000_000, allow_private=True).retrying == 0  # backing off
    report = deliver_due(world.store, world.box, now=now + 31_000_000, allow_private=True)
    assert report.delivered == 1
    assert _state(world)[:2] == ("delivered", 2)
    assert len(receiver.requests) == 2
    (h1, b1), (h2, b2) = receiver.requests
    assert b1 == b2 and h1[SIGNATURE_HEADER.lower()] == h2[SIGNATURE_HEADER.lower()]
    # What a receiver does to verify (docs/early-warning.md): HMAC-SHA256 of the raw body.
    expected = "sha256=" + hmac.new(secret.encode(), b1, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h1[SIGNATURE_HEADER.lower()], expected)
    payload = orjson.loads(b1)
    (alert,) = world.store.alerts(None, limit=1)
    assert h1[ALERT_HEADER.lower()] == alert.uid == payload["alert"]["id"]
    assert payload["alert"]["rule"] == "watchlist" and payload["alert"]["organisation"] == "cert-a"
    assert payload["object"]["id"] == sid and payload["owner"] == "cert-b" and payload["tlp"] == "amber"
    # The body as cert-a receives it: the RED description (and its granular marking) are not in it.
    assert "description" not in payload["object"] and b"for cert-b only" not in b1
    assert "granular_markings" not in payload["object"]
    assert h1["content-type"] == "application/json"
    assert deliver_due(world.store, world.box, now=now + HOUR, allow_private=True).delivered == 0  # once


def test_gives_up_after_the_last_attempt(sqlite_world: World, receiver: Receiver) -> None:
    world = sqlite_world
    world.rule("watchlist", values=("down.example",), webhook=receiver.url)
    world.add("cert-b", indicator("[domain-name:value = 'down.example']"))
    world.run()
    receiver.statuses = [302] + [500] * MAX_ATTEMPTS  # a redirect is not followed: a failure like any other
    now = world.clock()
    for attempt in range(MAX_ATTEMPTS):
        deliver_due(world.store, world.box, now=now + attempt * HOUR, allow_private=True)
    assert _state(world) == ("failed", MAX_ATTEMPTS, "the webhook answered HTTP 500")
    assert len(receiver.requests) == MAX_ATTEMPTS
    assert receiver.requests[0][0]["content-length"]
    rule = world.store.alert_rules()[0]
    assert rule.deliveries == {"failed": 1} and rule.last_error == "the webhook answered HTTP 500"


def test_withheld_when_no_longer_visible(sqlite_world: World, receiver: Receiver) -> None:
    world = sqlite_world
    world.rule("watchlist", values=("gone.example",), webhook=receiver.url)
    world.add("cert-b", indicator("[domain-name:value = 'gone.example']"))
    world.run()
    world.store.change_agreement("a-cert-b", action="suspend", actor="test")
    report = deliver_due(world.store, world.box, now=world.clock(), allow_private=True)
    assert report.withheld == 1 and receiver.requests == []
    assert _state(world)[0] == "withheld"


def test_a_name_is_pinned_to_the_address_checked(sqlite_world: World, receiver: Receiver) -> None:
    """The POST goes to the address the check resolved, with the URL's host in the Host header."""
    world = sqlite_world
    def resolver(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"] if host == "hooks.test" else []

    add_rule(world.store, world.box, RuleRequest(
        "cert-a", "pinned", "watchlist", values=("pin.example",), webhook=f"http://hooks.test:{receiver.port}/in?x=1"),
        actor="test", allow_private=True, resolver=resolver)
    world.add("cert-b", indicator("[domain-name:value = 'pin.example']"))
    world.run()
    deliver_due(world.store, world.box, now=world.clock(), allow_private=True, resolver=resolver)
    assert receiver.requests[0][0]["host"] == f"hooks.test:{receiver.port}"
    # Rebinding: the name now resolves to a loopback address, which this node may not post to.
    world.add("cert-b", indicator("[domain-name:value = 'pin.example']"))
    world.run()
    report = deliver_due(world.store, world.box, now=world.clock(), allow_private=False, resolver=resolver)
    assert report.retrying == 1 and len(receiver.requests) == 1
    assert "is a loopback" in (world.store.alerts(None, limit=1)[0].last_error or "")


def _public(host: str, port: int) -> Sequence[str]:
    return {"hooks.example": ["93.184.216.34"], "inside.example": ["93.184.216.34", "10.1.2.3"],
            "v6.example": ["2606:4700::6810:84e5"]}.get(host, [])


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:8080/x", "loopback"),
    ("http://[::1]/x", "loopback"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"),
    ("http://10.0.0.5/x", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://100.64.0.1/x", "non-public"),
    ("http://0.0.0.0/x", "not a unicast"),
    ("http://224.0.0.1/x", "not a unicast"),
    ("http://inside.example/x", "private"),  # one private address among public ones is enough
    ("http://[64:ff9b::a9fe:a9fe]/x", "link-local"),  # NAT64 around 169.254.169.254
    ("http://[64:ff9b::a00:1]/x", "private"),  # NAT64 around 10.0.0.1
    ("http://[2002:7f00:1::]/x", "loopback"),  # 6to4 around 127.0.0.1
    ("http://[::7f00:1]/x", "loopback"),  # IPv4-compatible 127.0.0.1
    ("http://nowhere.example/x", "resolves to no address"),
    ("ftp://hooks.example/x", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("https://user:pw@hooks.example/x", "user info"),
    ("https:///x", "names no host"),
    ("https://hooks.example:99999/x", "not a usable URL"),
    ("https://hooks.example/x#frag", "fragment"),
    ("https://hooks.example/a b", "without spaces"),
])
def test_ssrf_refusals(url: str, reason: str) -> None:
    with pytest.raises(TargetRefused) as err:
        check_target(url, allow_private=False, resolver=_public)
    assert reason in err.value.reason


def test_public_targets_and_the_private_setting() -> None:
    assert check_target("https://hooks.example/x", allow_private=False, resolver=_public).address == "93.184.216.34"
    assert check_target("https://v6.example:8443/x", allow_private=False, resolver=_public).pinned_url() == \
        "https://[2606:4700::6810:84e5]:8443/x"
    for url in ("http://127.0.0.1:8080/x", "http://10.0.0.5/x"):
        assert check_target(url, allow_private=True, resolver=_public).address
    # The setting opens private networks, not everything: never link-local (cloud metadata).
    for url in ("http://0.0.0.0/x", "http://[fe80::1]/x", "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(TargetRefused):
            check_target(url, allow_private=True, resolver=_public)


def test_a_refused_webhook_refuses_the_rule(sqlite_world: World) -> None:
    world = sqlite_world
    with pytest.raises(RequestError) as err:
        add_rule(world.store, world.box, RuleRequest("cert-a", "x", "own-indicators",
                                                     webhook="http://127.0.0.1:9/x"), actor="test",
                 allow_private=False)
    assert err.value.parameter == "webhook" and "alert_webhook_private_targets" in err.value.reason
    assert world.store.alert_rules() == []


def test_withheld_when_what_it_holds_is_no_longer_visible(world: World, receiver: Receiver) -> None:
    """Review finding: the payload is the object as the organisation received it when the rule
    fired. If the agreement's ceiling drops before the delivery, the object may stay visible while
    a part of it (here the AMBER pattern, the very value that matched) no longer is: the stored
    payload must not be sent."""
    world.rule("watchlist", values=("lowered.example",), webhook=receiver.url)
    world.add("cert-b", indicator("[domain-name:value = 'lowered.example']", marking=TLP2_GREEN,
                                  granular_markings=[{"marking_ref": TLP2_AMBER, "selectors": ["pattern"]}]))
    assert world.run() == 1
    world.store.change_agreement("a-cert-b", action="end", actor="test")
    world.store.add_agreement("a-cert-b-green", parties=["cert-a", "cert-b"], max_tlp="green", onward=False,
                              valid_from=None, valid_until=None, actor="test")
    report = deliver_due(world.store, world.box, now=world.clock(), allow_private=True)
    assert report.withheld == 1 and receiver.requests == []
    assert _state(world)[0] == "withheld"
