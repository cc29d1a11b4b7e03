"""Agreements, release (drafts, publish, four eyes, retraction), gated export and the audit log,
through the real command on both backends."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from accord.stix.markings import TLP2_AMBER, TLP2_CLEAR, TLP2_GREEN, TLP2_RED
from accord.storage import open_store
from tests.cli.conftest import Run


def _indicator(tlp: str | None, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "x",
        "pattern": "[ipv4-addr:value = '10.1.2.3']", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z"}
    if tlp is not None:
        obj["object_marking_refs"] = [tlp]
    obj.update(extra)
    return obj


def _bundle(*objects: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": list(objects)})


def _ids(accord: Run, *args: str) -> set[str]:
    result = accord("export", *args)
    assert result.exit_code == 0, result.output
    return {o["id"] for o in orjson.loads(result.stdout)["objects"]}


@pytest.fixture
def world(accord: Run) -> dict[str, Any]:
    for org in ("cert-a", "cert-b", "dib"):
        assert accord("org", "add", org).exit_code == 0
    assert accord("user", "add", "alice", "--org", "cert-a", "--role", "publisher").exit_code == 0
    assert accord("user", "add", "anna", "--org", "cert-a", "--role", "analyst").exit_code == 0
    assert accord("user", "add", "bob", "--org", "cert-b", "--role", "reader").exit_code == 0
    assert accord("user", "add", "dana", "--org", "dib", "--role", "reader").exit_code == 0
    for org in ("cert-a", "cert-b", "dib"):
        assert accord("collection", "grant", "default", org, "--read").exit_code == 0
    added = accord("agreement", "add", "mou", "--party", "cert-a", "--party", "cert-b", "--max-tlp", "amber")
    assert added.exit_code == 0 and "active" in added.stdout
    objects = {name: _indicator(tlp) for name, tlp in
               (("clear", TLP2_CLEAR), ("green", TLP2_GREEN), ("amber", TLP2_AMBER), ("red", TLP2_RED),
                ("unmarked", None))}
    result = accord("import", "--as", "alice", "-", input=_bundle(*objects.values()))
    assert result.exit_code == 0, result.output
    return {name: str(o["id"]) for name, o in objects.items()}


def test_each_reader_exports_what_the_agreement_gives(accord: Run, world: dict[str, str]) -> None:
    assert _ids(accord, "--as", "alice") == set(world.values())
    assert _ids(accord, "--as", "bob") == {world[n] for n in ("clear", "green", "amber", "unmarked")}
    assert _ids(accord, "--as", "dana") == {world["clear"]}
    assert _ids(accord, "--for-org", "dib") == {world["clear"]}
    assert _ids(accord) == set(world.values())  # the operator


def test_suspending_ending_and_dating_an_agreement(accord: Run, world: dict[str, str]) -> None:
    assert accord("agreement", "suspend", "mou").stdout.strip() == "agreement mou: suspended"
    assert _ids(accord, "--as", "bob") == {world["clear"]}
    assert accord("agreement", "resume", "mou").exit_code == 0
    assert world["green"] in _ids(accord, "--as", "bob")
    assert accord("agreement", "end", "mou").exit_code == 0
    assert _ids(accord, "--as", "bob") == {world["clear"]}
    again = accord("agreement", "resume", "mou")
    assert again.exit_code == 1 and "has ended" in again.stderr
    future = accord("agreement", "add", "later", "--party", "cert-a", "--party", "cert-b", "--valid-from",
                    "2999-01-01")
    assert "not yet valid" in future.stdout
    assert _ids(accord, "--as", "bob") == {world["clear"]}
    past = accord("agreement", "add", "past", "--party", "cert-a", "--party", "cert-b",
                  "--valid-from", "2020-01-01", "--valid-until", "2021-01-01")
    assert "expired" in past.stdout
    listing = accord("agreement", "list").stdout
    assert "mou\tended" in listing and "past\texpired" in listing
    assert "parties: cert-a, cert-b" in accord("agreement", "show", "mou").stdout


def test_agreement_bad_input(accord: Run, world: dict[str, str]) -> None:
    one = accord("agreement", "add", "solo", "--party", "cert-a")
    assert one.exit_code == 1 and "at least two" in one.stderr
    unknown = accord("agreement", "add", "x", "--party", "cert-a", "--party", "nobody")
    assert unknown.exit_code == 1 and "no organisation 'nobody'" in unknown.stderr
    dates = accord("agreement", "add", "x", "--party", "cert-a", "--party", "dib", "--valid-from", "2027-01-01",
                   "--valid-until", "2026-01-01")
    assert dates.exit_code == 1 and "--valid-until" in dates.stderr
    taken = accord("agreement", "add", "mou", "--party", "cert-a", "--party", "dib")
    assert taken.exit_code == 1 and "taken" in taken.stderr
    assert "no agreement" in accord("agreement", "suspend", "nope").stderr


def test_red_needs_a_named_recipient_and_a_red_agreement(accord: Run, world: dict[str, str]) -> None:
    assert accord("agreement", "add", "red-mou", "--party", "cert-a", "--party", "cert-b", "--max-tlp",
                  "red").exit_code == 0
    assert world["red"] not in _ids(accord, "--as", "bob")  # no recipient named yet
    red = _indicator(TLP2_RED)
    assert accord("import", "--as", "alice", "--recipient", "cert-b", "-", input=_bundle(red)).exit_code == 0
    seen = _ids(accord, "--as", "bob")
    assert str(red["id"]) in seen and world["red"] not in seen
    assert str(red["id"]) not in _ids(accord, "--as", "dana")


def test_analyst_writes_are_drafts_until_a_publisher_publishes(accord: Run, world: dict[str, str]) -> None:
    draft = _indicator(TLP2_GREEN)
    assert accord("import", "--as", "anna", "-", input=_bundle(draft)).exit_code == 0
    sid = str(draft["id"])
    assert sid in _ids(accord, "--as", "alice")  # her own organisation sees drafts
    assert sid not in _ids(accord, "--as", "bob")
    denied = accord("publish", sid, "--as", "anna")
    assert denied.exit_code == 1 and "publisher" in denied.stderr
    assert accord("user", "add", "bea", "--org", "cert-b", "--role", "publisher").exit_code == 0
    hidden = accord("publish", sid, "--as", "bea")  # another organisation's object: not found for it
    assert hidden.exit_code == 1 and "owned by your organisation" in hidden.stderr
    assert accord("publish", sid, "--as", "alice").stdout.strip() == f"published 1 version(s) of {sid}"
    assert sid in _ids(accord, "--as", "bob")
    assert accord("retract", sid, "--as", "alice").exit_code == 0
    assert sid not in _ids(accord, "--as", "bob") and sid in _ids(accord, "--as", "alice")


def test_four_eyes(accord: Run, world: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_FOUR_EYES", "true")
    own = _indicator(TLP2_GREEN)
    assert accord("import", "--as", "alice", "-", input=_bundle(own)).exit_code == 0
    sid = str(own["id"])
    assert sid not in _ids(accord, "--as", "bob")  # a publisher's write is a draft too
    refused = accord("publish", sid, "--as", "alice")
    assert refused.exit_code == 1 and "four eyes" in refused.stderr
    assert accord("user", "add", "carl", "--org", "cert-a", "--role", "publisher").exit_code == 0
    assert accord("publish", sid, "--as", "carl").exit_code == 0
    assert sid in _ids(accord, "--as", "bob")


def test_granular_markings_are_removed_for_readers_below_them(accord: Run, world: dict[str, str]) -> None:
    obj = _indicator(TLP2_GREEN, description="sensitive detail", labels=["a", "b"],
                     granular_markings=[{"marking_ref": TLP2_RED, "selectors": ["description", "labels.[0]"]},
                                        {"marking_ref": TLP2_GREEN, "selectors": ["labels.[1]"]}])
    assert accord("import", "--as", "alice", "-", input=_bundle(obj)).exit_code == 0

    def as_seen(*args: str) -> dict[str, Any]:
        found = [o for o in orjson.loads(accord("export", *args).stdout)["objects"] if o["id"] == obj["id"]]
        assert len(found) == 1
        return found[0]  # type: ignore[no-any-return]

    assert as_seen("--as", "alice") == obj
    bob = as_seen("--as", "bob")
    assert "description" not in bob and bob["labels"] == ["b"]
    assert "granular_markings" not in bob  # the GREEN one pointed into a list that lost an element
    assert bob["pattern"] == obj["pattern"]


def test_audit_answers_who_received_what_and_detects_tampering(accord: Run, db_url: str,
                                                               world: dict[str, str]) -> None:
    _ids(accord, "--as", "bob")
    shown = accord("audit", "show", "--object", world["green"], "--action", "receive")
    assert shown.exit_code == 0
    assert "agreement=mou" in shown.stdout and f"{world['green']} version" in shown.stdout
    assert "-> cert-b" in shown.stdout
    verified = accord("audit", "verify")
    assert verified.exit_code == 0 and "intact" in verified.stdout
    head = accord("audit", "show", "--head").stdout.strip()
    assert accord("audit", "verify", "--expect-head", head).exit_code == 0

    store = open_store(db_url)
    try:
        with store._write() as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
        broken = accord("audit", "verify")
        assert broken.exit_code == 1 and "entry 3" in broken.stderr and "altered" in broken.stderr
        with store._write() as conn:  # type: ignore[attr-defined]
            conn.execute("UPDATE audit_log SET actor = (SELECT actor FROM audit_log WHERE seq = 2) WHERE seq = 3")
    finally:
        store.close()


@pytest.mark.parametrize("tamper", ["delete", "reorder", "items", "truncate"])
def test_audit_tampering_is_detected(accord: Run, db_url: str, world: dict[str, str], tamper: str) -> None:
    _ids(accord, "--as", "bob")
    head = accord("audit", "show", "--head").stdout.strip()
    store = open_store(db_url)
    try:
        with store._write() as conn:  # type: ignore[attr-defined]
            if tamper == "delete":
                conn.execute("DELETE FROM audit_log WHERE seq = 4")
            elif tamper == "reorder":
                conn.execute("UPDATE audit_log SET seq = -1 WHERE seq = 4")
                conn.execute("UPDATE audit_log SET seq = 4 WHERE seq = 5")
                conn.execute("UPDATE audit_log SET seq = 5 WHERE seq = -1")
            elif tamper == "items":
                conn.execute("UPDATE audit_items SET recipient = 'dib' WHERE recipient = 'cert-b'")
            else:
                conn.execute("DELETE FROM audit_items WHERE seq = (SELECT max(seq) FROM audit_log)")
                conn.execute("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
    finally:
        store.close()
    args = ("--expect-head", head) if tamper == "truncate" else ()
    broken = accord("audit", "verify", *args)
    assert broken.exit_code == 1 and "BROKEN" in broken.stderr


def test_a_command_leaves_the_receipts_it_wrote_indexed_by_object(accord: Run, world: dict[str, Any],
                                                                  db_url: str) -> None:
    """Receipt items are indexed by object behind the appends (services/audit_index.py): each
    command catches the index up before it exits, so on a node run by commands alone (a cron
    job's exports and pushes) reads by object never have a growing unindexed tail to walk."""
    shared = _ids(accord, "--as", "bob")
    store = open_store(db_url)
    try:
        records = store.audit_records()
        items = store.audit_items([r.seq for r in records])
        received = {sid for r in records if r.action == "receive" and r.org == "cert-b" for sid, *_ in items[r.seq]}
        with store._read() as conn:  # type: ignore[attr-defined]
            through = conn.execute("SELECT indexed_through FROM audit_index_state").fetchone()[0]
            indexed = {tuple(row) for row in conn.execute("SELECT stix_id, seq FROM audit_object_index")}
        assert shared <= received
        assert through == records[-1].seq
        assert indexed == {(sid, seq) for seq, its in items.items() for sid, *_ in its}
    finally:
        store.close()


def test_a_command_that_only_read_leaves_the_indexing_to_others(accord: Run, world: dict[str, Any],
                                                                db_url: str) -> None:
    """Catching the index up takes the write lock; a command that wrote nothing must never wait
    for it at exit (behind another process's long import, say), so it leaves it alone."""
    from accord.storage.base import AuditEvent

    store = open_store(db_url)
    try:
        store.audit_append(AuditEvent("reader", "receive", org="cert-b",
                                      items=((f"indicator--{uuid.uuid4()}", "v", "cert-b", "cert-a"),)))
        newest = store.audit_records(newest_first=True, limit=1)[0].seq

        def through() -> int:
            with store._read() as conn:  # type: ignore[attr-defined]
                return int(conn.execute("SELECT indexed_through FROM audit_index_state").fetchone()[0])

        assert through() < newest
        assert accord("stats").exit_code == 0  # reads only
        assert through() < newest
        assert accord("org", "add", "sector-cert").exit_code == 0  # writes (and audits): catches up
        assert through() == store.audit_records(newest_first=True, limit=1)[0].seq
    finally:
        store.close()
