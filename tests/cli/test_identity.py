"""Organisations, users, tokens and collection grants through the real command, on both backends."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from accord.errors import AuthenticationError
from accord.policy.gate import collection_access, collections_predicate
from accord.policy.roles import Role
from accord.policy.tokens import authenticate, new_token
from accord.policy.viewer import Viewer
from accord.storage import open_store
from accord.storage.sql import SQLStore, micros_now
from tests.cli.conftest import Run


def test_orgs_users_and_roles(accord: Run) -> None:
    assert accord("org", "add", "CERT-A").exit_code == 0
    assert accord("org", "add", "CERT-B", "--partner").exit_code == 0
    again = accord("org", "add", "CERT-A")
    assert again.exit_code == 1
    assert "exists already" in again.stderr
    assert accord("org", "list").stdout.splitlines() == ["CERT-A\tlocal", "CERT-B\tpartner", "node\tlocal"]
    assert accord("user", "add", "alice", "--org", "CERT-A", "--role", "analyst").exit_code == 0
    unknown = accord("user", "add", "bob", "--org", "NOPE", "--role", "reader")
    assert unknown.exit_code == 1
    assert "no organisation 'NOPE'" in unknown.stderr
    assert accord("user", "add", "carol", "--org", "CERT-A", "--role", "emperor").exit_code == 2
    assert accord("user", "list").stdout.splitlines() == ["alice\tCERT-A\tanalyst"]


def test_token_is_printed_alone_works_and_can_be_revoked(accord: Run, db_url: str) -> None:
    accord("org", "add", "CERT-A")
    accord("user", "add", "alice", "--org", "CERT-A", "--role", "publisher")
    created = accord("token", "create", "alice", "--label", "feed reader")
    assert created.exit_code == 0
    lines = created.stdout.splitlines()
    assert len(lines) == 1
    secret = lines[0]
    assert secret.startswith("acc_")
    assert secret not in created.stderr
    store = open_store(db_url)
    try:
        viewer = authenticate(store, secret, now=micros_now())
        assert (viewer.username, viewer.org_name, viewer.role) == ("alice", "CERT-A", Role.PUBLISHER)
        authenticate(store, secret, now=micros_now(), username="alice")
        with pytest.raises(AuthenticationError):
            authenticate(store, secret, now=micros_now(), username="mallory")
        with pytest.raises(AuthenticationError):
            authenticate(store, secret + "x", now=micros_now())
        listed = accord("token", "list", "alice").stdout
        assert "active" in listed and "feed reader" in listed and secret not in listed
        token_id = listed.split("\t")[0].lstrip("#")
        assert accord("token", "revoke", token_id).exit_code == 0
        with pytest.raises(AuthenticationError):
            authenticate(store, secret, now=micros_now())
    finally:
        store.close()


def test_expired_token_is_refused(accord: Run, db_url: str) -> None:
    accord("org", "add", "CERT-A")
    accord("user", "add", "alice", "--org", "CERT-A", "--role", "reader")
    store = open_store(db_url)
    try:
        secret, digest = new_token()
        store.add_token("alice", digest, expires=micros_now() - 1)
        with pytest.raises(AuthenticationError) as exc:
            authenticate(store, secret, now=micros_now())
        assert str(exc.value) == "authentication failed"  # says nothing about why
    finally:
        store.close()


def test_collections_and_grants(accord: Run) -> None:
    accord("org", "add", "CERT-A")
    added = accord("collection", "add", "Phishing", "--default-tlp", "green", "--alias", "phish")
    assert added.exit_code == 0
    cid = added.stdout.strip()
    assert accord("collection", "grant", cid, "CERT-A", "--read").exit_code == 0
    assert "CERT-A:r" in accord("collection", "list").stdout
    assert accord("collection", "grant", "phish", "CERT-A", "--read", "--write").exit_code == 0
    assert "CERT-A:rw" in accord("collection", "list").stdout
    assert accord("collection", "grant", "phish", "CERT-A").exit_code == 2  # nothing to grant
    assert accord("collection", "revoke", "phish", "CERT-A").exit_code == 0
    assert "no grants" in accord("collection", "list").stdout.splitlines()[-1]


def test_a_disabled_user_is_refused_until_enabled(accord: Run, db_url: str) -> None:
    accord("org", "add", "CERT-A")
    accord("user", "add", "alice", "--org", "CERT-A", "--role", "analyst")
    secret = accord("token", "create", "alice").stdout.strip()
    disabled = accord("user", "disable", "alice")
    assert disabled.exit_code == 0 and disabled.stdout.strip() == "user alice: disabled"
    assert "alice\tCERT-A\tanalyst\tdisabled" in accord("user", "list").stdout
    store = open_store(db_url)
    try:
        with pytest.raises(AuthenticationError):
            authenticate(store, secret, now=micros_now())
        assert accord("user", "enable", "alice").stdout.strip() == "user alice: enabled"
        assert authenticate(store, secret, now=micros_now()).username == "alice"  # the same token again
        assert [r.action for r in store.audit_records() if r.subject == "alice"][-2:] == ["user.disable",
                                                                                       "user.enable"]
    finally:
        store.close()
    unknown = accord("user", "disable", "ghost")
    assert unknown.exit_code == 1 and "no user 'ghost'" in unknown.stderr


def test_token_for_unknown_user(accord: Run) -> None:
    result = accord("token", "create", "ghost")
    assert result.exit_code == 1
    assert "no user 'ghost'" in result.stderr


def _visible_by_predicate(store: SQLStore, viewer: Viewer) -> set[int]:
    pred = collections_predicate(viewer)
    with store._read() as conn:
        rows = conn.execute(store._sql(f"SELECT c.pk FROM collections c WHERE {pred.sql}"), pred.params).fetchall()
    return {r[0] for r in rows}


def test_gate_single_answer_and_sql_predicate_agree(accord: Run, db_url: str) -> None:
    """Every combination of grant and role: the SQL predicate lists exactly the collections for
    which the single-collection answer gives read or write."""
    store = open_store(db_url)
    assert isinstance(store, SQLStore)
    try:
        store.add_org("O")
        store.add_org("Other")
        grants = list(itertools.product([False, True], [False, True]))
        colls = [store.add_collection(f"c{i}") for i in range(len(grants))]
        for c, (r, w) in zip(colls, grants, strict=True):
            if r or w:
                store.set_grant(c, "O", can_read=r, can_write=w)
        store.set_grant(colls[0], "Other", can_read=True, can_write=True)  # not O's
        for role in Role:
            org = store.get_org("O")
            viewer = Viewer(f"u-{role}", org.pk, org.name, role)
            expected = {c.pk for c in store.collections()
                        if (a := collection_access(store, viewer, c)).can_read or a.can_write}
            assert _visible_by_predicate(store, viewer) == expected, role
    finally:
        store.close()



def test_db_current_and_upgrade(accord: Run) -> None:
    from accord.storage import migrate

    current = accord("db", "current")
    assert current.exit_code == 0
    assert current.stdout == f"database: {migrate.HEAD}\nexpected: {migrate.HEAD}\n"
    upgraded = accord("db", "upgrade")
    assert upgraded.exit_code == 0
    assert upgraded.stdout == f"schema: {migrate.HEAD} -> {migrate.HEAD}\n"


def test_db_current_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from accord.cli.main import cli

    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 'empty.db'}", "db", "current"])
    assert result.exit_code == 1
    assert result.stdout.startswith("database: no Accord schema")
