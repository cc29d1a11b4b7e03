"""The alert tests' world (tests/services/test_alerts.py, test_webhooks.py): cert-a (local) owns
the rules; cert-b (local) and partner (a partner organisation) have AMBER agreements with cert-a;
stranger (local) has none. Everything is in one collection all four may read (default AMBER)."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.services.alert_rules import RuleRequest, add_rule
from accord.services.alerts import evaluate
from accord.services.secrets import SecretBox
from accord.stix.markings import TLP2_AMBER
from accord.storage.base import Collection, Provenance, State, Store
from tests.conftest import StepClock
from tests.policy.world import _ingest

CREATED = "2026-01-01T00:00:00.000Z"


def indicator(pattern: str, *, marking: str = TLP2_AMBER, **extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": CREATED,
            "modified": CREATED, "name": f"watch {pattern}", "pattern": pattern, "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", "object_marking_refs": [marking], **extra}


def sighting(target: str, *, marking: str = TLP2_AMBER, **extra: Any) -> dict[str, Any]:
    return {"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}", "created": CREATED,
            "modified": CREATED, "sighting_of_ref": target, "count": 3, "object_marking_refs": [marking], **extra}


@dataclass
class World:
    store: Store
    box: SecretBox
    clock: StepClock
    shared: Collection
    pk: dict[str, int]

    def add(self, org: str, *objects: dict[str, Any], state: State = State.PUBLISHED, received: bool = False,
            recipients: tuple[str, ...] = ()) -> list[str]:
        pk = self.pk[org]
        _ingest(self.store, self.shared, list(objects), Provenance(
            pk, state=state, owner_name=org, origin_org=pk if received else None,
            origin_node="partner.example" if received else None, recipients=tuple(self.pk[r] for r in recipients)))
        return [str(o["id"]) for o in objects]

    def rule(self, kind: str, name: str | None = None, org: str = "cert-a", **kw: Any) -> int:
        return self.rule_and_secret(kind, name, org, **kw)[0]

    def rule_and_secret(self, kind: str, name: str | None = None, org: str = "cert-a", **kw: Any,
                        ) -> tuple[int, str | None]:
        rule, secret = add_rule(self.store, self.box, RuleRequest(org, name or kind, kind, **kw), actor="test",
                                allow_private=True)
        return rule.pk, secret

    def run(self) -> int:
        return evaluate(self.store, clock=self.clock).alerts

    def fired(self, org: str = "cert-a") -> dict[str, list[str]]:
        """rule name -> STIX ids of the versions that fired it."""
        out: dict[str, list[str]] = {}
        for a in self.store.alerts(self.pk[org], limit=1000):
            out.setdefault(a.rule_name, []).append(a.stix_id)
        return out


def make_world(store: Store, clock: StepClock, tmp_path: Path) -> World:
    pk = {name: store.add_org(name, kind=kind).pk for name, kind in (
        ("cert-a", "local"), ("cert-b", "local"), ("partner", "partner"), ("stranger", "local"))}
    shared = store.add_collection("shared", alias="shared")
    for org in pk:
        store.set_grant(shared, org, can_read=True, can_write=True)
    for other in ("cert-b", "partner"):
        store.add_agreement(f"a-{other}", parties=["cert-a", other], max_tlp="amber", onward=False,
                            valid_from=None, valid_until=None, actor="test")
    return World(store, SecretBox(tmp_path / "node.key"), clock, shared, pk)


@dataclass
class Receiver:
    """A webhook receiver: answers the queued statuses in turn (then 200) and keeps every request."""

    port: int
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A webhook receiver on a loopback port, for the length of the block."""
    state = Receiver(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
