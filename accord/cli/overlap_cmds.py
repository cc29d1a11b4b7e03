"""The overlap check from the command line (docs/early-warning.md, "Overlap check"):
``accord overlap`` asks a partner's node, ``accord agreement overlap-key`` makes the key partners
ask this node with, ``accord peer overlap-key`` keeps a partner's key for asking it.

The two key commands join the ``agreement`` and ``peer`` groups from here, so that everything
about the overlap check's keys stays in this one module.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from accord.cli.context import NodeContext
from accord.cli.federation_cmds import FROM_STDIN, describe_overlap_key, peer
from accord.cli.sharing_cmds import agreement, show_time
from accord.errors import ConfigError, RequestError
from accord.services.overlap import new_agreement_key, set_peer_key, set_peer_org
from accord.services.secrets import SecretBox
from accord.storage.base import OPERATOR


def _box(node: NodeContext) -> SecretBox:
    return SecretBox(Path(node.settings.key_file))


@agreement.command("overlap-key")
@click.argument("name")
@click.option("--rotate", is_flag=True, help="Replace the agreement's key: questions hashed with the old one stop "
                                             "matching at once.")
@click.option("--remove", is_flag=True, help="Remove the key: no overlap check under this agreement any more.")
@click.option("--show", is_flag=True, help="Show the key's fingerprint and date (never the key).")
@click.pass_obj
def agreement_overlap_key(node: NodeContext, name: str, rotate: bool, remove: bool, show: bool) -> None:
    """Make the key with which the agreement's parties ask this node which values it holds too.

    The key (64 hex digits) is printed once, on standard output, and kept only sealed with the node
    key file: give it to the other parties' operators out of band. Exits 1 if the agreement
    already has one (unless --rotate)."""
    if sum((rotate, remove, show)) > 1:
        raise ConfigError("give at most one of --rotate, --remove and --show")
    store = node.store()
    if show:
        record = store.agreement_overlap_keys().get(store.get_agreement(name).pk)
        click.echo(f"agreement {name}: " + ("no overlap key" if record is None else
                                            f"overlap key {record.fingerprint}, made {show_time(record.created)}"))
        return
    if remove:
        store.remove_agreement_overlap_key(name, actor=OPERATOR)
        click.echo(f"agreement {name}: overlap key removed")
        return
    key, fingerprint = new_agreement_key(store, _box(node), name, rotate=rotate, actor=OPERATOR)
    click.echo(key)
    click.echo(f"agreement {name}: overlap key {fingerprint} (the fingerprint both operators can compare). The key "
               "above is shown this once: the partner's operator sets it with "
               "`accord peer overlap-key PEER --set - --for-org ORG`.", err=True)


@peer.command("overlap-key")
@click.argument("name")
@click.option("--set", "set_from", metavar="-",
              help="Read the partner's key (64 hex digits) from standard input: '-' is the only value, so the "
                   "key never sits in shell history or a process list. Needs --for-org.")
@click.option("--for-org", "for_org", metavar="LOCAL_ORG",
              help="The local organisation the peer's account on the partner's node belongs to there (our side of "
                   "the agreement): the partner answers as that organisation, so only its analysts and above (and "
                   "node-admins) may ask. Alone: name it for the key already kept.")
@click.option("--agreement", "remote_agreement", metavar="NAME",
              help="With --set: the agreement's name on the partner's node (needed only if our organisation "
                   "there has several agreements with a key).")
@click.option("--remove", is_flag=True, help="Forget the partner's key.")
@click.pass_obj
def peer_overlap_key(node: NodeContext, name: str, set_from: str | None, for_org: str | None,
                     remote_agreement: str | None, remove: bool) -> None:
    """Keep the overlap key a partner made for our agreement, to ask its node with `accord overlap`.

    Without options: show the fingerprint of the key kept (never the key) and the organisation
    it is asked as."""
    store = node.store()
    if set_from is not None and remove:
        raise ConfigError("give --set or --remove, not both")
    if remote_agreement is not None and set_from is None:
        raise ConfigError("--agreement goes with --set")
    if remove:
        if for_org is not None:
            raise ConfigError("--for-org goes with --set, or alone")
        store.remove_peer_overlap_key(name, actor=OPERATOR)
        click.echo(f"peer {name}: overlap key removed")
        return
    if set_from is None:
        record = store.peer_overlap_key(name) if for_org is None else set_peer_org(store, name, for_org,
                                                                                   actor=OPERATOR)
        click.echo(f"peer {name}: {describe_overlap_key(record)}")
        return
    if set_from != FROM_STDIN:
        raise ConfigError("--set: the key is read from standard input only (--set -), never from the command line")
    if for_org is None:
        raise ConfigError("--set needs --for-org LOCAL_ORG: the organisation of this node whose account the peer "
                          "uses on the partner's node (the partner answers as that organisation)")
    kept = set_peer_key(store, _box(node), name, sys.stdin.readline(), remote_agreement=remote_agreement,
                        for_org=for_org, actor=OPERATOR)
    click.echo(f"peer {name}: overlap key {kept.fingerprint} kept, asked as {kept.for_org} (compare the "
               "fingerprint with the partner's)")


def _values(values: tuple[str, ...], file: click.File | None) -> list[str]:
    found = [v for v in values if v.strip()]
    if file is not None:
        found += [line.strip() for line in file if line.strip() and not line.lstrip().startswith("#")]  # type: ignore[attr-defined]
    return found


@click.command("overlap")
@click.argument("values", nargs=-1)
@click.option("--peer", "peer_name", required=True, metavar="NAME", help="The partner node to ask.")
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Read values from FILE, one a line ('-': standard input; blank lines and # comments skipped).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.pass_obj
def overlap_cmd(node: NodeContext, values: tuple[str, ...], peer_name: str, file: click.File | None,
                as_json: bool) -> None:
    """Ask a partner's node which of these VALUEs it holds too, sending only keyed hashes of them.

    Each value (IP address or network, domain, URL, e-mail address, hash, MAC address, AS number)
    is normalised as the observable index holds it and hashed with the key kept for the peer
    (`accord peer overlap-key`); the partner learns which of the hashes are of values in objects
    it lets us see, and nothing of the others. One line per value it holds too, tab-separated:
    the value, the index type and the normalised value. Exits 1 if a value cannot be asked
    (named on standard error, with the reason) or the partner's node refuses the question."""
    from accord.app import overlap_with_peer  # the wiring (and its HTTP stack) only when asking

    wanted = _values(values, file)
    if not wanted:
        raise RequestError("values", "give at least one VALUE or --file")
    result = overlap_with_peer(node.settings, node.store(), peer_name, wanted, actor=OPERATOR)
    if as_json:
        click.echo(orjson.dumps({
            "peer": result.peer, "agreement": result.agreement, "key": result.key, "values": result.values,
            "hashes": result.hashes,
            "overlap": [{"value": v, "index_type": t, "normalised": n} for v, t, n in result.overlap],
            "problems": [{"value": v, "problem": p} for v, p in result.problems]},
            option=orjson.OPT_INDENT_2).decode())
    else:
        for value, index_type, normalised in result.overlap:
            click.echo(f"{value}\t{index_type}\t{normalised}")
        held = len({v for v, _, _ in result.overlap})
        click.echo(f"{result.values} value{'' if result.values == 1 else 's'} asked of peer {result.peer}"
                   + (f" (agreement {result.agreement})" if result.agreement else "")
                   + f", {held} held there too", err=True)
    for value, problem in result.problems:
        click.echo(f"{value!r}: {problem}", err=True)
    if result.problems:
        sys.exit(1)


COMMANDS = [overlap_cmd]
