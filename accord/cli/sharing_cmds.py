"""Sharing from the command line: ``accord agreement``, ``accord publish``, ``accord retract``."""

from __future__ import annotations

import datetime as dt

import click

from accord.cli.context import NodeContext
from accord.errors import ConfigError
from accord.services import release
from accord.stix.markings import TLP_LEVELS
from accord.storage.base import OPERATOR, Agreement
from accord.storage.sql import micros_now


def _date(text: str | None, option: str) -> int | None:
    """A date (YYYY-MM-DD, midnight UTC) or RFC 3339 timestamp, as microseconds."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a date (YYYY-MM-DD) or timestamp") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1_000_000)


def show_time(micros: int | None) -> str:
    return "-" if micros is None else dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@click.group()
def agreement() -> None:
    """Sharing agreements between organisations: what may flow, between whom, until when."""


@agreement.command("add")
@click.argument("name")
@click.option("--party", "parties", multiple=True, required=True, metavar="ORG",
              help="An organisation bound by the agreement (repeat; at least two).")
@click.option("--max-tlp", type=click.Choice(list(TLP_LEVELS)), default="green", show_default=True,
              help="The highest TLP that may flow under it; RED also needs the object to name the recipient.")
@click.option("--collection", "collections", multiple=True, metavar="ID",
              help="Only objects in this collection (repeatable; default: every collection).")
@click.option("--type", "types", multiple=True, metavar="STIX_TYPE",
              help="Only objects of this STIX type (repeatable; default: every type).")
@click.option("--onward", is_flag=True,
              help="GREEN data received from a party may be passed on to our other partners.")
@click.option("--valid-from", metavar="DATE", help="Start (YYYY-MM-DD or RFC 3339; default: now).")
@click.option("--valid-until", metavar="DATE", help="End, exclusive (default: open-ended).")
@click.pass_obj
def agreement_add(node: NodeContext, name: str, parties: tuple[str, ...], max_tlp: str,
                  collections: tuple[str, ...], types: tuple[str, ...], onward: bool,
                  valid_from: str | None, valid_until: str | None) -> None:
    """Add an agreement."""
    if len(set(parties)) < 2:
        raise ConfigError("an agreement needs at least two different --party organisations")
    start, end = _date(valid_from, "--valid-from"), _date(valid_until, "--valid-until")
    if start is not None and end is not None and end <= start:
        raise ConfigError("--valid-until must be later than --valid-from")
    added = node.store().add_agreement(name, parties=parties, max_tlp=max_tlp, onward=onward, valid_from=start,
                                       valid_until=end, collections=collections, types=types,
                                       actor=OPERATOR)
    click.echo(f"agreement {added.name}: {added.state_at(micros_now())}")


def _describe(a: Agreement, now: int) -> str:
    return (f"{a.name}\t{a.state_at(now)}\tmax {a.max_tlp}\tparties {', '.join(a.party_names)}"
            + ("\tonward" if a.onward else ""))


@agreement.command("list")
@click.pass_obj
def agreement_list(node: NodeContext) -> None:
    """List agreements with their state now."""
    now = micros_now()
    for a in node.store().agreements():
        click.echo(_describe(a, now))


@agreement.command("show")
@click.argument("name")
@click.pass_obj
def agreement_show(node: NodeContext, name: str) -> None:
    """Show one agreement in full."""
    store = node.store()
    a = store.get_agreement(name)
    by_pk = {c.pk: c.alias or c.id for c in store.collections()}
    click.echo(f"name: {a.name}\nstate: {a.state_at(micros_now())}\nparties: {', '.join(a.party_names)}\n"
               f"max TLP: {a.max_tlp}\nonward sharing: {'yes' if a.onward else 'no'}\n"
               f"valid from: {show_time(a.valid_from)}\nvalid until: {show_time(a.valid_until)}\n"
               f"collections: {', '.join(by_pk[c] for c in a.collections) or 'all'}\n"
               f"types: {', '.join(a.types) or 'all'}\nended: {show_time(a.ended)}")


def _change(action: str, help_text: str) -> click.Command:
    @click.command(action, help=help_text)
    @click.argument("name")
    @click.pass_obj
    def command(node: NodeContext, name: str) -> None:
        changed = node.store().change_agreement(name, action=action, actor=OPERATOR)
        click.echo(f"agreement {changed.name}: {changed.state_at(micros_now())}")

    return command


agreement.add_command(_change("suspend", "Suspend an agreement: nothing flows under it until resumed."))
agreement.add_command(_change("resume", "Resume a suspended agreement."))
agreement.add_command(_change("end", "End an agreement for good."))


@click.command()
@click.argument("stix_id")
@click.option("--version", metavar="VERSION", help="Only this version (its modified timestamp); default: all drafts.")
@click.option("--as", "as_user", metavar="USERNAME", help="Publish as this publisher (four eyes: not the author).")
@click.option("--recipient", "recipients", multiple=True, metavar="ORG", help="Named recipient for RED (repeatable).")
@click.pass_obj
def publish(node: NodeContext, stix_id: str, version: str | None, as_user: str | None,
            recipients: tuple[str, ...]) -> None:
    """Publish an object's drafts: from now on they are shared as the agreements allow."""
    done = release.publish(node.store(), node.viewer(as_user), stix_id, version=version, recipients=recipients,
                           four_eyes=node.settings.four_eyes)
    click.echo(f"published {len(done)} version(s) of {stix_id}")


@click.command()
@click.argument("stix_id")
@click.option("--version", metavar="VERSION", help="Only this version; default: every published version.")
@click.option("--as", "as_user", metavar="USERNAME", help="Retract as this publisher.")
@click.pass_obj
def retract(node: NodeContext, stix_id: str, version: str | None, as_user: str | None) -> None:
    """Retract an object's published versions: hidden from partners from now on."""
    done = release.retract(node.store(), node.viewer(as_user), stix_id, version=version)
    click.echo(f"retracted {len(done)} version(s) of {stix_id}")


COMMANDS = [agreement, publish, retract]
