"""Decay: how much an indicator is still worth acting on, 0 to 100 (issue 9, early warning).

An indicator's score falls with age and with false-positive reports, and a fresh sighting resets
its age. docs/early-warning.md ("Decay") writes the formula out; in short:

    score = base x (1 - min(1, age / lifetime) ^ (1 / speed)) x penalty ^ (organisations reporting a false positive)

* ``base``: the indicator's ``confidence``, or 50 when it has none (STIX: unspecified);
* ``age``: now minus the later of the indicator's ``valid_from`` (else ``created``) and the newest
  time of a ``seen`` sighting (its ``last_seen``, else ``first_seen``);
* ``lifetime``: by the kind of value the pattern names, the shortest when it names several
  (IP addresses go stale in weeks, file hashes in a year), configurable (``decay_lifetimes``);
* 0 outright when the indicator is revoked, its ``valid_until`` has passed, or a sighting says
  it has expired.

What a reader is told depends only on what that reader may be told: :func:`score` is pure, and
its callers here give it the indicator as the reader receives it and the sightings
``services.sightings.summarise`` lets the reader see (``.shown``). A sighting hidden by the gate
or below the ``sighting_min_count`` threshold moves nobody's score but its owner's, so a score
can never reveal that it exists. :func:`scores` and :func:`at_least` read those sightings in one
batch per many indicators (an export does not make one query per object).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from accord.errors import ConfigError
from accord.policy.gate import Visibility
from accord.services.sightings import EXPIRED, FALSE_POSITIVE, SEEN, SightingSeen, sightings_of, summarise
from accord.stix.observables import observables_of
from accord.stix.timestamps import parse_to_micros
from accord.storage.base import Store

DAY = 86_400 * 1_000_000  # microseconds
DEFAULT = "default"
# Lifetimes in days by the SCO type of the values an indicator's pattern names (the part of the
# observable index type before ":", stix/observables.py). Addresses are re-assigned and
# cleaned within weeks; domains and URLs live for months; a file hash names the same bytes for
# ever, but malware is rebuilt, so a year.
DEFAULT_LIFETIMES: Mapping[str, int] = {
    "ipv4-addr": 30, "ipv6-addr": 30, "domain-name": 90, "url": 90, "email-addr": 180, "file": 365,
    "artifact": 365, "x509-certificate": 365, DEFAULT: 180}
# Every SCO type the observable index holds values of: what a lifetime may be set for.
LIFETIME_TYPES = ("ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "mac-addr", "autonomous-system",
                  "mutex", "windows-registry-key", "user-account", "file", "artifact", "x509-certificate", DEFAULT)
DEFAULT_BASE = 50  # an indicator without a confidence: STIX says unspecified, the middle of the scale
SPEED = 1.0  # 1: a straight line from base to 0; above 1 falls fast at first, below 1 holds then falls
FALSE_POSITIVE_FACTOR = 0.5  # each organisation reporting a false positive halves the score
BATCH = 1_000  # bodies an export filter holds while it reads their sightings in one go


@dataclass(frozen=True)
class DecayModel:
    """The constants of the formula; only the lifetimes are a setting (``decay_lifetimes``)."""

    lifetimes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIFETIMES))
    default_base: int = DEFAULT_BASE
    speed: float = SPEED
    false_positive_factor: float = FALSE_POSITIVE_FACTOR

    def lifetime(self, indicator: Mapping[str, Any]) -> tuple[str, int]:
        """(type, days): the shortest lifetime among the kinds of value the pattern names (the most
        volatile part goes stale first); the default for a pattern naming none Accord indexes."""
        kinds = {index_type.partition(":")[0] for index_type, _ in observables_of(indicator)}
        found = [(self.lifetimes.get(k, self.lifetimes[DEFAULT]), k) for k in sorted(kinds)]
        if not found:
            return DEFAULT, self.lifetimes[DEFAULT]
        days, kind = min(found)
        return kind, days


def model_from_setting(text: str) -> DecayModel:
    """The model with the ``decay_lifetimes`` setting (TYPE=DAYS,..., checked for shape by
    settings.py) over the built-in table; ConfigError naming the setting for a type or a number
    that cannot be used."""
    lifetimes = dict(DEFAULT_LIFETIMES)
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, days = (x.strip() for x in part.partition("="))
        if kind not in LIFETIME_TYPES:
            raise ConfigError(f"setting decay_lifetimes (ACCORD_DECAY_LIFETIMES): {kind!r} is not a type Accord "
                              f"indexes; use one of {', '.join(LIFETIME_TYPES)}")
        if not days.isdigit() or int(days) <= 0:
            raise ConfigError(f"setting decay_lifetimes (ACCORD_DECAY_LIFETIMES): {part!r}: "
                              "a lifetime is a positive number of days")
        lifetimes[kind] = int(days)
    return DecayModel(lifetimes)


@dataclass(frozen=True)
class Score:
    """A score and what it was made of, for a person asking "why this number?"."""

    value: int  # 0..100
    base: int
    lifetime_type: str
    lifetime_days: int
    age_days: float | None  # None: scored 0 before its age mattered
    false_positive_orgs: int
    zero_because: str | None = None  # revoked, valid_until passed, expired sighting, no time known

    def explain(self) -> str:
        if self.zero_because is not None:
            return f"0: {self.zero_because}"
        text = (f"confidence {self.base}, {self.age_days:.0f} of {self.lifetime_days} days "
                f"({self.lifetime_type} lifetime)")
        if self.false_positive_orgs:
            text += f", false positive reported by {self.false_positive_orgs} organisation(s)"
        return text


def _micros(value: object) -> int | None:
    return parse_to_micros(value) if isinstance(value, str) else None


def _base(indicator: Mapping[str, Any], model: DecayModel) -> int:
    confidence = indicator.get("confidence")
    if isinstance(confidence, int) and not isinstance(confidence, bool) and 0 <= confidence <= 100:
        return confidence
    return model.default_base


def explain(indicator: Mapping[str, Any], sightings: Iterable[SightingSeen], now: int,
            model: DecayModel | None = None) -> Score | None:
    """The score of ``indicator`` at ``now`` (microseconds) given ``sightings``, with its parts;
    None for anything but an indicator.

    ``indicator`` must be the body as the reader receives it and ``sightings`` only those the
    reader may be told of (``summarise(...).shown``): nothing else may move the number."""
    if indicator.get("type") != "indicator":
        return None
    model = model or DecayModel()
    kind, days = model.lifetime(indicator)
    base = _base(indicator, model)
    shown = list(sightings)
    # A seen or false-positive sighting of count 0 (looked, did not see it) says nothing either
    # way; "expired" is a statement about the indicator, whatever its count.
    counted = [s for s in shown if s.count > 0]
    fp_orgs = len({s.owner for s in counted if s.kind == FALSE_POSITIVE})

    def zero(why: str) -> Score:
        return Score(0, base, kind, days, None, fp_orgs, why)

    if indicator.get("revoked") is True:
        return zero("revoked")
    until = _micros(indicator.get("valid_until"))
    if until is not None and until <= now:
        return zero("valid_until has passed")
    if any(s.kind == EXPIRED for s in shown):
        return zero("a sighting reports it expired")
    # A time in the future (a clock ahead, a claim, a valid_from to come) counts as now: never
    # younger than new.
    times = [min(t, now) for s in counted if s.kind == SEEN and (t := _micros(s.last_seen or s.first_seen)) is not None]
    start = _micros(indicator.get("valid_from"))
    start = start if start is not None else _micros(indicator.get("created"))
    if start is not None:
        times.append(min(start, now))
    if not times:
        return zero("no time known to age it from")
    age = now - max(times)
    fraction = min(1.0, age / (days * DAY))
    value = base * (1.0 - fraction ** (1.0 / model.speed)) * model.false_positive_factor ** fp_orgs
    return Score(max(0, min(100, round(value))), base, kind, days, age / DAY, fp_orgs)


def score(indicator: Mapping[str, Any], sightings: Iterable[SightingSeen], now: int,
          model: DecayModel | None = None) -> int | None:
    """0..100 for an indicator (see :func:`explain`), None for any other object."""
    found = explain(indicator, sightings, now, model)
    return None if found is None else found.value


# -- through the gate --------------------------------------------------------------------------
def _shown(store: Store, vis: Visibility, stix_ids: list[str], min_count: int,
           channel: str) -> dict[str, tuple[SightingSeen, ...]]:
    """The sightings of each object the reader may be told of, one batch for all of them.

    The node operator (``vis.sees_everything``) may be told of every sighting: the threshold
    keeps organisations from learning about each other, and the operator holds the database."""
    if not stix_ids:
        return {}
    found = sightings_of(store, vis, stix_ids, channel=channel)
    threshold = 1 if vis.sees_everything else min_count
    return {stix_id: summarise(found.get(stix_id, ()), threshold).shown for stix_id in stix_ids}


def explain_all(store: Store, vis: Visibility, objects: Sequence[Mapping[str, Any]], *, now: int,
                model: DecayModel, min_count: int, channel: str) -> list[Score | None]:
    """The score of each of ``objects`` (bodies as ``vis``'s reader receives them) for that
    reader: None for non-indicators. Their sightings are read (and disclosed on ``channel``) in
    one batch."""
    ids = sorted({str(o["id"]) for o in objects if o.get("type") == "indicator" and isinstance(o.get("id"), str)})
    shown = _shown(store, vis, ids, min_count, channel)
    return [explain(o, shown.get(str(o.get("id")), ()), now, model) for o in objects]


def scores(store: Store, vis: Visibility, objects: Sequence[Mapping[str, Any]], *, now: int,
           model: DecayModel, min_count: int, channel: str) -> list[int | None]:
    """:func:`explain_all`, the numbers only."""
    return [None if s is None else s.value
            for s in explain_all(store, vis, objects, now=now, model=model, min_count=min_count, channel=channel)]


@dataclass(frozen=True)
class Scoring:
    """What scoring needs besides the reader, for a service that scores what it lists (lookup)."""

    model: DecayModel
    min_count: int  # settings.py: sighting_min_count
    now: int

    def scores(self, store: Store, vis: Visibility, objects: Sequence[Mapping[str, Any]], *,
               channel: str) -> list[int | None]:
        return scores(store, vis, objects, now=self.now, model=self.model, min_count=self.min_count, channel=channel)


def at_least(store: Store, vis: Visibility, bodies: Iterable[bytes], min_score: int, *, now: int,
             model: DecayModel, min_count: int, channel: str, batch: int = BATCH) -> Iterator[bytes]:
    """``bodies`` (as ``vis``'s reader receives them, in order) without the indicators scoring
    below ``min_score`` for that reader; every other object passes unchanged. Streams: at most
    ``batch`` bodies are held while their sightings are read in one go."""
    held: list[bytes] = []
    for body in bodies:
        held.append(body)
        if len(held) >= batch:
            yield from _kept(store, vis, held, min_score, now=now, model=model, min_count=min_count, channel=channel)
            held = []
    if held:
        yield from _kept(store, vis, held, min_score, now=now, model=model, min_count=min_count, channel=channel)


def _kept(store: Store, vis: Visibility, held: list[bytes], min_score: int, *, now: int, model: DecayModel,
          min_count: int, channel: str) -> Iterator[bytes]:
    # Only a body that could be an indicator is parsed: the rest of an export passes as bytes.
    parsed: dict[int, dict[str, Any]] = {}
    for i, body in enumerate(held):
        if b"indicator" in body:
            obj = orjson.loads(body)
            if isinstance(obj, dict) and obj.get("type") == "indicator":
                parsed[i] = obj
    found = scores(store, vis, list(parsed.values()), now=now, model=model, min_count=min_count, channel=channel)
    score_at = dict(zip(parsed, found, strict=True))
    for i, body in enumerate(held):
        value = score_at.get(i)
        if value is None or value >= min_score:
            yield body
