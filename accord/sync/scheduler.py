"""The sync scheduler inside ``accord serve``: each peer on its own interval, failures backed off.

One thread wakes every second, re-reads the peers now and then (so ``accord peer add/pause``
take effect without a restart) and starts each due peer's cycle on a small pool, so a slow or
unreachable peer (bounded by the client's timeouts) never holds up another. After a failed cycle
a peer waits ``interval * 2**failures`` (capped at an hour) times a random factor in [0.5, 1.5):
partners that went down together do not all retry at the same instant.

With several server workers only one runs the scheduler: the first to take an exclusive lock on
``sync.lock`` in the data directory (one node is one host; see docs/federation.md).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from accord.services.background import OneWorker
from accord.services.secrets import SecretBox
from accord.storage.base import Peer, Store
from accord.sync.cycle import ClientFactory, LinkRun, run_peer

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 3600.0
RELOAD_S = 5.0
PARALLEL_PEERS = 4


@dataclass
class PeerTimer:
    due: float
    failures: int = 0


def next_due(now: float, interval_s: float, failures: int, rand: Callable[[], float]) -> float:
    """When a peer runs next: its interval after a success, backed off with jitter after failures."""
    if failures == 0:
        return now + interval_s
    backoff: float = min(interval_s * 2.0 ** failures, MAX_BACKOFF_S)
    return now + backoff * (0.5 + rand())


@dataclass
class Scheduler:
    store: Store
    box: SecretBox
    client_for: ClientFactory
    clock: Callable[[], float] = time.monotonic
    rand: Callable[[], float] = random.random
    timers: dict[str, PeerTimer] = field(default_factory=dict)
    _running: dict[str, Future[list[LinkRun]]] = field(default_factory=dict)
    # Set when a cycle finishes, so its peer's next time is settled at once rather than at the
    # next tick (a short interval would otherwise stretch by up to a second each cycle).
    _wake: threading.Event = field(default_factory=threading.Event)

    def due_peers(self, peers: list[Peer], now: float) -> list[Peer]:
        out = []
        for peer in peers:
            if peer.paused or peer.name in self._running:
                continue
            timer = self.timers.setdefault(peer.name, PeerTimer(due=now))  # a new peer runs at once
            if timer.due <= now:
                out.append(peer)
        return out

    def settle(self, peer: Peer, runs: list[LinkRun] | None, now: float) -> None:
        """Record a finished cycle (``runs`` None: it raised) and set the peer's next time."""
        timer = self.timers.setdefault(peer.name, PeerTimer(due=now))
        failed = runs is None or any(r.error is not None for r in runs)
        timer.failures = timer.failures + 1 if failed else 0
        timer.due = next_due(now, peer.interval_s, timer.failures, self.rand)

    def run(self, stop: threading.Event) -> None:
        peers: list[Peer] = []
        reloaded = float("-inf")
        with ThreadPoolExecutor(PARALLEL_PEERS, thread_name_prefix="accord-sync") as pool:
            while not stop.is_set():
                now = self.clock()
                try:
                    if now - reloaded >= RELOAD_S:
                        peers, reloaded = self.store.peers(), now
                        for gone in set(self.timers) - {p.name for p in peers}:
                            del self.timers[gone]
                    for peer in self.due_peers(peers, now):
                        future = pool.submit(run_peer, self.store, peer, self.box, self.client_for)
                        future.add_done_callback(lambda _done: self._wake.set())
                        self._running[peer.name] = future
                except Exception:  # the store is briefly unavailable: try again next second
                    log.exception("sync scheduler: reading peers failed")
                for name, future in list(self._running.items()):
                    if future.done():
                        del self._running[name]
                        finished = next((p for p in peers if p.name == name), None)
                        runs = None if future.exception() is not None else future.result()
                        if runs is None:
                            log.error("sync of %s raised: %s", name, future.exception())
                        if finished is not None:
                            self.settle(finished, runs, self.clock())
                self._wake.wait(self._sleep())
                self._wake.clear()

    def _sleep(self) -> float:
        """Until the soonest idle peer is due: at most a second (stop and new peers are seen then),
        at least a twentieth (a paused peer's timer may lie in the past)."""
        dues = [t.due for name, t in self.timers.items() if name not in self._running]
        return max(0.05, min([1.0, *(due - self.clock() for due in dues)]))


def scheduler_thread(scheduler: Scheduler, lock_path: Path) -> OneWorker:
    """The scheduler in a daemon thread, if this process takes the node's sync lock."""
    return OneWorker(lock_path, "accord-sync-scheduler", scheduler.run)
