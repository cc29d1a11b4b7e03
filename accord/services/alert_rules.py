"""Alert rules: what an organisation asks to be told about (docs/early-warning.md, "Alerts").

Three kinds, each judged as the rule's organisation (services/alerts.py evaluates them):

* ``sighting``: a sighting stored here by a local organisation, of an object that organisation X
  (``partner``; without it, any other organisation) owns or passed on to this node;
* ``watchlist``: another organisation's object with an observable that is a listed value, a
  subdomain of a listed domain, or an address (or network) inside a listed network;
* ``own-indicators``: another organisation's object sharing an observable with one of the rule's
  organisation's own objects (correlation on ingest).

Who may add and remove rules is policy/administration.py's ``may_manage_alert_rules``; the
interfaces ask it before calling here. A webhook's secret is made here, shown once to the
creator, and stored sealed with the node key (services/secrets.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from accord.errors import NotFoundError, RequestError
from accord.policy.administration import NAME, NAME_RULE
from accord.services.secrets import SecretBox
from accord.services.sightings import KINDS as KINDS_OF_SIGHTING
from accord.services.sightings import SEEN
from accord.services.webhooks import Resolver, resolve, validate_webhook
from accord.stix.observables import lookup_pairs
from accord.storage.base import AlertRule, NewAlertRule, Store

SIGHTING, WATCHLIST, OWN_INDICATORS = "sighting", "watchlist", "own-indicators"
KINDS = (SIGHTING, WATCHLIST, OWN_INDICATORS)
# What a sighting reports (services/sightings.py). Only "seen" fires unless a rule asks for more:
# a false positive or an expiry is feedback, not something seen here.
SIGHTING_TYPES = KINDS_OF_SIGHTING
DEFAULT_SIGHTING_TYPES = (SEEN,)
MAX_VALUES = 10_000  # as a lookup
MAX_VALUE_LENGTH = 2_048
_NOT_A_VALUE = "not an IP address or network, domain, URL, e-mail address or hash"


@dataclass(frozen=True)
class RuleRequest:
    """A new rule as an interface received it (names, not keys)."""

    org: str
    name: str
    kind: str
    partner: str | None = None
    values: tuple[str, ...] = ()
    sighting_types: tuple[str, ...] = ()
    webhook: str | None = None


def _values(kind: str, values: Sequence[str]) -> tuple[str, ...]:
    if kind != WATCHLIST:
        if values:
            raise RequestError("values", f"only a {WATCHLIST} rule has values")
        return ()
    cleaned = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if not cleaned:
        raise RequestError("values", "a watchlist needs at least one value")
    if len(cleaned) > MAX_VALUES:
        raise RequestError("values", f"{len(cleaned)} values: at most {MAX_VALUES} in one watchlist")
    for value in cleaned:
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise RequestError("values", f"{value[:50]!r}...: longer than {MAX_VALUE_LENGTH} characters")
        if not lookup_pairs(value):
            raise RequestError("values", f"{value!r}: {_NOT_A_VALUE}")
    return tuple(cleaned)


def _sighting_types(kind: str, types: Sequence[str]) -> tuple[str, ...]:
    if kind != SIGHTING:
        if types:
            raise RequestError("sighting_types", f"only a {SIGHTING} rule has sighting types")
        return ()
    for t in types:
        if t not in SIGHTING_TYPES:
            raise RequestError("sighting_types", f"{t!r} is not a sighting type (use {', '.join(SIGHTING_TYPES)})")
    return tuple(dict.fromkeys(types)) or DEFAULT_SIGHTING_TYPES


def _partner(store: Store, kind: str, partner: str | None, org_pk: int) -> int | None:
    if partner is None:
        return None
    if kind != SIGHTING:
        raise RequestError("partner", f"only a {SIGHTING} rule names a partner")
    try:
        found = store.get_org(partner)
    except NotFoundError:
        found = None
    if found is not None and found.pk == org_pk:
        raise RequestError("partner", "the rule's own organisation is not a partner of itself")
    # Only an organisation the rule's organisation has an agreement with (the ones its members may
    # know, policy/administration.visible_orgs); any other name, existing or not, is refused alike,
    # so a rule cannot be used to learn which organisations the node has.
    known = {pk for a in store.agreements() if org_pk in a.parties for pk in a.parties}
    if found is None or found.pk not in known:
        raise RequestError("partner", f"{partner!r} is no organisation this organisation has an agreement with")
    return found.pk


def add_rule(store: Store, box: SecretBox, req: RuleRequest, *, actor: str, allow_private: bool,
             resolver: Resolver = resolve) -> tuple[AlertRule, str | None]:
    """Check and store a rule; returns it and its webhook secret (None without a webhook), which
    the caller shows once and which is never shown again."""
    try:
        org = store.get_org(req.org)
    except NotFoundError:
        raise RequestError("org", f"unknown organisation {req.org!r}") from None
    if not NAME.match(req.name):
        raise RequestError("name", NAME_RULE)
    if req.kind not in KINDS:
        raise RequestError("kind", f"{req.kind!r} is not a rule kind (use {', '.join(KINDS)})")
    values = _values(req.kind, req.values)
    types = _sighting_types(req.kind, req.sighting_types)
    partner = _partner(store, req.kind, req.partner, org.pk)
    webhook = secret = sealed = None
    if req.webhook is not None:
        webhook = validate_webhook(req.webhook, allow_private=allow_private, resolver=resolver)
        secret = secrets.token_urlsafe(32)
        sealed = box.seal(secret)
    rule = store.add_alert_rule(NewAlertRule(org.pk, req.name, req.kind, partner, values, types, webhook, sealed),
                                actor=actor)
    return rule, secret


def rule_json(rule: AlertRule) -> dict[str, object]:
    """A rule as the APIs and `accord alert rule list --json` show it: never its secret."""
    return {"id": rule.pk, "org": rule.org_name, "name": rule.name, "kind": rule.kind, "partner": rule.partner_name,
            "values": list(rule.values), "sighting_types": list(rule.sighting_types), "webhook": rule.webhook_url,
            "created_by": rule.created_by, "deliveries": dict(sorted(rule.deliveries.items())),
            "last_error": rule.last_error}
