"""Running alerts: one pass (evaluate the rules over what was added, then attempt the webhook
deliveries that are due), and the thread inside `accord serve` that makes a pass every few seconds.

Ingest never waits for alerts: evaluation follows the store's ``date_added`` cursor in its own
transactions, so a burst of imports only makes the next pass longer. With several server workers
only one runs the thread, the first to take an exclusive lock on ``alerts.lock`` in the data
directory (as the sync scheduler does with ``sync.lock``); `accord alert run` may run beside it
(the cursor and the delivery claims keep the two from doing anything twice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from accord.services.alerts import EvaluationReport, evaluate
from accord.services.background import OneWorker
from accord.services.secrets import SecretBox
from accord.services.webhooks import DeliveryReport, Resolver, deliver_due, resolve
from accord.storage.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertPass:
    evaluation: EvaluationReport
    delivery: DeliveryReport


def run_pass(store: Store, box: SecretBox, *, clock: Callable[[], int], allow_private: bool,
             client: httpx.Client | None = None, resolver: Resolver = resolve) -> AlertPass:
    """Evaluate, then deliver what is due (what this pass raised included)."""
    evaluation = evaluate(store, clock=clock)
    delivery = deliver_due(store, box, now=clock(), allow_private=allow_private, client=client, resolver=resolver)
    return AlertPass(evaluation, delivery)


class AlertThread(OneWorker):
    """Runs :func:`run_pass` every ``interval_s`` in a daemon thread, if this process takes the lock."""

    def __init__(self, store: Store, box: SecretBox, lock_path: Path, *, interval_s: float, allow_private: bool,
                 clock: Callable[[], int]):
        super().__init__(lock_path, "accord-alerts", self._run)
        self._store, self._box = store, box
        self._interval, self._allow_private, self._clock = interval_s, allow_private, clock

    def _run(self, stop: threading.Event) -> None:
        with httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), follow_redirects=False) as client:
            while not stop.is_set():
                try:
                    done = run_pass(self._store, self._box, clock=self._clock, allow_private=self._allow_private,
                                    client=client)
                    if done.evaluation.alerts or done.delivery.failed:
                        log.info("alerts: %d raised, %d delivered, %d retrying, %d failed, %d withheld",
                                 done.evaluation.alerts, done.delivery.delivered, done.delivery.retrying,
                                 done.delivery.failed, done.delivery.withheld)
                except Exception:  # the store is briefly unavailable: try again next time
                    log.exception("alerts: a pass failed")
                stop.wait(self._interval)
