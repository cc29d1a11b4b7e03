"""Alert rules: what an organisation asks to be told about (docs/early-warning.md, "Alerts").

Three kinds, each judged as the rule's organisation (services/alerts.py evaluates them):

* ``sighting``: a sighting stored here by a local organisation, of an object that organisation X
  (``partner``; without it, any other organisation) owns or passed on to this node;
* ``watchlist``: another organisation's object with an observable that is a listed value, a
  subdomain of a listed domain, or an address (or network) inside a listed network;
* ``own-indicators``: another organisation's object sharing an observable with one of the rule's
  organisation's own objects (correlation on ingest).

Who may add and remove rules is policy/administration.py's ``may_manage_alert_rules`` (and who
may list their details or give them a webhook, its neighbours): the ``*_as`` functions ask it for
a signed-in user (REST, web); the CLI acts as the node operator. A webhook's secret is made here,
shown once to the creator, and stored sealed with the node key (services/secrets.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from accord.errors import NotFoundError, RequestError
from accord.policy.administration import (
    NAME,
    NAME_RULE,
    may_manage_alert_rules,
    may_read_alert_rule_details,
    may_set_alert_webhook,
)
from accord.policy.viewer import Viewer
from accord.services.release import ReleaseError
from accord.services.secrets import SecretBox
from accord.services.sightings import KINDS as KINDS_OF_SIGHTING
from accord.services.sightings import SEEN
from accord.services.webhooks import Resolver, resolve, validate_webhook
from accord.stix.observables import lookup_pairs
from accord.storage.base import AlertRule, NewAlertRule, Organisation, Store

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
    if found is None or found.pk not in {o.pk for o in partner_choices(store, org_pk)}:
        raise RequestError("partner", f"{partner!r} is no organisation this organisation has an agreement with")
    return found.pk


def partner_choices(store: Store, org_pk: int) -> list[Organisation]:
    """The organisations a sighting rule of organisation ``org_pk`` may name as its partner: those
    it has an agreement with (in any state), by name."""
    known = {pk for a in store.agreements() if org_pk in a.parties for pk in a.parties} - {org_pk}
    return sorted((o for o in store.orgs() if o.pk in known), key=lambda o: o.name)


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


# -- as a signed-in user (REST, web): who may do what is policy/administration.py's ----------------
def shown_rules(store: Store, viewer: Viewer) -> list[AlertRule]:
    """The rules ``viewer`` may list: its organisation's (a node-admin: every organisation's), the
    watchlist values, webhook address and last error only where it may read them (its own
    organisation's org-admins), blank elsewhere."""
    if viewer.is_node_admin:
        rules = store.alert_rules()
    elif viewer.org_pk is not None:
        rules = store.alert_rules(viewer.org_pk)
    else:
        rules = []
    return [r if may_read_alert_rule_details(viewer, r.org_pk) else replace(r, values=(), webhook_url=None,
                                                                             last_error=None) for r in rules]


def add_rule_as(store: Store, box: SecretBox, viewer: Viewer, req: RuleRequest, *, allow_private: bool,
                resolver: Resolver = resolve) -> tuple[AlertRule, str | None]:
    """:func:`add_rule` for ``viewer``: ReleaseError unless it may manage the organisation's rules
    (any other organisation, existing or not, is refused alike, except to a node-admin, who is told
    the name is unknown) or, for a webhook, may point them at an address."""
    try:
        org_pk: int | None = store.get_org(req.org).pk
    except NotFoundError:
        if viewer.is_node_admin:
            raise RequestError("org", f"unknown organisation {req.org!r}") from None
        org_pk = None
    # Which organisations the node has is the operator's business: not told to anyone else.
    if org_pk is None or not may_manage_alert_rules(viewer, org_pk):
        raise ReleaseError("only an org-admin of the organisation, or a node-admin, may add its alert rules")
    if req.webhook is not None and not may_set_alert_webhook(viewer, org_pk):
        raise ReleaseError("only an org-admin of the organisation itself may give its rules a webhook")
    return add_rule(store, box, req, actor=viewer.username, allow_private=allow_private, resolver=resolver)


def remove_rule_as(store: Store, viewer: Viewer, rule_pk: int) -> AlertRule:
    """Remove a rule for ``viewer``: another organisation's is NotFoundError like one that does not
    exist (to all but a node-admin); ReleaseError unless the viewer may manage the organisation's
    rules."""
    rule = store.get_alert_rule(rule_pk)
    if not viewer.is_node_admin and rule.org_pk != viewer.org_pk:
        raise NotFoundError(f"no alert rule {rule_pk}")  # another organisation's rule: as absent
    if not may_manage_alert_rules(viewer, rule.org_pk):
        raise ReleaseError("only an org-admin of the organisation, or a node-admin, may remove its alert rules")
    return store.remove_alert_rule(rule.pk, actor=viewer.username)


def rule_json(rule: AlertRule) -> dict[str, object]:
    """A rule as the APIs and `accord alert rule list --json` show it: never its secret."""
    return {"id": rule.pk, "org": rule.org_name, "name": rule.name, "kind": rule.kind, "partner": rule.partner_name,
            "values": list(rule.values), "sighting_types": list(rule.sighting_types), "webhook": rule.webhook_url,
            "created_by": rule.created_by, "deliveries": dict(sorted(rule.deliveries.items())),
            "last_error": rule.last_error}
