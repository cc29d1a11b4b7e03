"""``accord lookup``: which stored objects mention these values (docs/early-warning.md)."""

from __future__ import annotations

import sys

import click
import orjson

from accord.cli.context import NodeContext
from accord.errors import RequestError
from accord.policy.gate import visibility
from accord.services.decay import Scoring, model_from_setting
from accord.services.lookup import MAX_VALUES, LookupHit, ValueResult, lookup, result_json
from accord.services.sightings import EXPIRED, FALSE_POSITIVE, SEEN
from accord.services.warninglists import benign
from accord.storage.sql import micros_now


def _values(values: tuple[str, ...], file: click.File | None) -> list[str]:
    found = [v for v in values if v.strip()]
    if file is not None:
        found += [line.strip() for line in file if line.strip() and not line.lstrip().startswith("#")]  # type: ignore[attr-defined]
    return found


def _sighted(hit: LookupHit) -> str:
    s = hit.sightings
    if s is None or (not s.shown and not s.withheld):
        return "sightings=0"
    if s.withheld and not s.shown:
        return f"sightings=fewer than {s.min_count}"
    return f"sightings={len(s.shown)} (seen {s.total(SEEN)}, false-positive {s.total(FALSE_POSITIVE)}, " \
           f"expired {s.total(EXPIRED)})"


def _lines(result: ValueResult) -> list[str]:
    out = []
    for h in result.hits:
        owner = h.owner if h.origin is None else f"{h.owner} (from {h.origin})"
        out.append("\t".join([result.value, h.relation, h.matched, h.tlp, h.type, h.stix_id, owner, h.state,
                              h.name, _sighted(h), f"score={'-' if h.score is None else h.score}"]))
    if result.warninglists:
        out.append("\t".join([result.value, "warninglists", "; ".join(result.warninglists)]))
    return out


@click.command("lookup")
@click.argument("values", nargs=-1)
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Read values from FILE, one a line ('-': standard input; blank lines and # comments skipped).")
@click.option("--as", "as_user", metavar="USERNAME",
              help="Look up as this user: only what their organisation may see (default: the node operator, "
                   "who sees everything).")
@click.option("--no-warninglists", is_flag=True, help="Do not check MISP warninglists (saves loading them).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON, as POST /api/v1/lookup gives it.")
@click.pass_obj
def lookup_cmd(node: NodeContext, values: tuple[str, ...], file: click.File | None, as_user: str | None,
               no_warninglists: bool, as_json: bool) -> None:
    """Find the stored objects that mention each VALUE: IP addresses and networks, domains (and
    their parent domains), URLs, hashes, e-mail addresses.

    One line per hit, tab-separated: value, relation (exact, parent, within, contains), the
    indexed value matched, TLP, type, id, owner, state, name, number of sightings, decay score
    (indicators; '-' for other objects, docs/early-warning.md); and one line
    naming the MISP warninglists a value is on. At most 10,000 values. Exits 1 if a value could
    not be looked up (it is named on standard error, with the reason).
    """
    wanted = _values(values, file)
    if not wanted:
        raise RequestError("values", "give at least one VALUE or --file")
    if len(wanted) > MAX_VALUES:
        raise RequestError("values", f"{len(wanted)} values: at most {MAX_VALUES} in one lookup")
    store = node.store()
    now = micros_now()
    vis = visibility(store, node.viewer(as_user), now)
    scoring = Scoring(model_from_setting(node.settings.decay_lifetimes), node.settings.sighting_min_count, now)
    results = lookup(store, vis, wanted, benign=None if no_warninglists else benign, scoring=scoring)
    if as_json:
        click.echo(orjson.dumps({"results": [result_json(r) for r in results]}, option=orjson.OPT_INDENT_2).decode())
    else:
        for result in results:
            for line in _lines(result):
                click.echo(line)
    problems = [r for r in results if r.problem is not None]
    for result in problems:
        click.echo(f"{result.value!r}: {result.problem}", err=True)
    if not as_json:
        click.echo(f"{len(results)} values, {sum(1 for r in results if r.hits)} with hits", err=True)
    if problems:
        sys.exit(1)


COMMANDS = [lookup_cmd]
