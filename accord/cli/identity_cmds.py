"""Who may use the node: ``accord org``, ``accord user`` and ``accord token``."""

from __future__ import annotations

import datetime as dt

import click

from accord.cli.context import NodeContext
from accord.policy.passwords import set_password
from accord.policy.roles import Role
from accord.policy.tokens import new_token
from accord.storage.sql import micros_now


def _when(micros: int | None) -> str:
    if micros is None:
        return "-"
    return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@click.group()
def org() -> None:
    """Organisations: this node's members and its partners."""


@org.command("add")
@click.argument("name")
@click.option("--partner", is_flag=True, help="A partner organisation (reached through federation), not a member.")
@click.pass_obj
def org_add(node: NodeContext, name: str, partner: bool) -> None:
    """Add an organisation."""
    added = node.store().add_org(name, kind="partner" if partner else "local")
    click.echo(f"organisation {added.name} ({added.kind})")


@org.command("list")
@click.pass_obj
def org_list(node: NodeContext) -> None:
    """List organisations."""
    for o in node.store().orgs():
        click.echo(f"{o.name}\t{o.kind}")


@click.group()
def user() -> None:
    """Users: each belongs to one organisation and holds one role."""


@user.command("add")
@click.argument("username")
@click.option("--org", "org_name", required=True, metavar="ORG", help="The user's organisation.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True, help="What the user may do.")
@click.pass_obj
def user_add(node: NodeContext, username: str, org_name: str, role: str) -> None:
    """Add a user to an organisation."""
    added = node.store().add_user(username, org=org_name, role=role)
    click.echo(f"user {added.username} ({added.role} of {added.org_name})")


@user.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts), not a prompt.")
@click.option("--clear", is_flag=True, help="Remove the password: the user can no longer sign in to the web UI.")
@click.pass_obj
def user_password(node: NodeContext, username: str, password_stdin: bool, clear: bool) -> None:
    """Set a user's web UI password (at least 12 characters); ends the user's web sessions.

    API access is unaffected: it uses tokens (accord token create)."""
    store = node.store()
    if clear:
        store.set_password_hash(username, None)
        click.echo(f"user {username}: password removed")
        return
    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    set_password(store, username, password)
    click.echo(f"user {username}: password set")


@user.command("disable")
@click.argument("username")
@click.pass_obj
def user_disable(node: NodeContext, username: str) -> None:
    """Disable a user: its tokens and password stop working at once and its web sessions end.

    Nothing is deleted: `accord user enable` lets the same tokens and password in again."""
    changed = node.store().set_user_disabled(username, True)
    click.echo(f"user {changed.username}: disabled")


@user.command("enable")
@click.argument("username")
@click.pass_obj
def user_enable(node: NodeContext, username: str) -> None:
    """Enable a disabled user again (its unexpired, unrevoked tokens and its password work again)."""
    changed = node.store().set_user_disabled(username, False)
    click.echo(f"user {changed.username}: enabled")


@user.command("list")
@click.pass_obj
def user_list(node: NodeContext) -> None:
    """List users with their organisation and role."""
    for u in node.store().users():
        click.echo(f"{u.username}\t{u.org_name}\t{u.role}" + ("\tdisabled" if u.disabled else ""))


@click.group()
def token() -> None:
    """API tokens for TAXII and REST clients."""


@token.command("create")
@click.argument("username")
@click.option("--expires-in", type=click.IntRange(min=1), metavar="DAYS", help="Days until the token expires.")
@click.option("--label", help="A note on what the token is for.")
@click.pass_obj
def token_create(node: NodeContext, username: str, expires_in: int | None, label: str | None) -> None:
    """Create a token for USERNAME and print it (only the token, on stdout).

    The token is shown once: Accord keeps only a digest of it.
    """
    secret, digest = new_token()
    expires = micros_now() + expires_in * 86_400_000_000 if expires_in else None
    created = node.store().add_token(username, digest, label=label, expires=expires)
    click.echo(secret)
    click.echo(f"token #{created.pk} for {username}, expires {_when(expires)}", err=True)


@token.command("list")
@click.argument("username", required=False)
@click.pass_obj
def token_list(node: NodeContext, username: str | None) -> None:
    """List tokens (never the secrets), for one user or all."""
    for t in node.store().tokens(username):
        state = "revoked" if t.revoked else "active"
        click.echo(f"#{t.pk}\t{t.username}\t{state}\tcreated {_when(t.created)}\texpires {_when(t.expires)}"
                   + (f"\t{t.label}" if t.label else ""))


@token.command("revoke")
@click.argument("token_id", type=int, metavar="ID")
@click.pass_obj
def token_revoke(node: NodeContext, token_id: int) -> None:
    """Revoke token #ID (see `accord token list`); it stops working at once."""
    revoked = node.store().revoke_token(token_id)
    click.echo(f"token #{revoked.pk} of {revoked.username} revoked")


COMMANDS = [org, user, token]
