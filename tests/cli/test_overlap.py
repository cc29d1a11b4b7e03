"""The overlap check's commands (accord/cli/overlap_cmds.py) on every backend: an agreement's key
printed once, shown by fingerprint, rotated and removed; a partner's key read from stdin only;
`accord overlap` refusing clearly (exit 1) when it cannot ask. Asking a live partner node is
tests/sync/test_overlap_two_nodes.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.conftest import Run

KEY = "00" * 16 + "ff" * 16


@pytest.fixture
def node(accord: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("ACCORD_KEY_FILE", str(tmp_path / "node.key"))
    assert accord("org", "add", "cert-b", "--partner").exit_code == 0
    assert accord("agreement", "add", "a-b", "--party", "node", "--party", "cert-b").exit_code == 0
    added = accord("peer", "add", "node-b", "--url", "http://127.0.0.1:9/taxii2/", "--username", "node-a",
                   "--token", "-", "--org", "cert-b", "--pull", "remote:default", input="acc_token\n")
    assert added.exit_code == 0, added.output
    return accord


def test_an_agreement_key_is_printed_once(node: Run, tmp_path: Path) -> None:
    made = node("agreement", "overlap-key", "a-b")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    fingerprint = re.search(r"overlap key ([0-9a-f]{16})", made.stderr)
    assert fingerprint is not None
    shown = node("agreement", "overlap-key", "a-b", "--show")
    assert fingerprint.group(1) in shown.stdout and key not in shown.stdout
    again = node("agreement", "overlap-key", "a-b")
    assert again.exit_code == 1 and "already has an overlap key" in again.stderr and key not in again.output
    rotated = node("agreement", "overlap-key", "a-b", "--rotate")
    assert rotated.exit_code == 0 and rotated.stdout.strip() != key
    assert key not in node("audit", "show").stdout + node("agreement", "show", "a-b").stdout
    assert key.encode() not in (tmp_path / "node.key").read_bytes()
    assert node("agreement", "overlap-key", "a-b", "--remove").exit_code == 0
    assert "no overlap key" in node("agreement", "overlap-key", "a-b", "--show").stdout
    both = node("agreement", "overlap-key", "a-b", "--rotate", "--remove")
    assert both.exit_code == 1 and "at most one of" in both.stderr
    unknown = node("agreement", "overlap-key", "nope")
    assert unknown.exit_code == 1 and "no agreement 'nope'" in unknown.stderr


def test_a_partners_key_comes_from_stdin_only(node: Run) -> None:
    argv = node("peer", "overlap-key", "node-b", "--set", KEY, "--for-org", "node")
    assert argv.exit_code == 1 and "standard input only" in argv.stderr
    bad = node("peer", "overlap-key", "node-b", "--set", "-", "--for-org", "node", input="not a key\n")
    assert bad.exit_code == 1 and "64 hex digits" in bad.stderr
    kept = node("peer", "overlap-key", "node-b", "--set", "-", "--agreement", "b-a", "--for-org", "node",
                input=KEY + "\n")
    assert kept.exit_code == 0, kept.output
    assert "asked as node" in kept.stdout
    shown = node("peer", "overlap-key", "node-b")
    assert "asked as node" in shown.stdout and "agreement b-a" in shown.stdout
    assert KEY not in shown.stdout + node("audit", "show").stdout
    assert node("peer", "overlap-key", "node-b", "--remove").exit_code == 0
    assert "no overlap key" in node("peer", "overlap-key", "node-b").stdout
    lone = node("peer", "overlap-key", "node-b", "--agreement", "b-a")
    assert lone.exit_code == 1 and "--agreement goes with --set" in lone.stderr


def test_a_partners_key_is_asked_as_one_local_organisation(node: Run) -> None:
    """The peer's account on the partner's node belongs to one organisation there: the operator
    names ours with the key (docs/early-warning.md, "Who may ask, and why")."""
    unnamed = node("peer", "overlap-key", "node-b", "--set", "-", input=KEY + "\n")
    assert unnamed.exit_code == 1 and "--set needs --for-org LOCAL_ORG" in unnamed.stderr
    partner = node("peer", "overlap-key", "node-b", "--set", "-", "--for-org", "cert-b", input=KEY + "\n")
    assert partner.exit_code == 1 and "organisation 'cert-b' is a partner" in partner.stderr
    unknown = node("peer", "overlap-key", "node-b", "--set", "-", "--for-org", "nope", input=KEY + "\n")
    assert unknown.exit_code == 1 and "no organisation 'nope'" in unknown.stderr
    assert "no overlap key" in node("peer", "overlap-key", "node-b").stdout
    no_key = node("peer", "overlap-key", "node-b", "--for-org", "node")
    assert no_key.exit_code == 1 and "has no overlap key" in no_key.stderr
    assert node("org", "add", "cert-a").exit_code == 0
    assert node("peer", "overlap-key", "node-b", "--set", "-", "--for-org", "node", input=KEY + "\n").exit_code == 0
    # Alone, --for-org names the organisation of the key kept (the operator need not hold the key again).
    moved = node("peer", "overlap-key", "node-b", "--for-org", "cert-a")
    assert moved.exit_code == 0 and "asked as cert-a" in moved.stdout
    assert "overlap key" in (shown := node("peer", "show", "node-b").stdout) and "asked as cert-a" in shown
    both = node("peer", "overlap-key", "node-b", "--remove", "--for-org", "cert-a")
    assert both.exit_code == 1 and "--for-org goes with --set, or alone" in both.stderr


def test_overlap_says_why_it_cannot_ask(node: Run) -> None:
    nothing = node("overlap", "--peer", "node-b")
    assert nothing.exit_code == 1 and "give at least one VALUE" in nothing.stderr
    no_key = node("overlap", "--peer", "node-b", "198.51.100.7")
    assert no_key.exit_code == 1 and "peer 'node-b' has no overlap key" in no_key.stderr
    unknown = node("overlap", "--peer", "nobody", "198.51.100.7")
    assert unknown.exit_code == 1 and "no peer 'nobody'" in unknown.stderr
    assert node("peer", "overlap-key", "node-b", "--set", "-", "--for-org", "node", input=KEY + "\n").exit_code == 0
    # Only a value that cannot be asked: nothing is sent; the value is named, with the reason.
    bad = node("overlap", "--peer", "node-b", "hello")
    assert bad.exit_code == 1 and "'hello': not an IP address" in bad.stderr
    # The peer does not answer (nothing listens on port 9): the peer and the reason are named.
    down = node("overlap", "--peer", "node-b", "198.51.100.7")
    assert down.exit_code == 1 and "peer node-b: POST http://127.0.0.1:9/api/v1/overlap" in down.stderr
