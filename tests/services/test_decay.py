"""Decay (accord/services/decay.py): the formula on worked examples, its properties on random
indicators and sightings, and the lifetimes setting."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import ConfigError
from accord.services.decay import (
    DAY,
    DEFAULT_BASE,
    LIFETIME_TYPES,
    DecayModel,
    explain,
    model_from_setting,
    score,
)
from accord.services.sightings import EXPIRED, FALSE_POSITIVE, KINDS, SEEN, SightingSeen
from accord.settings import load_settings
from accord.stix.observables import _NORMALISERS
from accord.stix.timestamps import format_micros

T0 = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
PATTERNS = {
    "ipv4-addr": "[ipv4-addr:value = '203.0.113.9']",
    "domain-name": "[domain-name:value = 'c2.example.com']",
    "file": "[file:hashes.'SHA-256' = '" + "a" * 64 + "']",
    "mixed": "[ipv4-addr:value = '203.0.113.9'] OR [file:hashes.MD5 = '" + "b" * 32 + "']",
    "yara": "rule x { condition: true }",
}
IND = "indicator--00000000-0000-4000-8000-0000000000a1"
PROPERTIES = settings(max_examples=200, deadline=None, derandomize=True)


def indicator(kind: str = "ipv4-addr", **extra: Any) -> dict[str, Any]:
    t = format_micros(T0)
    body: dict[str, Any] = {"type": "indicator", "spec_version": "2.1", "id": IND, "created": t, "modified": t,
                            "valid_from": t, "pattern": PATTERNS[kind],
                            "pattern_type": "yara" if kind == "yara" else "stix"}
    body.update(extra)
    return body


def seen(at: int | None, *, kind: str = SEEN, owner: str = "beta", count: int = 1, n: int = 1) -> SightingSeen:
    when = None if at is None else format_micros(at)
    return SightingSeen(f"sighting--00000000-0000-4000-8000-{n:012d}", owner, "green", kind, count, when, when,
                        False, False)


# -- worked examples (docs/early-warning.md shows the same numbers) ------------------------------
def test_a_fresh_indicator_scores_its_confidence_or_the_default() -> None:
    assert score(indicator(confidence=80), [], T0) == 80
    assert score(indicator(), [], T0) == DEFAULT_BASE == 50
    assert score(indicator(confidence=True), [], T0) == 50  # not a number: as if absent
    assert score({"type": "malware", "id": "malware--x"}, [], T0) is None


def test_the_score_falls_in_a_straight_line_over_the_lifetime_of_its_type() -> None:
    ip, domain = indicator(confidence=80), indicator("domain-name", confidence=80)
    file = indicator("file", confidence=80)
    assert [score(ip, [], T0 + d * DAY) for d in (0, 15, 24, 30, 400)] == [80, 40, 16, 0, 0]
    assert score(domain, [], T0 + 45 * DAY) == 40
    assert score(file, [], T0 + 73 * DAY) == 64
    assert explain(indicator("mixed"), [], T0).lifetime_type == "ipv4-addr"  # type: ignore[union-attr]  # shortest
    assert explain(indicator("yara"), [], T0).lifetime_days == 180  # type: ignore[union-attr]  # default


def test_a_fresh_seen_sighting_resets_the_age() -> None:
    ip = indicator(confidence=80)
    assert score(ip, [seen(T0 + 20 * DAY)], T0 + 30 * DAY) == 53  # 10 of 30 days since it was last seen
    assert score(ip, [seen(T0 + 20 * DAY, count=0)], T0 + 30 * DAY) == 0  # count 0: looked, not seen
    assert score(ip, [seen(None)], T0 + 30 * DAY) == 0  # a sighting without a time cannot be fresh
    assert score(ip, [seen(T0 + 99 * DAY)], T0 + 30 * DAY) == 80  # a time ahead of the clock counts as now


def test_each_organisation_reporting_a_false_positive_halves_the_score() -> None:
    ip = indicator(confidence=80)
    fp = [seen(T0, kind=FALSE_POSITIVE, owner="beta", n=1), seen(T0, kind=FALSE_POSITIVE, owner="beta", n=2)]
    assert score(ip, fp, T0) == 40  # one organisation, however many reports
    assert score(ip, [*fp, seen(T0, kind=FALSE_POSITIVE, owner="gamma", n=3)], T0) == 20
    assert explain(ip, fp, T0).explain() == (  # type: ignore[union-attr]
        "confidence 80, 0 of 30 days (ipv4-addr lifetime), false positive reported by 1 organisation(s)")


@pytest.mark.parametrize(("extra", "sightings", "why"), [
    ({"revoked": True}, [], "revoked"),
    ({"valid_until": format_micros(T0 + DAY)}, [], "valid_until has passed"),
    ({}, [seen(T0, kind=EXPIRED, count=0)], "a sighting reports it expired"),
])
def test_revoked_past_valid_until_or_expired_is_zero(extra: dict[str, Any], sightings: list[SightingSeen],
                                                     why: str) -> None:
    found = explain(indicator(confidence=100, **extra), [*sightings, seen(T0 + 2 * DAY)], T0 + 2 * DAY)
    assert found is not None and (found.value, found.zero_because) == (0, why)
    assert found.explain() == f"0: {why}"


# -- properties ---------------------------------------------------------------------------------
_times = st.integers(min_value=T0 - 400 * DAY, max_value=T0 + 400 * DAY)
_sightings = st.lists(st.builds(
    seen, st.none() | _times, kind=st.sampled_from(KINDS), owner=st.sampled_from(["alpha", "beta", "gamma"]),
    count=st.integers(0, 3), n=st.integers(0, 99)), max_size=6)


@st.composite
def _indicators(draw: st.DrawFn) -> dict[str, Any]:
    extra: dict[str, Any] = {"valid_from": format_micros(draw(_times))}
    if draw(st.booleans()):
        extra["confidence"] = draw(st.integers(0, 100))
    if draw(st.integers(0, 5)) == 0:
        extra["valid_until"] = format_micros(draw(_times))
    if draw(st.integers(0, 9)) == 0:
        extra["revoked"] = True
    return indicator(draw(st.sampled_from(sorted(PATTERNS))), **extra)


_models = st.builds(DecayModel, default_base=st.integers(0, 100), speed=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
                    false_positive_factor=st.sampled_from([0.0, 0.25, 0.5, 0.9]))


@PROPERTIES
@given(_indicators(), _sightings, _times, _models)
def test_always_within_0_and_100_and_deterministic(ind: dict[str, Any], sightings: list[SightingSeen], now: int,
                                                   model: DecayModel) -> None:
    value = score(ind, sightings, now, model)
    assert value is not None and 0 <= value <= 100
    assert value == score(ind, list(reversed(sightings)), now, model)


@PROPERTIES
@given(_indicators(), _sightings, _times, st.integers(0, 800 * DAY), _models)
def test_older_never_scores_higher(ind: dict[str, Any], sightings: list[SightingSeen], now: int, later: int,
                                   model: DecayModel) -> None:
    assert score(ind, sightings, now + later, model) <= score(ind, sightings, now, model)  # type: ignore[operator]


@PROPERTIES
@given(_indicators(), _sightings, _times, st.none() | _times, st.integers(0, 3), _models)
def test_a_seen_sighting_never_lowers(ind: dict[str, Any], sightings: list[SightingSeen], now: int,
                                      at: int | None, count: int, model: DecayModel) -> None:
    more = [*sightings, seen(at, owner="gamma", count=count, n=500)]
    assert score(ind, more, now, model) >= score(ind, sightings, now, model)  # type: ignore[operator]


@PROPERTIES
@given(_indicators(), _sightings, _times, st.none() | _times, st.sampled_from([FALSE_POSITIVE, EXPIRED]),
       st.sampled_from(["alpha", "delta"]), _models)
def test_a_false_positive_or_expiry_never_raises(ind: dict[str, Any], sightings: list[SightingSeen], now: int,
                                                 at: int | None, kind: str, owner: str, model: DecayModel) -> None:
    more = [*sightings, seen(at, kind=kind, owner=owner, n=600)]
    assert score(ind, more, now, model) <= score(ind, sightings, now, model)  # type: ignore[operator]


@PROPERTIES
@given(_indicators(), _sightings, _times)
def test_more_confidence_never_scores_lower(ind: dict[str, Any], sightings: list[SightingSeen], now: int) -> None:
    low, high = dict(ind, confidence=30), dict(ind, confidence=90)
    assert score(low, sightings, now) <= score(high, sightings, now)  # type: ignore[operator]


# -- lifetimes ----------------------------------------------------------------------------------
def test_every_indexed_type_may_have_a_lifetime() -> None:
    indexed = {t.partition(":")[0] for t in _NORMALISERS} | {"file", "artifact", "x509-certificate"}
    assert indexed | {"default"} == set(LIFETIME_TYPES)


def test_the_lifetimes_setting_overrides_the_table_and_names_what_is_wrong() -> None:
    settings_ = load_settings(env={"ACCORD_DECAY_LIFETIMES": "ipv4-addr=10, default=20"})
    assert settings_.decay_lifetimes == "ipv4-addr=10,default=20"  # text: it travels to workers as it is
    model = model_from_setting(settings_.decay_lifetimes)
    assert (model.lifetimes["ipv4-addr"], model.lifetimes["default"], model.lifetimes["file"]) == (10, 20, 365)
    assert score(indicator(confidence=100), [], T0 + 5 * DAY, model) == 50
    with pytest.raises(ConfigError, match=r"decay_lifetimes.*'bad': write TYPE=DAYS"):
        load_settings(env={"ACCORD_DECAY_LIFETIMES": "ipv4=30,bad"})
    with pytest.raises(ConfigError, match=r"decay_lifetimes.*ipv4-addr=0"):
        load_settings(env={"ACCORD_DECAY_LIFETIMES": "ipv4-addr=0"})
    with pytest.raises(ConfigError, match="'ipv4' is not a type Accord indexes"):
        model_from_setting("ipv4=30")
    with pytest.raises(ConfigError, match="a lifetime is a positive number of days"):
        model_from_setting("file=x")
