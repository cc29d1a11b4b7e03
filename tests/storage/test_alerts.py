"""Acknowledged alerts in the store (storage/alerts.py, migration 0012), on both backends: who
and when, the first acknowledgement standing, one audit entry, the filter, and a store with
alerts taken down to revision 0009 and up again."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from alembic import command

from accord.errors import NotFoundError
from accord.storage import migrate
from accord.storage.base import Alert, Store
from tests.conftest import StepClock
from tests.services.alerting import World, indicator, make_world


@pytest.fixture
def world(backend_store: Store, clock: StepClock, tmp_path: Path) -> World:
    return make_world(backend_store, clock, tmp_path)


def _two_alerts(world: World) -> list[Alert]:
    world.rule("watchlist", values=("ack.example",))
    world.add("cert-b", indicator("[domain-name:value = 'one.ack.example']"),
              indicator("[domain-name:value = 'two.ack.example']"))
    assert world.run() == 2
    return world.store.alerts(world.pk["cert-a"], limit=10)


def test_acknowledging_records_who_and_when_once(world: World) -> None:
    newer, older = _two_alerts(world)
    assert (newer.acknowledged, newer.acknowledged_by) == (None, None)
    done = world.store.acknowledge_alert(older.pk, actor="ann")
    assert done.uid == older.uid and done.acknowledged_by == "ann" and done.acknowledged is not None
    again = world.store.acknowledge_alert(older.pk, actor="bob")  # the first acknowledgement stands
    assert (again.acknowledged, again.acknowledged_by) == (done.acknowledged, "ann")
    assert world.store.get_alert(older.uid) == done
    (entry,) = world.store.audit_records(action="alert.ack")
    assert (entry.actor, entry.org, entry.subject) == ("ann", "cert-a", older.uid)
    assert orjson.loads(entry.detail) == {"rule": "watchlist", "object": older.stix_id}
    org = world.pk["cert-a"]
    assert [a.uid for a in world.store.alerts(org, limit=10, acknowledged=True)] == [older.uid]
    assert [a.uid for a in world.store.alerts(org, limit=10, acknowledged=False)] == [newer.uid]
    assert [a.uid for a in world.store.alerts(org, limit=10)] == [newer.uid, older.uid]
    assert world.store.alerts(world.pk["cert-b"], limit=10, acknowledged=False) == []


def test_unknown_alerts(world: World) -> None:
    with pytest.raises(NotFoundError):
        world.store.get_alert("no-such-alert")
    with pytest.raises(NotFoundError):
        world.store.acknowledge_alert(12345, actor="ann")
    assert world.store.audit_records(action="alert.ack") == []


def _alembic(store: Store, action: str, revision: str) -> None:
    url = store.url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        cfg = migrate._config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            getattr(command, action)(cfg, revision)
    finally:
        engine.dispose()


def test_migration_0012_down_and_up_keeps_the_alerts(world: World) -> None:
    newer, older = _two_alerts(world)
    world.store.acknowledge_alert(older.pk, actor="ann")
    _alembic(world.store, "downgrade", "0009")
    assert world.store.schema_revision() == "0009"
    _alembic(world.store, "upgrade", "head")
    assert world.store.schema_revision() == migrate.HEAD
    # The alerts are kept; acknowledgements made before the downgrade are not (the columns went).
    found = world.store.alerts(world.pk["cert-a"], limit=10)
    assert [(a.uid, a.acknowledged) for a in found] == [(newer.uid, None), (older.uid, None)]
