"""STIX objects and API reads shared by the browser flow and XSS tests."""

from __future__ import annotations

import uuid
from typing import Any

from accord.stix.markings import TLP2_AMBER, TLP2_CLEAR, TLP2_GREEN, TLP2_RED
from tests.web.conftest import World

TLP = {"clear": TLP2_CLEAR, "green": TLP2_GREEN, "amber": TLP2_AMBER, "red": TLP2_RED}
CREATED = "2026-01-01T00:00:00.000Z"


def sdo(kind: str, name: str, *, tlp: str | None = "amber", modified: str = CREATED, stix_id: str | None = None,
        **extra: Any) -> dict[str, Any]:
    """A STIX domain object of type ``kind`` with a name (and the TLP marking ``tlp``)."""
    obj: dict[str, Any] = {"type": kind, "spec_version": "2.1", "id": stix_id or f"{kind}--{uuid.uuid4()}",
                           "created": CREATED, "modified": modified, "name": name, **extra}
    if kind == "malware":
        obj.setdefault("is_family", True)
    if tlp is not None:
        obj["object_marking_refs"] = [TLP[tlp]]
    return obj


def ip_indicator(name: str, ip: str, *, tlp: str | None = "amber", **extra: Any) -> dict[str, Any]:
    return sdo("indicator", name, tlp=tlp, pattern=f"[ipv4-addr:value = '{ip}']", pattern_type="stix",
               valid_from="2026-01-01T00:00:00Z", **extra)


def domain_indicator(name: str, domain: str, *, tlp: str | None = "amber", **extra: Any) -> dict[str, Any]:
    return sdo("indicator", name, tlp=tlp, pattern=f"[domain-name:value = '{domain}']", pattern_type="stix",
               valid_from="2026-01-01T00:00:00Z", **extra)


def relationship(source: dict[str, Any], kind: str, target: dict[str, Any], *, tlp: str | None = "amber",
                 **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "relationship", "spec_version": "2.1", "id": f"relationship--{uuid.uuid4()}",
                           "created": CREATED, "modified": CREATED, "relationship_type": kind,
                           "source_ref": source["id"], "target_ref": target["id"], **extra}
    if tlp is not None:
        obj["object_marking_refs"] = [TLP[tlp]]
    return obj


def taxii_objects(world: World, username: str) -> list[dict[str, Any]]:
    """Every object ``username`` receives from the shared collection over TAXII, following ``next``."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {"limit": "500"}
    with world.client(username) as client:
        while True:
            answer = client.get(f"/default/collections/{world.collection.id}/objects/", params=params)
            assert answer.status_code == 200, answer.text
            envelope = answer.json()
            found.extend(envelope.get("objects", []))
            if not envelope.get("more"):
                return found
            params["next"] = envelope["next"]


def taxii_ids(world: World, username: str, containing: str = "") -> set[str]:
    """The ids of the objects ``username`` receives over TAXII whose name contains ``containing``."""
    return {o["id"] for o in taxii_objects(world, username) if containing in str(o.get("name", ""))}


def drafts(world: World, username: str) -> set[str]:
    """The ids in ``username``'s organisation's approval queue, read over REST."""
    with world.client(username) as client:
        answer = client.get("/api/v1/drafts", headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    return {d["id"] for d in answer.json()["drafts"]}
