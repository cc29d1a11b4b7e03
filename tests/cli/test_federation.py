"""`accord peer` and `accord sync` on the command line: adding, showing, pausing and removing peers,
bad input refused with a clear message, tokens never shown, and a sync run that fails says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Run


@pytest.fixture
def partner(accord: Run) -> str:
    assert accord("org", "add", "cert-b", "--partner").exit_code == 0
    return "cert-b"


def test_peer_lifecycle(accord: Run, partner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCORD_KEY_FILE", str(tmp_path / "node.key"))
    added = accord("peer", "add", "node-b", "--url", "http://127.0.0.1:9/taxii2/", "--username", "node-a",
                   "--token", "-", "--org", partner, "--pull", "remote:default", "--push", "default:remote",
                   "--interval", "30", "--accept-max-tlp", "green", "--accept-type", "indicator",
                   input="acc_secret_token_value\n")
    assert added.exit_code == 0, added.output
    shown = accord("peer", "show", "node-b")
    assert "organisation cert-b, every 30 s" in shown.stdout
    assert "pull remote -> default" in shown.stdout and "push default -> remote" in shown.stdout
    assert "TLP up to green, types indicator" in shown.stdout
    assert "acc_secret" not in shown.stdout + accord("peer", "list").stdout + accord("audit", "show").stdout
    assert b"acc_secret" not in (tmp_path / "node.key").read_bytes()
    assert "PAUSED" in accord("peer", "pause", "node-b").stdout + accord("peer", "show", "node-b").stdout
    failed = accord("sync", "run", "--peer", "node-b")
    assert failed.exit_code == 1 and "FAILED" in failed.stderr
    assert "last error" in accord("sync", "status").stdout
    assert accord("peer", "remove", "node-b").exit_code == 0
    assert accord("peer", "list").stdout == ""


@pytest.mark.parametrize(("args", "message"), [
    ((), "at least one --pull or --push"),
    (("--pull", "nocolon"), "REMOTE_COLLECTION:LOCAL_COLLECTION"),
    (("--push", ":remote"), "LOCAL_COLLECTION:REMOTE_COLLECTION"),
    (("--pull", "remote:no-such-collection"), "no collection 'no-such-collection'"),
])
def test_bad_peers_are_refused(accord: Run, partner: str, args: tuple[str, ...], message: str) -> None:
    result = accord("peer", "add", "p", "--url", "https://b.example/taxii2/", "--username", "u", "--token", "t",
                    "--org", partner, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert accord("peer", "list").stdout == ""


def test_unknown_partner_org_and_duplicate_names(accord: Run, partner: str) -> None:
    base = ("peer", "add", "p", "--url", "https://b.example/taxii2/", "--username", "u", "--token", "t",
            "--pull", "r:default")
    unknown = accord(*base, "--org", "nobody")
    assert unknown.exit_code == 1 and "no organisation 'nobody'" in unknown.stderr
    assert accord(*base, "--org", partner).exit_code == 0
    again = accord(*base, "--org", partner)
    assert again.exit_code == 1 and "cannot add peer 'p'" in again.stderr
