"""Federation from the command line: ``accord peer`` (partner nodes) and ``accord sync``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from accord.cli.context import NodeContext
from accord.cli.sharing_cmds import show_time
from accord.errors import ConfigError
from accord.services.peering import add_peer
from accord.services.secrets import SecretBox
from accord.stix.markings import TLP_LEVELS
from accord.storage.base import OPERATOR, OverlapKey, Peer, Store


def _links(specs: tuple[str, ...], direction: str) -> list[tuple[str, str, str]]:
    out = []
    for spec in specs:
        first, sep, second = spec.partition(":")
        if not sep or not first or not second:
            raise ConfigError(f"--{direction} {spec!r}: expected "
                              + ("REMOTE_COLLECTION:LOCAL_COLLECTION" if direction == "pull"
                                 else "LOCAL_COLLECTION:REMOTE_COLLECTION"))
        out.append((direction, first, second) if direction == "pull" else (direction, second, first))
    return out


FROM_STDIN = "-"


def _read_token(token: str) -> str:
    value = sys.stdin.readline().strip() if token == FROM_STDIN else token.strip()
    if not value:
        raise ConfigError("--token: empty token")
    return value


@click.group()
def peer() -> None:
    """Partner nodes this node exchanges intelligence with (docs/federation.md)."""


@peer.command("add")
@click.argument("name")
@click.option("--url", required=True, metavar="DISCOVERY_URL", help="The partner node's TAXII discovery URL.")
@click.option("--username", required=True, help="Our user on the partner's node.")
@click.option("--token", required=True, metavar="TOKEN",
              help="Our API token on the partner's node ('-': read it from stdin, keeping it out of shell history). "
                   "Stored sealed with the node key file.")
@click.option("--org", "org", required=True, metavar="PARTNER_ORG",
              help="The partner organisation: origin of what we pull, reader of what we push.")
@click.option("--pull", "pulls", multiple=True, metavar="REMOTE:LOCAL",
              help="Copy the partner's collection REMOTE into our collection LOCAL (repeatable).")
@click.option("--push", "pushes", multiple=True, metavar="LOCAL:REMOTE",
              help="Send what the partner may receive from our collection LOCAL to its REMOTE (repeatable).")
@click.option("--interval", "interval", type=click.IntRange(min=5), default=300, show_default=True,
              metavar="SECONDS", help="Time between sync cycles in `accord serve`.")
@click.option("--accept-max-tlp", type=click.Choice(list(TLP_LEVELS)), default="amber+strict", show_default=True,
              help="Inbound policy: the highest TLP accepted from this peer.")
@click.option("--accept-type", "accept_types", multiple=True, metavar="STIX_TYPE",
              help="Inbound policy: accept only these types (repeatable; default: every type).")
@click.pass_obj
def peer_add(node: NodeContext, name: str, url: str, username: str, token: str, org: str, pulls: tuple[str, ...],
             pushes: tuple[str, ...], interval: int, accept_max_tlp: str, accept_types: tuple[str, ...]) -> None:
    """Add a partner node."""
    if not pulls and not pushes:
        raise ConfigError("give at least one --pull or --push link")
    added = add_peer(node.store(), SecretBox(Path(node.settings.key_file)), name, url=url, username=username,
                     token=_read_token(token), org=org, interval_s=interval, accept_max_tlp=accept_max_tlp,
                     accept_types=accept_types, links=[*_links(pulls, "pull"), *_links(pushes, "push")],
                     actor=OPERATOR)
    click.echo(f"peer {added.name} added ({len(added.links)} links)")


def describe_overlap_key(record: OverlapKey | None) -> str:
    """A partner's overlap key (accord/cli/overlap_cmds.py) as `peer overlap-key` and `peer show`
    print it: its fingerprint, never the key, and the local organisation it is asked as."""
    if record is None:
        return "no overlap key"
    return (f"overlap key {record.fingerprint}, set {show_time(record.created)}, "
            + (f"asked as {record.for_org}" if record.for_org else
               "asked as no organisation named (node-admins only: name it with --for-org)")
            + (f", agreement {record.remote_agreement}" if record.remote_agreement else ""))


def _describe(store: Store, p: Peer) -> list[str]:
    names = {c.pk: c.alias or c.id for c in store.collections()}
    lines = [f"{p.name}: {p.url} as {p.username}, organisation {p.org_name}, every {p.interval_s} s"
             + (", PAUSED" if p.paused else ""),
             f"  inbound: TLP up to {p.accept_max_tlp}, types {', '.join(p.accept_types) or 'all'}"]
    for link in p.links:
        where = (f"{link.remote_collection} -> {names.get(link.local_collection_pk)}" if link.direction == "pull"
                 else f"{names.get(link.local_collection_pk)} -> {link.remote_collection}")
        lines.append(f"  {link.direction} {where}: cursor {link.cursor or '-'}, objects {link.objects}, "
                     f"last success {show_time(link.last_success)}"
                     + (f", last error: {link.last_error}" if link.last_error else ""))
    key = store.peer_overlap_key(p.name)
    if key is not None:
        lines.append(f"  {describe_overlap_key(key)}")
    return lines


@peer.command("list")
@click.pass_obj
def peer_list(node: NodeContext) -> None:
    """List partner nodes and their links."""
    _print_peers(node)


def _print_peers(node: NodeContext) -> None:
    store = node.store()
    for p in store.peers():
        click.echo("\n".join(_describe(store, p)))


@peer.command("show")
@click.argument("name")
@click.pass_obj
def peer_show(node: NodeContext, name: str) -> None:
    """Show one partner node, its links and their progress."""
    store = node.store()
    click.echo("\n".join(_describe(store, store.get_peer(name))))


def _change(action: str) -> click.Command:
    @click.argument("name")
    @click.pass_obj
    def run(node: NodeContext, name: str) -> None:
        node.store().change_peer(name, action=action, actor=OPERATOR)
        click.echo(f"peer {name}: {action} done")

    run.__doc__ = {"pause": "Stop syncing with a peer until resumed.", "resume": "Sync with a paused peer again.",
                   "remove": "Forget a peer and its links (what was exchanged stays, as does the audit log)."}[action]
    return click.command(action)(run)


for _action in ("pause", "resume", "remove"):
    peer.add_command(_change(_action))


@click.group()
def sync() -> None:
    """Exchange with partner nodes now, and see how far each link has got."""


@sync.command("run")
@click.option("--peer", "peer_name", metavar="NAME", help="Only this peer (even if paused).")
@click.pass_obj
def sync_run(node: NodeContext, peer_name: str | None) -> None:
    """Run one sync cycle; exits 1 if any link failed."""
    from accord.app import sync_cycle  # the wiring (and its HTTP stack) only when syncing

    runs = sync_cycle(node.settings, node.store(), peer_name=peer_name)
    failed = 0
    for run in runs:
        link = run.link
        t = run.transfer
        if t is None:
            failed += 1
            click.echo(f"{run.peer} {link.direction} {link.remote_collection}: FAILED: {run.error}", err=True)
            continue
        verb = "received" if link.direction == "pull" else "sent"
        reasons = "; ".join(f"{k}: {v}" for k, v in sorted((t.reasons or {}).items()))
        click.echo(f"{run.peer} {link.direction} {link.remote_collection}: {verb} {t.objects}"
                   + (f", stored {t.stored}" if link.direction == "pull" else "")
                   + (f", refused {t.refused}" if t.refused else "") + (f" ({reasons})" if reasons else "")
                   + (f", retracted {t.retracted}" if t.retracted else "")
                   + (f", sightings sent back {t.feedback}" if t.feedback else ""))
    if failed:
        sys.exit(1)


@sync.command("status")
@click.pass_obj
def sync_status(node: NodeContext) -> None:
    """Per peer and link: last success, cursor, objects moved, last error."""
    _print_peers(node)


COMMANDS = [peer, sync]
