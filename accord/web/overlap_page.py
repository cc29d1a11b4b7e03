"""The overlap page: ask a partner's node which of these values it holds too, sending it keyed
hashes only (docs/early-warning.md, "Overlap check").

services/overlap.py decides who may have this node ask through which peer (``askable_peers``)
and hashes the values; the question itself goes out through sync/overlap.py, with this node's
account on the partner's node. This module receives that asker from app.py (the wiring) as
``app.state.ask_peer``, so the web never imports the sync client.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from starlette.responses import Response
from starlette.routing import Route

from accord.errors import ConfigError, RequestError, SyncError
from accord.policy.roles import Role
from accord.services.lookup import MAX_VALUES
from accord.services.overlap import OverlapResult, askable_peers
from accord.web.pages import Page, PageError, page

log = logging.getLogger("accord.web")

NOBODY_TO_ASK = ("You may not have this node ask a partner's node: that takes a node-admin, or an analyst or "
                 "above of the organisation of this node that a peer's overlap key is kept for, while it has an "
                 "active agreement with that peer's partner.")
# What each answer of the partner's node means for the person asking; the partner's own words
# (and the peer's URL) are shown to node-admins only, peers being the operator's business.
REFUSALS = {
    409: "The partner's node says its overlap key for our agreement was rotated: the hashes were made with the "
         "old key, so it did not answer. Ask this node's operator to set the new key once the partner has handed "
         "it over.",
    401: "The partner's node did not accept this node's credentials (the token kept for the peer is wrong or "
         "was revoked there). Ask this node's operator.",
    403: "The partner's node refuses the question: our agreement with it is not in force there, has no overlap "
         "key, or our account there may not ask.",
    404: "The partner's node does not know the agreement this node names for the peer, or has no overlap check.",
}
UNREACHABLE = "The partner's node could not be reached, or answered something unusable. Try again later."
# Questions this process asks at once from the page. Each holds one of the server's worker threads
# (shared by every page) until the partner answers, which may take OVERLAP_TIMEOUT (10 minutes) the
# first time under a key; the rest of the pool stays for everyone else. app.py wires the semaphore.
MAX_QUESTIONS = 4
BUSY = (f"This node is already asking partners' nodes {MAX_QUESTIONS} questions at once, the most it asks at a "
        "time; try again in a minute.")
# A key or token kept for the peer that this node cannot use (the node key file was replaced, the
# key removed meanwhile): the reason names the key file and the operator's remedy, for node-admins.
UNUSABLE_KEY = "This node's key for the peer cannot be used; ask this node's operator."


class AskPeer(Protocol):
    """sync/overlap.ask_peer with its settings bound (app.py)."""

    def __call__(self, peer_name: str, values: list[str], *, actor: str) -> OverlapResult: ...


def refusal(exc: SyncError) -> str:
    """What a failed question means, by the partner's answer."""
    if exc.peer_status is None:
        return UNREACHABLE
    return REFUSALS.get(exc.peer_status, f"The partner's node answered {exc.peer_status}: it did not answer the "
                                         "question.")


@dataclass(frozen=True)
class Answer:
    """A result laid out for the page: each value asked, held there or not, or why it was not asked."""

    result: OverlapResult
    held: dict[str, list[tuple[str, str]]]  # value -> the index keys (type, normalised) that matched
    not_held: list[str]

    @classmethod
    def of(cls, result: OverlapResult, values: list[str]) -> Answer:
        held: dict[str, list[tuple[str, str]]] = {}
        for value, index_type, normalised in result.overlap:
            held.setdefault(value, []).append((index_type, normalised))
        unasked = {value for value, _ in result.problems}
        return cls(result, held, [v for v in values if v not in held and v not in unasked])


@page(Role.ANALYST)
def overlap_page(p: Page) -> Response:
    peers = askable_peers(p.ctx.store, p.viewer, p.ctx.clock())
    if not peers:
        raise PageError(403, NOBODY_TO_ASK)
    text, values = p.pasted_values("values", MAX_VALUES)
    chosen = p.field("peer")

    def show(status: int = 200, *, result: Answer | None = None, failure: str | None = None,
             detail: str | None = None) -> Response:
        return p.render("overlap.html", status, peers=peers, text=text, chosen=chosen, result=result,
                        failure=failure, detail=detail)

    if p.form is None:
        return show()
    peer = next((x for x in peers if x.name == chosen), None)
    if peer is None:  # absent or not this user's to ask through: the same answer
        raise RequestError("peer", "choose one of the partner nodes listed")
    if not values:
        raise RequestError("values", "give at least one value")
    ask: AskPeer = p.request.app.state.ask_peer
    places: threading.BoundedSemaphore = p.request.app.state.overlap_questions
    if not places.acquire(blocking=False):
        log.warning("overlap question of %s through peer %s turned away: %d questions already asked",
                    p.viewer.username, peer.name, MAX_QUESTIONS)
        busy = show(503, failure=BUSY)
        busy.headers["Retry-After"] = "60"
        return busy
    try:
        result = ask(peer.name, values, actor=p.viewer.username)
    except SyncError as exc:
        log.warning("overlap question of %s through peer %s failed: %s", p.viewer.username, peer.name, exc)
        return show(502, failure=refusal(exc), detail=str(exc) if p.viewer.is_node_admin else None)
    except ConfigError as exc:
        log.error("overlap question of %s through peer %s not asked: %s", p.viewer.username, peer.name, exc)
        return show(500, failure=UNUSABLE_KEY, detail=str(exc) if p.viewer.is_node_admin else None)
    finally:
        places.release()
    return show(result=Answer.of(result, values))


ROUTES = [Route("/overlap", overlap_page, methods=["GET", "POST"])]
