"""Alerts as the members of their organisation see them: listed, paged and acknowledged
(docs/early-warning.md, "Alerts"; services/alerts.py raises them).

An alert is shown only while its organisation may still see what it names: every version it
disclosed must still pass the reader's gate, and what matched is judged again on the version as
the reader receives it now (:func:`still_matched`), so a value hidden since (an agreement's
ceiling lowered below a granular marking) is never shown. Pages count only the alerts shown.
An alert a reader may not see is, to that reader, one that does not exist: acknowledging it
answers "not found" as for an id nobody has.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from accord.errors import NotFoundError
from accord.policy.administration import may_acknowledge_alerts
from accord.policy.gate import Visibility
from accord.services.disclose import Received, disclose
from accord.services.release import ReleaseError
from accord.services.search import display_name
from accord.services.sightings import sighting_kind
from accord.stix.observables import observables_of
from accord.stix.timestamps import format_micros
from accord.storage.base import Alert, ListedVersion, Store

READ_BATCH = 100  # alerts read at a time when listing (hidden ones are skipped, so a page may need more)
MAX_ID = 100  # longer than any alert id (a UUID): not looked up
Shown = tuple[Alert, ListedVersion, dict[str, Any]]  # an alert, the version that fired it, what may be shown matched


@dataclass(frozen=True)
class AlertView:
    """An alert as a member of its organisation sees it now."""

    alert: Alert
    type: str
    name: str
    owner: str
    tlp: str
    matched: dict[str, Any]

    @property
    def summary(self) -> str:
        """What matched, in a line (the dashboard, `accord alert list`)."""
        m = self.matched
        if "values" in m:
            return "; ".join(v["observable"][1] + ("" if v["relation"] == "exact" else
                                                   f" ({v['relation']}: {v['value']})") for v in m["values"])
        if "shared" in m:
            return "; ".join(f"{s['observable'][1]}, also in {len(s['own'])} of yours" for s in m["shared"])
        if "sighting_of_ref" in m:
            return f"{m['sighting_type']} by {m['sighted_by']}: {m['sighting_of_ref']} from {m['from']}"
        return ""


@dataclass(frozen=True)
class AlertPage:
    """One page of an organisation's alerts, newest first, and the cursor (``before``) that
    continues after it when more alerts the reader may see follow; None when none does."""

    alerts: list[AlertView]
    next: int | None


def still_matched(matched: dict[str, Any], body: dict[str, Any]) -> dict[str, Any] | None:
    """What of an alert's ``matched`` its organisation may still be told, judged on the version
    that fired as the organisation receives it *now* (``body``): a watched or shared observable
    the body no longer carries (its agreement's ceiling dropped below a granular marking since)
    is left out, and an alert with nothing left is not shown at all. The organisation's own
    objects an ``own-indicators`` match names are its own."""
    if "values" in matched or "shared" in matched:
        key = "values" if "values" in matched else "shared"
        pairs = {tuple(p) for p in observables_of(body)}
        kept = [m for m in matched[key] if tuple(m["observable"]) in pairs]
        return {key: kept} if kept else None
    if "sighting_of_ref" in matched:
        same = (body.get("sighting_of_ref") == matched["sighting_of_ref"]
                and sighting_kind(body) == matched["sighting_type"])
        return matched if same else None
    return None


def _shown(store: Store, vis: Visibility, found: list[Alert]) -> list[Shown]:
    """The alerts of ``found`` the reader may still see, with the version that fired each and what
    of ``matched`` may still be shown: every version an alert names must still be visible (an
    agreement suspended or a version retracted since hides the alert), and what matched must
    still be in the version as the reader receives it (:func:`still_matched`)."""
    pks = list(dict.fromkeys(pk for a in found for pk in (a.version_pk, *a.related)))
    visible: dict[int, ListedVersion] = {}
    for row in store.listed_versions(pks, vis.predicate()) if pks else []:
        visible.setdefault(row.pk, row)
    received = Received(store, vis)
    out = []
    for a in found:
        if all(pk in visible for pk in (a.version_pk, *a.related)):
            row = visible[a.version_pk]
            matched = still_matched(orjson.loads(a.matched), received.parsed(row))
            if matched is not None:
                out.append((a, row, matched))
    return out


def _views(store: Store, vis: Visibility, shown: list[Shown], channel: str) -> list[AlertView]:
    """The alerts as shown, their versions disclosed on ``channel`` (receipts written)."""
    bodies = {d.row.pk: d.body for d in disclose(store, vis, list({row.pk: row for _, row, _ in shown}.values()),
                                                 channel=channel)}
    orgs = {o.pk: o.name for o in store.orgs()}
    out = []
    for a, row, matched in shown:
        body = bodies.get(row.pk)
        if body is None:
            continue  # the gate's cross-check refused it (a bug, logged by disclose)
        out.append(AlertView(a, row.type, display_name(orjson.loads(body)), orgs.get(row.owner_org, "?"),
                             vis.level(row, row.collection_pk), matched))
    return out


def alert_page(store: Store, vis: Visibility, org_pk: int | None, *, limit: int, before: int | None = None,
               acknowledged: bool | None = None, channel: str, batch: int = READ_BATCH) -> AlertPage:
    """An organisation's newest ``limit`` alerts that its reader may still see (only the
    acknowledged ones, or only the others, when ``acknowledged`` says so), disclosed on
    ``channel``. Only those count: a page is never cut short by hidden alerts, and whether a next
    page exists says nothing about how many hidden ones there are. Alerts are read ``batch`` (at
    least ``limit + 1``) at a time until the page is full or none is left."""
    batch = max(limit + 1, batch)
    shown: list[Shown] = []
    while len(shown) <= limit:
        found = store.alerts(org_pk, limit=batch, before=before, acknowledged=acknowledged)
        shown.extend(_shown(store, vis, found))
        if len(found) < batch:
            break
        before = found[-1].pk
    more = len(shown) > limit
    shown = shown[:limit]
    return AlertPage(_views(store, vis, shown, channel), shown[-1][0].pk if more else None)


def visible_alerts(store: Store, vis: Visibility, org_pk: int | None, *, limit: int, before: int | None = None,
                   acknowledged: bool | None = None, channel: str) -> list[AlertView]:
    """The alerts of :func:`alert_page`, without the cursor."""
    return alert_page(store, vis, org_pk, limit=limit, before=before, acknowledged=acknowledged,
                      channel=channel).alerts


def acknowledge(store: Store, vis: Visibility, uid: str, *, channel: str) -> AlertView:
    """Record that the reader of ``vis`` acknowledged alert ``uid`` of its organisation (the node
    operator: any alert); the alert as shown afterwards. Needs the analyst role (ReleaseError
    otherwise, whatever the id); an alert of another organisation, or one its organisation may no
    longer see, is NotFoundError like an id nobody has. The first acknowledgement stands."""
    viewer = vis.viewer
    if not may_acknowledge_alerts(viewer):
        raise ReleaseError(f"user {viewer.username!r} is {viewer.role.value}; acknowledging an alert needs the "
                           "analyst role or above")
    absent = NotFoundError(f"no alert {uid[:MAX_ID]!r}")
    if len(uid) > MAX_ID or "\x00" in uid:
        raise absent
    try:
        alert = store.get_alert(uid)
    except NotFoundError:
        raise absent from None
    if viewer.org_pk is not None and alert.org_pk != viewer.org_pk:
        raise absent
    views = _views(store, vis, _shown(store, vis, [alert]), channel)
    if not views:
        raise absent
    return replace(views[0], alert=store.acknowledge_alert(alert.pk, actor=viewer.username))


def alert_json(view: AlertView) -> dict[str, Any]:
    a = view.alert
    return {"id": a.uid, "rule": a.rule_name, "kind": a.kind, "created": format_micros(a.created),
            "object": {"id": a.stix_id, "type": view.type, "name": view.name, "owner": view.owner, "tlp": view.tlp},
            "matched": view.matched,
            "delivery": None if a.delivery is None else {"state": a.delivery, "attempts": a.attempts,
                                                         "last_error": a.last_error},
            "acknowledged": None if a.acknowledged is None else {"by": a.acknowledged_by,
                                                                 "at": format_micros(a.acknowledged)}}
