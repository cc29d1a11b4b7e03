"""Peers and their links in the store (both backends): add, read back, pause, remove, cursors
that move only with the transaction they belong to, and every change audited."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from accord.errors import AlreadyExistsError, ConfigError, NotFoundError
from accord.services.secrets import SecretBox
from accord.storage import migrate
from accord.storage.base import Store
from tests.storage.test_contract import store  # noqa: F401  (the per-backend store fixture)


def _add(store: Store, name: str = "cert-b") -> None:  # noqa: F811
    if name == "cert-b":
        store.add_org("partner-b", kind="partner")
    store.add_peer(name, url="https://b.example/taxii2/", username="node-a", sealed_token=b"sealed", org="partner-b",
                   interval_s=60, accept_max_tlp="amber", accept_types=["indicator", "report"],
                   links=[("pull", "remote-coll", "default"), ("push", "remote-coll", "default")], actor="op")


def test_peer_round_trip_and_audit(store: Store) -> None:  # noqa: F811
    _add(store)
    peer = store.get_peer("cert-b")
    assert (peer.url, peer.username, peer.sealed_token, peer.org_name, peer.interval_s, peer.paused) == (
        "https://b.example/taxii2/", "node-a", b"sealed", "partner-b", 60, False)
    assert peer.accept_types == ("indicator", "report") and peer.accept_max_tlp == "amber"
    assert [(link.direction, link.remote_collection, link.cursor, link.objects) for link in peer.links] == [
        ("pull", "remote-coll", None, 0), ("push", "remote-coll", None, 0)]
    assert store.change_peer("cert-b", action="pause", actor="op").paused
    assert not store.change_peer("cert-b", action="resume", actor="op").paused
    store.change_peer("cert-b", action="remove", actor="op")
    with pytest.raises(NotFoundError):
        store.get_peer("cert-b")
    assert [r.action for r in store.audit_records(org="partner-b") if r.action.startswith("peer.")] == [
        "peer.add", "peer.pause", "peer.resume", "peer.remove"]


def test_bad_peers_are_refused_whole(store: Store) -> None:  # noqa: F811
    _add(store)
    with pytest.raises(AlreadyExistsError, match="cert-b"):
        store.add_peer(
            "cert-b", url="https://x/", username="u", sealed_token=b"s", org="partner-b", interval_s=1,
            accept_max_tlp="clear", accept_types=[], links=[], actor="op")
    with pytest.raises(NotFoundError):
        store.add_peer("p2", url="https://x/", username="u", sealed_token=b"s", org="partner-b", interval_s=1,
                       accept_max_tlp="clear", accept_types=[], links=[("pull", "r", "no-such-collection")],
                       actor="op")
    with pytest.raises(ConfigError, match="sideways"):
        store.add_peer("p3", url="https://x/", username="u", sealed_token=b"s", org="partner-b", interval_s=1,
                       accept_max_tlp="clear", accept_types=[], links=[("sideways", "r", "default")], actor="op")
    assert [p.name for p in store.peers()] == ["cert-b"]


def test_a_cursor_moves_only_with_its_transaction(store: Store) -> None:  # noqa: F811
    _add(store)
    link = store.get_peer("cert-b").links[0]
    with store.transaction() as tx:
        tx.advance_link(link.pk, "2026-01-01T00:00:00.000001Z", 5)

    def failing_page() -> None:
        with store.transaction() as tx:
            tx.advance_link(link.pk, "2027-01-01T00:00:00.000001Z", 7)
            raise RuntimeError("the page's objects failed to commit")

    with pytest.raises(RuntimeError):
        failing_page()
    store.record_link_attempt(link.pk, error="timed out")
    moved = store.get_peer("cert-b").links[0]
    assert (moved.cursor, moved.objects, moved.last_error, moved.last_success) == (
        "2026-01-01T00:00:00.000001Z", 5, "timed out", None)
    with store.transaction() as tx:  # a page committed late by a concurrent run: never backwards
        tx.advance_link(link.pk, "2025-12-31T23:59:59.9Z", 1)
    assert store.get_peer("cert-b").links[0].cursor == "2026-01-01T00:00:00.000001Z"
    store.record_link_attempt(link.pk, error=None)
    done = store.get_peer("cert-b").links[0]
    assert done.last_error is None and done.last_success is not None


def test_sealed_tokens_open_only_with_the_key_file(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "keys" / "node.key")
    sealed = box.seal("acc_secret-token")
    assert b"acc_secret" not in sealed
    assert box.unseal(sealed) == "acc_secret-token"
    assert oct((tmp_path / "keys" / "node.key").stat().st_mode & 0o777) == "0o600"
    other = SecretBox(tmp_path / "other.key")
    with pytest.raises(ConfigError, match="missing"):
        other.unseal(sealed)
    other.seal("x")
    with pytest.raises(ConfigError, match="does not open"):
        other.unseal(sealed)


def test_a_partners_overlap_key_names_the_local_organisation_it_speaks_for(store: Store) -> None:  # noqa: F811
    _add(store)
    store.add_org("cert-a")
    kept = store.set_peer_overlap_key("cert-b", sealed_key=b"k", fingerprint="f1", remote_agreement="b-a",
                                      for_org="cert-a", actor="op")
    assert (kept.fingerprint, kept.remote_agreement, kept.for_org) == ("f1", "b-a", "cert-a")
    assert store.peer_overlap_key("cert-b") == kept
    # The organisation's admins see in their audit view that the node's key speaks for them.
    assert [(r.action, r.subject) for r in store.audit_records(org="cert-a")
            if r.action.startswith("peer.")] == [("peer.overlap-key", "cert-b")]
    with pytest.raises(NotFoundError, match="no organisation 'nope'"):
        store.set_peer_overlap_key("cert-b", sealed_key=b"k", fingerprint="f2", remote_agreement=None,
                                   for_org="nope", actor="op")
    assert store.peer_overlap_key("cert-b") == kept  # refused whole
    unnamed = store.set_peer_overlap_key("cert-b", sealed_key=b"k2", fingerprint="f2", remote_agreement=None,
                                         for_org=None, actor="op")
    assert unnamed.for_org is None and store.peer_overlap_key("cert-b") == unnamed
    # Naming the organisation of the key kept, without the key (which the operator no longer has).
    named = store.set_peer_overlap_org("cert-b", for_org="node", actor="op")
    assert (named.sealed_key, named.fingerprint, named.for_org) == (b"k2", "f2", "node")
    assert store.peer_overlap_key("cert-b") == named
    with pytest.raises(NotFoundError):
        store.set_peer_overlap_org("cert-b", for_org="nope", actor="op")
    store.remove_peer_overlap_key("cert-b", actor="op")
    with pytest.raises(ConfigError, match="has no overlap key"):
        store.set_peer_overlap_org("cert-b", for_org="node", actor="op")
    assert [(r.org, orjson.loads(r.detail).get("for_org", "-")) for r in store.audit_records(action="peer.overlap-key")
            ] == [("cert-a", "cert-a"), (None, None), ("node", "node"), ("node", "-")]


def _migrate(store: Store, command: str, revision: str) -> None:  # noqa: F811
    """Run the migrations up or down to ``revision`` on the store's database (the store closed)."""
    import sqlalchemy as sa
    from alembic import command as alembic
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    url = store.url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            getattr(alembic, command)(config, revision)
    finally:
        engine.dispose()


def test_keys_kept_before_migration_0013_speak_for_no_organisation(store: Store) -> None:  # noqa: F811
    _add(store)
    store.set_peer_overlap_key("cert-b", sealed_key=b"k", fingerprint="f1", remote_agreement="b-a", for_org="node",
                               actor="op")
    store.close()
    _migrate(store, "downgrade", "0012")
    _migrate(store, "upgrade", "head")
    store.check_schema()
    kept = store.peer_overlap_key("cert-b")
    assert kept is not None and (kept.sealed_key, kept.fingerprint, kept.remote_agreement, kept.for_org) == (
        b"k", "f1", "b-a", None)
