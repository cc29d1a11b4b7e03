"""Disclosure: turning the rows a gated query returned into what the reader receives, and
recording what left the organisation.

Every read path that hands object bodies to someone (TAXII, export, sync push) ends here:

* granular markings the reader may not see are removed (policy/redact.py);
* each row is checked once more against the gate's single-object form; a row the SQL predicate
  admitted but the Python rule does not is dropped and reported, never served (the two forms
  come from one list of allowances, so this only fires on a bug);
* versions another organisation owns are written to the audit log as received by the reader's
  organisation, grouped by the agreement that let them through, so "which partner received which
  version of X, under which agreement" is one query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from accord.policy.gate import Visibility
from accord.policy.redact import GRANULAR, redact
from accord.storage.base import AuditEvent, AuditItem, ListedVersion, Store, VersionQuery

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Disclosed:
    row: ListedVersion
    body: bytes | None


def disclose(store: Store, vis: Visibility, rows: Sequence[ListedVersion], *, channel: str,
             subject: str | None = None) -> list[Disclosed]:
    if vis.sees_everything:
        return [Disclosed(r, r.body) for r in rows]
    viewer = vis.viewer
    out: list[Disclosed] = []
    received: dict[str, list[AuditItem]] = {}
    owners: dict[int, str] | None = None
    levels: dict[str, str] | None = None
    # RED rows came through the SQL recipient check; the rows carry no recipient list, so the
    # viewer's organisation stands for it here and the cross-check covers everything else.
    recipients = (viewer.org_pk,) if viewer.org_pk is not None else ()
    for row in rows:
        allowance = vis.allowance_for(row.facts(recipients), row.collection_pk)
        if allowance is None:
            log.error("gate disagreement: SQL admitted %s version %s for %s; dropped", row.stix_id, row.version,
                      viewer.username)
            continue
        body = row.body
        if body is not None and GRANULAR in body:
            levels = store.marking_levels() if levels is None else levels
            facts = next((f for f in store.version_facts(row.stix_id) if f.pk == row.pk), None)
            if facts is None:
                continue
            body = redact(body, facts, row.collection_pk, vis, levels)
        out.append(Disclosed(row, body))
        if row.owner_org != viewer.org_pk:
            owners = {o.pk: o.name for o in store.orgs()} if owners is None else owners
            received.setdefault(allowance.agreement or allowance.why, []).append(
                (row.stix_id, row.version, viewer.org_name, owners.get(row.owner_org)))
    for agreement, items in received.items():
        store.audit_append(AuditEvent(viewer.username, "receive", org=viewer.org_name,
                                      agreement=agreement if agreement not in ("clear",) else None,
                                      subject=subject, detail={"channel": channel, "basis": agreement},
                                      items=tuple(items)), durable=False)
    return out


def disclosed_bodies(store: Store, vis: Visibility, query: VersionQuery, *, channel: str,
                     batch: int = 1000) -> Iterator[bytes]:
    """Every version ``query`` selects that ``vis`` may see, disclosed, as bodies in store order.

    The one streaming exit for exports in any format: rows come from the gate's SQL predicate,
    go through :func:`disclose` in batches (cross-check, redaction, receipts), and only then
    reach the caller. The node operator (``vis.sees_everything``) gets the stored bytes.
    """
    rows: list[ListedVersion] = []
    for row in store.iter_visible(query, vis.predicate()):
        rows.append(row)
        if len(rows) >= batch:
            yield from (d.body for d in disclose(store, vis, rows, channel=channel) if d.body is not None)
            rows = []
    if rows:
        yield from (d.body for d in disclose(store, vis, rows, channel=channel) if d.body is not None)
