"""`accord alert`: rules, a pass, the alerts listed; exit codes and the messages of refusals."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Run
from tests.services.alerting import Receiver, indicator, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def node(accord: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """cert-a and cert-b under an AMBER agreement; webhooks to loopback allowed (the receiver's)."""
    monkeypatch.setenv("ACCORD_KEY_FILE", str(tmp_path / "node.key"))
    monkeypatch.setenv("ACCORD_ALERT_WEBHOOK_PRIVATE_TARGETS", "true")
    for args in (("org", "add", "cert-a"), ("org", "add", "cert-b"),
                 ("agreement", "add", "ab", "--party", "cert-a", "--party", "cert-b", "--max-tlp", "amber")):
        assert accord(*args).exit_code == 0
    return accord


def _share(node: Run, tmp_path: Path, pattern: str) -> str:
    obj = indicator(pattern)
    path = tmp_path / f"{uuid.uuid4()}.json"
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [obj]}))
    assert node("import", str(path), "--org", "cert-b").exit_code == 0
    return str(obj["id"])


def test_rule_run_and_list(node: Run, tmp_path: Path, receiver: Receiver) -> None:
    added = node("alert", "rule", "add", "watch", "--org", "cert-a", "--kind", "watchlist", "--value", "evil.example",
                 "--webhook", receiver.url)
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("alert rule 1 (watch, watchlist) added for cert-a\n")
    secret = added.stdout.split("it signs every POST): ")[1].strip()
    listed = node("alert", "rule", "list")
    assert listed.exit_code == 0 and "watch\twatchlist\t1 values" in listed.stdout
    assert secret not in listed.stdout and secret not in node("alert", "rule", "list", "--json").stdout
    sid = _share(node, tmp_path, "[domain-name:value = 'x.evil.example']")
    run = node("alert", "run")
    assert run.exit_code == 0, run.output
    assert run.stdout == "1 alerts raised (1 windows); deliveries: 1 delivered, 0 to retry, 0 failed, 0 withheld\n"
    assert len(receiver.requests) == 1
    alerts = node("alert", "list", "--org", "cert-a")
    assert alerts.exit_code == 0 and f"cert-a\twatch\twatchlist\t{sid}\tcert-b\tamber" in alerts.stdout
    assert alerts.stdout.rstrip().endswith("\tdelivered\topen")
    as_json = json.loads(node("alert", "list", "--json").stdout)
    assert as_json["org"] == "cert-a" and as_json["matched"]["values"][0]["relation"] == "parent"
    assert node("alert", "list", "--org", "cert-b").stdout == ""
    assert node("alert", "run").stdout.startswith("0 alerts raised")
    removed = node("alert", "rule", "remove", "1")
    assert removed.exit_code == 0 and removed.stdout == "alert rule 1 (watch) of cert-a removed\n"
    assert node("alert", "list").stdout == ""


def test_run_exits_1_when_a_delivery_is_not_made(node: Run, tmp_path: Path, receiver: Receiver) -> None:
    assert node("alert", "rule", "add", "mine", "--org", "cert-a", "--kind", "own-indicators",
                "--webhook", receiver.url).exit_code == 0
    node("import", "-", "--org", "cert-a", input=json.dumps(indicator("[ipv4-addr:value = '203.0.113.5']")))
    _share(node, tmp_path, "[ipv4-addr:value = '203.0.113.5']")
    receiver.statuses = [503]
    run = node("alert", "run")
    assert run.exit_code == 1
    assert "1 alerts raised" in run.stdout and "0 delivered, 1 to retry" in run.stdout
    assert "\t1 pending\tlast error: the webhook answered HTTP 503" in node("alert", "rule", "list").stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--kind", "watchlist", "--value", "hello"), "accord: error: values: 'hello': not an IP address"),
    (("--kind", "watchlist"), "accord: error: values: a watchlist needs at least one value"),
    (("--kind", "sighting", "--partner", "nobody"),
     "accord: error: partner: 'nobody' is no organisation this organisation has an agreement with"),
    (("--kind", "own-indicators", "--webhook", "gopher://x.example/"),
     "accord: error: webhook: 'gopher://x.example/': only http and https URLs are allowed"),
])
def test_refused_rules_exit_1_naming_the_option(node: Run, args: tuple[str, ...], message: str) -> None:
    result = node("alert", "rule", "add", "r", "--org", "cert-a", *args)
    assert result.exit_code == 1 and result.stderr.startswith(message), result.stderr
    assert node("alert", "rule", "list").stdout == ""


def test_usage_and_missing_things(node: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    assert node("alert", "rule", "add", "r", "--org", "cert-a", "--kind", "bogus").exit_code == 2
    result = node("alert", "rule", "add", "r", "--org", "nope", "--kind", "own-indicators")
    assert result.exit_code == 1 and "org: unknown organisation 'nope'" in result.stderr
    result = node("alert", "rule", "remove", "99")
    assert result.exit_code == 1 and result.stderr == "accord: error: no alert rule 99\n"
    assert node("alert", "rule", "add", "r", "--org", "cert-a", "--kind", "own-indicators").exit_code == 0
    result = node("alert", "rule", "add", "r", "--org", "cert-a", "--kind", "own-indicators")
    assert result.exit_code == 1 and "the organisation has one of that name" in result.stderr
    monkeypatch.setenv("ACCORD_ALERT_WEBHOOK_PRIVATE_TARGETS", "false")
    result = node("alert", "rule", "add", "hook", "--org", "cert-a", "--kind", "own-indicators",
                  "--webhook", "http://127.0.0.1:9/x")
    assert result.exit_code == 1 and "alert_webhook_private_targets" in result.stderr


def test_ack(node: Run, tmp_path: Path) -> None:
    assert node("alert", "rule", "add", "watch", "--org", "cert-a", "--kind", "watchlist",
                "--value", "ack.example").exit_code == 0
    for args in (("user", "add", "ana", "--org", "cert-a", "--role", "analyst"),
                 ("user", "add", "rita", "--org", "cert-a", "--role", "reader"),
                 ("user", "add", "bob", "--org", "cert-b", "--role", "analyst")):
        assert node(*args).exit_code == 0
    _share(node, tmp_path, "[domain-name:value = 'one.ack.example']")
    assert node("alert", "run").exit_code == 0
    uid = json.loads(node("alert", "list", "--json").stdout)["id"]
    refused = node("alert", "ack", uid, "--as", "rita")
    assert refused.exit_code == 1 and "acknowledging an alert needs the analyst role or above" in refused.stderr
    assert node("alert", "ack", uid, "--as", "bob").stderr == f"accord: error: no alert '{uid}'\n"
    assert node("alert", "ack", "no-such-alert").stderr == "accord: error: no alert 'no-such-alert'\n"
    done = node("alert", "ack", uid, "--as", "ana")
    assert done.exit_code == 0 and done.stdout.startswith(f"alert {uid} acknowledged by ana 20"), done.output
    again = node("alert", "ack", uid)  # the node operator: the first acknowledgement stands
    assert again.exit_code == 0 and again.stdout == done.stdout
    assert "\tacknowledged by ana " in node("alert", "list").stdout
    assert node("alert", "list", "--open").stdout == ""
    assert json.loads(node("alert", "list", "--acknowledged", "--json").stdout)["acknowledged"]["by"] == "ana"
