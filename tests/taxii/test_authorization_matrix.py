"""The authorization matrix: every TAXII endpoint x role x grant x ownership, against a live server.

Each caller is the one user of its own organisation, one per role (reader, analyst, publisher,
org-admin, node-admin) and grant of that organisation on the collections (none, read, write,
read+write). Every caller's organisation has an AMBER agreement with ``partner`` and none with
``other``. The read and delete collections hold, for each caller, one AMBER object of its own
organisation, and one object of each of: ``partner`` (AMBER, shared under the agreement),
``other`` (AMBER, no agreement) and ``other`` again (CLEAR); "absent" is an id nobody stored.

The answer every cell must get is derived from the rules below (``RULES``), written from
docs/sharing-model.md and docs/api.md, not from the code, so this module is also their executable
statement. The "Authorization matrix" section at the end of docs/sharing-model.md is rendered from
the same rules (``python -m tests.taxii.test_authorization_matrix`` prints it) and
test_docs_table_is_current keeps the two equal. Cells where the server disagrees with the documents
are listed in ``KNOWN``: the matrix tests leave them out and test_known_disagreements holds each of
them as a strict xfail, so a fix turns it into a failure that asks for the entry to go.
"""

from __future__ import annotations

import io
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from accord.policy.tokens import new_token
from accord.policy.viewer import Viewer
from accord.services.ingest import ingest_document
from accord.services.release import write_provenance
from accord.stix.markings import TLP2_CLEAR
from accord.stix.stream import StixDocument
from accord.storage.base import Collection
from tests.taxii.conftest import TAXII, Node, indicator

# -- The rules (docs/sharing-model.md, docs/api.md) ---------------------------------------------------

ROLES = ("reader", "analyst", "publisher", "org-admin", "node-admin")
GRANTS: dict[str, frozenset[str]] = {"none": frozenset(), "read": frozenset({"read"}), "write": frozenset({"write"}),
                                     "read+write": frozenset({"read", "write"})}
OWNERSHIPS = ("own", "partner", "other", "other CLEAR", "absent")
SEEDED = OWNERSHIPS[:-1]
STATUS_OWNERSHIPS = ("own", "colleague", "other org", "absent")
ENDPOINTS = ("discovery", "api root", "collections", "collection", "objects GET", "objects POST", "object GET",
             "object DELETE", "versions", "manifest", "status")
VERSION = "2026-01-01T00:00:00.000Z"  # the one version of every seeded object

Caller = tuple[str, str]  # (role, grant)
Cell = tuple[str, str, str, str]  # (endpoint, role, grant, ownership or "")
Outcome = tuple[int, str]  # (status, what a 200/202 gave: ids by their ownership, flags, draft/published)
CALLERS: tuple[Caller, ...] = tuple((role, grant) for role in ROLES for grant in GRANTS)


def at_least(role: str, floor: str) -> bool:
    """Roles are ordered; each can do what the ones before it can (sharing-model.md, "The parts")."""
    return ROLES.index(role) >= ROLES.index(floor)


def listed(role: str, grant: str) -> bool:
    """api.md: a collection appears to a caller whose organisation has a read or write grant on it
    (node admins see all); a write grant is of use, and so counts, only to an analyst or above."""
    g = GRANTS[grant]
    return role == "node-admin" or "read" in g or ("write" in g and at_least(role, "analyst"))


def can_read(role: str, grant: str) -> bool:
    """sharing-model.md: grants decide which collections an organisation browses; a node-admin
    administers every collection's TAXII surface."""
    return role == "node-admin" or "read" in GRANTS[grant]


def can_write(role: str, grant: str) -> bool:
    """api.md: writing needs a write grant and the analyst role or above (node admins: all)."""
    return role == "node-admin" or ("write" in GRANTS[grant] and at_least(role, "analyst"))


def shared(grant: str, ownership: str) -> bool:
    """sharing-model.md, "Who sees a version", for the seeded objects: rule 1 (own), rule 3 (the
    AMBER agreement with partner), rule 2 (CLEAR needs the organisation's read grant); nothing else."""
    return {"own": True, "partner": True, "other": False, "other CLEAR": "read" in GRANTS[grant],
            "absent": False}[ownership]


def publishes(role: str) -> bool:
    """sharing-model.md, "Release": an analyst's writes are drafts, a publisher's (or above) published."""
    return at_least(role, "publisher")


def flags(read: bool, write: bool) -> str:
    return f"can_read={str(read).lower()} can_write={str(write).lower()}"


def expected(endpoint: str, role: str, grant: str, ownership: str = "") -> Outcome:
    """What ``endpoint`` answers a caller with ``role`` whose organisation has ``grant``."""
    if endpoint in ("discovery", "api root"):
        return 200, ""  # any authenticated caller
    if endpoint == "status":
        return (200, "own") if ownership == "own" else (404, "")  # only its poster may read a status
    if endpoint == "collections":
        return 200, flags(can_read(role, grant), can_write(role, grant)) if listed(role, grant) else "not listed"
    if not listed(role, grant):
        return 404, ""  # identical to an unknown collection
    readable, writable = can_read(role, grant), can_write(role, grant)
    if endpoint == "collection":
        return 200, flags(readable, writable)
    if endpoint == "objects POST":
        return (202, "published" if publishes(role) else "draft") if writable else (403, "")
    if endpoint == "object DELETE":
        if ownership == "own" and writable:
            return 200, ""  # the caller's organisation's object, analyst or above with write access
        return (403, "") if readable and shared(grant, ownership) else (404, "")
    if not readable:
        return 403, ""  # visible, but write-only
    if endpoint in ("objects GET", "manifest"):
        return 200, ", ".join(o for o in SEEDED if shared(grant, o))
    assert endpoint in ("object GET", "versions"), endpoint
    if not shared(grant, ownership):
        return 404, ""  # identical to an absent object
    return 200, ownership if endpoint == "object GET" else VERSION


# Cells where the server disagrees with the documents: cell -> (what it answers, a note for the docs table).
# Empty: the one disagreement this test found (DELETE of one's own object with a write-only grant
# answered 404) is fixed, and those cells are now checked like every other.
KNOWN: dict[Cell, tuple[Outcome, str]] = {}


# -- The live node ----------------------------------------------------------------------------------------


def slug(caller: Caller) -> str:
    role, grant = caller
    return f"{role}-{grant.replace('+', '-')}"


@dataclass
class World:
    node: Node
    read: Collection  # seeded, only read
    delete: Collection  # seeded, for DELETE
    post: Collection  # empty, for POST
    tokens: dict[Caller, str]
    ids: dict[tuple[str, Caller | None, str], str]  # (collection key, caller for "own", ownership) -> STIX id
    partner: str  # token of partner's publisher (read+write on every collection)
    other: str  # token of other's reader (read on every collection)
    partner_status: str  # id of a status partner's publisher posted
    absent: str = field(default_factory=lambda: f"indicator--{uuid.uuid4()}")

    def object_id(self, key: str, caller: Caller, ownership: str) -> str:
        if ownership == "absent":
            return self.absent
        return self.ids[(key, caller if ownership == "own" else None, ownership)]

    def label(self, key: str, caller: Caller, stix_id: str) -> str:
        """An id as this caller's matrix names it: its ownership, or whose it is."""
        for ownership in SEEDED:
            if self.object_id(key, caller, ownership) == stix_id:
                return ownership
        for other in CALLERS:
            if self.ids.get((key, other, "own")) == stix_id:
                return f"{slug(other)}'s"
        return stix_id


def _seed(node: Node, collection: Collection, org: str, *objects: dict[str, Any]) -> None:
    """Store objects for ``org`` as `accord import --org ORG` would: published, owned by ``org``."""
    provenance = write_provenance(node.store, Viewer.operator(), org=org)
    with node.store.transaction() as tx:
        doc = StixDocument(io.BytesIO(orjson.dumps({"objects": list(objects)})).read, source="seed")
        report = ingest_document(tx, collection, doc, provenance)
    assert not report.refused


def _add_user(node: Node, username: str, org: str, role: str) -> str:
    node.store.add_user(username, org=org, role=role)
    token, digest = new_token()
    node.store.add_token(username, digest)
    return token


def _post(client: httpx.Client, collection: Collection, *objects: dict[str, Any]) -> httpx.Response:
    return client.post(f"/default/collections/{collection.id}/objects/", content=orjson.dumps({"objects": objects}),
                       headers={"Content-Type": TAXII})


@pytest.fixture(scope="module")
def world(node: Node) -> World:
    store = node.store
    read, delete, post = (node.collection(f"matrix {k}") for k in ("read", "delete", "post"))
    matrix = (read, delete, post)
    for org in ("partner", "other"):
        store.add_org(org)
    partner = _add_user(node, "partner-publisher", "partner", "publisher")
    other = _add_user(node, "other-reader", "other", "reader")
    for c in matrix:
        store.set_grant(c, "partner", can_read=True, can_write=True)
        store.set_grant(c, "other", can_read=True, can_write=False)
    tokens: dict[Caller, str] = {}
    ids: dict[tuple[str, Caller | None, str], str] = {}
    for n, caller in enumerate(CALLERS):
        org = f"org-{slug(caller)}"
        store.add_org(org)
        tokens[caller] = _add_user(node, slug(caller), org, caller[0])
        g = GRANTS[caller[1]]
        if g:
            for c in matrix:
                store.set_grant(c, org, can_read="read" in g, can_write="write" in g)
        store.add_agreement(f"partner-{slug(caller)}", parties=["partner", org], max_tlp="amber", onward=False,
                            valid_from=None, valid_until=None, actor="test")
        for key, c in (("read", read), ("delete", delete)):
            own = indicator(n)
            ids[(key, caller, "own")] = str(own["id"])
            _seed(node, c, org, own)
    for key, c in (("read", read), ("delete", delete)):
        partner_obj, other_obj = indicator(100), indicator(101)
        clear_obj = indicator(102, object_marking_refs=[TLP2_CLEAR])
        _seed(node, c, "partner", partner_obj)
        _seed(node, c, "other", other_obj, clear_obj)
        for ownership, obj in (("partner", partner_obj), ("other", other_obj), ("other CLEAR", clear_obj)):
            ids[(key, None, ownership)] = str(obj["id"])
    with node.client(partner) as c:
        answer = _post(c, post, indicator(103))
        assert answer.status_code == 202, answer.text
        partner_status = str(answer.json()["id"])
    return World(node, read, delete, post, tokens, ids, partner, other, partner_status)


@pytest.fixture(scope="module")
def clients(world: World) -> Iterator[dict[Caller, httpx.Client]]:
    opened = {caller: world.node.client(token) for caller, token in world.tokens.items()}
    yield opened
    for client in opened.values():
        client.close()


def _not_found_body(client: httpx.Client) -> bytes:
    """The 404 of a collection that does not exist: every hidden thing must answer exactly this."""
    answer = client.get(f"/default/collections/{uuid.uuid4()}/")
    assert answer.status_code == 404
    return answer.content


def _asking(clients: dict[Caller, httpx.Client]) -> Iterator[tuple[Caller, httpx.Client, bytes]]:
    """Each caller, its client and the 404 it gets for an unknown collection."""
    for caller, client in clients.items():
        yield caller, client, _not_found_body(client)


def _outcome(answer: httpx.Response, detail: Callable[[Any], str], not_found: bytes) -> Outcome:
    """(status, detail of a success); every error must be a TAXII error resource, every 404 the same."""
    if answer.status_code in (200, 202):
        return answer.status_code, detail(answer.json() if answer.content else None)
    assert answer.headers["content-type"] == TAXII
    assert answer.json()["http_status"] == str(answer.status_code)
    if answer.status_code == 404:
        assert answer.content == not_found, "a 404 that differs from an unknown collection's"
    return answer.status_code, ""


def _check(results: dict[Cell, Outcome]) -> None:
    """Every cell as the rules say, except the known disagreements; all mismatches in one message."""
    wrong = []
    for cell, outcome in results.items():
        if cell in KNOWN:  # asked in test_known_disagreements; here it may only be the known answer or the right one
            assert outcome in (KNOWN[cell][0], expected(*cell)), f"{cell}: {outcome}"
            continue
        want = expected(*cell)
        if outcome != want:
            wrong.append(f"{' / '.join(c for c in cell if c)}: got {outcome}, documented {want}")
    assert not wrong, f"{len(wrong)} of {len(results)} cells differ from the documents:\n" + "\n".join(wrong)


# -- The matrix ------------------------------------------------------------------------------------------


def test_discovery_and_api_root(world: World, clients: dict[Caller, httpx.Client]) -> None:
    results: dict[Cell, Outcome] = {}
    for caller, client, nf in _asking(clients):
        roots = client.get("/taxii2/")
        results[("discovery", *caller, "")] = _outcome(
            roots, lambda body: "" if body["api_roots"] == [f"{world.node.url}/default/"] else str(body), nf)
        results[("api root", *caller, "")] = _outcome(
            client.get("/default/"), lambda body: "" if body["versions"] == [TAXII] else str(body), nf)
    _check(results)


def test_collections_and_collection(world: World, clients: dict[Caller, httpx.Client]) -> None:
    matrix = {world.read.id, world.delete.id, world.post.id}
    everything = {c.id for c in world.node.store.collections()}
    results: dict[Cell, Outcome] = {}
    for caller, client, nf in _asking(clients):

        def listing(body: dict[str, Any], caller: Caller = caller) -> str:
            found = {c["id"]: flags(c["can_read"], c["can_write"]) for c in body["collections"]}
            if not found:
                return "not listed"
            # The matrix collections carry the caller's grant; a node-admin also lists every other one.
            wanted = everything if caller[0] == "node-admin" else matrix
            if set(found) != wanted or len({found[i] for i in matrix}) != 1:
                return f"listed {sorted(found.items())}"
            if caller[0] == "node-admin" and any(found[i] != flags(True, True) for i in everything - matrix):
                return f"listed {sorted(found.items())}"
            return found[world.read.id]

        results[("collections", *caller, "")] = _outcome(client.get("/default/collections/"), listing, nf)
        for c in (world.read, world.delete, world.post):
            got = _outcome(client.get(f"/default/collections/{c.id}/"),
                           lambda body, c=c: flags(body["can_read"], body["can_write"]) if body["id"] == c.id
                           else str(body), nf)
            key = ("collection", *caller, "")
            assert results.setdefault(key, got) == got, f"{caller}: the matrix collections answer differently"
    _check(results)


def test_object_reads(world: World, clients: dict[Caller, httpx.Client]) -> None:
    results: dict[Cell, Outcome] = {}
    base = f"/default/collections/{world.read.id}"
    for caller, client, nf in _asking(clients):

        def names(records: list[dict[str, Any]], caller: Caller = caller) -> str:
            found = [world.label("read", caller, r["id"]) for r in records]
            assert len(found) == len(set(found)), f"{caller}: an object listed twice: {found}"
            return ", ".join(sorted(found, key=lambda o: (o not in SEEDED, SEEDED.index(o) if o in SEEDED else o)))

        results[("objects GET", *caller, "")] = _outcome(client.get(f"{base}/objects/"),
                                                         lambda body: names(body["objects"]), nf)
        results[("manifest", *caller, "")] = _outcome(client.get(f"{base}/manifest/"),
                                                      lambda body: names(body["objects"]), nf)
        for ownership in OWNERSHIPS:
            sid = world.object_id("read", caller, ownership)
            results[("object GET", *caller, ownership)] = _outcome(
                client.get(f"{base}/objects/{sid}/"), lambda body: names(body["objects"]), nf)
            results[("versions", *caller, ownership)] = _outcome(
                client.get(f"{base}/objects/{sid}/versions/"), lambda body: ", ".join(body["versions"]), nf)
    _check(results)


@dataclass
class Posted:
    answers: dict[Caller, httpx.Response]
    objects: dict[Caller, str]
    results: dict[Cell, Outcome]


@pytest.fixture(scope="module")
def posted(world: World, clients: dict[Caller, httpx.Client]) -> Posted:
    """Every caller posts one new object; the partner (under the agreement) tells whether it was
    published, the organisation without agreement must never see it, the poster always may."""
    answers, objects, results = {}, {}, {}
    base = f"/default/collections/{world.post.id}/objects"
    with world.node.client(world.partner) as partner, world.node.client(world.other) as other:
        for n, (caller, client, nf) in enumerate(_asking(clients)):
            obj = indicator(200 + n)
            sid = objects[caller] = str(obj["id"])
            answer = answers[caller] = _post(client, world.post, obj)

            def state(body: dict[str, Any], caller: Caller = caller, sid: str = sid) -> str:
                if body["success_count"] != 1 or body["successes"][0]["id"] != sid:
                    return f"not stored: {body}"
                seen = {"draft" if partner.get(f"{base}/{sid}/").status_code == 404 else "published"}
                if other.get(f"{base}/{sid}/").status_code != 404:
                    seen.add("seen by an organisation without agreement")
                if can_read(*caller) and clients[caller].get(f"{base}/{sid}/").status_code != 200:
                    seen.add("hidden from its own poster")
                return ", ".join(sorted(seen))

            results[("objects POST", *caller, "")] = _outcome(answer, state, nf)
    return Posted(answers, objects, results)


def test_add_objects(posted: Posted) -> None:
    _check(posted.results)


def test_status(world: World, clients: dict[Caller, httpx.Client], posted: Posted) -> None:
    results: dict[Cell, Outcome] = {}
    store = world.node.store
    body = b'{"status": "complete"}'
    for caller, client, nf in _asking(clients):
        answer = posted.answers[caller]
        if answer.status_code == 202:
            own = str(answer.json()["id"])
        else:  # a caller that may not post: a status recorded under its name, as a past post would be
            own = str(uuid.uuid4())
            store.save_status(own, "default", slug(caller), body)
        colleague = f"{slug(caller)}-colleague"
        store.add_user(colleague, org=f"org-{slug(caller)}", role=caller[0])
        theirs = str(uuid.uuid4())
        store.save_status(theirs, "default", colleague, body)
        for ownership, status_id in zip(STATUS_OWNERSHIPS, (own, theirs, world.partner_status, str(uuid.uuid4())),
                                        strict=True):
            results[("status", *caller, ownership)] = _outcome(
                client.get(f"/default/status/{status_id}/"),
                lambda b, own=own: "own" if b.get("id", own) == own else f"someone else's: {b}", nf)
    _check(results)


def test_delete(world: World, clients: dict[Caller, httpx.Client]) -> None:
    results: dict[Cell, Outcome] = {}
    base = f"/default/collections/{world.delete.id}/objects"
    for caller, client, nf in _asking(clients):
        for ownership in OWNERSHIPS:
            sid = world.object_id("delete", caller, ownership)
            results[("object DELETE", *caller, ownership)] = _outcome(client.delete(f"{base}/{sid}/"),
                                                                     lambda _: "", nf)
    _check(results)
    # A 200 removed the object from the collection; anything else left everything in place.
    removed = {world.object_id("delete", caller, "own") for caller in CALLERS
               if results[("object DELETE", *caller, "own")][0] == 200}
    with world.node.client(world.partner) as partner, world.node.client(world.other) as other:
        seen = {o["id"] for o in partner.get(f"{base}/", params={"limit": "1000"}).json()["objects"]}
        seen |= {o["id"] for o in other.get(f"{base}/", params={"limit": "1000"}).json()["objects"]}
    stored = {sid for (key, _, _), sid in world.ids.items() if key == "delete"}
    assert seen == stored - removed


# -- The table in docs/sharing-model.md --------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "sharing-model.md"
HEADING = "## Authorization matrix"


def _cell(endpoint: str, role: str, grant: str, ownership: str = "") -> str:
    status, detail = expected(endpoint, role, grant, ownership)
    mark = "†" if (endpoint, role, grant, ownership) in KNOWN else ""
    if endpoint == "collection":
        return "404" if status == 404 else f"200: {detail.replace('=', ' ').replace(' can_write', ', can_write')}"
    if endpoint in ("objects GET", "objects POST") and status in (200, 202):
        return f"{status}: {detail}" if detail else f"{status}: none"
    return f"{status}{mark}"


def render_section() -> str:
    """The section at the end of docs/sharing-model.md, from the rules above."""
    def per_object(endpoint: str, role: str, grant: str) -> str:
        return " / ".join(_cell(endpoint, role, grant, o) for o in OWNERSHIPS)

    rows = [f"| {role} | {grant} | {_cell('collection', role, grant)} | {_cell('objects GET', role, grant)} | "
            f"{per_object('object GET', role, grant)} | {_cell('objects POST', role, grant)} | "
            f"{per_object('object DELETE', role, grant)} |" for role, grant in CALLERS]
    notes = [textwrap.fill(f"† Documented; today the server answers {answer[0]}: {note}. Held as a strict xfail "
                           "in the test.", width=100)
             for answer, note in sorted(set(KNOWN.values()))]
    return "\n".join([
        HEADING,
        "",
        "What each TAXII endpoint answers, by the caller's role and its organisation's grant on the collection.",
        "It is generated from the rules of this page and docs/api.md by",
        "`tests/taxii/test_authorization_matrix.py` (`python -m tests.taxii.test_authorization_matrix` prints this",
        "section), which also asks a live server every cell on both backends.",
        "",
        "The objects: *own* is an AMBER object of the caller's organisation; *partner* an AMBER object of an",
        "organisation with which the caller's has an active agreement (ceiling AMBER); *other* an AMBER object of",
        "an organisation without agreement, *other CLEAR* a CLEAR one of that organisation; *absent* an id nobody",
        "stored. All are published.",
        "",
        "- Discovery (`/taxii2/`) and the API root: `200` for every authenticated caller.",
        "- Status: `200` only for the user who posted the request; `404` for everyone else, a colleague of the",
        "  same organisation and a node-admin included.",
        "- Collections (`/collections/`) lists exactly the collections for which the *collection* column is not",
        "  `404`, with the same `can_read`/`can_write`.",
        "- A node-admin may read and write every collection whatever its organisation's grants, but sees in it",
        "  only what its organisation may: another organisation's CLEAR object needs its organisation's read grant.",
        "- Manifest answers as *objects GET* (same ids), and versions as *object GET* (`200` with the version).",
        "- Every `404` is byte-identical to that of a collection that does not exist.",
        "",
        "| role | grant | collection | objects GET | object GET: own / partner / other / other CLEAR / absent "
        "| objects POST | object DELETE: own / partner / other / other CLEAR / absent |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *notes,
        "",
    ])


def test_docs_table_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.count(HEADING) == 1, f"{DOC} must have one {HEADING!r} section"
    assert text.endswith(render_section()), (f"{DOC}'s last section is not what the rules give; regenerate it with "
                                             "python -m tests.taxii.test_authorization_matrix")


if __name__ == "__main__":
    sys.stdout.write(render_section())
