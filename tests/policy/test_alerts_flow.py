"""Information flow through alerts (services/alerts.py): in random worlds (tests/policy/world.py),
a rule fires on exactly the versions the oracle (tests/policy/oracle.py) lets its organisation see,
never on anything else (a RED version without an agreement allowing RED, a draft, a retracted
version, anything outside an active agreement or above its ceiling, an unknown marking), and the
receipts name nothing else either.

Every indicator of a world has the pattern ``[ipv4-addr:value = '10.0.0.1']``: each organisation
watches ``10.0.0.0/24`` (the address lies within it) and has an ``own-indicators`` rule, which
fires on another organisation's visible indicator when the organisation holds an indicator of its
own that is not retracted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
from hypothesis import given

from accord.services.alerts import evaluate
from accord.stix.timestamps import key_to_timestamp
from accord.storage.base import NewAlertRule, Store
from tests.policy.oracle import World
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import flow_settings
from tests.policy.world import sqlite_copy, stored_world, worlds


def _version(store: Store, stix_id: str, version_pk: int) -> tuple[str, str]:
    facts = next(f for f in store.version_facts(stix_id) if f.pk == version_pk)
    return stix_id, key_to_timestamp(facts.version)


def check_alerts(path: Path, spec: tuple[World, frozenset[str]]) -> None:
    world_spec, resumed = spec
    with stored_world(f"sqlite:///{path}", world_spec, resumed, "w") as (store, built, t):
        world = built.world
        for pk in built.org_pk.values():
            store.add_alert_rule(NewAlertRule(pk, "watch", "watchlist", values=("10.0.0.0/24",)), actor="test")
            store.add_alert_rule(NewAlertRule(pk, "mine", "own-indicators"), actor="test")
        # The rules were made after the world's versions; as if made before them, they count everything.
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE alert_rules SET since = 0")
            conn.execute("UPDATE alert_cursor SET position = 0")
        evaluate(store, clock=lambda: t, window=7)
        fired: dict[tuple[str, str], set[tuple[str, str]]] = {}
        names = {pk: org for org, pk in built.org_pk.items()}
        for alert in store.alerts(None, limit=100_000):
            fired.setdefault((names[alert.org_pk], alert.rule_name), set()).add(
                _version(store, alert.stix_id, alert.version_pk))
        received: dict[str, set[tuple[str, str]]] = {}
        for record in store.audit_records(action="receive"):
            assert orjson.loads(record.detail)["channel"] == "alert"
            for sid, version, recipient, _ in store.audit_items([record.seq])[record.seq]:
                received.setdefault(str(recipient), set()).add((sid, key_to_timestamp(version)))
        for org in built.org_pk:
            indicators = {v.key for v in world.versions if v.type == "indicator"}
            allowed = {v.key for v in world.versions
                       if v.key in indicators and v.owner != org and world.sees(org, v, t)}
            own = any(v.owner == org and v.type == "indicator" and v.state != "retracted" for v in world.versions)
            where = f"alerts of {org}"
            assert fired.get((org, "watch"), set()) == allowed, where
            assert fired.get((org, "mine"), set()) == (allowed if own else set()), where
            assert received.get(org, set()) == allowed, where
            CASES["alert"] += 1
        assert evaluate(store, clock=lambda: t).alerts == 0
    WORLDS["alert"] += 1


@flow_settings(60)
@given(spec=worlds())
def test_alerts_fire_on_exactly_what_the_gate_allows(template_db: Path, spec: tuple[World, frozenset[str]]) -> None:
    with sqlite_copy(template_db) as path:
        check_alerts(path, spec)
