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
from typing import Any

import orjson

from accord.policy.gate import Visibility
from accord.policy.redact import GRANULAR, redact
from accord.storage.base import AuditEvent, AuditItem, ListedVersion, Store, VersionQuery

log = logging.getLogger(__name__)


class Received:
    """Bodies as one viewer receives them: the parts granular markings hide from it removed
    (policy/redact.py). No receipt is written: search, lookup and correlation use it to decide
    what matches, and :func:`disclose` to hand bodies out. Marking levels are read once."""

    def __init__(self, store: Store, vis: Visibility):
        self._store, self._vis = store, vis
        self._levels: dict[str, str] | None = None

    def body(self, row: ListedVersion) -> bytes | None:
        """The body the viewer receives; None if the version vanished since it was listed."""
        body = row.body
        if (body is None or GRANULAR not in body or self._vis.sees_everything
                or row.owner_org == self._vis.viewer.org_pk):  # an owner receives its object whole
            return body
        self._levels = self._store.marking_levels() if self._levels is None else self._levels
        facts = next((f for f in self._store.version_facts(row.stix_id) if f.pk == row.pk), None)
        return None if facts is None else redact(body, facts, row.collection_pk, self._vis, self._levels)

    def parsed(self, row: ListedVersion) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.body(row) or b"{}")
        return parsed


@dataclass(frozen=True, slots=True)
class Disclosed:
    row: ListedVersion
    body: bytes | None


def disclose(store: Store, vis: Visibility, rows: Sequence[ListedVersion], *, channel: str,
             subject: str | None = None, orgs: dict[int, str] | None = None) -> list[Disclosed]:
    out, receipts = disclosure(store, vis, rows, channel=channel, subject=subject, orgs=orgs)
    for receipt in receipts:
        store.audit_append(receipt, durable=False)
    return out


def disclosure(store: Store, vis: Visibility, rows: Sequence[ListedVersion], *, channel: str,
               subject: str | None = None, orgs: dict[int, str] | None = None,
               ) -> tuple[list[Disclosed], list[AuditEvent]]:
    """What :func:`disclose` hands out, and the receipts it would append, for a caller that
    commits them itself in the transaction that records the disclosure (alerts: the receipts,
    the alerts and the cursor commit together). ``orgs``: organisation pk -> name if the caller
    has it (one statement less, as lookup does), else read when needed."""
    if vis.sees_everything:
        return [Disclosed(r, r.body) for r in rows], []
    viewer = vis.viewer
    out: list[Disclosed] = []
    received: dict[str, list[AuditItem]] = {}
    owners = orgs
    receiving = Received(store, vis)
    # RED rows came through the SQL recipient check; the rows carry no recipient list, so the
    # viewer's organisation stands for it here and the cross-check covers everything else.
    recipients = (viewer.org_pk,) if viewer.org_pk is not None else ()
    for row in rows:
        allowance = vis.allowance_for(row.facts(recipients), row.collection_pk)
        if allowance is None:
            log.error("gate disagreement: SQL admitted %s version %s for %s; dropped", row.stix_id, row.version,
                      viewer.username)
            continue
        body = receiving.body(row)
        if body is None and row.body is not None:
            continue  # the version vanished since the query listed it
        out.append(Disclosed(row, body))
        if row.owner_org != viewer.org_pk:
            owners = store.org_names(r.owner_org for r in rows) if owners is None else owners
            received.setdefault(allowance.agreement or allowance.why, []).append(
                (row.stix_id, row.version, viewer.org_name, owners.get(row.owner_org)))
    receipts = [AuditEvent(viewer.username, "receive", org=viewer.org_name,
                           agreement=agreement if agreement not in ("clear",) else None,
                           subject=subject, detail={"channel": channel, "basis": agreement}, items=tuple(items))
                for agreement, items in received.items()]
    return out, receipts


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
