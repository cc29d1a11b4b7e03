"""The real TAXII peers against a live `accord serve`: taxii2-client (taxii2client.v21) and the
stix2 library's TAXIICollectionSource/Sink."""

from __future__ import annotations

import orjson
import pytest
import requests
import stix2
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from tests.conftest import shared_data
from tests.taxii.conftest import Node, indicator


def _client_collection(node: Node, username: str, token: str, collection_id: str) -> Collection:
    return Collection(f"{node.root}/collections/{collection_id}/", user=username, password=token)


def test_discovery_api_roots_and_collections(node: Node) -> None:
    mine, other = node.collection("mine"), node.collection("not shared")
    username, token = node.user(read=(mine,), write=(mine,))
    server = Server(f"{node.url}/taxii2/", user=username, password=token)
    assert server.title == "Accord"
    assert [r.url for r in server.api_roots] == [f"{node.root}/"]
    root = server.default
    assert isinstance(root, ApiRoot)
    assert root.versions == ["application/taxii+json;version=2.1"]
    assert root.max_content_length > 0
    ids = {c.id: c for c in root.collections}
    assert mine.id in ids and other.id not in ids
    assert ids[mine.id].can_read and ids[mine.id].can_write


@pytest.mark.realdata
def test_pegasus_round_trip(node: Node) -> None:
    bundle = orjson.loads(shared_data("amnesty-investigations", "2021-07-18_nso", "pegasus.stix2").read_bytes())
    collection = node.collection("pegasus")
    username, token = node.user(read=(collection,), write=(collection,))
    client = _client_collection(node, username, token, collection.id)
    status = client.add_objects({"objects": bundle["objects"]}, wait_for_completion=True, poll_interval=0.2)
    assert status.status == "complete"
    assert status.total_count == len(bundle["objects"]) == status.success_count
    assert status.failure_count == 0 and status.pending_count == 0
    assert len(status.successes) == status.success_count
    # Status stays queryable by URL.
    status.refresh()
    assert status.success_count == len(bundle["objects"])

    pages = list(as_pages(client.get_objects, per_request=500))
    got = [o for page in pages for o in page.get("objects", [])]
    assert len(pages) == 7 and [len(p["objects"]) for p in pages[:-1]] == [500] * 6
    assert sorted(o["id"] for o in got) == sorted(o["id"] for o in bundle["objects"])
    manifest = [r for page in as_pages(client.get_manifest, per_request=1000) for r in page["objects"]]
    assert len(manifest) == len(bundle["objects"])
    assert {r["media_type"] for r in manifest} == {"application/stix+json;version=2.1"}

    malware = next(o for o in bundle["objects"] if o["type"] == "malware")
    assert client.get_objects(type="malware")["objects"] == [malware]
    assert client.get_object(malware["id"])["objects"][0]["id"] == malware["id"]
    versions = client.object_versions(malware["id"])
    assert len(versions["versions"]) == 1 and versions["more"] is False
    two = [o["id"] for o in bundle["objects"][:2]]
    assert {o["id"] for o in client.get_objects(id=two)["objects"]} == set(two)
    # Posting the same bundle again is idempotent: every object succeeds, nothing new is stored.
    again = client.add_objects({"objects": bundle["objects"][:50]})
    assert again.success_count == 50
    assert len([o for p in as_pages(client.get_manifest, per_request=1000) for o in p["objects"]]) == len(manifest)


def test_versions_and_version_filters(node: Node) -> None:
    collection = node.collection()
    username, token = node.user(read=(collection,), write=(collection,))
    client = _client_collection(node, username, token, collection.id)
    first = indicator(1, modified="2026-01-01T00:00:00.000Z")
    second = {**first, "modified": "2026-02-01T00:00:00.000Z", "name": "second"}
    third = {**first, "modified": "2026-03-01T00:00:00.000Z", "name": "third"}
    assert client.add_objects({"objects": [first, third, second]}).success_count == 3
    sid = first["id"]
    assert client.object_versions(sid)["versions"] == [
        "2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"]
    assert [o["name"] for o in client.get_object(sid)["objects"]] == ["third"]
    assert [o["name"] for o in client.get_object(sid, version="first")["objects"]] == ["indicator 1"]
    assert len(client.get_object(sid, version="all")["objects"]) == 3
    assert [o["name"] for o in client.get_objects(version="2026-02-01T00:00:00Z")["objects"]] == ["second"]
    assert {o["name"] for o in client.get_objects(version=["first", "last"])["objects"]} == {"indicator 1", "third"}
    assert client.get_objects(spec_version="2.0")["objects"] == []


def test_stix2_source_and_sink(node: Node) -> None:
    collection = node.collection()
    username, token = node.user(read=(collection,), write=(collection,))
    client = _client_collection(node, username, token, collection.id)
    sink = stix2.TAXIICollectionSink(client)
    malware = stix2.Malware(name="Pegasus", is_family=True)
    ind = stix2.Indicator(name="bad ip", pattern="[ipv4-addr:value = '10.1.2.3']", pattern_type="stix")
    sink.add([malware, ind])  # posts one STIX bundle
    newer = malware.new_version(description="spyware")
    sink.add(newer)
    source = stix2.TAXIICollectionSource(client)
    got = source.get(malware.id)
    assert got is not None and got.description == "spyware"
    assert len(source.all_versions(malware.id)) == 2
    found = source.query([stix2.Filter("type", "=", "indicator")])
    assert [o.id for o in found] == [ind.id]
    assert source.get(f"malware--{'0' * 8}-0000-4000-8000-{'0' * 12}") is None


def test_client_sees_denial_as_http_errors(node: Node) -> None:
    collection = node.collection()
    username, token = node.user(read=(collection,))
    client = _client_collection(node, username, token, collection.id)
    assert client.can_read and not client.can_write
    hidden = node.collection("hidden")
    with pytest.raises(requests.HTTPError) as caught:
        _client_collection(node, username, token, hidden.id).refresh()
    assert caught.value.response.status_code == 404
    status = Collection(f"{node.root}/collections/{collection.id}/", user=username, password="acc_wrong")
    with pytest.raises(requests.HTTPError) as caught:
        status.refresh()
    assert caught.value.response.status_code == 401


@pytest.mark.realdata
def test_attack_mobile_flows_to_a_partner_under_an_agreement(node: Node) -> None:
    """MITRE ATT&CK Mobile (2,148 objects, every one marked only with a copyright statement, so
    AMBER by the collection default) posted by a publisher with taxii2-client: a partner under an
    AMBER agreement pages all of it back unchanged; an organisation with read access but no
    agreement gets none of it; the audit log names what the partner received."""
    path = shared_data("mitre-attack-stix-data", "mobile-attack", "mobile-attack-17.1.json")
    bundle = orjson.loads(path.read_bytes())
    collection = node.collection("attack mobile")
    producer, partner, outsider = (f"{name}-{collection.id[:8]}" for name in ("producer", "partner", "outsider"))
    for org in (producer, partner, outsider):
        node.store.add_org(org)
    node.store.add_agreement(f"mobile-{collection.id[:8]}", parties=[producer, partner], max_tlp="amber",
                             onward=False, valid_from=None, valid_until=None, actor="test")
    writer, writer_token = node.user(org=producer, role="publisher", read=(collection,), write=(collection,))
    reader, reader_token = node.user(org=partner, role="reader", read=(collection,))
    other, other_token = node.user(org=outsider, role="reader", read=(collection,))

    status = _client_collection(node, writer, writer_token, collection.id).add_objects(
        bundle, wait_for_completion=True, poll_interval=0.2)
    assert status.status == "complete" and status.failure_count == 0
    assert status.success_count == len(bundle["objects"]) == 2148

    partner_view = _client_collection(node, reader, reader_token, collection.id)
    got = [o for page in as_pages(partner_view.get_objects, per_request=1000) for o in page["objects"]]
    assert sorted(got, key=lambda o: o["id"]) == sorted(bundle["objects"], key=lambda o: o["id"])
    patterns = [o for page in as_pages(partner_view.get_objects, per_request=100, type="attack-pattern")
                for o in page["objects"]]
    assert len(patterns) == sum(1 for o in bundle["objects"] if o["type"] == "attack-pattern") == 188
    manifest = [r for page in as_pages(partner_view.get_manifest, per_request=1000) for r in page["objects"]]
    assert len(manifest) == 2148

    outsider_view = _client_collection(node, other, other_token, collection.id)
    assert outsider_view.get_objects().get("objects") == []

    tactic = next(o for o in bundle["objects"] if o["type"] == "x-mitre-tactic")
    received = node.store.audit_records(stix_id=tactic["id"], action="receive")
    assert received and all(r.org == partner for r in received)
    assert {r.agreement for r in received} == {f"mobile-{collection.id[:8]}"}
