"""Alerts from the command line: ``accord alert rule add|list|remove``, ``accord alert list``,
``accord alert ack`` and ``accord alert run`` (docs/early-warning.md, "Alerts")."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from accord.cli.context import NodeContext
from accord.cli.sharing_cmds import show_time
from accord.policy.gate import visibility
from accord.policy.viewer import Viewer
from accord.services.alert_rules import KINDS, SIGHTING_TYPES, RuleRequest, add_rule, rule_json
from accord.services.alert_runner import run_pass
from accord.services.alert_views import acknowledge, alert_json, visible_alerts
from accord.services.secrets import SecretBox
from accord.storage.base import OPERATOR, Alert
from accord.storage.sql import micros_now


@click.group()
def alert() -> None:
    """Alert rules and the alerts they raised (docs/early-warning.md)."""


@alert.group("rule")
def rule() -> None:
    """Organisations' alert rules: what each asks to be told about, and where."""


def _file_values(file: click.File | None) -> list[str]:
    if file is None:
        return []
    return [line.strip() for line in file if line.strip() and not line.lstrip().startswith("#")]  # type: ignore[attr-defined]


@rule.command("add")
@click.argument("name")
@click.option("--org", "org", required=True, metavar="ORG", help="The organisation the rule belongs to and acts as.")
@click.option("--kind", required=True, type=click.Choice(KINDS),
              help="sighting: a sighting here of a partner's object; watchlist: another organisation's object "
                   "with a listed value; own-indicators: another organisation's object sharing an observable "
                   "with one of ORG's own.")
@click.option("--partner", metavar="ORG", help="sighting: only sightings of this organisation's objects "
                                                  "(default: any other organisation's).")
@click.option("--value", "values", multiple=True, metavar="VALUE",
              help="watchlist: a value to watch (repeatable): IP address or network, domain (its subdomains "
                   "count), URL, e-mail address, hash.")
@click.option("--values-file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="watchlist: values from FILE, one a line ('-': standard input; # comments skipped).")
@click.option("--sighting-type", "sighting_types", multiple=True, type=click.Choice(SIGHTING_TYPES),
              help="sighting: which sightings fire (repeatable; default: seen).")
@click.option("--webhook", metavar="URL", help="POST each alert here as signed JSON; the secret is printed once.")
@click.pass_obj
def rule_add(node: NodeContext, name: str, org: str, kind: str, partner: str | None, values: tuple[str, ...],
             values_file: click.File | None, sighting_types: tuple[str, ...], webhook: str | None) -> None:
    """Add an alert rule NAME for an organisation."""
    request = RuleRequest(org, name, kind, partner, (*values, *_file_values(values_file)), sighting_types, webhook)
    added, secret = add_rule(node.store(), SecretBox(Path(node.settings.key_file)), request, actor=OPERATOR,
                             allow_private=node.settings.alert_webhook_private_targets)
    click.echo(f"alert rule {added.pk} ({added.name}, {added.kind}) added for {added.org_name}")
    if secret is not None:
        click.echo(f"webhook secret (shown this once; it signs every POST): {secret}")


@rule.command("list")
@click.option("--org", "org", metavar="ORG", help="Only this organisation's rules.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule, as the REST API gives it.")
@click.pass_obj
def rule_list(node: NodeContext, org: str | None, as_json: bool) -> None:
    """List alert rules (never their webhook secrets), with their deliveries."""
    store = node.store()
    for r in store.alert_rules(None if org is None else store.get_org(org).pk):
        if as_json:
            click.echo(orjson.dumps(rule_json(r)).decode())
            continue
        what = {"sighting": f"from {r.partner_name or 'any other organisation'}, "
                            f"types {', '.join(r.sighting_types)}",
                "watchlist": f"{len(r.values)} values"}.get(r.kind, "")
        deliveries = ", ".join(f"{n} {state}" for state, n in sorted(r.deliveries.items()))
        click.echo("\t".join([str(r.pk), r.org_name, r.name, r.kind, what, r.webhook_url or "no webhook",
                              deliveries or "-", f"last error: {r.last_error}" if r.last_error else ""]).rstrip())


@rule.command("remove")
@click.argument("rule_id", type=int)
@click.pass_obj
def rule_remove(node: NodeContext, rule_id: int) -> None:
    """Remove a rule, its alerts and its pending deliveries (the audit log keeps the receipts)."""
    removed = node.store().remove_alert_rule(rule_id, actor=OPERATOR)
    click.echo(f"alert rule {removed.pk} ({removed.name}) of {removed.org_name} removed")


def _acknowledged(a: Alert) -> str:
    return "open" if a.acknowledged is None else f"acknowledged by {a.acknowledged_by} {show_time(a.acknowledged)}"


@alert.command("list")
@click.option("--org", "org", metavar="ORG", help="Only this organisation's alerts.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True, help="The newest N.")
@click.option("--acknowledged/--open", "acknowledged", default=None,
              help="Only acknowledged alerts, or only open ones (default: both).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert, as the REST API gives it.")
@click.pass_obj
def alert_list(node: NodeContext, org: str | None, limit: int, acknowledged: bool | None, as_json: bool) -> None:
    """The newest alerts, newest first: time, organisation, rule, object, owner, TLP, delivery,
    and whether it was acknowledged (by whom, when) or is open."""
    store = node.store()
    org_pk = None if org is None else store.get_org(org).pk
    names = {o.pk: o.name for o in store.orgs()}
    operator = visibility(store, Viewer.operator(), micros_now())
    for view in visible_alerts(store, operator, org_pk, limit=limit, acknowledged=acknowledged, channel="cli"):
        if as_json:
            click.echo(orjson.dumps({"org": names.get(view.alert.org_pk), **alert_json(view)}).decode())
            continue
        a = view.alert
        click.echo("\t".join([show_time(a.created), names.get(a.org_pk, "?"), a.rule_name, a.kind, a.stix_id,
                              view.owner, view.tlp, view.name, a.delivery or "no webhook", _acknowledged(a)]))


@alert.command("ack")
@click.argument("alert_id")
@click.option("--as", "as_user", metavar="USERNAME",
              help="Acknowledge as this user (analyst or above, of the alert's organisation). Default: the node "
                   "operator.")
@click.pass_obj
def alert_ack(node: NodeContext, alert_id: str, as_user: str | None) -> None:
    """Acknowledge alert ALERT_ID (its id in `accord alert list --json`): who and when are recorded,
    and the audit log has an entry. An alert acknowledged already keeps its first acknowledgement."""
    store = node.store()
    done = acknowledge(store, visibility(store, node.viewer(as_user), micros_now()), alert_id, channel="cli")
    click.echo(f"alert {done.alert.uid} {_acknowledged(done.alert)}")


@alert.command("run")
@click.pass_obj
def alert_run(node: NodeContext) -> None:
    """Evaluate every rule over what was added since the last pass, then attempt the webhook
    deliveries that are due. Exits 1 if a delivery was not made (it is retried later, or gave up)."""
    done = run_pass(node.store(), SecretBox(Path(node.settings.key_file)), clock=micros_now,
                    allow_private=node.settings.alert_webhook_private_targets)
    e, d = done.evaluation, done.delivery
    click.echo(f"{e.alerts} alerts raised ({e.windows} windows); deliveries: {d.delivered} delivered, "
               f"{d.retrying} to retry, {d.failed} failed, {d.withheld} withheld")
    if d.retrying or d.failed:
        sys.exit(1)


COMMANDS = [alert]
