"""Information flow through the REST object API and the web UI's reading pages, over a live
``accord serve`` (both backends), held against the oracle (tests/policy/oracle.py).

Each random world (tests/policy/world.py) is built with unique names in the module's database,
plus a chain of relationships between its objects (one per neighbouring pair, at varying TLPs),
so the graph has edges to visible and to hidden objects. Then every user, with a token and with
a signed-in web session, reads:

* ``GET /api/v1/objects`` (every page, through ``next``): exactly the versions the oracle allows,
  granular parts as the rules say; the facets count exactly those (type, TLP, owner, state) and
  name only collections the reader's organisation may know;
* ``GET /api/v1/objects/{id}`` for every object of the world: 404 byte-identical to a missing id
  when the oracle allows no version, otherwise exactly the allowed versions; each edge shows the
  other end's summary (name, type, TLP) only when the oracle lets the reader see it; receipts
  only for the owner's members and the node-admin; "also seen in" lists exactly the other
  indicators the reader sees (every world indicator shares one value), nothing hidden;
* ``GET /api/v1/preview?org=O`` for every organisation the reader may know: exactly what the
  oracle lets O see of the reader's organisation's data (node-admin: of everyone's), with no
  receipt written; ``GET /api/v1/preview?object=ID`` for the reader's own objects: each
  organisation's answer as the oracle gives it for the version once published;
* ``GET /search`` and ``GET /objects/{id}`` in the web UI: the same answers, and no page (JSON or
  HTML) contains the id of a version the reader may not see, except the ids a visible object
  itself references (docs/sharing-model.md, "References between objects": the producer chose to
  share that it points at that id; the page says "(not visible to you)" and shows no name, type
  badge beyond the id's own prefix, or TLP of it), nor the name of a collection it may not know.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import httpx
from hypothesis import Phase, given, settings

from accord.policy.passwords import set_password
from accord.policy.tokens import new_token
from accord.storage.base import Provenance
from accord.storage.sql import micros_now
from tests.policy.oracle import TLP2, Version, World
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import check_bodies, flow_settings, key_of, stable
from tests.policy.world import CREATED, Built, _ingest, build, materialise, modified, worlds
from tests.taxii.conftest import Node, node  # noqa: F401  (the module's live server, per backend)

PASSWORD = "correct horse battery staple 42"
REL_MARKINGS: tuple[tuple[str, ...], ...] = ((TLP2["green"],), (TLP2["amber"],), (TLP2["clear"],), (TLP2["red"],), ())
ID = re.compile(r"[a-z][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Graph:
    ends: dict[str, tuple[str, str]]  # relationship id -> (source id, target id)


def add_relationships(node: Node, built: Built) -> Graph:  # noqa: F811
    """A relationship from each object to the next (owned like its source, in its collection),
    written after the world and added to the oracle's versions."""
    world = built.world
    first: dict[str, Version] = {}
    for v in world.versions:
        if v.type != "marking-definition":
            first.setdefault(v.stix_id, v)
    ids = list(first)
    ends: dict[str, tuple[str, str]] = {}
    for i, (source, target) in enumerate(itertools.pairwise(ids)):
        s = first[source]
        rel = Version(f"relationship--{uuid.uuid4()}", modified(0), "relationship", s.collection, s.owner,
                      marking_refs=REL_MARKINGS[i % len(REL_MARKINGS)])
        body: dict[str, Any] = {"type": "relationship", "spec_version": "2.1", "id": rel.stix_id, "created": CREATED,
                                "modified": rel.modified, "relationship_type": "indicates", "source_ref": source,
                                "target_ref": target}
        if rel.marking_refs:
            body["object_marking_refs"] = list(rel.marking_refs)
        _ingest(node.store, built.collections[s.collection], [body],
                Provenance(built.org_pk[s.owner], owner_name=s.owner))
        world.versions.append(rel)
        ends[rel.stix_id] = (source, target)
    return Graph(ends)


def known_collections(world: World, username: str) -> set[str]:
    """Collections the user's organisation may know exist (docs/api.md: it may read or write them)."""
    org, role = world.users[username]
    if role == "node-admin":
        return set(world.default_tlp)
    writer = role != "reader"
    return {c for c in world.default_tlp
            if world.grants.get((c, org), (False, False))[0] or (writer and world.grants.get((c, org))
                                                                  == (False, True))}


def known_orgs(world: World, username: str) -> set[str]:
    """Organisations the user may know (GET /api/v1/orgs): its own and its agreements' parties."""
    org, role = world.users[username]
    if role == "node-admin":
        return set(world.kinds)
    return {org} | {p for a in world.agreements if org in a.parties for p in a.parties}


def sign_in(n: Node, username: str) -> httpx.Client:
    set_password(n.store, username, PASSWORD)
    client = httpx.Client(base_url=n.url, timeout=30, follow_redirects=False)
    page = client.get("/login")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    answer = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": match.group(1)})
    assert answer.status_code in (302, 303), (answer.status_code, answer.text[:500])
    return client


def all_pages(c: httpx.Client, path: str, **params: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every object of a paged listing, and the first page's facets."""
    objects: list[dict[str, Any]] = []
    facets: dict[str, Any] = {}
    cursor: str | None = None
    while True:
        answer = c.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        body = answer.json()
        facets = facets or body["facets"]
        objects += body["objects"]
        cursor = body.get("next")
        if cursor is None:
            return objects, facets


def ids_in(text: str) -> set[str]:
    return set(ID.findall(text))


def check_no_stranger_ids(world: World, text: str, allowed: set[str], where: str) -> None:
    """No id of a world object outside ``allowed`` appears in ``text``."""
    world_ids = {v.stix_id for v in world.versions}
    strangers = (ids_in(text) & world_ids) - allowed
    assert not strangers, f"{where}: ids the reader may not learn: {sorted(strangers)}"


def check_no_unknown_collection(world: World, username: str, text: str, where: str) -> None:
    for c in set(world.default_tlp) - known_collections(world, username):
        assert c not in text, f"{where}: names collection {c}, which the reader may not know"


def newest(keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Search lists the newest version of each object the reader may see (storage/search.py)."""
    best: dict[str, str] = {}
    for stix_id, version in keys:
        if version > best.get(stix_id, ""):
            best[stix_id] = version
    return set(best.items())


def facet_counts(facets: dict[str, Any], name: str) -> dict[str, int]:
    return {f["value"]: f["count"] for f in facets[name]}


def check_search(world: World, username: str, c: httpx.Client, web: httpx.Client) -> None:
    org, role = world.users[username]
    before = micros_now()
    objects, facets = all_pages(c, "/api/v1/objects", limit="7")
    html = web.get("/search", params={"limit": "200"})
    allowed = stable(world, org, before, micros_now())
    if allowed is None:
        return
    expected = newest(allowed)
    where = f"REST search for {username} ({org}, {role})"
    check_bodies(world, org, objects, expected, before, where)
    versions = world.by_key()
    shown = [versions[k] for k in expected]
    known = known_collections(world, username)
    assert facet_counts(facets, "type") == dict(Counter(v.type for v in shown)), where
    assert facet_counts(facets, "tlp") == dict(Counter(world.tlp(v) for v in shown)), where
    assert facet_counts(facets, "owner") == dict(Counter(v.owner for v in shown)), where
    assert facet_counts(facets, "state") == dict(Counter(v.state for v in shown)), where
    assert facet_counts(facets, "collection") == dict(Counter(v.collection for v in shown if v.collection in known))
    for obj in objects:
        meta = obj["_accord"]
        v = versions[key_of(obj)]
        assert (meta["owner"], meta["tlp"], meta["state"]) == (v.owner, world.tlp(v), v.state), where
        assert meta["collection"] == (v.collection if v.collection in known else None), where
    CASES["REST search (listing, facets)"] += 1
    assert html.status_code == 200, html.text[:300]
    visible_ids = {k[0] for k in expected}
    check_no_stranger_ids(world, html.text, visible_ids, f"web search for {username}")
    assert {i for i in ids_in(html.text) if i in {v.stix_id for v in world.versions}} == visible_ids, username
    check_no_unknown_collection(world, username, html.text, f"web search for {username}")
    CASES["web search page"] += 1


def check_objects(world: World, graph: Graph, username: str, c: httpx.Client, web: httpx.Client) -> None:
    org, role = world.users[username]
    for stix_id in sorted({v.stix_id for v in world.versions}):
        before = micros_now()
        answer = c.get(f"/api/v1/objects/{stix_id}")
        page = web.get(f"/objects/{stix_id}")
        visible = stable(world, org, before, micros_now())
        if visible is None:
            continue
        mine = {k for k in visible if k[0] == stix_id}
        where = f"REST object {stix_id} for {username} ({org}, {role})"
        if not mine:
            missing = f"{stix_id.split('--')[0]}--{uuid.uuid4()}"
            other = c.get(f"/api/v1/objects/{missing}")
            assert answer.status_code == 404, (where, answer.text)
            assert answer.content == other.content, where
            other_page = web.get(f"/objects/{missing}")
            assert page.status_code == other_page.status_code == 404, where
            assert page.text.replace(stix_id, "<ID>") == other_page.text.replace(missing, "<ID>"), where
            CASES["REST/web object, hidden = missing"] += 1
            continue
        assert answer.status_code == 200 and page.status_code == 200, (where, answer.text[:300])
        body = answer.json()
        check_bodies(world, org, [v["object"] for v in body["versions"]], mine, before, where)
        versions = world.by_key()
        newest = max(mine, key=lambda k: k[1])
        assert key_of(body["current"]) == newest, where
        owner = versions[newest].owner
        assert (body["receipts"] is not None) == (owner == org or role == "node-admin"), where
        # The graph: an edge's other end is summarised only when the reader may see that object.
        sees_id = {k[0] for k in visible}
        referenced: set[str] = set()
        for edge in body["edges"]:
            other = edge["id"]
            assert (edge["object"] is not None) == (other in sees_id), (where, edge)
            if edge["via"] is not None:
                assert edge["via"] in sees_id, (where, edge)
        expected_edges = set()
        for rel, (source, target) in graph.ends.items():
            if rel in sees_id and stix_id in (source, target):
                expected_edges.add((rel, target if stix_id == source else source))
        if stix_id in graph.ends:
            referenced = set(graph.ends[stix_id])
            expected_edges |= {(None, end) for end in referenced}  # type: ignore[arg-type]
        got = {(e["via"] if e["via"] != stix_id else None, e["id"]) for e in body["edges"]}
        assert got == expected_edges, (where, got, expected_edges)
        for rel in sees_id & set(graph.ends):
            if stix_id in graph.ends[rel]:
                referenced |= set(graph.ends[rel])
        # The marking definitions a visible version names are in its body: the reader has those ids.
        marks = {r for v in world.versions if v.stix_id in sees_id and v.key in visible
                 for r in (*v.marking_refs, *((v.granular_ref,) if v.granular_ref else ()))}
        allowed = sees_id | referenced | marks
        check_no_stranger_ids(world, answer.text, allowed, where)
        check_no_stranger_ids(world, page.text, allowed, f"web object page {stix_id} for {username}")
        check_correlations(world, username, stix_id, sees_id, body["correlations"], page.text, where)
        hidden_ends = referenced - sees_id
        if hidden_ends:
            assert "(not visible to you)" in page.text, where
        check_no_unknown_collection(world, username, answer.text, where)
        check_no_unknown_collection(world, username, page.text, f"web object page {stix_id} for {username}")
        assert ("Who received it" in page.text) == (body["receipts"] is not None), where
        CASES["REST object (versions, edges, receipts)"] += 1
        CASES["web object page"] += 1


def check_correlations(world: World, username: str, stix_id: str, sees_id: set[str],
                       correlations: list[dict[str, Any]], html: str, where: str) -> None:
    """"Also seen in": every world indicator carries the pattern's one value (world.body), outside
    the granularly marked description, so every other indicator the reader sees shares it in the
    reader's copy, and nothing the reader may not see may be listed (or counted: no count is given)."""
    world_ids = {v.stix_id for v in world.versions}
    listed = {o["id"] for c in correlations for o in c["objects"]}
    assert listed & world_ids <= sees_id, (where, "correlates hidden objects", sorted(listed - sees_id))
    if world.users[username][1] != "node-admin":
        assert listed <= world_ids, (where, sorted(listed - world_ids))
    expected = {i for i in sees_id if i.startswith("indicator--") and i != stix_id} \
        if stix_id.startswith("indicator--") else set()
    if not expected:
        assert not listed & world_ids, (where, correlations)
    else:
        (c,) = [c for c in correlations if (c["index_type"], c["value"]) == ("ipv4-addr", "10.0.0.1")]
        if c["over_correlating"]:
            assert c["objects"] == [], where
        else:
            assert {o["id"] for o in c["objects"]} & world_ids == expected, (where, c, expected)
            for i in expected:
                assert i in html, (where, "missing from the web page's also seen in", i)
            CASES["REST/web object, also seen in (listed)"] += 1
        assert "Also seen in" in html, where
    CASES["REST/web object, also seen in"] += 1


def check_preview(n: Node, world: World, username: str, c: httpx.Client) -> None:
    org, role = world.users[username]
    receipts = len(n.store.audit_records(action="receive", limit=100_000))
    for partner in sorted(known_orgs(world, username) - {org}):
        before = micros_now()
        objects, _ = all_pages(c, "/api/v1/preview", org=partner)
        allowed = stable(world, partner, before, micros_now())
        if allowed is None:
            continue
        versions = world.by_key()
        # The asker's own organisation's data only, for a node-admin too (services/preview.py).
        expected = newest({k for k in allowed if versions[k].owner == org})
        check_bodies(world, partner, objects, expected, before, f"preview of {partner} for {username} ({org})")
        CASES["REST sharing preview"] += 1
    for stranger in sorted(set(world.kinds) - known_orgs(world, username)):
        assert c.get("/api/v1/preview", params={"org": stranger}).status_code == 404
    assert len(n.store.audit_records(action="receive", limit=100_000)) == receipts, "a preview wrote a receipt"
    ids = sorted({v.stix_id for v in world.versions})
    for stix_id in ids:
        before = micros_now()
        answer = c.get("/api/v1/preview", params={"object": stix_id})
        t = before
        # Only the asker's organisation's own copies are previewed (a node-admin's too).
        mine = [v for v in world.versions if v.stix_id == stix_id and v.owner == org and world.sees(org, v, t)]
        if not mine:
            assert answer.status_code == 404
            continue
        assert answer.status_code == 200, answer.text
        body = answer.json()
        current = max(mine, key=lambda v: v.modified)
        published = replace(current, state="published") if current.state == "draft" else current
        got = {a["org"]: a["receives"] for a in body["answers"]}
        if role == "node-admin":  # every organisation of the node (other worlds' too): this world's here
            got = {k: r for k, r in got.items() if k in world.kinds}
        assert set(got) == known_orgs(world, username) - {org}, (stix_id, got)
        after = micros_now()
        for other, receives in got.items():
            want = world.sees(other, published, before)
            if want == world.sees(other, published, after):
                assert receives == want, (username, stix_id, other, receives)
        CASES["REST sharing preview, one object"] += 1


def tokens(n: Node, world: World) -> dict[str, str]:
    out = {}
    for username in world.users:
        token, digest = new_token()
        n.store.add_token(username, digest)
        out[username] = token
    return out


@settings(flow_settings(10), phases=[Phase.explicit, Phase.generate])  # no shrinking: each world is slow
@given(spec=worlds())
def test_random_worlds_rest_and_web(node: Node, spec: tuple[World, frozenset[str]]) -> None:  # noqa: F811
    world_spec, resumed = spec
    t = micros_now()
    tag = f"r{uuid.uuid4().hex[:6]}-"
    world = materialise(world_spec, t, tag)
    built = build(node.store, world, frozenset(tag + r for r in resumed))
    graph = add_relationships(node, built)
    for username, token in tokens(node, world).items():
        web = sign_in(node, username)
        try:
            with node.client(token) as c:
                check_search(world, username, c, web)
                check_objects(world, graph, username, c, web)
                check_preview(node, world, username, c)
        finally:
            web.close()
    WORLDS["REST+web " + node.store.url.split(":")[0]] += 1
