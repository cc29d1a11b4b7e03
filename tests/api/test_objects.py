"""The REST object endpoints (accord/api/objects.py), in process: search, one object, create and
update, import with review, the sharing preview; and regressions of the leaks this work found in
services/search.py and services/objects.py (test_leak_*)."""

from __future__ import annotations

import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from accord.app import build_app
from accord.policy.tokens import new_token
from accord.settings import load_settings
from accord.stix.markings import TLP2_AMBER, TLP2_CLEAR, TLP2_GREEN, TLP2_RED
from accord.storage.base import Collection, Provenance, State, Store
from tests.conftest import StepClock
from tests.policy.world import _ingest
from tests.taxii.conftest import bundle_of, indicator

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


@pytest.fixture
def store(backend_store: Store) -> Store:
    return backend_store


@dataclass
class World:
    """A and B (local) under a GREEN agreement; C (partner) in none. ``shared``: A writes, B and C
    read; ``secret``: only A knows it (an agreement still reaches B's view of A's GREEN data there)."""

    store: Store
    client: TestClient
    shared: Collection
    secret: Collection
    tokens: dict[str, str]

    def user(self, org: str, role: str) -> str:
        username = f"{org.lower()}-{role}"
        self.store.add_user(username, org=org, role=role)
        token, digest = new_token()
        self.store.add_token(username, digest)
        self.tokens[username] = token
        return username

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def send(self, who: str, method: str, path: str, body: Any, **params: Any) -> Any:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        return self.client.request(method, path, content=content, params=params,
                                   headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def seed(self, org: str, collection: Collection, *objects: dict[str, Any], state: State = State.PUBLISHED,
             author: str | None = None) -> None:
        org_pk = self.store.get_org(org).pk
        _ingest(self.store, collection, list(objects), Provenance(org_pk, state=state, owner_name=org, author=author))


@pytest.fixture
def world(store: Store, tmp_path: Path, clock: StepClock) -> World:
    for name, kind in (("A", "local"), ("B", "local"), ("C", "partner")):
        store.add_org(name, kind=kind)
    shared = store.add_collection("shared", alias="shared", default_tlp="amber")
    secret = store.add_collection("Operation Nightjar", alias="nightjar", default_tlp="amber")
    store.set_grant(shared, "A", can_read=True, can_write=True)
    store.set_grant(shared, "B", can_read=True, can_write=False)
    store.set_grant(shared, "C", can_read=True, can_write=False)
    store.set_grant(secret, "A", can_read=True, can_write=True)
    store.add_agreement("a-b", parties=["A", "B"], max_tlp="green", onward=False, valid_from=None, valid_until=None,
                        actor="test")
    settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false"})
    w = World(store, TestClient(build_app(settings, store, clock=clock)), shared, secret, {})
    for org, role in (("A", "analyst"), ("A", "publisher"), ("A", "reader"), ("B", "reader"), ("C", "reader"),
                      ("B", "node-admin")):
        w.user(org, role)
    return w


def ids(answer: Any) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [o["id"] for o in answer.json()["objects"]]


# -- search -----------------------------------------------------------------------------------------
def test_search_is_gated_newest_first_with_facets_and_a_cursor(world: World) -> None:
    green = [indicator(i, object_marking_refs=[TLP2_GREEN]) for i in range(5)]
    amber = indicator(9, object_marking_refs=[TLP2_AMBER])
    for obj in green:
        world.seed("A", world.shared, obj)
    world.seed("A", world.shared, amber)
    assert ids(world.get("a-reader", "/api/v1/objects")) == [amber["id"], *[o["id"] for o in reversed(green)]]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = world.get("b-reader", "/api/v1/objects", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [o["id"] for o in page["objects"]]
        first = page["objects"][0]
        assert first["_accord"]["owner"] == "A" and first["_accord"]["tlp"] == "green"
        assert first["_accord"]["collection"] == "shared" and first["_accord"]["state"] == "published"
        if cursor is None:  # the first page's facets count every match
            assert page["facets"]["tlp"] == [{"value": "green", "count": 5}] and not page["facets_sampled"]
        cursor = page.get("next")
        if cursor is None:
            break
    assert seen == [o["id"] for o in reversed(green)]
    assert ids(world.get("c-reader", "/api/v1/objects")) == []
    assert world.get("c-reader", "/api/v1/objects").json()["facets"]["type"] == []


@pytest.mark.parametrize(("params", "named"), [
    ({"limit": "0"}, "limit"), ({"tlp": "purple"}, "tlp"), ({"state": "gone"}, "state"),
    ({"added_after": "yesterday"}, "added_after"), ({"cursor": "!!"}, "cursor"), ({"received": "maybe"}, "received"),
    ({"value": "not a value"}, "value"), ({"collection": "no-such"}, "collection"), ({"q": "a\x00b"}, "q"),
])
def test_search_parameter_errors_name_the_parameter(world: World, params: dict[str, str], named: str) -> None:
    answer = world.get("a-reader", "/api/v1/objects", **params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["detail"].startswith(f"'{named}'")


# -- one object -------------------------------------------------------------------------------------
def test_object_detail_versions_edges_receipts(world: World) -> None:
    first = indicator(1, object_marking_refs=[TLP2_GREEN])
    second = {**first, "modified": "2026-02-01T00:00:00.000Z", "name": "renamed"}
    malware = {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "is_family": False,
               "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "Hidden Bear",
               "object_marking_refs": [TLP2_AMBER]}
    rel = {"type": "relationship", "spec_version": "2.1", "id": f"relationship--{uuid.uuid4()}",
           "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
           "relationship_type": "indicates", "source_ref": first["id"], "target_ref": malware["id"],
           "object_marking_refs": [TLP2_GREEN]}
    world.seed("A", world.shared, first, malware, rel, author="a-publisher")
    world.seed("A", world.shared, second, author="a-publisher")
    mine = world.get("a-reader", f"/api/v1/objects/{first['id']}").json()
    assert mine["current"]["name"] == "renamed" and mine["current"]["_accord"]["version"] == second["modified"]
    assert [v["version"] for v in mine["versions"]] == [first["modified"], second["modified"]]
    assert mine["versions"][1]["changes"][0]["property"] == "modified"
    assert mine["versions"][0]["author"] == "a-publisher"
    (edge,) = mine["edges"]
    assert edge["object"]["name"] == "Hidden Bear" and edge["via"] == rel["id"] and edge["direction"] == "out"
    assert mine["receipts"] == []
    theirs = world.get("b-reader", f"/api/v1/objects/{first['id']}").json()
    assert theirs["receipts"] is None and theirs["versions"][0]["author"] is None  # the owner's business
    (edge,) = theirs["edges"]
    assert edge == {"label": "indicates", "direction": "out", "id": malware["id"], "object": None, "via": rel["id"]}
    assert "Hidden Bear" not in world.get("b-reader", f"/api/v1/objects/{first['id']}").text
    receipts = world.get("a-reader", f"/api/v1/objects/{first['id']}").json()["receipts"]
    assert {(r["org"], r["agreement"], r["channel"]) for r in receipts} == {("B", "a-b", "rest")}


def test_hidden_and_missing_objects_answer_the_same_404(world: World) -> None:
    hidden = indicator(1, object_marking_refs=[TLP2_RED])
    world.seed("A", world.shared, hidden)
    a = world.get("b-reader", f"/api/v1/objects/{hidden['id']}")
    b = world.get("b-reader", f"/api/v1/objects/indicator--{uuid.uuid4()}")
    assert a.status_code == b.status_code == 404 and a.content == b.content
    assert dict(a.headers) == {**dict(b.headers), "content-length": a.headers["content-length"]}


# -- writes -----------------------------------------------------------------------------------------
def test_create_as_analyst_is_a_draft_as_publisher_published(world: World) -> None:
    one = indicator(1)
    answer = world.send("a-analyst", "POST", "/api/v1/objects", one, collection="shared")
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"collection": world.shared.id, "state": "draft",
                             "objects": [{"id": one["id"], "version": one["modified"], "status": "stored"}]}
    two, three = indicator(2), indicator(3)
    answer = world.send("a-publisher", "POST", "/api/v1/objects", bundle_of(two, three), collection="shared")
    assert answer.status_code == 201 and answer.json()["state"] == "published"
    assert world.send("a-publisher", "POST", "/api/v1/objects", indicator(4), collection="shared",
                      draft="true").json()["state"] == "draft"
    assert world.send("b-reader", "POST", "/api/v1/objects", indicator(5), collection="shared").status_code == 403
    assert world.send("b-reader", "POST", "/api/v1/objects", indicator(5), collection="nightjar").status_code == 404
    assert world.send("a-analyst", "POST", "/api/v1/objects", indicator(5)).status_code == 400


def test_invalid_objects_store_nothing_and_every_problem_is_reported(world: World) -> None:
    good = indicator(1)
    bad = {**indicator(2), "pattern": "[not a pattern", "created": "yesterday"}
    answer = world.send("a-publisher", "POST", "/api/v1/objects", bundle_of(good, bad), collection="shared")
    assert answer.status_code == 400, answer.text
    problems = answer.json()["error"]["problems"]
    assert {p["property"] for p in problems} >= {"pattern", "created"}
    assert all(p["object_id"] == bad["id"] for p in problems)
    assert ids(world.get("a-reader", "/api/v1/objects")) == []
    conflict = {**good, "name": "other"}
    world.seed("A", world.shared, good)
    answer = world.send("a-publisher", "POST", "/api/v1/objects", bundle_of(indicator(3), conflict),
                        collection="shared")
    assert answer.status_code == 409 and answer.json()["error"]["problems"][0]["object_id"] == good["id"]
    assert ids(world.get("a-reader", "/api/v1/objects")) == [good["id"]]  # the other one was rolled back


def test_update_is_a_later_version_of_ones_own_object(world: World) -> None:
    obj = indicator(1, object_marking_refs=[TLP2_GREEN])
    world.seed("A", world.shared, obj)
    path = f"/api/v1/objects/{obj['id']}"
    same = world.send("a-publisher", "PUT", path, obj)
    assert same.status_code == 400 and same.json()["error"]["problems"][0]["property"] == "modified"
    other = world.send("a-publisher", "PUT", path, {**indicator(2), "modified": "2027-01-01T00:00:00.000Z"})
    assert other.status_code == 400 and other.json()["error"]["problems"][0]["property"] == "id"
    newer = {**obj, "modified": "2026-03-01T00:00:00.000Z", "name": "newer"}
    answer = world.send("a-analyst", "PUT", path, newer)
    assert answer.status_code == 200 and answer.json()["state"] == "draft", answer.text
    assert answer.json()["collection"] == world.shared.id
    assert world.send("b-reader", "PUT", path, {**newer, "modified": "2026-04-01T00:00:00.000Z"}).status_code == 403
    missing = world.send("b-reader", "PUT", f"/api/v1/objects/indicator--{uuid.uuid4()}", newer)
    red = indicator(3, object_marking_refs=[TLP2_RED])
    world.seed("A", world.shared, red)
    hidden = world.send("b-reader", "PUT", f"/api/v1/objects/{red['id']}", red)
    assert missing.status_code == hidden.status_code == 404 and missing.content == hidden.content


def test_import_preview_stores_nothing_then_commit_stores_what_was_kept(world: World) -> None:
    text = b"Seen today: 198.51.100.7 and evil.example.com contacting the C2."
    preview = world.send("a-analyst", "POST", "/api/v1/import/preview", text, format="text")
    assert preview.status_code == 200, preview.text
    found = preview.json()
    assert found["format"] == "text" and found["review_required"] and found["objects"]
    assert ids(world.get("a-reader", "/api/v1/objects")) == []
    kept = found["objects"][:1]
    committed = world.send("a-analyst", "POST", "/api/v1/import/commit", {"objects": kept}, collection="shared",
                           tlp="green")
    assert committed.status_code == 200, committed.text
    assert committed.json()["stored"] == 1 and committed.json()["state"] == "draft"
    (got,) = world.get("a-reader", "/api/v1/objects").json()["objects"]
    assert got["id"] == kept[0]["id"] and got["_accord"]["tlp"] == "green"
    empty = world.send("a-analyst", "POST", "/api/v1/import/preview", b"  ")
    assert empty.status_code == 400 and empty.json()["error"]["detail"].startswith("'content'")
    none_kept = world.send("a-analyst", "POST", "/api/v1/import/commit", {"objects": []}, collection="shared")
    assert none_kept.status_code == 400 and none_kept.json()["error"]["detail"].startswith("'keep'")


# -- the sharing preview ----------------------------------------------------------------------------
def test_sharing_preview_writes_no_receipt(world: World) -> None:
    green, amber = indicator(1, object_marking_refs=[TLP2_GREEN]), indicator(2, object_marking_refs=[TLP2_AMBER])
    clear = indicator(3, object_marking_refs=[TLP2_CLEAR])
    world.seed("A", world.shared, green, amber, clear)
    world.seed("B", world.shared, indicator(4, object_marking_refs=[TLP2_CLEAR]))
    before = len(world.store.audit_records(action="receive", limit=1000))
    answer = world.get("a-reader", "/api/v1/preview", org="B")
    assert answer.status_code == 200, answer.text
    assert set(ids(answer)) == {green["id"], clear["id"]}  # A's data only
    assert len(world.store.audit_records(action="receive", limit=1000)) == before
    # C is in no agreement with A: not an organisation A's members may know (GET /api/v1/orgs).
    assert world.get("a-reader", "/api/v1/preview", org="C").content == \
        world.get("a-reader", "/api/v1/preview", org="nobody").content
    one = world.get("a-reader", "/api/v1/preview", object=green["id"]).json()
    assert one["answers"] == [{"org": "B", "kind": "local", "receives": True, "rule": "agreement",
                               "agreement": "a-b"}]
    assert world.get("b-reader", "/api/v1/preview", object=green["id"]).status_code == 404


# -- leaks found in the services (regressions) ------------------------------------------------------
def test_leak_value_search_does_not_match_a_pattern_hidden_by_a_granular_marking(world: World) -> None:
    """The observable index holds the whole object's values; a reader whose copy lacks the pattern
    (granular AMBER above the GREEN agreement) must not find the object by that value."""
    obj = indicator(7, object_marking_refs=[TLP2_GREEN],
                    granular_markings=[{"marking_ref": TLP2_AMBER, "selectors": ["pattern"]}])
    world.seed("A", world.shared, obj)
    assert ids(world.get("a-reader", "/api/v1/objects", value="10.0.0.7")) == [obj["id"]]
    assert ids(world.get("b-reader", "/api/v1/objects")) == [obj["id"]]  # B sees the object...
    assert ids(world.get("b-reader", "/api/v1/objects", value="10.0.0.7")) == []  # ...not its pattern
    assert world.get("b-reader", "/api/v1/objects", value="10.0.0.7").json()["facets"]["type"] == []


def test_leak_edge_through_a_reference_hidden_by_a_granular_marking(world: World) -> None:
    """A report's object_refs under a granular AMBER marking are removed from B's copy: B must not
    learn from the object page of an indicator that the report contains it."""
    target = indicator(1, object_marking_refs=[TLP2_GREEN])
    report = {"type": "report", "spec_version": "2.1", "id": f"report--{uuid.uuid4()}", "name": "Campaign",
              "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
              "published": "2026-01-01T00:00:00Z", "object_refs": [target["id"]],
              "object_marking_refs": [TLP2_GREEN],
              "granular_markings": [{"marking_ref": TLP2_AMBER, "selectors": ["object_refs"]}]}
    world.seed("A", world.shared, target, report)
    assert [e["via"] for e in world.get("a-reader", f"/api/v1/objects/{target['id']}").json()["edges"]] == \
        [report["id"]]
    assert world.get("b-reader", f"/api/v1/objects/{target['id']}").json()["edges"] == []


def test_leak_collection_the_reader_may_not_know_is_never_named(world: World) -> None:
    """B sees A's GREEN object in 'nightjar' under the agreement, but B has no grant there: the
    collection's name must not appear (hits, facets, versions), and as a filter it is unknown."""
    obj = indicator(1, object_marking_refs=[TLP2_GREEN])
    world.seed("A", world.secret, obj)
    page = world.get("b-reader", "/api/v1/objects")
    assert ids(page) == [obj["id"]]
    assert "nightjar" not in page.text and "Nightjar" not in page.text
    assert page.json()["objects"][0]["_accord"]["collection"] is None
    detail = world.get("b-reader", f"/api/v1/objects/{obj['id']}")
    assert "ightjar" not in detail.text
    known, unknown = (world.get("b-reader", "/api/v1/objects", collection=c) for c in ("nightjar", "no-such"))
    assert known.status_code == unknown.status_code == 400
    assert known.json()["error"]["detail"].replace("nightjar", "X") == \
        unknown.json()["error"]["detail"].replace("no-such", "X")
    assert "nightjar" in world.get("a-reader", "/api/v1/objects").text


def test_leak_owner_filter_is_no_organisation_oracle(world: World) -> None:
    """``owner=NAME`` answered 400 for a name that is no organisation and 200 for one that is, so
    anyone could enumerate the node's membership; now both match nothing."""
    c, nobody = (world.get("b-reader", "/api/v1/objects", owner=o) for o in ("C", "nobody"))
    assert c.status_code == nobody.status_code == 200 and c.json() == nobody.json()
