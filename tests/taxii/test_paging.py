"""Paging (TAXII 2.1 section 3.4.2 `next`, 3.4.1 `added_after`): nothing skipped or repeated
under concurrent writers, and a `next` cursor works only for the caller and query it was made for."""

from __future__ import annotations

import base64
import threading

import orjson

from tests.taxii.conftest import TAXII, Node, indicator

WRITERS = 4
POSTS_PER_WRITER = 15
OBJECTS_PER_POST = 5


def test_paging_during_concurrent_posts_never_skips_or_repeats(node: Node) -> None:
    collection = node.collection("busy")
    _, token = node.user(read=(collection,), write=(collection,))
    url = f"/default/collections/{collection.id}/objects/"
    posted: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with node.client(token) as c:
                for n in range(POSTS_PER_WRITER):
                    objects = [indicator(worker * 1000 + n * 10 + i) for i in range(OBJECTS_PER_POST)]
                    response = c.post(url, content=orjson.dumps({"objects": objects}), headers={"Content-Type": TAXII})
                    assert response.status_code == 202 and response.json()["success_count"] == OBJECTS_PER_POST
                    with lock:
                        posted.extend(str(o["id"]) for o in objects)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    seen: list[str] = []
    last_added: str | None = None
    with node.client(token) as reader:

        def drain() -> None:
            # Page with `next` until `more` is false, then resume later from the last date_added.
            nonlocal last_added
            params = {"limit": "7"} if last_added is None else {"limit": "7", "added_after": last_added}
            while True:
                page = reader.get(url, params=params)
                body = page.json()
                assert ("next" in body) == body["more"]
                seen.extend(o["id"] for o in body["objects"])
                if body["objects"]:
                    last_added = page.headers["x-taxii-date-added-last"]
                if not body["more"]:
                    return
                params = {**params, "next": body["next"]}

        while any(t.is_alive() for t in threads):
            drain()
        for t in threads:
            t.join()
        drain()
    assert not errors
    assert len(seen) == len(set(seen)) == WRITERS * POSTS_PER_WRITER * OBJECTS_PER_POST
    assert set(seen) == set(posted)


def _first_page(node: Node, token: str, url: str, **params: str) -> dict[str, object]:
    with node.client(token) as c:
        body: dict[str, object] = c.get(url, params={"limit": "1", **params}).json()
    assert body["more"] is True
    return body


def test_next_is_bound_to_the_caller_and_the_query(node: Node) -> None:
    secret, shared = node.collection("alice only"), node.collection("shared")
    alice_org = f"org-alice-{secret.id[:8]}"
    mallory_org = f"org-mallory-{secret.id[:8]}"
    node.store.add_org(alice_org)
    node.store.add_org(mallory_org)
    # Mallory's organisation may receive what alice's publishes (AMBER, the collections' default).
    node.store.add_agreement(f"alice-mallory-{secret.id[:8]}", parties=[alice_org, mallory_org], max_tlp="amber",
                             onward=False, valid_from=None, valid_until=None, actor="test")
    _, alice = node.user(org=alice_org, role="publisher", read=(secret, shared), write=(secret, shared))
    _, mallory = node.user(org=mallory_org, read=(shared,))
    with node.client(alice) as c:
        for coll in (secret, shared):
            envelope = orjson.dumps({"objects": [indicator(i) for i in range(3)]})
            c.post(f"/default/collections/{coll.id}/objects/", content=envelope, headers={"Content-Type": TAXII})
    secret_url = f"/default/collections/{secret.id}/objects/"
    shared_url = f"/default/collections/{shared.id}/objects/"
    cursor = str(_first_page(node, alice, secret_url)["next"])
    with node.client(mallory) as c:
        # Replayed on the collection it came from: that collection does not exist for mallory.
        assert c.get(secret_url, params={"next": cursor}).status_code == 404
        # Replayed on a collection mallory can read: refused, not a page of anything.
        replay = c.get(shared_url, params={"next": cursor})
        assert replay.status_code == 400 and replay.json()["details"] == {"parameter": "next"}
        # Mallory's own cursor works for mallory, even with another limit.
        own = str(_first_page(node, mallory, shared_url)["next"])
        assert c.get(shared_url, params={"next": own, "limit": "5"}).status_code == 200
    alice_shared = str(_first_page(node, alice, shared_url)["next"])
    with node.client(mallory) as c:
        assert c.get(shared_url, params={"next": alice_shared}).status_code == 400
    with node.client(alice) as c:
        # Other filters, or another endpoint, than the cursor was made for.
        assert c.get(secret_url, params={"next": cursor, "match[type]": "indicator"}).status_code == 400
        assert c.get(f"/default/collections/{secret.id}/manifest/", params={"next": cursor}).status_code == 400
        # A forged cursor: the date_added changed, the signature not.
        raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        raw[8] ^= 1
        forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
        assert c.get(secret_url, params={"next": forged}).status_code == 400
        assert c.get(secret_url, params={"next": cursor}).status_code == 200


def test_revoked_grant_ends_a_scan(node: Node) -> None:
    collection = node.collection("revocable")
    org = f"org-rev-{collection.id[:8]}"
    node.store.add_org(org)
    _, token = node.user(org=org, read=(collection,), write=(collection,))
    url = f"/default/collections/{collection.id}/objects/"
    with node.client(token) as c:
        c.post(url, content=orjson.dumps({"objects": [indicator(i) for i in range(3)]}),
               headers={"Content-Type": TAXII})
        cursor = str(_first_page(node, token, url)["next"])
        node.store.remove_grant(collection, org)
        assert c.get(url, params={"next": cursor}).status_code == 404
