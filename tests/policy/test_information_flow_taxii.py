"""Information flow over a live ``accord serve`` (both backends): random worlds, the existence
oracle (hidden and missing give the same 404) and the three-organisation walkthrough.

Every world is built, with unique names, in the one database the module's server uses; readers
call the TAXII routes and the REST export with their own tokens. Objects, manifest, one object,
its versions and the REST export must return exactly what the oracle (tests/policy/oracle.py)
allows.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from hypothesis import given

from accord.policy.tokens import new_token
from accord.storage.base import Provenance, State
from accord.storage.sql import micros_now
from tests.policy.oracle import TLP2, Version, World
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import check_bodies, export, flow_settings, stable
from tests.policy.world import UNKNOWN_REF, Built, build, materialise, modified, worlds
from tests.taxii.conftest import Node, node  # noqa: F401  (the module's live server, per backend)

PAGE = {"match[version]": "all", "limit": "1000"}
VOLATILE = {"date", "x-request-id"}


def tokens(n: Node, world: World) -> dict[str, str]:
    out = {}
    for username in world.users:
        token, digest = new_token()
        n.store.add_token(username, digest)
        out[username] = token
    return out


def answer(response: httpx.Response, secret: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """A response with the requested id masked and the headers that differ per request dropped."""
    headers = sorted((k, v) for k, v in response.headers.items() if k.lower() not in VOLATILE)
    return response.status_code, headers, response.content.replace(secret.encode(), b"<ID>")


def assert_same_404(c: httpx.Client, hidden_url: str, missing_url: str, hidden: str, missing: str) -> None:
    h, m = c.get(hidden_url), c.get(missing_url)
    assert h.status_code == 404, (hidden_url, h.status_code, h.text)
    assert answer(h, hidden) == answer(m, missing), (hidden_url, h.headers, h.text, m.headers, m.text)
    CASES["TAXII existence oracle"] += 1


def check_reader(n: Node, built: Built, username: str, token: str) -> None:
    world = built.world
    org, role = world.users[username]
    with n.client(token) as c:
        for name, collection in built.collections.items():
            base = f"/default/collections/{collection.id}"
            if not world.reaches(username, name):
                response = c.get(f"{base}/objects/", params=PAGE)
                rest = c.get(f"/api/v1/collections/{collection.id}/export")
                if world.grants.get((name, org), (False, False))[1] and role != "reader":
                    # A writer without read knows the collection (it is listed, can_write): 403.
                    assert response.status_code == 403, f"{username} on {name}: {response.status_code}"
                    assert rest.status_code == 404, f"{username} REST export of write-only {name}"
                    CASES["TAXII write-only collection"] += 1
                    continue
                missing = str(uuid.uuid4())
                assert_same_404(c, f"{base}/objects/", f"/default/collections/{missing}/objects/",
                                collection.id, missing)
                assert_same_404(c, f"{base}/manifest/", f"/default/collections/{missing}/manifest/",
                                collection.id, missing)
                assert_same_404(c, f"/api/v1/collections/{collection.id}/export",
                                f"/api/v1/collections/{missing}/export", collection.id, missing)
                CASES["TAXII unreachable collection"] += 1
                continue
            before = micros_now()
            objects_page = c.get(f"{base}/objects/", params=PAGE)
            manifest_page = c.get(f"{base}/manifest/", params=PAGE)
            rest_export = c.get(f"/api/v1/collections/{collection.id}/export", params={"format": "stix"})
            singles: dict[str, tuple[httpx.Response, httpx.Response]] = {}
            ids = sorted({v.stix_id for v in world.versions if v.collection == name})
            for stix_id in ids:
                singles[stix_id] = (c.get(f"{base}/objects/{stix_id}/", params=PAGE),
                                    c.get(f"{base}/objects/{stix_id}/versions/", params={"limit": "1000"}))
            expected = stable(world, org, before, micros_now(), name)
            if expected is None:
                continue
            where = f"TAXII {name} for {username} ({org}, {role})"
            assert objects_page.status_code == 200 and manifest_page.status_code == 200, where
            assert not objects_page.json().get("more"), where
            check_bodies(world, org, objects_page.json().get("objects", []), expected, before, where + " objects")
            manifest = {(r["id"], r["version"]) for r in manifest_page.json().get("objects", [])}
            assert manifest == expected, f"{where} manifest: {manifest ^ expected}"
            CASES["TAXII objects"] += 1
            CASES["TAXII manifest"] += 1
            assert rest_export.status_code == 200, (where, rest_export.text)
            check_bodies(world, org, rest_export.json()["objects"], expected, before, where + " REST export")
            CASES["REST export"] += 1
            for stix_id, (one, versions) in singles.items():
                mine = {k for k in expected if k[0] == stix_id}
                if not mine:
                    missing = f"{stix_id.split('--')[0]}--{uuid.uuid4()}"
                    assert_same_404(c, f"{base}/objects/{stix_id}/", f"{base}/objects/{missing}/", stix_id, missing)
                    assert_same_404(c, f"{base}/objects/{stix_id}/versions/", f"{base}/objects/{missing}/versions/",
                                    stix_id, missing)
                    continue
                assert one.status_code == 200 and versions.status_code == 200, (where, stix_id)
                check_bodies(world, org, one.json()["objects"], mine, before, f"{where} object {stix_id}")
                assert set(versions.json()["versions"]) == {k[1] for k in mine}, f"{where} versions of {stix_id}"
                CASES["TAXII object"] += 1
                CASES["TAXII versions"] += 1


@flow_settings(8)
@given(spec=worlds())
def test_random_worlds_taxii(node: Node, spec: tuple[World, frozenset[str]]) -> None:  # noqa: F811
    world_spec, resumed = spec
    t = micros_now()
    tag = f"x{uuid.uuid4().hex[:6]}-"
    world = materialise(world_spec, t, tag)
    built = build(node.store, world, frozenset(tag + r for r in resumed))
    for username, token in tokens(node, world).items():
        check_reader(node, built, username, token)
    WORLDS["TAXII " + node.store.url.split(":")[0]] += 1


# -- the walkthrough ---------------------------------------------------------------------------

WALK = {"clear": [TLP2["clear"]], "green": [TLP2["green"]], "amber": [TLP2["amber"]],
        "amber+strict": [TLP2["amber+strict"]], "red": [TLP2["red"]], "unmarked": [], "unknown": [UNKNOWN_REF]}


def indicator(name: str, refs: list[str]) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
                           "created": "2026-01-01T00:00:00.000Z", "modified": modified(0), "name": name,
                           "pattern": "[ipv4-addr:value = '10.0.0.1']", "pattern_type": "stix",
                           "valid_from": "2026-01-01T00:00:00Z"}
    if refs:
        obj["object_marking_refs"] = refs
    return obj


def test_walkthrough(node: Node) -> None:  # noqa: F811
    """Three organisations: A and B agree up to AMBER; C may only read the collection. A publishes
    one object at each TLP, one unmarked (the collection's default, AMBER) and one with an unknown
    marking, and keeps a draft. Each reader sees exactly what the rules give, over TAXII and export."""
    from tests.policy.world import _ingest

    s = node.store
    tag = f"walk{uuid.uuid4().hex[:6]}-"
    a, b, c = (s.add_org(tag + x, kind=k) for x, k in (("a", "local"), ("b", "local"), ("c", "partner")))
    collection = s.add_collection(tag + "shared", alias=tag + "shared", default_tlp="amber")
    s.set_grant(collection, a.name, can_read=True, can_write=True)
    s.set_grant(collection, b.name, can_read=True, can_write=False)
    s.set_grant(collection, c.name, can_read=True, can_write=False)
    s.add_agreement(tag + "ab", parties=[a.name, b.name], max_tlp="amber", onward=False, valid_from=None,
                    valid_until=None, actor="test")
    objects = {label: indicator(label, [r if r != UNKNOWN_REF else f"marking-definition--{uuid.uuid4()}"
                                        for r in refs]) for label, refs in WALK.items()}
    _ingest(s, collection, list(objects.values()), Provenance(a.pk, owner_name=a.name))
    draft = indicator("draft", [TLP2["clear"]])
    _ingest(s, collection, [draft], Provenance(a.pk, state=State.DRAFT, owner_name=a.name))
    everything = {*WALK, "draft"}
    expected = {a.name: everything, b.name: {"clear", "green", "amber", "unmarked"}, c.name: {"clear"}}

    # The oracle agrees with the hand-written expectations.
    world = World(kinds={a.name: "local", b.name: "local", c.name: "partner"},
                  default_tlp={collection.alias: "amber"},  # type: ignore[dict-item]
                  grants={(str(collection.alias), o.name): (True, o is a) for o in (a, b, c)})
    from tests.policy.oracle import Agreement
    world.agreements.append(Agreement(tag + "ab", frozenset({a.name, b.name}), "amber"))
    for label, obj in {**objects, "draft": draft}.items():
        world.versions.append(Version(obj["id"], obj["modified"], "indicator", str(collection.alias), a.name,
                                      tuple(obj.get("object_marking_refs", ())),
                                      state="draft" if label == "draft" else "published"))
    names = {o["id"]: label for label, o in {**objects, "draft": draft}.items()}
    for org, labels in expected.items():
        assert {names[i] for i, _ in world.visible(org, micros_now())} == labels, org

    for org, labels in expected.items():
        username = f"{org}-reader"
        s.add_user(username, org=org, role="reader")
        token, digest = new_token()
        s.add_token(username, digest)
        with node.client(token) as client:
            got = client.get(f"/default/collections/{collection.id}/objects/", params=PAGE).json()
            assert {names[o["id"]] for o in got.get("objects", [])} == labels, f"TAXII objects for {org}"
            manifest = client.get(f"/default/collections/{collection.id}/manifest/", params=PAGE).json()
            assert {names[r["id"]] for r in manifest.get("objects", [])} == labels, f"TAXII manifest for {org}"
            for stix_id, label in names.items():
                one = client.get(f"/default/collections/{collection.id}/objects/{stix_id}/")
                assert (one.status_code == 200) == (label in labels), (org, label, one.status_code)
            CASES["walkthrough TAXII"] += 1
            # Existence: a hidden object answers exactly like one that is not there.
            hidden = [i for i, label in names.items() if label not in labels]
            for stix_id in hidden:
                missing = f"indicator--{uuid.uuid4()}"
                base = f"/default/collections/{collection.id}/objects"
                assert_same_404(client, f"{base}/{stix_id}/", f"{base}/{missing}/", stix_id, missing)
        for args in (["--as", username], ["--for-org", org]):
            exported = export(s.url, *args)
            assert sorted(names.get(o["id"], o["id"]) for o in exported) == sorted(labels), (org, args)
            CASES["walkthrough export"] += 1


def test_hidden_collection_is_missing(node: Node) -> None:  # noqa: F811
    """A collection the caller may not reach answers like one that does not exist, on every route."""
    s = node.store
    tag = f"hide{uuid.uuid4().hex[:6]}-"
    s.add_org(tag + "o", kind="local")
    hidden = s.add_collection(tag + "hidden", default_tlp="clear")
    s.add_user(tag + "u", org=tag + "o", role="publisher")
    token, digest = new_token()
    s.add_token(tag + "u", digest)
    obj = indicator("in hidden", [TLP2["clear"]])
    from tests.policy.world import _ingest
    _ingest(s, hidden, [obj], Provenance(s.get_org("node").pk, owner_name="node"))
    missing = str(uuid.uuid4())
    with node.client(token) as c:
        for route in ("", "objects/", "manifest/", f"objects/{obj['id']}/", f"objects/{obj['id']}/versions/"):
            assert_same_404(c, f"/default/collections/{hidden.id}/{route}",
                            f"/default/collections/{missing}/{route}", hidden.id, missing)


def test_f3_write_only_grant_answers_403(node: Node) -> None:  # noqa: F811
    """A collection the caller may write but not read is listed for it (can_write), so its
    existence is no secret: reading it is 403 (TAXII 2.1 section 3.6), not 404."""
    tag = f"wo{uuid.uuid4().hex[:6]}-"
    collection = node.collection(tag + "write only")
    _, token = node.user(role="analyst", write=(collection,))
    with node.client(token) as c:
        for route in ("objects/", "manifest/"):
            denied = c.get(f"/default/collections/{collection.id}/{route}")
            assert denied.status_code == 403 and denied.json()["http_status"] == "403"
