"""The REST authorization matrix: every /api/v1/ route x role x grant x the caller's relation to the
resource, in process, on both backends (issue 8: the authorization matrix covers the REST endpoints).

Each caller is the one user of its own organisation (plus a colleague, a reader), one per role
(reader, analyst, publisher, org-admin, node-admin) and grant of that organisation on the matrix
collections (none, read, read+write). Around them: ``agreed``, a local organisation with which every
caller's organisation has an AMBER agreement; ``other``, a local organisation with none; ``partner``,
a partner organisation (federation) with which every caller's has an AMBER agreement too. Each has a
user, published AMBER objects (``other`` also a CLEAR one) and drafts; ``agreed-partner`` is an
agreement the callers are not party to; ``partner-node`` a peer. "absent" names nothing stored.

The answer of every cell comes from ``expected`` below, written from docs/sharing-model.md,
docs/api.md and accord/policy/administration.py, not from the code. The routes are driven from
accord.api.openapi.OPERATIONS: a route without a row here fails test_every_route_has_a_row.
Requests that change the world act on resources made for that one cell (fresh names, drafts,
tokens, agreements and collections), so cells do not depend on each other or on their order.
The "REST authorization matrix" section of docs/sharing-model.md (just before the TAXII one) is
rendered from the same rules (``python -m tests.api.test_rest_authorization_matrix`` prints it) and
test_docs_table_is_current keeps the two equal. Cells where the server disagrees with the rules
are listed in ``KNOWN``: the matrix leaves them out and test_known_disagreements holds each as a
strict xfail, so a fix turns it into a failure that asks for the entry to go.
"""

from __future__ import annotations

import itertools
import sys
import textwrap
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from accord.api.openapi import OPENAPI_PATH, OPERATIONS
from accord.app import build_app
from accord.policy.tokens import new_token
from accord.services.overlap import new_agreement_key, overlap_hash
from accord.settings import load_settings
from accord.stix.markings import TLP2_AMBER, TLP2_CLEAR
from accord.stix.observables import observables_of
from accord.storage.base import Collection, NewAlert, NewAlertRule, Provenance, State, Store
from accord.storage.postgres import PostgresStore
from accord.storage.sqlite import SQLiteStore
from tests.conftest import BACKENDS, StepClock, _pg_admin, _pg_url
from tests.policy.world import _ingest
from tests.taxii.conftest import indicator

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

# -- The rules (docs/sharing-model.md, docs/api.md, accord/policy/administration.py) ---------------------

ROLES = ("reader", "analyst", "publisher", "org-admin", "node-admin")
GRANTS: dict[str, frozenset[str]] = {"none": frozenset(), "read": frozenset({"read"}),
                                     "read+write": frozenset({"read", "write"})}
Caller = tuple[str, str]  # (role, grant)
CALLERS: tuple[Caller, ...] = tuple((role, grant) for role in ROLES for grant in GRANTS)
ANONYMOUS = "anonymous"
Outcome = tuple[int, str]  # (status, what a success gave, where the rules say something about it)
Cell = tuple[str, str, str, str]  # (operation, role, grant, relation); anonymous: (operation, "anonymous", "", "")

OBJECTS = ("own", "agreed", "other", "other CLEAR", "partner", "absent")  # whose object, published
DRAFTS = ("own", "agreed", "other", "partner", "absent")  # whose draft (publish)
PUBLISHED = ("own", "agreed", "other", "partner", "absent")  # whose published object (retract, preview)
ORGS = ("own", "agreed", "other", "partner", "absent")  # which organisation is named
USERS = ("self", "colleague", "agreed", "other", "partner", "absent")  # whose user / token
AGREEMENTS = ("own", "others'", "absent")  # one the caller's organisation is party to, or not
COLLECTION = ("granted", "absent")  # the collection carrying the caller's grant, or none that exists
GRANT_TARGETS = ("own", "agreed", "other", "partner", "absent collection")  # the org whose grant, on "granted"
NEW_USER = ("own", "agreed", "other", "partner", "absent", "own, role node-admin")
AUDIT = ("all", "own", "agreed", "other", "partner", "absent")  # the org= filter
PEERS = ("partner's", "absent")
RULES = ("own", "other", "absent")  # whose alert rule (or, adding one, which organisation it is for)
ALERTS = ("own", "own, hidden", "other", "absent")  # whose alert; "own, hidden": about what the org no longer sees
OVERLAP = ("keyed", "unkeyed", "others'", "absent")  # an agreement of the caller's with(out) an overlap key, ...
NONE = ("",)


def at_least(role: str, floor: str) -> bool:
    """Roles are ordered; each can do what the ones before it can (sharing-model.md, "The parts")."""
    return ROLES.index(role) >= ROLES.index(floor)


def node_admin(role: str) -> bool:
    return role == "node-admin"


def knows(role: str, grant: str) -> bool:
    """api.md: a collection exists for a caller whose organisation may read or write it (an analyst or
    above for a write grant); node admins know every one. With these grants: any grant."""
    g = GRANTS[grant]
    return node_admin(role) or "read" in g or ("write" in g and at_least(role, "analyst"))


def can_read(role: str, grant: str) -> bool:
    return node_admin(role) or "read" in GRANTS[grant]


def can_write(role: str, grant: str) -> bool:
    """api.md: writing needs a write grant and the analyst role or above (node admins: every collection)."""
    return node_admin(role) or ("write" in GRANTS[grant] and at_least(role, "analyst"))


def sees(grant: str, relation: str) -> bool:
    """sharing-model.md, "Who sees a version", for the seeded objects (all published): rule 1 (own),
    rule 3 (the AMBER agreements with agreed and partner: no grant needed), rule 2 (CLEAR needs the
    organisation's read grant). A node-admin sees only what its organisation may."""
    return {"own": True, "agreed": True, "partner": True, "other": False, "other CLEAR": "read" in GRANTS[grant],
            "absent": False}[relation]


def written(role: str) -> str:
    """sharing-model.md, "Release": an analyst's writes are drafts, a publisher's (or above) published."""
    return "published" if at_least(role, "publisher") else "draft"


def flags(read: bool, write: bool) -> str:
    return f"can_read={str(read).lower()} can_write={str(write).lower()}"


def _collection_write(role: str, grant: str, relation: str, ok: int) -> Outcome:
    """api.md: writes into a named collection need write access (403), one the caller may not know is 404."""
    if relation == "absent" or not knows(role, grant):
        return 404, ""
    return (ok, written(role)) if can_write(role, grant) else (403, "")


def _node_admin_only(role: str, ok: int = 200) -> Outcome:
    return (ok, "") if node_admin(role) else (403, "")


def expected(op: str, role: str, grant: str, relation: str) -> Outcome:
    """What operation ``op`` ("METHOD path") answers a caller with ``role`` whose organisation has ``grant``."""
    if role == ANONYMOUS:
        return (200, "") if op == f"GET {OPENAPI_PATH}" else (401, "")  # api.md: credentials as TAXII
    admin, org_admin = node_admin(role), at_least(role, "org-admin")
    match op:
        case "GET /api/v1/openapi.json" | "GET /api/v1/sync/retractions" | "POST /api/v1/lookup":
            return 200, ""  # every authenticated caller (what a lookup finds: tests/policy/test_lookup_flow.py)
        case "POST /api/v1/overlap":
            # early-warning.md: any member of a party to the active agreement with a key; an agreement the
            # caller's organisation is not party to is one it may not know (as absent); without a key, 403.
            return {"keyed": (200, ""), "unkeyed": (403, ""), "others'": (404, ""), "absent": (404, "")}[relation]
        case "POST /api/v1/import/preview":
            return (200, "") if at_least(role, "analyst") else (403, "")  # as the web UI's Import page
        # -- release: publisher or above (403 whatever the id), the caller's organisation's versions only
        case "GET /api/v1/drafts":
            return 200, "own"
        case "POST /api/v1/objects/{stix_id}/publish" | "POST /api/v1/objects/{stix_id}/retract":
            if not at_least(role, "publisher"):
                return 403, ""
            return (200, "") if relation == "own" else (404, "")  # another organisation's: as absent
        # -- import and export: the collection's grant
        case "POST /api/v1/collections/{collection_id}/import":
            return _collection_write(role, grant, relation, 200)
        case "GET /api/v1/collections/{collection_id}/export":
            if relation == "absent" or not can_read(role, grant):
                return 404, ""
            return 200, ", ".join(o for o in OBJECTS if sees(grant, o))
        # -- agreements: parties see theirs, node-admins all and alone change them
        case "GET /api/v1/agreements":
            return 200, "own, others'" if admin else "own"
        case "POST /api/v1/agreements":
            return _node_admin_only(role, 201)
        case "GET /api/v1/agreements/{name}":
            return (200, "") if relation == "own" or (relation == "others'" and admin) else (404, "")
        case ("POST /api/v1/agreements/{name}/suspend" | "POST /api/v1/agreements/{name}/resume"
              | "POST /api/v1/agreements/{name}/end"):
            if relation == "absent" or (relation == "others'" and not admin):
                return 404, ""  # one the caller may not know: as absent
            return _node_admin_only(role)
        # -- collections and grants
        case "GET /api/v1/collections":
            return 200, flags(can_read(role, grant), can_write(role, grant)) if knows(role, grant) else "not listed"
        case "POST /api/v1/collections":
            return _node_admin_only(role, 201)
        case ("GET /api/v1/collections/{collection_id}/grants" | "PUT /api/v1/collections/{collection_id}/grants/{org}"
              | "DELETE /api/v1/collections/{collection_id}/grants/{org}"):
            if relation in ("absent", "absent collection") or not knows(role, grant):
                return 404, ""  # a collection the caller may not know: as absent
            return _node_admin_only(role)
        # -- organisations, users, tokens
        case "GET /api/v1/orgs":
            return 200, "own, agreed, other, partner" if admin else "own, agreed, partner"
        case "GET /api/v1/users":
            if admin:
                return 200, "own, agreed, other, partner"
            return (200, "own") if role == "org-admin" else (403, "")
        case "POST /api/v1/users":
            if admin:
                return (400, "") if relation == "absent" else (201, "")  # an unknown organisation names the property
            # An org-admin adds to its own organisation, never a node-admin; any other organisation, existing
            # or not, is refused alike (the node's membership is the operator's business).
            return (201, "") if role == "org-admin" and relation == "own" else (403, "")
        case ("GET /api/v1/users/{username}/tokens" | "POST /api/v1/users/{username}/tokens"
              | "POST /api/v1/tokens/{token_id}/revoke"):
            ok = 201 if op == "POST /api/v1/users/{username}/tokens" else 200
            allowed = {"self": True, "colleague": org_admin, "agreed": admin, "other": admin, "partner": admin,
                       "absent": False}[relation]
            if not allowed:
                return 404, ""  # another's: as absent
            if op == "POST /api/v1/users/{username}/tokens" and relation != "self" and not admin:
                return 403, ""  # a new way in as someone else: only the user or a node-admin makes one
            return ok, ""
        case "POST /api/v1/users/{username}/disable" | "POST /api/v1/users/{username}/enable":
            if relation == "self":
                return 403, ""  # never one's own account
            allowed = {"colleague": org_admin, "agreed": admin, "other": admin, "partner": admin,
                       "absent": False}[relation]
            return (200, "") if allowed else (404, "")  # another organisation's user: as absent
        # -- peers, audit, counts
        case "GET /api/v1/peers" | "GET /api/v1/audit/verify":
            return _node_admin_only(role)
        case "GET /api/v1/peers/{name}":
            if not admin:
                return 403, ""
            return (200, "") if relation == "partner's" else (404, "")
        case "GET /api/v1/audit":
            if admin or (role == "org-admin" and relation in ("all", "own")):
                return 200, ""
            return 403, ""  # an org-admin reads its own organisation's entries only
        case "GET /api/v1/stats":
            return 200, "node totals" if admin else ""
        # -- alerts (docs/early-warning.md): every member lists its organisation's rules and alerts; its
        # org-admin manages the rules (a node-admin any organisation's); another organisation's rule is absent.
        case "GET /api/v1/alert-rules":
            return 200, "own, other" if admin else "own"
        case "POST /api/v1/alert-rules":
            if admin:
                return (400, "") if relation == "absent" else (201, "")  # an unknown organisation names the property
            return (201, "") if role == "org-admin" and relation == "own" else (403, "")  # any other: refused alike
        case "DELETE /api/v1/alert-rules/{rule_id}":
            if relation == "absent" or (relation == "other" and not admin):
                return 404, ""
            return (200, "") if org_admin else (403, "")
        case "GET /api/v1/alerts":
            return 200, ""
        case "POST /api/v1/alerts/{alert_id}/acknowledge":
            # early-warning.md: an analyst or above (403 whatever the id) acknowledges an alert of its own
            # organisation that it may still see; another organisation's, or one hidden since, is as absent.
            if not at_least(role, "analyst"):
                return 403, ""
            return (200, "") if relation == "own" else (404, "")
        # -- objects
        case "GET /api/v1/objects":
            return 200, ", ".join(o for o in OBJECTS if sees(grant, o))
        case "GET /api/v1/objects/{stix_id}":
            if not sees(grant, relation):
                return 404, ""
            # api.md: receipts are the owner's business, and the node admin's.
            return 200, "receipts" if relation == "own" or admin else ""
        case "POST /api/v1/objects":
            return _collection_write(role, grant, relation, 201)
        case "PUT /api/v1/objects/{stix_id}":
            if not sees(grant, relation):
                return 404, ""
            if relation == "own" and can_write(role, grant):
                return 200, written(role)
            return 403, ""  # api.md: 403 for an object the caller can see but may not add a version to
        case "POST /api/v1/objects/{stix_id}/sightings":
            # early-warning.md: "we saw this" needs the analyst role (403 whatever the object), an object the
            # caller sees (404 as absent otherwise) and a write grant on the collection it is in (403).
            if not at_least(role, "analyst"):
                return 403, ""
            if not sees(grant, relation):
                return 404, ""
            return (201, written(role)) if can_write(role, grant) else (403, "")
        case "POST /api/v1/import/commit":
            return _collection_write(role, grant, relation, 200)
        case "GET /api/v1/preview?org":
            # api.md: NAME must be another organisation the caller may know (GET /api/v1/orgs); any other
            # is 404 (its own organisation receives everything it owns: nothing to preview).
            may_know = {"own": False, "agreed": True, "partner": True, "other": admin, "absent": False}[relation]
            return (200, "") if may_know else (404, "")
        case "GET /api/v1/preview?object":
            # api.md: for one of the caller's organisation's objects; a node-admin's too (sharing-model.md:
            # it "does not see other organisations' data beyond what its organisation may").
            return (200, "") if relation == "own" else (404, "")
    raise AssertionError(f"no rule for {op}")


# -- The requests -----------------------------------------------------------------------------------------


def slug(caller: Caller) -> str:
    role, grant = caller
    return f"{role}-{grant.replace('+', '-')}"


def org_of(caller: Caller) -> str:
    return f"org-{slug(caller)}"


SEEDED_ORGS = ("agreed", "other", "partner")
_counter = itertools.count(1000)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class World:
    store: Store
    client: TestClient
    read: Collection  # published objects for reads
    write: Collection  # target of writes
    release: Collection  # drafts and published objects to publish and retract
    update: Collection  # objects to add versions to
    tokens: dict[Caller, str]
    ids: dict[tuple[str, str], str]  # (kind, org name) -> STIX id of a seeded object of that org
    not_found: bytes = b""

    def seed(self, collection: Collection, org: str, state: State = State.PUBLISHED, marking: str = TLP2_AMBER,
             **extra: Any) -> str:
        """A new object of ``org`` in ``collection`` (AMBER unless told), as `accord import --org ORG` stores it."""
        obj = indicator(next(_counter), object_marking_refs=[marking], **extra)
        _ingest(self.store, collection, [obj], Provenance(self.store.get_org(org).pk, state=state, owner_name=org))
        return str(obj["id"])

    def request(self, caller: Caller | None, method: str, path: str, body: Any = None,
                **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[caller]}"} if caller is not None else {}
        content = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        return self.client.request(method, path, content=content, params=params, headers=headers)

    def org(self, caller: Caller, relation: str) -> str:
        """The organisation a relation names for this caller."""
        return {"own": org_of(caller), "absent": "no-such-org"}.get(relation, relation)

    def object_id(self, kind: str, caller: Caller, relation: str) -> str:
        if relation == "absent":
            return f"indicator--{uuid.uuid4()}"
        return self.ids[(kind, org_of(caller) if relation == "own" else relation)]

    def label(self, kind: str, caller: Caller, stix_id: str) -> str | None:
        """A seeded object's relation to this caller; another caller's "someone else's"; None: not seeded."""
        for relation in OBJECTS[:-1]:
            if self.ids.get((kind, org_of(caller) if relation == "own" else relation)) == stix_id:
                return relation
        if any(self.ids.get((kind, org_of(c))) == stix_id for c in CALLERS):
            return "someone else's"
        return None

    def username(self, caller: Caller, relation: str) -> str:
        return {"self": slug(caller), "colleague": f"{slug(caller)}-colleague",
                "absent": "no-such-user"}.get(relation, f"{relation}-user")

    def granted(self, caller: Caller) -> Collection:
        """A fresh collection on which the caller's organisation has its grant (for cells that change grants)."""
        c = self.store.add_collection(fresh("grants"))
        g = GRANTS[caller[1]]
        if g:
            self.store.set_grant(c, org_of(caller), can_read="read" in g, can_write="write" in g)
        return c


def _body_error(answer: Any) -> None:
    """Every error is the REST error shape, its status inside; every 404 is the same answer."""
    assert answer.headers["content-type"] == "application/json", answer.headers
    assert answer.json()["error"]["status"] == answer.status_code, answer.text


def _labels(found: list[str | None], order: tuple[str, ...]) -> str:
    named = [f for f in found if f is not None]
    return ", ".join(sorted(set(named), key=lambda o: (o not in order, order.index(o) if o in order else 0, o)))


Ask = Callable[[World, Caller | None, str], Any]  # -> the response
Detail = Callable[[World, Caller, Any], str]  # a success's detail


@dataclass(frozen=True)
class Row:
    relations: tuple[str, ...]
    ask: Ask
    detail: Detail | None = None  # None: nothing to say about a success


def _no_detail(w: World, c: Caller, answer: Any) -> str:
    return ""


def _state(w: World, c: Caller, answer: Any) -> str:
    return str(answer.json()["state"])


def _stix(n: int) -> dict[str, Any]:
    return indicator(next(_counter) + n)


def _collection_ref(w: World, relation: str, collection: Collection) -> str:
    return collection.id if relation == "granted" else str(uuid.uuid4())


def _agreement(w: World, caller: Caller | None, relation: str) -> str:
    """A fresh agreement in the relation (own: the caller's organisation and a spare one are parties)."""
    if relation == "absent":
        return "no-such-agreement"
    name = fresh("agreement")
    parties = ["spare-a", org_of(caller)] if relation == "own" and caller else ["spare-a", "spare-b"]
    w.store.add_agreement(name, parties=parties, max_tlp="amber", onward=False, valid_from=None, valid_until=None,
                          actor="test")
    return name


def _ask_overlap(w: World, c: Caller | None, r: str) -> Any:
    """A question under a fresh agreement in the relation; keyed with the node's own overlap key."""
    name = _agreement(w, c, "own" if r in ("keyed", "unkeyed") else r)
    key = bytes(32)
    if r in ("keyed", "others'"):
        key = bytes.fromhex(new_agreement_key(w.store, w.client.app.state.overlap.box, name, rotate=False,
                                              actor="test")[0])
    return w.request(c, "POST", "/api/v1/overlap", {"agreement": name,
                                                    "hashes": [overlap_hash(key, "ipv4-addr", "198.51.100.7")]})


def _token_of(w: World, caller: Caller | None, relation: str) -> str:
    """A fresh token of the relation's user (never the one the caller signs in with)."""
    if relation == "absent":
        return "999999999"
    username = w.username(caller or CALLERS[0], relation)
    return str(w.store.add_token(username, new_token()[1]).pk)


def _change_agreement(action: str) -> Ask:
    def ask(w: World, c: Caller | None, r: str) -> Any:
        return w.request(c, "POST", f"/api/v1/agreements/{_agreement(w, c, r)}/{action}")
    return ask


def _ask_disabled(w: World, c: Caller | None, r: str, action: str) -> Any:
    """Disable (or enable) a user, then put it back as it was, so no other cell meets a disabled user."""
    name = w.username(c or CALLERS[0], r)
    answer = w.request(c, "POST", f"/api/v1/users/{name}/{action}")
    if answer.status_code == 200:
        w.store.set_user_disabled(name, False, actor="test")
    return answer


def _ask_revoke(w: World, c: Caller | None, r: str) -> Any:
    return w.request(c, "POST", f"/api/v1/tokens/{_token_of(w, c, r)}/revoke")


def _ask_put_object(w: World, c: Caller | None, r: str) -> Any:
    # own: a fresh object of the caller's organisation, for this cell only
    sid = w.seed(w.update, org_of(c)) if r == "own" and c is not None else w.object_id("update", c or CALLERS[0], r)
    return w.request(c, "PUT", f"/api/v1/objects/{sid}", {**indicator(next(_counter), stix_id=sid,
                                                                       object_marking_refs=[TLP2_AMBER]),
                                                           "modified": "2026-06-01T00:00:00.000Z"})


def _ask_grant(method: str) -> Ask:
    def ask(w: World, c: Caller | None, r: str) -> Any:
        collection = w.granted(c or CALLERS[0])
        ref, org = (str(uuid.uuid4()), "own") if r == "absent collection" else (collection.id, r)
        return w.request(c, method, f"/api/v1/collections/{ref}/grants/{w.org(c or CALLERS[0], org)}",
                         {"can_read": True} if method == "PUT" else None)
    return ask


def _ask_new_user(w: World, c: Caller | None, r: str) -> Any:
    role = "node-admin" if r == "own, role node-admin" else "reader"
    org = w.org(c or CALLERS[0], r.split(",")[0])
    return w.request(c, "POST", "/api/v1/users", {"username": fresh("new"), "org": org, "role": role})


def _listed_objects(w: World, c: Caller, answer: Any) -> str:
    found = [w.label("read", c, o["id"]) for o in orjson.loads(answer.content)["objects"]]
    assert len(found) == len(set(found)), f"{c}: an object listed twice: {found}"
    return _labels(found, OBJECTS)


def _release(action: str) -> Ask:
    """Publish or retract a fresh draft (publish) or published object (retract) of the relation's organisation."""
    def ask(w: World, c: Caller | None, r: str) -> Any:
        if r == "absent" or c is None:
            sid = w.object_id("draft", CALLERS[0], "absent")
        else:
            sid = w.seed(w.release, w.org(c, r), State.DRAFT if action == "publish" else State.PUBLISHED)
        return w.request(c, "POST", f"/api/v1/objects/{sid}/{action}")
    return ask


def _listed_drafts(w: World, c: Caller, answer: Any) -> str:
    return _labels([w.label("draft", c, d["id"]) for d in answer.json()["drafts"]], OBJECTS)


def _listed_agreements(w: World, c: Caller, answer: Any) -> str:
    seeded = {f"agreed-{slug(x)}" for x in CALLERS} | {f"partner-{slug(x)}" for x in CALLERS} | {"agreed-partner"}
    own = {f"agreed-{slug(c)}", f"partner-{slug(c)}"}
    found = [a["name"] for a in answer.json()["agreements"] if a["name"] in seeded]
    assert own <= set(found) or not own & set(found), f"{c}: only some of its agreements listed: {found}"
    return _labels(["own" if a in own else "others'" for a in found], ("own", "others'"))


def _listed_orgs(w: World, c: Caller, answer: Any) -> str:
    names = {org_of(c): "own", **{o: o for o in SEEDED_ORGS}}
    return _labels([names.get(o["name"]) for o in answer.json()["orgs"]], ORGS)


def _listed_users(w: World, c: Caller, answer: Any) -> str:
    names = {w.username(c, "self"): "own", w.username(c, "colleague"): "own",
             **{f"{o}-user": o for o in SEEDED_ORGS}}
    return _labels([names.get(u["username"]) for u in answer.json()["users"]], ORGS)


def _listed_collection(w: World, c: Caller, answer: Any) -> str:
    found = {x["id"]: flags(x["can_read"], x["can_write"]) for x in answer.json()["collections"]}
    matrix = {w.read.id, w.write.id, w.release.id, w.update.id}
    shown = {found.get(i, "not listed") for i in matrix}
    assert len(shown) == 1, f"{c}: the matrix collections answer differently: {found}"
    return shown.pop()


def _receipts(w: World, c: Caller, answer: Any) -> str:
    return "receipts" if answer.json()["receipts"] is not None else ""


def _node_totals(w: World, c: Caller, answer: Any) -> str:
    return "node totals" if "node" in answer.json() else ""


def _rule(w: World, caller: Caller | None, relation: str) -> str:
    """A fresh alert rule of the relation's organisation (for removal); absent: an id nobody has."""
    if relation == "absent":
        return "999999"
    org = org_of(caller or CALLERS[0]) if relation == "own" else relation
    rule = w.store.add_alert_rule(NewAlertRule(w.store.get_org(org).pk, fresh("rule"), "own-indicators"),
                                  actor="test")
    return str(rule.pk)


def _alert(w: World, caller: Caller | None, relation: str) -> str:
    """A fresh alert in the relation (own: of the caller's organisation, on an object of *agreed*; own,
    hidden: of the caller's organisation, on one of *other*, which it may not see; other: of *other*, on
    one of its own); absent: an id nobody has."""
    if relation == "absent":
        return str(uuid.uuid4())
    owner = "agreed" if relation == "own" else "other"
    org = org_of(caller or CALLERS[0]) if relation.startswith("own") else "other"
    obj = indicator(next(_counter), object_marking_refs=[TLP2_AMBER])
    _ingest(w.store, w.read, [obj], Provenance(w.store.get_org(owner).pk, owner_name=owner))
    (version,) = w.store.version_facts(str(obj["id"]))
    rule = next(r for r in w.store.alert_rules(w.store.get_org(org).pk) if r.name == "matrix")
    matched = {"shared": [{"observable": list(pair), "own": []} for pair in observables_of(obj)]}
    uid = str(uuid.uuid4())
    position = w.store.alert_position()
    assert w.store.record_alerts(position, position, [NewAlert(uid, rule.pk, rule.org_pk, version.pk, str(obj["id"]),
                                                               position, orjson.dumps(matched))], [])
    return uid


def _listed_rules(w: World, c: Caller, answer: Any) -> str:
    return _labels(["own" if r["org"] == org_of(c) else "other" for r in answer.json()["rules"]], RULES)


ROWS: dict[str, Row] = {
    "GET /api/v1/drafts": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/drafts"), _listed_drafts),
    "POST /api/v1/objects/{stix_id}/publish": Row(DRAFTS, _release("publish")),
    "POST /api/v1/objects/{stix_id}/retract": Row(PUBLISHED, _release("retract")),
    "GET /api/v1/sync/retractions": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/sync/retractions")),
    "POST /api/v1/collections/{collection_id}/import": Row(COLLECTION, lambda w, c, r: w.request(
        c, "POST", f"/api/v1/collections/{_collection_ref(w, r, w.write)}/import",
        {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [_stix(0)]}, format="stix"), _state),
    "GET /api/v1/collections/{collection_id}/export": Row(COLLECTION, lambda w, c, r: w.request(
        c, "GET", f"/api/v1/collections/{_collection_ref(w, r, w.read)}/export", format="stix"), _listed_objects),
    f"GET {OPENAPI_PATH}": Row(NONE, lambda w, c, r: w.request(c, "GET", OPENAPI_PATH)),
    "GET /api/v1/agreements": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/agreements"),
                                  _listed_agreements),
    "POST /api/v1/agreements": Row(NONE, lambda w, c, r: w.request(
        c, "POST", "/api/v1/agreements", {"name": fresh("new"), "parties": ["spare-a", "spare-b"]})),
    "GET /api/v1/agreements/{name}": Row(AGREEMENTS, lambda w, c, r: w.request(
        c, "GET", "/api/v1/agreements/" + {"own": f"agreed-{slug(c or CALLERS[0])}", "others'": "agreed-partner",
                                           "absent": "no-such-agreement"}[r])),
    **{f"POST /api/v1/agreements/{{name}}/{action}": Row(AGREEMENTS, _change_agreement(action))
       for action in ("suspend", "resume", "end")},
    "GET /api/v1/collections": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/collections"),
                                   _listed_collection),
    "POST /api/v1/collections": Row(NONE, lambda w, c, r: w.request(
        c, "POST", "/api/v1/collections", {"title": fresh("new"), "alias": fresh("new")})),
    "GET /api/v1/collections/{collection_id}/grants": Row(COLLECTION, lambda w, c, r: w.request(
        c, "GET", f"/api/v1/collections/{_collection_ref(w, r, w.read)}/grants")),
    "PUT /api/v1/collections/{collection_id}/grants/{org}": Row(GRANT_TARGETS, _ask_grant("PUT")),
    "DELETE /api/v1/collections/{collection_id}/grants/{org}": Row(GRANT_TARGETS, _ask_grant("DELETE")),
    "GET /api/v1/orgs": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/orgs"), _listed_orgs),
    "GET /api/v1/users": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/users", limit=1000), _listed_users),
    "POST /api/v1/users": Row(NEW_USER, _ask_new_user),
    "GET /api/v1/users/{username}/tokens": Row(USERS, lambda w, c, r: w.request(
        c, "GET", f"/api/v1/users/{w.username(c or CALLERS[0], r)}/tokens")),
    "POST /api/v1/users/{username}/tokens": Row(USERS, lambda w, c, r: w.request(
        c, "POST", f"/api/v1/users/{w.username(c or CALLERS[0], r)}/tokens", {"label": "matrix"})),
    "POST /api/v1/tokens/{token_id}/revoke": Row(USERS, _ask_revoke),
    "POST /api/v1/users/{username}/disable": Row(USERS, lambda w, c, r: _ask_disabled(w, c, r, "disable")),
    "POST /api/v1/users/{username}/enable": Row(USERS, lambda w, c, r: _ask_disabled(w, c, r, "enable")),
    "GET /api/v1/peers": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/peers")),
    "GET /api/v1/peers/{name}": Row(PEERS, lambda w, c, r: w.request(
        c, "GET", "/api/v1/peers/" + ("partner-node" if r == "partner's" else "no-such-peer"))),
    "GET /api/v1/audit": Row(AUDIT, lambda w, c, r: w.request(
        c, "GET", "/api/v1/audit", limit=1, **({} if r == "all" else {"org": w.org(c or CALLERS[0], r)}))),
    "GET /api/v1/audit/verify": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/audit/verify")),
    "GET /api/v1/stats": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/stats"), _node_totals),
    "GET /api/v1/objects": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/objects", label="matrix-read",
                                                               limit=200), _listed_objects),
    "GET /api/v1/objects/{stix_id}": Row(OBJECTS, lambda w, c, r: w.request(
        c, "GET", f"/api/v1/objects/{w.object_id('read', c or CALLERS[0], r)}"), _receipts),
    "POST /api/v1/objects": Row(COLLECTION, lambda w, c, r: w.request(
        c, "POST", "/api/v1/objects", _stix(0), collection=_collection_ref(w, r, w.write)), _state),
    "PUT /api/v1/objects/{stix_id}": Row(OBJECTS, _ask_put_object, _state),
    "POST /api/v1/objects/{stix_id}/sightings": Row(OBJECTS, lambda w, c, r: w.request(
        c, "POST", f"/api/v1/objects/{w.object_id('update', c or CALLERS[0], r)}/sightings", {"kind": "seen"}),
        _state),
    "POST /api/v1/lookup": Row(NONE, lambda w, c, r: w.request(
        c, "POST", "/api/v1/lookup", {"values": ["198.51.100.7", "evil.example"]})),
    "POST /api/v1/overlap": Row(OVERLAP, _ask_overlap),
    "POST /api/v1/import/preview": Row(NONE, lambda w, c, r: w.request(
        c, "POST", "/api/v1/import/preview", orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}",
                                                           "objects": [_stix(0)]}), format="stix")),
    "POST /api/v1/import/commit": Row(COLLECTION, lambda w, c, r: w.request(
        c, "POST", "/api/v1/import/commit", {"objects": [_stix(0)]}, collection=_collection_ref(w, r, w.write)),
        _state),
    "GET /api/v1/alert-rules": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/alert-rules"), _listed_rules),
    "POST /api/v1/alert-rules": Row(RULES, lambda w, c, r: w.request(
        c, "POST", "/api/v1/alert-rules", {"org": w.org(c or CALLERS[0], r), "name": fresh("rule"),
                                           "kind": "watchlist", "values": ["198.51.100.0/24"]})),
    "DELETE /api/v1/alert-rules/{rule_id}": Row(RULES, lambda w, c, r: w.request(
        c, "DELETE", f"/api/v1/alert-rules/{_rule(w, c, r)}")),
    "GET /api/v1/alerts": Row(NONE, lambda w, c, r: w.request(c, "GET", "/api/v1/alerts")),
    "POST /api/v1/alerts/{alert_id}/acknowledge": Row(ALERTS, lambda w, c, r: w.request(
        c, "POST", f"/api/v1/alerts/{_alert(w, c, r)}/acknowledge")),
    # One operation, two questions: what an organisation would receive, and who would receive an object.
    "GET /api/v1/preview?org": Row(ORGS, lambda w, c, r: w.request(
        c, "GET", "/api/v1/preview", org=w.org(c or CALLERS[0], r))),
    "GET /api/v1/preview?object": Row(PUBLISHED, lambda w, c, r: w.request(
        c, "GET", "/api/v1/preview", object=w.object_id("read", c or CALLERS[0], r))),
}


def operation_of(row: str) -> str:
    """The OpenAPI operation ("METHOD path") a row asks."""
    return row.split("?", 1)[0]


# Cells where the server disagrees with the rules: cell -> (what it answers, why, for the docs and the xfail).
KNOWN: dict[Cell, tuple[Outcome, str]] = {}


# -- The world, one per backend ----------------------------------------------------------------------------


def _add_user(store: Store, username: str, org: str, role: str) -> str:
    store.add_user(username, org=org, role=role)
    token, digest = new_token()
    store.add_token(username, digest)
    return token


def _build(store: Store, tmp_path: Path, clock: StepClock) -> World:
    for org, kind in (("agreed", "local"), ("other", "local"), ("partner", "partner"), ("spare-a", "local"),
                      ("spare-b", "local")):
        store.add_org(org, kind=kind)
        if org in SEEDED_ORGS:
            store.add_user(f"{org}-user", org=org, role="reader")
    store.add_agreement("agreed-partner", parties=["agreed", "partner"], max_tlp="amber", onward=False,
                        valid_from=None, valid_until=None, actor="test")
    read, write, release, update = (store.add_collection(f"matrix {k}", alias=f"matrix-{k}")
                                    for k in ("read", "write", "release", "update"))
    settings = load_settings(env={"ACCORD_DATA_DIR": str(tmp_path), "ACCORD_DATABASE_URL": store.url,
                                  "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_AUTH_FAILURES_PER_MINUTE": "1000000",
                                  "ACCORD_ALERT_RUNNER": "false"})
    w = World(store, TestClient(build_app(settings, store, clock=clock), raise_server_exceptions=False),
              read, write, release, update, {}, {})
    store.add_peer("partner-node", url="https://partner.example/taxii2/", username="us", sealed_token=b"sealed",
                   org="partner", interval_s=60, accept_max_tlp="amber", accept_types=(),
                   links=[("pull", "remote", read.id)], actor="test")
    for caller in CALLERS:
        org = org_of(caller)
        store.add_org(org)
        w.tokens[caller] = _add_user(store, slug(caller), org, caller[0])
        store.add_user(f"{slug(caller)}-colleague", org=org, role="reader")
        g = GRANTS[caller[1]]
        if g:
            for c in (read, write, release, update):
                store.set_grant(c, org, can_read="read" in g, can_write="write" in g)
        for other in ("agreed", "partner"):
            store.add_agreement(f"{other}-{slug(caller)}", parties=[other, org], max_tlp="amber", onward=False,
                                valid_from=None, valid_until=None, actor="test")
    for org in ("other", *(org_of(c) for c in CALLERS)):  # each lists its own (GET /alert-rules)
        store.add_alert_rule(NewAlertRule(store.get_org(org).pk, "matrix", "own-indicators"), actor="test")
    for org in (*SEEDED_ORGS, *(org_of(c) for c in CALLERS)):
        w.ids[("read", org)] = w.seed(read, org, labels=["matrix-read"])
        w.ids[("update", org)] = w.seed(update, org)
        w.ids[("draft", org)] = w.seed(release, org, State.DRAFT)
    clear = indicator(next(_counter), object_marking_refs=[TLP2_CLEAR], labels=["matrix-read"])
    _ingest(store, read, [clear], Provenance(store.get_org("other").pk, owner_name="other"))
    w.ids[("read", "other CLEAR")] = str(clear["id"])
    w.ids[("update", "other CLEAR")] = w.seed(update, "other", marking=TLP2_CLEAR)
    # Every 404 must be this one: the answer for a path that names nothing.
    w.not_found = w.request(CALLERS[0], "GET", f"/api/v1/objects/indicator--{uuid.uuid4()}").content
    return w


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path = tmp_path_factory.mktemp(f"rest-matrix-{request.param}")
    clock = StepClock()
    store: Store
    pg_name = None
    if request.param == "postgres":
        template: str = request.getfixturevalue("pg_template")
        pg_name = f"accord_rest_{uuid.uuid4().hex[:12]}"
        _pg_admin(f"CREATE DATABASE {pg_name} TEMPLATE {template}")
        store = PostgresStore(_pg_url(pg_name), clock=clock)
    else:
        store = SQLiteStore(f"sqlite:///{tmp_path / 'accord.db'}", clock=clock)
    store.initialise()
    try:
        w = _build(store, tmp_path, clock)
        with w.client:
            yield w
    finally:
        store.close()
        if pg_name is not None:
            _pg_admin(f"DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)")


def ask(w: World, row: str, caller: Caller | None, relation: str) -> Outcome:
    """One cell's (status, detail of a success)."""
    spec = ROWS[row]
    answer = spec.ask(w, caller, relation)
    status = answer.status_code
    if status >= 400:
        _body_error(answer)
        if status == 404:
            assert answer.content == w.not_found, f"{row} {caller} {relation}: a 404 unlike the others"
        if status == 401:
            assert "WWW-Authenticate" in answer.headers
        return status, ""
    if caller is None:
        return status, ""
    return status, (spec.detail or _no_detail)(w, caller, answer)


def cells(row: str) -> Iterator[Cell]:
    for role, grant in CALLERS:
        for relation in ROWS[row].relations:
            yield row, role, grant, relation


def _check(results: dict[Cell, Outcome]) -> None:
    wrong = []
    for cell, outcome in results.items():
        want = expected(*cell)
        if cell in KNOWN:  # held in test_known_disagreements; here it may only be the known answer or the right one
            assert outcome in (KNOWN[cell][0], want), f"{cell}: {outcome}"
            continue
        if outcome != want:
            wrong.append(f"{' / '.join(c for c in cell if c)}: got {outcome}, the rules say {want}")
    assert not wrong, f"{len(wrong)} of {len(results)} cells differ from the rules:\n" + "\n".join(wrong)


# -- The matrix ------------------------------------------------------------------------------------------


def test_every_route_has_a_row() -> None:
    """A REST route added to OPERATIONS without a row here (or a row for no route) fails."""
    routes = {f"{op.method.upper()} {op.path}" for op in OPERATIONS}
    rows = {operation_of(r) for r in ROWS}
    assert rows == routes, f"without a row: {sorted(routes - rows)}; rows without a route: {sorted(rows - routes)}"


@pytest.mark.parametrize("row", list(ROWS))
def test_matrix(world: World, row: str) -> None:
    results = {cell: ask(world, row, (cell[1], cell[2]), cell[3]) for cell in cells(row)}
    _check(results)


def test_without_credentials(world: World) -> None:
    """401, with a challenge, everywhere but the OpenAPI document."""
    results = {(row, ANONYMOUS, "", ""): ask(world, row, None, ROWS[row].relations[0]) for row in ROWS}
    _check(results)


def test_known_disagreements(world: World) -> None:
    """Each cell where the server disagrees with the rules still disagrees (when one is fixed, its
    entry in KNOWN must go); today there are none."""
    for cell, (answer, _) in KNOWN.items():
        assert ask(world, cell[0], (cell[1], cell[2]), cell[3]) == answer, cell


# -- The table in docs/sharing-model.md --------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "sharing-model.md"
HEADING = "## REST authorization matrix"
NEXT = "## Authorization matrix"  # the TAXII one, which follows (it must end the page)


def _shown(detail: str) -> str:
    if detail.startswith("can_read="):  # a collection's flags: the true ones
        return ", ".join(f"{name}" for name, value in (part.split("=") for part in detail.split()) if value == "true")
    return detail


def _cell(row: str, role: str, relation: str) -> str:
    """The answer, once when the grants agree, else each grant's (those with the same answer together)."""
    by_answer: dict[str, list[str]] = {}
    for grant in GRANTS:
        status, detail = expected(row, role, grant, relation)
        mark = "†" if (row, role, grant, relation) in KNOWN else ""
        by_answer.setdefault(f"{status}{mark}" + (f" ({_shown(detail)})" if detail else ""), []).append(grant)
    if len(by_answer) == 1:
        return next(iter(by_answer))
    return "; ".join(f"{', '.join(grants)}: {answer}" for answer, grants in by_answer.items())


def render_section() -> str:
    """The REST section, placed before the TAXII "Authorization matrix" section of docs/sharing-model.md."""
    lines = []
    for row, spec in ROWS.items():
        method, path = operation_of(row).split(" ", 1)
        query = f"?{row.split('?', 1)[1]}=" if "?" in row else ""
        anonymous = expected(row, ANONYMOUS, "", "")[0]
        for relation in spec.relations:
            answers = " | ".join(_cell(row, role, relation) for role in ROLES)
            lines.append(f"| `{method} {path.removeprefix('/api/v1')}{query}` | {relation or '-'} | {answers} | "
                         f"{anonymous} |")
    notes = [textwrap.fill(f"† The rule; today the server answers {answer[0]}: {why}. Held as a strict xfail in "
                           "the test.", width=100) + "\n"
             for answer, why in sorted(set(KNOWN.values()))]
    return "\n".join([
        HEADING,
        "",
        "What each REST route under `/api/v1` answers, by the caller's role, its organisation's grant on the",
        "collections concerned and its relation to the resource. It is generated from the rules of this page,",
        "docs/api.md and `accord/policy/administration.py` by `tests/api/test_rest_authorization_matrix.py`",
        "(`python -m tests.api.test_rest_authorization_matrix` prints this section), which also asks every cell",
        "of an in-process server on both backends; a route of `accord/api/openapi.py` without a row fails it.",
        "The TAXII matrix follows.",
        "",
        "Each caller's organisation has an AMBER agreement with *agreed* (a local organisation) and *partner* (a",
        "partner organisation), none with *other* (local). *own* is the caller's organisation's (object, draft,",
        "organisation, agreement); *self* the caller, *colleague* a user of its organisation; *others'* an",
        "agreement its organisation is not party to; *granted* the collection carrying the grant; *absent*",
        "names nothing. Objects are AMBER and published (*other CLEAR* is CLEAR), drafts are drafts.",
        "*keyed* and *unkeyed* are agreements of the caller's organisation with and without an overlap key.",
        "*own, hidden* is an alert of the caller's organisation about an object it may not (or no longer) see.",
        "",
        "- A cell is one answer when the grant changes nothing, else the answer for each grant (`none`, `read`,",
        "  `read+write`).",
        "- In brackets, what a success gives: the objects listed (search, export), the drafts or agreements",
        "  listed, whether a write is a draft or published, a collection's `can_read`/`can_write`, whether",
        "  the receipts of an object (or the node's totals) are shown.",
        "- Every `404` is byte-identical to that of an object that does not exist; every error is",
        "  `{\"error\": {\"status\", ...}}`. Without credentials, `401` with `WWW-Authenticate`.",
        "",
        "| route | relation | " + " | ".join(ROLES) + " | no credentials |",
        "|---|---|" + "---|" * len(ROLES) + "---|",
        *lines,
        "",
        *notes,
    ])


def test_docs_table_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(HEADING + "\n") == 1 and text.count(NEXT + "\n") == 1, f"{DOC}: one {HEADING!r}, one {NEXT!r}"
    assert render_section() + "\n" + NEXT in text, (f"{DOC}'s {HEADING!r} section (just before {NEXT!r}) is not what "
                                                     "the rules give; regenerate it with "
                                                     "python -m tests.api.test_rest_authorization_matrix")


if __name__ == "__main__":
    sys.stdout.write(render_section())
