"""The REST administration endpoints (accord/api/admin.py), in process, on both backends: each
endpoint, who may use it (every role against every endpoint), 404s that do not tell "absent"
from "not yours", the 400 details, paging without skips or repeats, and counts that never
include what the caller may not see."""

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
from accord.stix.markings import TLP2_AMBER, TLP2_GREEN
from accord.storage.base import Collection, Store
from tests.conftest import StepClock
from tests.taxii.conftest import TAXII, bundle_of, indicator

# Starlette would have its test client run on the httpx2 fork; the httpx it runs on today is the one
# Accord depends on, so the notice says nothing about these tests.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ROLES = ("reader", "analyst", "publisher", "org-admin", "node-admin")


@pytest.fixture
def store(backend_store: Store) -> Store:
    return backend_store


@dataclass
class World:
    """Organisations A and B (local, under a GREEN agreement) and P (a partner, in no agreement);
    a collection A writes and B reads, one only A uses, and a user of each role in A and B."""

    store: Store
    client: TestClient
    shared: Collection
    hidden: Collection
    tokens: dict[str, str]  # "<org>-<role>" -> token
    names: dict[str, str]  # "<org>-<role>" -> username

    def get(self, who: str | None, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self._auth(who))

    def send(self, who: str | None, method: str, path: str, body: Any = None) -> Any:
        content = body if isinstance(body, bytes) else None if body is None else orjson.dumps(body)
        return self.client.request(method, path, content=content, headers=self._auth(who))

    def _auth(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    def user(self, org: str, role: str) -> str:
        username = f"{org.lower()}-{role}-{uuid.uuid4().hex[:6]}"
        self.store.add_user(username, org=org, role=role)
        token, digest = new_token()
        self.store.add_token(username, digest)
        self.tokens[username] = token
        return username

    def post_objects(self, who: str, collection: Collection, *objects: dict[str, object]) -> None:
        answer = self.client.post(f"/default/collections/{collection.id}/objects/",
                                  content=orjson.dumps(bundle_of(*objects)),
                                  headers={**self._auth(who), "Content-Type": TAXII, "Accept": TAXII})
        assert answer.status_code == 202 and answer.json()["success_count"] == len(objects), answer.text


@pytest.fixture
def world(store: Store, tmp_path: Path, clock: StepClock) -> World:
    for name, kind in (("A", "local"), ("B", "local"), ("P", "partner")):
        store.add_org(name, kind=kind)
    shared = store.add_collection("shared", alias="shared", default_tlp="amber")
    hidden = store.add_collection("hidden", alias="hidden-one")
    store.set_grant(shared, "A", can_read=True, can_write=True)
    store.set_grant(shared, "B", can_read=True, can_write=False)
    store.set_grant(hidden, "A", can_read=True, can_write=True)
    store.add_agreement("a-b", parties=["A", "B"], max_tlp="green", onward=False, valid_from=None, valid_until=None,
                        actor="test")
    settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false"})
    client = TestClient(build_app(settings, store, clock=clock), raise_server_exceptions=True)
    w = World(store, client, shared, hidden, {}, {})
    for org in ("A", "B"):
        for role in ROLES:
            if org == "B" and role == "node-admin":
                continue
            key = f"{org}-{role}"
            w.names[key] = w.user(org, role)
            w.tokens[key] = w.tokens[w.names[key]]
    return w


def error(answer: Any) -> str:
    detail: str = answer.json()["error"]["detail"]
    return detail


# -- agreements -------------------------------------------------------------------------------------
def test_agreements_listed_to_parties_and_hidden_from_others(world: World) -> None:
    world.store.add_agreement("b-p", parties=["B", "P"], max_tlp="amber", onward=False, valid_from=None,
                              valid_until=None, actor="test")
    assert [a["name"] for a in world.get("A-reader", "/api/v1/agreements").json()["agreements"]] == ["a-b"]
    assert {a["name"] for a in world.get("B-reader", "/api/v1/agreements").json()["agreements"]} == {"a-b", "b-p"}
    assert {a["name"] for a in world.get("A-node-admin", "/api/v1/agreements").json()["agreements"]} == {"a-b", "b-p"}
    one = world.get("A-reader", "/api/v1/agreements/a-b").json()
    assert (one["state"], one["parties"], one["max_tlp"], one["onward"]) == ("active", ["A", "B"], "green", False)
    assert one["collections"] == [] and one["types"] == [] and one["valid_from"] is None
    absent, foreign = world.get("A-reader", "/api/v1/agreements/nope"), world.get("A-reader", "/api/v1/agreements/b-p")
    assert absent.status_code == foreign.status_code == 404
    assert absent.json() == foreign.json() and absent.headers == foreign.headers


def test_add_and_change_an_agreement(world: World) -> None:
    body = {"name": "a-p", "parties": ["A", "P"], "max_tlp": "amber", "onward": True,
            "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2999-01-01T00:00:00Z", "collections": ["shared"],
            "types": ["indicator"]}
    for role in ("reader", "analyst", "publisher", "org-admin"):
        assert world.send(f"A-{role}", "POST", "/api/v1/agreements", body).status_code == 403
    added = world.send("A-node-admin", "POST", "/api/v1/agreements", body)
    assert added.status_code == 201, added.text
    shown = added.json()
    assert (shown["state"], shown["collections"], shown["types"]) == ("active", [world.shared.id], ["indicator"])
    assert shown["valid_from"].startswith("2020-01-01T00:00:00")
    assert world.send("A-node-admin", "POST", "/api/v1/agreements", body).status_code == 409
    (record,) = world.store.audit_records(action="agreement.add", agreement="a-p")
    assert record.actor == world.names["A-node-admin"]

    # A party who is not a node-admin is told no; a non-party is told there is nothing.
    assert world.send("A-org-admin", "POST", "/api/v1/agreements/a-p/suspend").status_code == 403
    assert world.send("B-org-admin", "POST", "/api/v1/agreements/a-p/suspend").json() == \
        world.send("B-org-admin", "POST", "/api/v1/agreements/none/suspend").json()
    for action, state in (("suspend", "suspended"), ("resume", "active"), ("end", "ended")):
        changed = world.send("A-node-admin", "POST", f"/api/v1/agreements/a-p/{action}")
        assert changed.status_code == 200 and changed.json()["state"] == state
    assert world.send("A-node-admin", "POST", "/api/v1/agreements/a-p/resume").status_code == 409
    assert [r.actor for r in world.store.audit_records(agreement="a-p")][-3:] == [world.names["A-node-admin"]] * 3


@pytest.mark.parametrize(("body", "fragment"), [
    ({"parties": ["A", "B"]}, "'name' is required"),
    ({"name": "x", "parties": ["A"]}, "'parties' must name at least two"),
    ({"name": "x", "parties": "A"}, "'parties' must be a list"),
    ({"name": "x", "parties": ["A", "Nowhere"]}, "'parties': unknown organisation 'Nowhere'"),
    ({"name": "x", "parties": ["A", "B"], "max_tlp": "purple"}, "'max_tlp': unknown TLP level 'purple'"),
    ({"name": "x", "parties": ["A", "B"], "valid_from": "yesterday"}, "'valid_from': 'yesterday' is not"),
    ({"name": "x", "parties": ["A", "B"], "valid_from": "2026-02-01T00:00:00Z",
      "valid_until": "2026-01-01T00:00:00Z"}, "'valid_until' must be later"),
    ({"name": "x", "parties": ["A", "B"], "collections": ["nope"]}, "'collections': unknown collection 'nope'"),
    ({"name": "x", "parties": ["A", "B"], "types": ["Not A Type"]}, "'types': 'Not A Type' is not"),
    ({"name": "x", "parties": ["A", "B"], "onward": "yes"}, "'onward' must be true or false"),
    ({"name": "x", "parties": ["A", "B"], "colour": 1}, "'colour' is not a property"),
    ({"name": "bad name", "parties": ["A", "B"]}, "'name' must be letters"),
])
def test_bad_agreement_input_names_the_property(world: World, body: dict[str, Any], fragment: str) -> None:
    answer = world.send("A-node-admin", "POST", "/api/v1/agreements", body)
    assert answer.status_code == 400 and fragment in error(answer), answer.text


# -- collections and grants ---------------------------------------------------------------------------
def test_collections_list_what_the_caller_may_use(world: World) -> None:
    def listed(who: str) -> dict[str, tuple[bool, bool]]:
        found = world.get(who, "/api/v1/collections").json()["collections"]
        return {c["alias"]: (c["can_read"], c["can_write"]) for c in found}

    assert listed("B-reader") == {"shared": (True, False)}
    assert listed("A-reader") == {"shared": (True, False), "hidden-one": (True, False)}
    assert listed("A-analyst") == {"shared": (True, True), "hidden-one": (True, True)}
    assert listed("A-node-admin") == {"default": (True, True), "shared": (True, True), "hidden-one": (True, True)}


def test_add_collection_and_manage_grants(world: World) -> None:
    body = {"title": "new", "alias": "new-one", "default_tlp": "green", "description": "for the test"}
    assert world.send("A-org-admin", "POST", "/api/v1/collections", body).status_code == 403
    added = world.send("A-node-admin", "POST", "/api/v1/collections", body)
    assert added.status_code == 201 and added.json()["default_tlp"] == "green"
    cid = added.json()["id"]
    assert world.store.audit_records(action="collection.add")[-1].subject == cid
    assert world.send("A-node-admin", "POST", "/api/v1/collections", body).status_code == 409
    bad = world.send("A-node-admin", "POST", "/api/v1/collections", {"title": "x", "default_tlp": "white"})
    assert bad.status_code == 400 and "'default_tlp': unknown TLP level 'white'" in error(bad)

    put = world.send("A-node-admin", "PUT", f"/api/v1/collections/{cid}/grants/B", {"can_read": True})
    assert put.status_code == 200 and (put.json()["can_read"], put.json()["can_write"]) == (True, False)
    assert world.get("A-node-admin", f"/api/v1/collections/{cid}/grants").json()["grants"] == [
        {"org": "B", "can_read": True, "can_write": False}]
    assert world.store.audit_records(action="grant.set")[-1].actor == world.names["A-node-admin"]
    # B may now see the collection, so B's org-admin is refused rather than told it is absent.
    assert world.get("B-org-admin", f"/api/v1/collections/{cid}/grants").status_code == 403
    assert world.send("B-org-admin", "PUT", f"/api/v1/collections/{cid}/grants/B", {"can_write": True}).status_code \
        == 403
    unknown = world.send("A-node-admin", "PUT", f"/api/v1/collections/{cid}/grants/Nowhere", {"can_read": True})
    assert unknown.status_code == 400 and "unknown organisation 'Nowhere'" in error(unknown)
    neither = world.send("A-node-admin", "PUT", f"/api/v1/collections/{cid}/grants/B", {"can_read": False})
    assert neither.status_code == 400 and "DELETE" in error(neither)
    gone = world.send("A-node-admin", "DELETE", f"/api/v1/collections/{cid}/grants/B")
    assert gone.status_code == 200 and world.get("A-node-admin", f"/api/v1/collections/{cid}/grants").json()[
        "grants"] == []
    # Gone again: B cannot tell the collection from one that does not exist.
    hidden = world.get("B-org-admin", f"/api/v1/collections/{cid}/grants")
    absent = world.get("B-org-admin", f"/api/v1/collections/{uuid.uuid4()}/grants")
    assert hidden.status_code == absent.status_code == 404 and hidden.json() == absent.json()


# -- organisations, users, tokens ---------------------------------------------------------------------
def test_orgs_are_those_the_caller_deals_with(world: World) -> None:
    assert [o["name"] for o in world.get("B-reader", "/api/v1/orgs").json()["orgs"]] == ["A", "B"]
    everyone = {o["name"]: o["kind"] for o in world.get("A-node-admin", "/api/v1/orgs").json()["orgs"]}
    assert everyone["P"] == "partner" and {"A", "B"} <= set(everyone)


def test_users_listed_and_added_by_role(world: World) -> None:
    assert {u["org"] for u in world.get("A-node-admin", "/api/v1/users").json()["users"]} >= {"A", "B"}
    assert {u["org"] for u in world.get("A-org-admin", "/api/v1/users").json()["users"]} == {"A"}
    for role in ("reader", "analyst", "publisher"):
        assert world.get(f"A-{role}", "/api/v1/users").status_code == 403
        assert world.send(f"A-{role}", "POST", "/api/v1/users", {"username": "z", "org": "A",
                                                                   "role": "reader"}).status_code == 403
    made = world.send("A-org-admin", "POST", "/api/v1/users", {"username": "amy", "org": "A", "role": "analyst"})
    assert made.status_code == 201 and made.json()["org"] == "A"
    assert world.store.audit_records(action="user.add")[-1].actor == world.names["A-org-admin"]
    assert world.send("A-org-admin", "POST", "/api/v1/users",
                      {"username": "bob", "org": "B", "role": "reader"}).status_code == 403
    boss = world.send("A-org-admin", "POST", "/api/v1/users", {"username": "boss", "org": "A", "role": "node-admin"})
    assert boss.status_code == 403 and "node-admin" in error(boss)
    assert world.send("A-node-admin", "POST", "/api/v1/users",
                      {"username": "bob", "org": "B", "role": "node-admin"}).status_code == 201
    assert world.send("A-node-admin", "POST", "/api/v1/users",
                      {"username": "bob", "org": "A", "role": "reader"}).status_code == 409
    role = world.send("A-node-admin", "POST", "/api/v1/users", {"username": "cy", "org": "A", "role": "king"})
    assert role.status_code == 400 and "'role': unknown role 'king'" in error(role)
    org = world.send("A-node-admin", "POST", "/api/v1/users", {"username": "cy", "org": "Atlantis", "role": "reader"})
    assert org.status_code == 400 and "'org': unknown organisation 'Atlantis'" in error(org)
    name = world.send("A-node-admin", "POST", "/api/v1/users", {"username": "c:y", "org": "A", "role": "reader"})
    assert name.status_code == 400 and "'username'" in error(name)


def _walk(world: World, who: str, path: str, key: str, limit: int) -> list[Any]:
    seen: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = world.get(who, path, **params)
        assert page.status_code == 200, page.text
        seen.extend(page.json()[key])
        assert len(page.json()[key]) <= limit
        cursor = page.json().get("next")
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def test_users_and_tokens_page_without_skips_or_repeats(world: World) -> None:
    for n in range(7):
        world.store.add_user(f"pager-{n}", org="A", role="reader")
    whole = world.get("A-node-admin", "/api/v1/users", limit=1000).json()
    assert "next" not in whole
    paged = _walk(world, "A-node-admin", "/api/v1/users", "users", 3)
    assert paged == whole["users"]
    for _ in range(5):
        world.store.add_token(world.names["A-reader"], new_token()[1])
    tokens = _walk(world, "A-reader", f"/api/v1/users/{world.names['A-reader']}/tokens", "tokens", 2)
    assert [t["id"] for t in tokens] == sorted({t["id"] for t in tokens}) and len(tokens) == 6
    bad = world.get("A-node-admin", "/api/v1/users", limit=0)
    assert bad.status_code == 400 and "'limit'" in error(bad)


def test_tokens_are_the_users_and_their_org_admins(world: World) -> None:
    me = world.names["A-reader"]
    made = world.send("A-reader", "POST", f"/api/v1/users/{me}/tokens", {"label": "script", "expires_in_days": 30})
    assert made.status_code == 201 and made.json()["token"].startswith("acc_") and made.json()["state"] == "active"
    assert made.json()["expires"] is not None
    secret, token_id = made.json()["token"], made.json()["id"]
    listed = world.get("A-reader", f"/api/v1/users/{me}/tokens").json()["tokens"]
    assert token_id in [t["id"] for t in listed] and secret not in orjson.dumps(listed).decode()
    assert world.client.get("/api/v1/stats", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    # Another user's tokens: the org-admin may, a colleague and another organisation's admin may not.
    assert world.get("A-org-admin", f"/api/v1/users/{me}/tokens").status_code == 200
    colleague = world.get("A-analyst", f"/api/v1/users/{me}/tokens")
    foreign = world.get("B-org-admin", f"/api/v1/users/{me}/tokens")
    absent = world.get("B-org-admin", "/api/v1/users/nobody/tokens")
    assert colleague.status_code == foreign.status_code == absent.status_code == 404
    assert colleague.json() == foreign.json() == absent.json()
    assert world.send("B-org-admin", "POST", f"/api/v1/tokens/{token_id}/revoke").json() == \
        world.send("B-org-admin", "POST", "/api/v1/tokens/999999/revoke").json()
    assert world.send("B-org-admin", "POST", "/api/v1/tokens/abc/revoke").status_code == 404
    revoked = world.send("A-org-admin", "POST", f"/api/v1/tokens/{token_id}/revoke")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    assert world.store.audit_records(action="token.revoke")[-1].actor == world.names["A-org-admin"]
    assert world.client.get("/api/v1/stats", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    bad = world.send("A-reader", "POST", f"/api/v1/users/{me}/tokens", {"expires_in_days": 0})
    assert bad.status_code == 400 and "'expires_in_days'" in error(bad)


def test_disabling_a_user_shuts_every_way_in_until_it_is_enabled(world: World) -> None:
    """A disabled user's token is refused at once on the REST API and TAXII, and works again once
    the user is enabled; each change is audited once (a repeat changes nothing); an org-admin
    disables its organisation's users below org-admin only, and nobody their own account."""
    me = world.names["A-analyst"]
    taxii = {"Authorization": f"Bearer {world.tokens['A-analyst']}", "Accept": TAXII}
    assert world.get("A-analyst", "/api/v1/stats").status_code == 200
    disabled = world.send("A-org-admin", "POST", f"/api/v1/users/{me}/disable")
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert world.get("A-analyst", "/api/v1/stats").status_code == 401
    assert world.client.get("/taxii2/", headers=taxii).status_code == 401
    assert world.send("A-org-admin", "POST", f"/api/v1/users/{me}/disable").json()["disabled"] is True
    assert [(r.actor, r.subject) for r in world.store.audit_records(action="user.disable")] == [
        (world.names["A-org-admin"], me)]
    assert [u["disabled"] for u in world.get("A-org-admin", "/api/v1/users").json()["users"]
            if u["username"] == me] == [True]
    enabled = world.send("A-node-admin", "POST", f"/api/v1/users/{me}/enable")
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert world.get("A-analyst", "/api/v1/stats").status_code == 200
    assert world.client.get("/taxii2/", headers=taxii).status_code == 200
    assert len(world.store.audit_records(action="user.enable")) == 1
    # A node-admin's decision stands until a node-admin undoes it (a compromised account stays shut).
    assert world.send("A-node-admin", "POST", f"/api/v1/users/{me}/disable").json()["disabled"] is True
    undo = world.send("A-org-admin", "POST", f"/api/v1/users/{me}/enable")
    assert undo.status_code == 403 and "only a node-admin may enable it" in error(undo)
    assert world.get("A-analyst", "/api/v1/stats").status_code == 401
    assert world.send("A-node-admin", "POST", f"/api/v1/users/{me}/enable").json()["disabled"] is False
    # Who may: not one's own account, not an org-admin's (for another org-admin), not another organisation's.
    own = world.send("A-org-admin", "POST", f"/api/v1/users/{world.names['A-org-admin']}/disable")
    assert own.status_code == 403 and "own account" in error(own)
    peer_admin = world.user("A", "org-admin")
    above = world.send("A-org-admin", "POST", f"/api/v1/users/{peer_admin}/disable")
    assert above.status_code == 403 and "below org-admin" in error(above)
    foreign = world.send("B-org-admin", "POST", f"/api/v1/users/{me}/disable")
    absent = world.send("B-org-admin", "POST", "/api/v1/users/nobody/disable")
    assert foreign.status_code == absent.status_code == 404 and foreign.json() == absent.json()
    assert world.send("A-analyst", "POST", f"/api/v1/users/{world.names['A-reader']}/disable").status_code == 404
    assert not world.store.get_user(me).disabled and not world.store.get_user(peer_admin).disabled


# -- peers ----------------------------------------------------------------------------------------------
def test_peers_show_sync_status_to_node_admins_only(world: World) -> None:
    world.store.add_peer("p-node", url="https://p.example/taxii2/", username="us", sealed_token=b"SEALED-SECRET",
                         org="P", interval_s=60, accept_max_tlp="amber", accept_types=(),
                         links=[("pull", "remote-coll", "shared")], actor="test")
    link = world.store.get_peer("p-node").links[0]
    world.store.record_link_attempt(link.pk, error="connection refused")
    listed = world.get("A-node-admin", "/api/v1/peers")
    assert listed.status_code == 200 and b"SEALED" not in listed.content and b"sealed" not in listed.content
    (peer,) = listed.json()["peers"]
    (shown,) = peer["links"]
    assert (peer["org"], shown["local_collection"], shown["status"], shown["last_error"]) == (
        "P", world.shared.id, "failing", "connection refused")
    assert world.get("A-node-admin", "/api/v1/peers/p-node").json() == peer
    assert world.get("A-node-admin", "/api/v1/peers/none").status_code == 404
    for role in ("reader", "analyst", "publisher", "org-admin"):
        assert world.get(f"A-{role}", "/api/v1/peers").status_code == 403
        assert world.get(f"A-{role}", "/api/v1/peers/p-node").status_code == 403


# -- audit ----------------------------------------------------------------------------------------------
def test_audit_scope_filters_and_paging(world: World) -> None:
    everything = world.get("A-node-admin", "/api/v1/audit", limit=1000).json()["entries"]
    assert {e["org"] for e in everything} >= {"A", "B"}
    own = world.get("A-org-admin", "/api/v1/audit", limit=1000).json()["entries"]
    assert own and {e["org"] for e in own} == {"A"}
    assert world.get("A-org-admin", "/api/v1/audit", org="B").status_code == 403
    for role in ("reader", "analyst", "publisher"):
        assert world.get(f"A-{role}", "/api/v1/audit").status_code == 403
    users = world.get("A-node-admin", "/api/v1/audit", action="user.add").json()["entries"]
    assert users and {e["action"] for e in users} == {"user.add"}
    assert [e["agreement"] for e in world.get("A-node-admin", "/api/v1/audit", agreement="a-b").json()["entries"]] \
        == ["a-b"]
    paged = _walk(world, "A-node-admin", "/api/v1/audit", "entries", 4)
    assert [e["seq"] for e in paged] == [e["seq"] for e in everything]
    after = world.get("A-node-admin", "/api/v1/audit", after=everything[-3]["seq"]).json()["entries"]
    assert [e["seq"] for e in after] == [e["seq"] for e in everything[-2:]]
    assert world.get("A-node-admin", "/api/v1/audit", after="x").status_code == 400


def test_audit_object_filter_lists_its_items(world: World) -> None:
    obj = indicator(1, object_marking_refs=[TLP2_GREEN])
    world.post_objects("A-publisher", world.shared, obj)
    world.client.get(f"/default/collections/{world.shared.id}/objects/",
                     headers={"Authorization": f"Bearer {world.tokens['B-reader']}", "Accept": TAXII})
    entries = world.get("A-node-admin", "/api/v1/audit", object=obj["id"]).json()["entries"]
    receipt = [e for e in entries if e["action"] == "receive"]
    assert receipt and receipt[0]["items"][0]["id"] == obj["id"] and receipt[0]["items"][0]["recipient"] == "B"


def test_audit_verify(world: World) -> None:
    assert world.get("A-org-admin", "/api/v1/audit/verify").status_code == 403
    good = world.get("A-node-admin", "/api/v1/audit/verify").json()
    assert good["intact"] and good["broken"] is None and good["entries"] > 5 and len(good["head"]) == 64
    assert world.get("A-node-admin", "/api/v1/audit/verify", expect_head=good["head"]).json()["intact"]
    assert world.get("A-node-admin", "/api/v1/audit/verify", expect_head="zz").status_code == 400
    with world.store._write() as conn:  # type: ignore[attr-defined]  # tampering, as an attacker with the database
        conn.execute(world.store._sql("UPDATE audit_log SET actor = ? WHERE seq = ?"), ("mallory", 3))  # type: ignore[attr-defined]
    broken = world.get("A-node-admin", "/api/v1/audit/verify").json()
    assert not broken["intact"] and broken["broken"]["seq"] == 3 and broken["head"] is None


# -- counts ---------------------------------------------------------------------------------------------
def test_stats_count_only_what_the_caller_may_see(world: World) -> None:
    green, amber = indicator(1, object_marking_refs=[TLP2_GREEN]), indicator(2, object_marking_refs=[TLP2_AMBER])
    world.post_objects("A-publisher", world.shared, green, amber)
    world.post_objects("A-analyst", world.shared, indicator(3, object_marking_refs=[TLP2_GREEN]))  # a draft
    before = world.get("B-reader", "/api/v1/stats").json()
    assert before == {"visible": {"versions": 1, "objects": 1, "by_type": {"indicator": 1}, "by_tlp": {"green": 1}}}
    own = world.get("A-reader", "/api/v1/stats").json()["visible"]
    assert (own["versions"], own["by_tlp"]) == (3, {"amber": 1, "green": 2})

    # What B may not see changes nothing B is told: more AMBER, GREEN in a collection B cannot
    # read, an unmarked version (the collection's default is AMBER), drafts, another version.
    world.post_objects("A-publisher", world.shared, indicator(4, object_marking_refs=[TLP2_AMBER]),
                       {k: v for k, v in indicator(5).items()})
    world.post_objects("A-publisher", world.hidden, indicator(6, object_marking_refs=[TLP2_GREEN]))
    world.post_objects("A-analyst", world.shared, indicator(7, object_marking_refs=[TLP2_GREEN]))
    world.post_objects("A-publisher", world.shared, {**amber, "modified": "2026-03-01T00:00:00.000Z"})
    assert world.get("B-reader", "/api/v1/stats").json() == before
    assert world.get("B-org-admin", "/api/v1/stats").json() == before
    assert "node" not in world.get("A-org-admin", "/api/v1/stats").json()

    # The same object shared GREEN later is counted once, however many collections hold it.
    world.post_objects("A-publisher", world.shared, indicator(8, object_marking_refs=[TLP2_GREEN], stix_id=green["id"],
                                                              modified="2026-04-01T00:00:00.000Z"))
    after = world.get("B-reader", "/api/v1/stats").json()["visible"]
    assert (after["versions"], after["objects"]) == (2, 1)
    node = world.get("A-node-admin", "/api/v1/stats").json()
    assert node["node"]["versions"] == node["visible"]["versions"] == 9


def test_every_endpoint_answers_401_without_credentials(world: World) -> None:
    for method, path in (("GET", "/api/v1/agreements"), ("POST", "/api/v1/agreements"), ("GET", "/api/v1/users"),
                         ("PUT", f"/api/v1/collections/{world.shared.id}/grants/A"), ("GET", "/api/v1/stats"),
                         ("DELETE", f"/api/v1/collections/{world.shared.id}/grants/A"), ("GET", "/api/v1/audit")):
        answer = world.send(None, method, path, {})
        assert answer.status_code == 401 and "WWW-Authenticate" in answer.headers, (method, path)
