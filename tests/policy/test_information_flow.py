"""Information flow through the sharing gate: every real read path returns exactly what the rules allow.

Random worlds (tests/policy/world.py) are built in a real store through its API and read back,
per reader, through the real paths; the answer of each is compared with the oracle
(tests/policy/oracle.py), which is written from the rules alone:

* the store-level listing TAXII uses (policy.gate.visibility + objects_predicate +
  store.list_versions + services.disclose), per collection, at instants around the agreement
  window boundaries;
* ``accord export --as USER``, ``--for-org ORG`` and the operator's ungated export (CLI);
* a live ``accord serve``: objects, manifest, one object and its versions (tests below the worlds);
* granular markings on ``description``: present exactly when the rules let the reader have them.

Each world is a copy of one initialised SQLite template; a smaller sample runs on PostgreSQL.
The number of cases checked is printed at the end of the run (tests/policy/conftest.py).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings

from accord.cli.main import cli
from accord.policy.gate import objects_predicate, visibility
from accord.policy.viewer import Viewer
from accord.services.disclose import disclose
from accord.storage import open_store
from accord.storage.base import ListQuery, Store, VersionMatch
from accord.storage.sql import micros_now
from tests.policy.oracle import World
from tests.policy.tally import CASES, RULES, WORLDS
from tests.policy.world import Built, build, materialise, postgres_copy, sqlite_copy, worlds

ALL = VersionMatch(all=True)
RUNNER = CliRunner()

# Regressions of findings this test made, now fixed, are at the end (test_f1_*, test_f2_*).


def deferred_reader(world: World, username: str) -> bool:
    """Readers left to a finding's own test; none while every finding is fixed."""
    return False


def key_of(obj: dict[str, Any]) -> tuple[str, str]:
    return (obj["id"], obj.get("modified") or obj["created"])


def check_bodies(world: World, reader: str | None, objects: list[dict[str, Any]], expected: set[tuple[str, str]],
                 t: int, where: str) -> None:
    """``objects`` (what a path returned to ``reader``; None: the operator) are exactly ``expected``,
    each once, with the granularly marked description present exactly when the rules allow."""
    got = [key_of(o) for o in objects]
    assert len(got) == len(set(got)), f"{where}: a version returned twice"
    versions = world.by_key()
    extra, missing = set(got) - expected, expected - set(got)
    assert not extra and not missing, (
        f"{where}: returned versions the rules forbid: {[versions.get(k) for k in sorted(extra)]}; "
        f"missed versions the rules allow: {[versions.get(k) for k in sorted(missing)]}; "
        f"effective TLPs: {[world.tlp(versions[k]) for k in sorted(extra | missing) if k in versions]}")
    for obj in objects:
        v = versions[key_of(obj)]
        if v.granular_ref is not None:
            kept = reader is None or world.granular_kept(reader, v, t)
            assert ("description" in obj) == kept, (
                f"{where}: granular marking {v.granular_ref} on description of {v} "
                f"(object TLP {world.tlp(v)}, marking level {world.ref_level(v.granular_ref)}): "
                f"rules say {'kept' if kept else 'removed'}")


def store_listing(store: Store, built: Built, username: str, t: int, latest: bool = False) -> None:
    """The TAXII listing path at instant ``t``, for every collection of the world."""
    world = built.world
    org = world.users[username][0]
    viewer = Viewer.of(store.get_user(username))
    vis = visibility(store, viewer, t)
    for name, collection in built.collections.items():
        predicate = objects_predicate(vis, viewer, store, collection)
        query = ListQuery(collection.pk, versions=VersionMatch(last=True) if latest else ALL, limit=100_000)
        rows = store.list_versions(query, predicate)
        shown = disclose(store, vis, rows, channel="taxii", subject=collection.id)
        objects = [orjson.loads(d.body) for d in shown if d.body is not None]
        allowed = world.visible(org, t, name) if world.reaches(username, name) else set()
        role = world.users[username][1]
        where = f"store listing of {name} for {username} ({org}, {role}) at T{t - built_t(built):+d}"
        if latest:
            # The newest version of each object, and only what the reader may see.
            ids = [o["id"] for o in objects]
            assert len(ids) == len(set(ids)), f"{where}: two versions of one object under match[version]=last"
            assert {key_of(o) for o in objects} <= allowed, f"{where} (last): {objects}"
            assert set(ids) == {i for i, _ in allowed}, f"{where} (last): an object the reader may see is missing"
            CASES["store listing, last version"] += 1
        else:
            check_bodies(world, org, objects, allowed, t, where)
            CASES["store listing, every version"] += 1


def built_t(built: Built) -> int:
    return getattr(built, "t", 0)


def export(url: str, *args: str) -> list[dict[str, Any]]:
    result = RUNNER.invoke(cli, ["--db", url, "export", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    objects: list[dict[str, Any]] = orjson.loads(result.stdout_bytes)["objects"]
    return objects


def stable(world: World, reader: str, before: int, after: int, collection: str | None = None
           ) -> set[tuple[str, str]] | None:
    """What ``reader`` may see during [before, after], or None if that changed meanwhile."""
    first, last = world.visible(reader, before, collection), world.visible(reader, after, collection)
    return first if first == last else None


def check_exports(url: str, built: Built) -> None:
    world = built.world
    objects = export(url)
    check_bodies(world, None, objects, {v.key for v in world.versions}, 0, "operator export")
    CASES["export (operator)"] += 1
    readers = [(org, "--as", username) for username, (org, _) in world.users.items()
               if not deferred_reader(world, username)]
    for org, option, name in readers + [(org, "--for-org", org) for org in world.kinds]:
        before = micros_now()
        objects = export(url, option, name)
        expected = stable(world, org, before, micros_now())
        if expected is not None:
            check_bodies(world, org, objects, expected, before, f"export {option} {name} ({org})")
            CASES[f"export {option}"] += 1


def check_world(url: str, spec: tuple[World, frozenset[str]], *, label: str) -> None:
    world_spec, resumed = spec
    t = micros_now()
    tag = f"w{uuid.uuid4().hex[:6]}-"
    world = materialise(world_spec, t, tag)
    store = open_store(url)
    try:
        built = build(store, world, frozenset(tag + n for n in resumed))
        built.t = t  # type: ignore[attr-defined]
        for org in world.kinds:
            for v in world.versions:
                RULES[world.rule(org, v, t) or "hidden"] += 1
        for username in world.users:
            if deferred_reader(world, username):
                continue
            for instant in (t - 1, t, t + 1):
                store_listing(store, built, username, instant)
            store_listing(store, built, username, t, latest=True)
        check_exports(url, built)
    finally:
        store.close()
    WORLDS[label] += 1


def flow_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


@flow_settings(450)
@given(spec=worlds())
def test_random_worlds_sqlite(template_db: Path, spec: tuple[World, frozenset[str]]) -> None:
    with sqlite_copy(template_db) as path:
        check_world(f"sqlite:///{path}", spec, label="sqlite")


@flow_settings(12)
@given(spec=worlds())
def test_random_worlds_each_backend(backend: str, request: pytest.FixtureRequest, template_db: Path,
                                    spec: tuple[World, frozenset[str]]) -> None:
    if backend == "sqlite":
        with sqlite_copy(template_db) as path:
            check_world(f"sqlite:///{path}", spec, label="sqlite")
        return
    with postgres_copy(request, "accord_flow") as url:
        check_world(url, spec, label="postgres")


# -- findings: minimal reproductions -----------------------------------------------------------

def _small_world(template_db: Path, workdir: Path) -> tuple[str, Store, Any]:
    path = workdir / "accord.db"
    shutil.copyfile(template_db, path)
    url = f"sqlite:///{path}"
    store = open_store(url)
    a = store.add_org("a", kind="local")
    store.add_org("b", kind="local")
    store.add_user("alice", org="a", role="reader")
    store.add_user("root", org="b", role="node-admin")
    collection = store.add_collection("c", alias="c", default_tlp="clear")
    return url, store, (a, collection)


def _indicator(name: str, **extra: Any) -> dict[str, Any]:
    return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": name,
            "pattern": "[ipv4-addr:value = '10.0.0.1']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z", **extra}


def test_f1_node_admin_sees_no_clear_without_grant(template_db: Path, tmp_path: Path) -> None:
    from accord.storage.base import Provenance
    from tests.policy.world import _ingest

    url, store, (a, collection) = _small_world(template_db, tmp_path)
    try:
        _ingest(store, collection, [_indicator("clear by default")], Provenance(a.pk, owner_name="a"))
        # Org b has no grant on c and no agreement with a: the rules give root nothing.
        assert export(url, "--as", "root") == []
    finally:
        store.close()


def test_f2_owner_keeps_property_under_unknown_granular_marking(template_db: Path, tmp_path: Path) -> None:
    from accord.storage.base import Provenance
    from tests.policy.world import _ingest

    url, store, (a, collection) = _small_world(template_db, tmp_path)
    try:
        marked = _indicator("granular", description="ours", granular_markings=[
            {"marking_ref": f"marking-definition--{uuid.uuid4()}", "selectors": ["description"]}])
        _ingest(store, collection, [marked], Provenance(a.pk, owner_name="a"))
        (got,) = export(url, "--as", "alice")
        assert got.get("description") == "ours"
    finally:
        store.close()


@pytest.mark.parametrize(("onward", "origin", "level", "seen"), [
    (True, True, "green", True),  # rule 2d
    (False, True, "green", False),  # the first agreement does not allow onward sharing
    (True, False, "green", False),  # not received from another node
    (True, True, "amber", False),  # onward is for GREEN only
    (True, True, "clear", True),  # CLEAR in a collection R may read (2a)
])
def test_onward_through_a_local_bridge(template_db: Path, tmp_path: Path, onward: bool, origin: bool, level: str,
                                       seen: bool) -> None:
    """O (partner) -> L (local) under an onward agreement, L -> R under a second one: R gets O's
    received GREEN data, and nothing else, through the export paths and the store listing."""
    from accord.storage.base import Provenance
    from tests.policy.oracle import TLP2, Agreement, Version
    from tests.policy.world import _ingest

    path = tmp_path / "accord.db"
    shutil.copyfile(template_db, path)
    url = f"sqlite:///{path}"
    store = open_store(url)
    try:
        o, _, r = (store.add_org(n, kind=k) for n, k in (("o", "partner"), ("l", "local"), ("r", "partner")))
        store.add_user("reader", org="r", role="reader")
        collection = store.add_collection("c", alias="c", default_tlp="amber")
        store.set_grant(collection, "r", can_read=True, can_write=False)
        store.add_agreement("ol", parties=["o", "l"], max_tlp="amber", onward=onward, valid_from=None,
                            valid_until=None, actor="test")
        store.add_agreement("lr", parties=["l", "r"], max_tlp="green", onward=False, valid_from=None,
                            valid_until=None, actor="test")
        obj = _indicator("received", object_marking_refs=[TLP2[level]])
        _ingest(store, collection, [obj], Provenance(o.pk, owner_name="o", origin_org=o.pk if origin else None,
                                                     origin_node="peer.example" if origin else None))
        world = World(kinds={"o": "partner", "l": "local", "r": "partner"}, users={"reader": ("r", "reader")},
                      default_tlp={"c": "amber"}, grants={("c", "r"): (True, False)},
                      agreements=[Agreement("ol", frozenset({"o", "l"}), "amber", onward=onward),
                                  Agreement("lr", frozenset({"l", "r"}), "green")],
                      versions=[Version(obj["id"], obj["modified"], "indicator", "c", "o", (TLP2[level],),
                                        origin="o" if origin else None)])
        now = micros_now()
        assert world.sees("r", world.versions[0], now) is seen  # the oracle agrees with the case table
        expected = {key_of(obj)} if seen else set()
        for args in (["--as", "reader"], ["--for-org", "r"]):
            check_bodies(world, "r", export(url, *args), expected, now, f"export {args}")
            CASES["onward table, export"] += 1
        built = Built(world, {"c": collection}, {"o": o.pk, "r": r.pk})
        built.t = now  # type: ignore[attr-defined]
        store_listing(store, built, "reader", now)
    finally:
        store.close()
