"""Hypothesis properties of the whole ingest path on a real SQLite store:

* parse -> store -> export is the identity on generated valid objects;
* re-importing is idempotent (same statuses, same date_added, nothing new);
* a random corruption of a valid object is refused with a structured problem and stores nothing.
"""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.services.ingest import ingest_document
from accord.stix.markings import TLP2_ID_FOR_LEVEL
from accord.stix.stream import StixDocument
from accord.stix.validate import validate_object
from accord.storage.base import Status, VersionQuery
from accord.storage.sqlite import SQLiteStore
from tests.conftest import node_provenance

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

uuids = st.uuids(version=4).map(str)
text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
# created/modified must be precise to the millisecond (STIX 2.1 section 3.2); fixed width, so
# string order is time order.
stamps = st.builds(
    lambda y, mo, d, h, mi, s, ms: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}.{ms:03d}Z",
    st.integers(2000, 2030), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59), st.integers(0, 999))
markings = st.lists(st.sampled_from(sorted(TLP2_ID_FOR_LEVEL.values())), max_size=2, unique=True)
custom = st.dictionaries(st.from_regex(r"x_[a-z]{3,10}", fullmatch=True),
                         st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | text,
                                      lambda c: st.lists(c, max_size=3) | st.dictionaries(
                                          st.from_regex(r"[a-z]{1,8}", fullmatch=True), c, max_size=3),
                                      max_leaves=6),
                         max_size=2)
domains = st.from_regex(r"[a-z][a-z0-9]{0,10}\.(com|org|example|net)", fullmatch=True)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


@st.composite
def sdo(draw: st.DrawFn) -> dict[str, Any]:
    created = draw(stamps)
    modified = max(created, draw(stamps))  # same format family sorts as time
    kind = draw(st.sampled_from(["indicator", "malware", "identity", "threat-actor", "attack-pattern"]))
    obj: dict[str, Any] = {"type": kind, "spec_version": "2.1", "id": f"{kind}--{draw(uuids)}",
                           "created": created, "modified": modified}
    if kind == "indicator":
        value = draw(domains | ipv4)
        path = "domain-name:value" if value[0].isalpha() else "ipv4-addr:value"
        obj.update(pattern=f"[{path} = '{value}']", pattern_type="stix", valid_from=created)
    elif kind == "malware":
        obj.update(name=draw(text), is_family=draw(st.booleans()))
    else:
        obj["name"] = draw(text)
    if draw(st.booleans()):
        obj["description"] = draw(text)
    if marks := draw(markings):
        obj["object_marking_refs"] = marks
    obj.update(draw(custom))
    return obj


@st.composite
def sco(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["domain-name", "ipv4-addr"]))
    value = draw(domains if kind == "domain-name" else ipv4)
    return {"type": kind, "spec_version": "2.1", "id": f"{kind}--{uuid.uuid5(uuid.NAMESPACE_DNS, value)}",
            "value": value, **draw(custom)}


valid_objects = st.lists(sdo() | sco(), min_size=1, max_size=6)


def fresh_store(template: Path, tmp_path: Path) -> SQLiteStore:
    """A new initialised store: a copy of one migrated once per session (migrations are slow)."""
    path = tmp_path / f"{uuid.uuid4()}.db"
    shutil.copyfile(template, path)
    return SQLiteStore(f"sqlite:///{path}")


def ingest(store: SQLiteStore, objects: list[Any]) -> list[tuple[Status, int | None]]:
    doc = StixDocument(io.BytesIO(orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                                                "objects": objects})).read)
    with store.transaction() as tx:
        report = ingest_document(tx, store.get_collection("default"), doc, node_provenance(store), keep_results=True)
    assert not report.refused, report.refused
    return [(r.status, r.date_added) for r in report.results]


@SETTINGS
@given(objects=valid_objects)
def test_store_then_export_is_identity_and_reimport_is_idempotent(objects: list[dict[str, Any]],
                                                                   template_db: Path, tmp_path: Path) -> None:
    # Make versions unique, as a producer would: one object per (id, version).
    objects = list({(o["id"], o.get("modified", orjson.dumps(o))): o for o in objects}.values())
    store = fresh_store(template_db, tmp_path)
    try:
        first = ingest(store, objects)
        assert [s for s, _ in first] == [Status.STORED] * len(objects)
        exported = [orjson.loads(b) for b in store.iter_bodies(VersionQuery())]
        assert exported == objects
        assert [orjson.dumps(o) for o in exported] == [orjson.dumps(o) for o in objects]
        again = ingest(store, objects)
        assert [s for s, _ in again] == [Status.UNCHANGED] * len(objects)
        assert [d for _, d in again] == [d for _, d in first]
        assert store.stats().total_versions == len(objects)
    finally:
        store.close()


def _corruptions(obj: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """(property, new value or DELETE, expected problem property prefix) that break the object."""
    out: list[tuple[str, Any, str]] = [
        ("type", obj["type"].upper(), "type"),
        ("id", obj["id"].replace("--", "-"), "id"),
        ("id", "campaign--" + obj["id"].split("--")[1], "id"),
        ("id", DELETE, "id"),
        ("spec_version", "2.3", "spec_version"),
        ("object_marking_refs", ["indicator--" + str(uuid.uuid4())], "object_marking_refs"),
    ]
    if "created" in obj:
        out += [
            ("created", "2020-02-30T00:00:00Z", "created"),
            ("created", "yesterday", "created"),
            ("modified", DELETE, "modified"),
            ("modified", "1999-01-01T00:00:00Z", "modified"),
            ("created_by_ref", "malware--" + str(uuid.uuid4()), "created_by_ref"),
        ]
    if obj["type"] == "indicator":
        out += [("pattern", "[domain-name:value = ", "pattern"), ("pattern_type", DELETE, "pattern_type")]
    if obj["type"] in ("domain-name", "ipv4-addr"):
        out += [("value", DELETE, "value"), ("value", 42, "value")]
    return out


DELETE = object()


@SETTINGS
@given(obj=sdo() | sco(), data=st.data())
def test_corrupted_object_is_refused_with_a_structured_problem(obj: dict[str, Any], data: st.DataObject,
                                                               template_db: Path, tmp_path: Path) -> None:
    prop, value, expected = data.draw(st.sampled_from(_corruptions(obj)))
    bad = dict(obj)
    if value is DELETE:
        bad.pop(prop, None)
    else:
        bad[prop] = value
    problems = validate_object(bad, index=0)
    assert problems, f"corruption {prop}={value!r} was accepted"
    assert any((p.property or "").startswith(expected) for p in problems), problems
    assert all(p.reason for p in problems)
    store = fresh_store(template_db, tmp_path)
    try:
        doc = StixDocument(io.BytesIO(orjson.dumps([bad])).read)
        with store.transaction() as tx:
            report = ingest_document(tx, store.get_collection("default"), doc, node_provenance(store))
        assert report.refused and report.stored == 0
        assert store.stats().total_versions == 0
        assert store.stats().observables == 0
    finally:
        store.close()
