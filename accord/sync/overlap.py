"""Asking a partner's node which of our values it holds too, without telling it the others
(the overlap check, docs/early-warning.md; the answering side is services/overlap.py).

The values are normalised and hashed here, with the key of the partner's agreement kept for the
peer (``accord peer overlap-key``); only the hashes travel, through the peer's client (our
token there, the same TLS, origin and size rules as a sync cycle), and the hashes the partner
names in its answer are mapped back to our values here. The question is recorded in our audit
log too, answered or not (action ``overlap.ask``, under the local organisation the key speaks for:
which peer and partner, how many values, hashes sent and matches, whether it failed; no values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from accord.errors import ConfigError, SyncError
from accord.services.overlap import MAX_HASHES, OverlapResult, plan_hashes, unseal_key
from accord.services.secrets import SecretBox
from accord.storage.base import AuditEvent, OverlapKey, Peer, Store
from accord.sync.client import PeerClient


def ask_peer(store: Store, box: SecretBox, client_for: Callable[[Peer, str], PeerClient], peer_name: str,
             values: Sequence[str], *, actor: str) -> OverlapResult:
    peer = store.get_peer(peer_name)
    record = store.peer_overlap_key(peer_name)
    if record is None:
        raise ConfigError(f"peer {peer_name!r} has no overlap key: the partner's operator makes one for your "
                          f"agreement (`accord agreement overlap-key NAME`); set it here with "
                          f"`accord peer overlap-key {peer_name} --set - --for-org ORG`")
    plan = plan_hashes(unseal_key(box, record), values)
    hashes = list(plan.by_hash)
    asked = len(plan.values) - len(plan.problems)
    matched: set[str] = set()
    agreement = record.remote_agreement
    sent = 0  # hashes in the requests made so far, answered or not (a failed one may have arrived)
    failed = True
    try:
        if hashes:
            with client_for(peer, box.unseal(peer.sealed_token)) as client:
                for start in range(0, len(hashes), MAX_HASHES):
                    chunk = hashes[start:start + MAX_HASHES]
                    sent += len(chunk)
                    got = _ask_once(client, peer_name, record, chunk)
                    matched.update(got["matches"])
                    agreement = got.get("agreement") if isinstance(got.get("agreement"), str) else agreement
        failed = False
    finally:
        # Whatever reached the partner is in its audit log, so it is in ours, failed or not (nothing
        # was sent when nothing could be hashed). Under the local organisation the question was asked
        # as (its org-admins see their members' questions); the actor is whoever made this node ask.
        if sent:
            store.audit_append(AuditEvent(actor, "overlap.ask", org=record.for_org, subject=peer.name, detail={
                "values": asked, "hashes": sent, "matched": len({plan.values[i] for h in matched
                                                                 for i, _, _ in plan.by_hash[h]}),
                "key": record.fingerprint, "remote_agreement": agreement, "partner": peer.org_name,
                "failed": failed}))
    found = sorted({use for h in matched for use in plan.by_hash[h]})
    overlap = [(plan.values[i], index_type, value) for i, index_type, value in found]
    return OverlapResult(peer.name, agreement, record.fingerprint, asked, len(hashes), overlap, plan.problems,
                         record.for_org)


def _ask_once(client: PeerClient, peer_name: str, record: OverlapKey, chunk: list[str]) -> dict[str, Any]:
    """One request of at most MAX_HASHES hashes, its answer checked against what was asked."""
    try:
        got = client.overlap(chunk, agreement=record.remote_agreement, key=record.fingerprint)
    except SyncError as exc:
        hint = ""
        if exc.peer_status == 404:
            hint = (f" (agreement {record.remote_agreement!r} is unknown there or not your organisation's)"
                    if record.remote_agreement else
                    " (the partner's node has no overlap check: not an Accord node, or an older one)")
        raise SyncError(f"peer {peer_name}: {exc}{hint}", peer_status=exc.peer_status) from exc
    if got.get("key") != record.fingerprint:
        raise SyncError(f"peer {peer_name} answered with overlap key {got.get('key')!r}, not "
                        f"{record.fingerprint}: its answer cannot be trusted")
    strays = set(got["matches"]) - set(chunk)
    if strays:
        raise SyncError(f"peer {peer_name} answered {len(strays)} hashes it was not asked about")
    return got
