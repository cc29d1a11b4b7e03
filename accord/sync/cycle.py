"""One sync cycle: every link of every (or one) peer, pulled or pushed, failures kept apart.

A peer that fails (unreachable, refusing, answering nonsense) is recorded on its links with the
error and never stops the other peers; a paused peer is skipped. The scheduler in ``accord
serve`` and ``accord sync run`` both call :func:`run_cycle`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from accord.errors import AccordError
from accord.services.secrets import SecretBox
from accord.storage.base import Peer, PeerLink, Store
from accord.sync.client import PeerClient
from accord.sync.feedback import feedback_link
from accord.sync.pull import Transfer, pull_link
from accord.sync.push import push_link

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LinkRun:
    peer: str
    link: PeerLink
    transfer: Transfer | None
    error: str | None


ClientFactory = Callable[[Peer, str], PeerClient]


def default_client(ca_bundle: str) -> ClientFactory:
    return lambda peer, token: PeerClient(peer.url, peer.username, token, ca_bundle=ca_bundle)


def run_peer(store: Store, peer: Peer, box: SecretBox, client_for: ClientFactory) -> list[LinkRun]:
    runs: list[LinkRun] = []
    collections = {c.pk: c for c in store.collections()}
    try:
        token = box.unseal(peer.sealed_token)
    except AccordError as exc:
        for link in peer.links:
            store.record_link_attempt(link.pk, error=str(exc))
            runs.append(LinkRun(peer.name, link, None, str(exc)))
        return runs
    with client_for(peer, token) as client:
        # Pull first: what the partner sends us this cycle is then known before we push.
        for link in sorted(peer.links, key=lambda lk: (lk.direction != "pull", lk.pk)):
            step = pull_link if link.direction == "pull" else push_link
            try:
                transfer = step(store, peer, link, collections[link.local_collection_pk], client)
                if link.direction == "pull":
                    transfer.feedback = feedback_link(store, peer, link, collections[link.local_collection_pk],
                                                      client)
            except (AccordError, httpx.HTTPError) as exc:
                log.warning("sync %s %s %s failed: %s", peer.name, link.direction, link.remote_collection, exc)
                store.record_link_attempt(link.pk, error=str(exc))
                runs.append(LinkRun(peer.name, link, None, str(exc)))
                continue
            except Exception as exc:  # a partner's answer we did not foresee: this link fails, the rest go on
                log.exception("sync %s %s %s failed unexpectedly", peer.name, link.direction, link.remote_collection)
                error = f"unexpected {type(exc).__name__}: {exc}"
                store.record_link_attempt(link.pk, error=error)
                runs.append(LinkRun(peer.name, link, None, error))
                continue
            store.record_link_attempt(link.pk, error=None)
            runs.append(LinkRun(peer.name, link, transfer, None))
    return runs


def run_cycle(store: Store, box: SecretBox, client_for: ClientFactory, *, peer_name: str | None = None
              ) -> list[LinkRun]:
    peers = [store.get_peer(peer_name)] if peer_name else [p for p in store.peers() if not p.paused]
    runs: list[LinkRun] = []
    for peer in peers:
        runs.extend(run_peer(store, peer, box, client_for))
    return runs
