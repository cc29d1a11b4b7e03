"""Alerts: evaluating organisations' rules (services/alert_rules.py) over what was added
(services/alert_views.py lists them to the organisation's members).

Evaluation walks one node-wide cursor over ``date_added`` (storage/alerts.py), a window of
memberships at a time, away from the ingest path: `accord serve` runs it in a background thread
(services/alert_runner.py), `accord alert run` once. For each window and each organisation with
rules, the versions come out of the store through that organisation's own visibility predicate
(``policy.gate.org_visibility``): a rule can only ever fire on what its organisation may see, so
a RED object of another organisation, a draft, a version outside every agreement or a sighting
the organisation may not see never fires, and never shows in what fired. Values are matched on
the body *as the organisation receives it* (granular markings applied, services/disclose.py's
``Received``), so a value under a granular marking the organisation may not see matches nothing.

What fires is disclosed like any read (``disclosure``: the gate's cross-check, redaction, a
receipt, channel ``alert``), and the receipts, the alerts, their webhook payloads and the moved
cursor are committed in one transaction: after a crash the window is evaluated again, and a
version fires a rule at most once (a unique key, and a check before disclosing).
"""

from __future__ import annotations

import functools
import ipaddress
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from accord.policy.gate import Visibility, org_visibility
from accord.services.alert_rules import OWN_INDICATORS, SIGHTING, WATCHLIST
from accord.services.disclose import Received, disclosure
from accord.services.lookup import parent_domains
from accord.services.sightings import sighting_kind
from accord.stix.observables import lookup_pairs, observables_of
from accord.stix.timestamps import format_micros
from accord.storage.base import (
    AlertRule,
    AuditEvent,
    ListedVersion,
    NewAlert,
    Organisation,
    Store,
)

WINDOW = 500  # memberships evaluated per transaction
MAX_WINDOWS = 200  # per pass; the next pass continues
OWN_PER_VALUE = 3  # own objects named per shared value
_IPS = ("ipv4-addr", "ipv6-addr")
Pair = tuple[str, str]


@dataclass
class Match:
    """One rule firing on one version, before it is disclosed."""

    rule: AlertRule
    row: ListedVersion
    matched: dict[str, Any]
    related: list[ListedVersion] = field(default_factory=list)


class Watchlist:
    """A watchlist's values as index keys: exact pairs, and the networks an address may lie in
    (by prefix length, so an address is checked once per length listed, however many networks)."""

    def __init__(self, values: Iterable[str]):
        self.exact: dict[Pair, str] = {}
        self.networks: dict[tuple[int, int], dict[int, str]] = {}  # (IP version, length) -> base -> value
        for value in values:
            for pair in lookup_pairs(value):
                self.exact.setdefault(pair, value)
                if pair[0] in _IPS and "/" in pair[1]:
                    net = ipaddress.ip_network(pair[1])
                    self.networks.setdefault((net.version, net.prefixlen), {}).setdefault(
                        int(net.network_address), value)

    def _network_holding(self, value: str) -> str | None:
        inside = ipaddress.ip_network(value, strict=False)
        bits = inside.max_prefixlen
        for (version, length), bases in self.networks.items():
            if version == inside.version and length <= inside.prefixlen:
                base = int(inside.network_address) & ~((1 << (bits - length)) - 1)
                listed = bases.get(base)
                if listed is not None:
                    return listed
        return None

    def matches(self, pairs: Iterable[Pair]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for index_type, value in pairs:
            listed = self.exact.get((index_type, value))
            relation = "exact"
            if listed is None and index_type == "domain-name":
                listed = next((self.exact[index_type, p] for p in parent_domains(value)
                               if (index_type, p) in self.exact), None)
                relation = "parent"
            elif listed is None and index_type in _IPS and self.networks:
                listed = self._network_holding(value)
                relation = "within"
            if listed is not None:
                found.append({"value": listed, "observable": [index_type, value], "relation": relation})
        return found


class _OrgWindow:
    """One organisation's view of one window: the versions it may see, as it receives them."""

    def __init__(self, store: Store, vis: Visibility, rows: list[ListedVersion], orgs: dict[int, Organisation]):
        self.store, self.vis, self.rows, self.orgs = store, vis, rows, orgs
        self.received = Received(store, vis)
        self._pairs: dict[int, list[Pair]] = {}
        self._targets: dict[str, list[ListedVersion]] = {}

    def pairs(self, row: ListedVersion) -> list[Pair]:
        found = self._pairs.get(row.pk)
        if found is None:
            found = self._pairs[row.pk] = observables_of(self.received.parsed(row))
        return found

    def target(self, stix_id: str) -> list[ListedVersion]:
        """The visible versions of a sighted object, newest first."""
        found = self._targets.get(stix_id)
        if found is None:
            found = self._targets[stix_id] = sorted(self.store.object_versions(stix_id, self.vis.predicate()),
                                                    key=lambda r: r.pk, reverse=True)
        return found


def _from_partner(rule: AlertRule, row: ListedVersion) -> bool:
    if rule.partner_org is not None:
        return rule.partner_org in (row.owner_org, row.origin_org)
    return row.owner_org != rule.org_pk


def _sightings(rule: AlertRule, view: _OrgWindow, rows: list[ListedVersion]) -> list[Match]:
    out = []
    for row in rows:
        owner = view.orgs.get(row.owner_org)
        # Sighted *here*: by a member organisation of this node, not relayed from a partner's node.
        if row.type != "sighting" or owner is None or owner.kind != "local" or row.origin_org is not None:
            continue
        body = view.received.parsed(row)
        kind = sighting_kind(body)
        target = body.get("sighting_of_ref")  # as received: a granular marking may have hidden it
        if kind not in rule.sighting_types or not isinstance(target, str):
            continue
        sighted = next((t for t in view.target(target) if _from_partner(rule, t)), None)
        if sighted is None:
            continue
        partner = view.orgs.get(sighted.origin_org or sighted.owner_org)
        out.append(Match(rule, row, {"sighting_of_ref": target, "sighting_type": kind, "sighted_by": owner.name,
                                     "from": partner.name if partner else None}, [sighted]))
    return out


@functools.lru_cache(maxsize=64)
def _compiled(values: tuple[str, ...]) -> Watchlist:
    """A rule's watchlist, compiled once (rules do not change; 10,000 values take ~0.1 s)."""
    return Watchlist(values)


def _watchlist(rule: AlertRule, view: _OrgWindow, rows: list[ListedVersion]) -> list[Match]:
    watch = _compiled(rule.values)
    out = []
    for row in rows:
        if row.owner_org == rule.org_pk:
            continue
        hits = watch.matches(view.pairs(row))
        if hits:
            out.append(Match(rule, row, {"values": hits}))
    return out


def _own_indicators(rule: AlertRule, view: _OrgWindow, rows: list[ListedVersion]) -> list[Match]:
    others = [r for r in rows if r.owner_org != rule.org_pk and view.pairs(r)]
    keys = list(dict.fromkeys(p for r in others for p in view.pairs(r)))
    # The organisation's own objects (drafts too: its own work), never retracted ones; one more
    # than named, since the object itself may be among them (another organisation's copy of it).
    held = view.store.owned_observables(keys, rule.org_pk, per_key=OWN_PER_VALUE + 1) if keys else {}
    out = []
    for row in others:
        shared = [{"observable": [t, v], "own": ids[:OWN_PER_VALUE]} for t, v in view.pairs(row)
                  if (ids := [i for i in held.get((t, v), ()) if i != row.stix_id])]
        if shared:
            out.append(Match(rule, row, {"shared": shared}))
    return out


_MATCHERS: dict[str, Callable[[AlertRule, _OrgWindow, list[ListedVersion]], list[Match]]] = {
    SIGHTING: _sightings, WATCHLIST: _watchlist, OWN_INDICATORS: _own_indicators}


@dataclass
class EvaluationReport:
    windows: int = 0
    alerts: int = 0
    position: int = 0
    contended: bool = False  # another run moved the cursor first; this one stopped


def _payload(uid: str, rule: AlertRule, now: int, matched: dict[str, Any], obj: dict[str, Any],
             row: ListedVersion, view: _OrgWindow, related: list[dict[str, Any]]) -> bytes:
    owner = view.orgs.get(row.owner_org)
    return orjson.dumps({
        "alert": {"id": uid, "rule": rule.name, "kind": rule.kind, "organisation": rule.org_name,
                  "created": format_micros(now), "matched": matched},
        "object": obj, "owner": owner.name if owner else None, "tlp": view.vis.level(row, row.collection_pk),
        "related": related})


def _org_window(store: Store, org_pk: int, rules: list[AlertRule], after: int, upto: int, now: int,
                orgs: dict[int, Organisation]) -> tuple[list[NewAlert], list[AuditEvent]]:
    vis = org_visibility(store, org_pk, now)
    start = max(after, min(r.since for r in rules))
    view = _OrgWindow(store, vis, store.added_between(start, upto, vis.predicate()), orgs)
    matches = [m for rule in rules
               for m in _MATCHERS[rule.kind](rule, view, [r for r in view.rows if r.date_added > rule.since])]
    done = store.alerted([r.pk for r in rules], [m.row.pk for m in matches])
    matches = [m for m in matches if (m.rule.pk, m.row.pk) not in done]
    if not matches:
        return [], []
    unique = {m.row.pk: m.row for m in matches} | {r.pk: r for m in matches for r in m.related}
    shown, receipts = disclosure(store, vis, list(unique.values()), channel="alert")
    bodies = {d.row.pk: orjson.loads(d.body) for d in shown if d.body is not None}
    alerts = []
    for m in matches:
        if m.row.pk not in bodies or any(r.pk not in bodies for r in m.related):
            continue  # the gate's cross-check refused it (a bug, logged by disclosure): never sent
        uid = str(uuid.uuid4())
        payload = None if m.rule.webhook_url is None else _payload(
            uid, m.rule, now, m.matched, bodies[m.row.pk], m.row, view, [bodies[r.pk] for r in m.related])
        alerts.append(NewAlert(uid, m.rule.pk, org_pk, m.row.pk, m.row.stix_id, m.row.date_added,
                               orjson.dumps(m.matched), tuple(r.pk for r in m.related), payload))
    return alerts, receipts


def evaluate(store: Store, *, clock: Callable[[], int], window: int = WINDOW,
             max_windows: int = MAX_WINDOWS) -> EvaluationReport:
    """Evaluate every rule over what was added since the cursor, a window per transaction."""
    position = store.alert_position()
    report = EvaluationReport(position=position)
    every = store.alert_rules(deliveries=False)
    if not every:
        return report  # nothing to evaluate, nothing written: a rule made later starts at its creation
    # Memberships no rule counts (added before the oldest rule was made) need no reading.
    start = max(position, min(r.since for r in every))
    for _ in range(max_windows):
        upto = store.membership_window(start, window)
        if upto is None:
            break
        # Rules are read after the window's edge: a rule made later counts only memberships added
        # after its own creation (its ``since``), which are all past ``upto``.
        rules = [r for r in store.alert_rules(deliveries=False) if r.since < upto]
        now = clock()
        orgs = {o.pk: o for o in store.orgs()}
        alerts: list[NewAlert] = []
        receipts: list[AuditEvent] = []
        by_org: dict[int, list[AlertRule]] = {}
        for rule in rules:
            by_org.setdefault(rule.org_pk, []).append(rule)
        for org_pk, org_rules in by_org.items():
            found, seen = _org_window(store, org_pk, org_rules, start, upto, now, orgs)
            alerts.extend(found)
            receipts.extend(seen)
        if not store.record_alerts(position, upto, alerts, receipts):
            report.contended = True
            break
        report.windows += 1
        report.alerts += len(alerts)
        report.position = position = start = upto
    return report
