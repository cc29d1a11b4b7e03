"""Moving STIX in and out of the node: ``accord import`` and ``accord export``."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, BinaryIO

import click

from accord.cli.context import NodeContext
from accord.cli.progress import byte_progress
from accord.errors import ConfigError, InputError, Problem
from accord.policy.gate import org_visibility, visibility
from accord.services.disclose import disclose
from accord.services.ingest import IngestReport, bulk_gc, ingest_document
from accord.services.release import write_provenance
from accord.stix.stream import Limits, StixDocument
from accord.storage.base import DEFAULT_COLLECTION_ALIAS, OPERATOR, AuditEvent, ListedVersion, VersionQuery
from accord.storage.sql import micros_now

STIX_SUFFIXES = {".json", ".stix2", ".stix"}
# Refusals printed in full; the rest are counted (a 1M-object file of bad data should not flood).
MAX_PROBLEMS_SHOWN = 50


def _expand(paths: tuple[str, ...]) -> Iterator[str]:
    for raw in paths:
        if raw == "-":
            yield raw
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in STIX_SUFFIXES)
            if not found:
                raise click.BadParameter(f"{raw}: no .json/.stix2/.stix files in this directory",
                                         param_hint="PATH")
            yield from (str(p) for p in found)
        elif path.is_file():
            yield raw
        else:
            raise click.BadParameter(f"{raw}: no such file or directory", param_hint="PATH")


def _print_problems(problems: list[Problem], source: str) -> None:
    for p in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"  refused: {p}", err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more refusals in {source}", err=True)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--collection", "collection_ref", default=DEFAULT_COLLECTION_ALIAS, show_default=True,
              metavar="ID", help="Collection (id or alias) the objects are added to.")
@click.option("--format", "fmt", type=click.Choice(["auto", "stix"]), default="auto", show_default=True,
              help="Input format; auto recognises STIX bundles, arrays and single objects.")
@click.option("--dry-run", is_flag=True, help="Validate and report, store nothing.")
@click.option("--as", "as_user", metavar="USERNAME",
              help="Write as this user: their organisation owns the objects, their role decides draft or published.")
@click.option("--org", "org_name", metavar="ORG",
              help="Without --as: the organisation that owns the objects (default: the node's own, 'node').")
@click.option("--draft", is_flag=True, help="Store as drafts, to be published later (accord publish).")
@click.option("--recipient", "recipients", multiple=True, metavar="ORG",
              help="Named recipient of the RED objects imported (repeatable).")
@click.pass_obj
def import_(node: NodeContext, paths: tuple[str, ...], collection_ref: str, fmt: str, dry_run: bool,
            as_user: str | None, org_name: str | None, draft: bool, recipients: tuple[str, ...]) -> None:
    """Import STIX 2.1 (or 2.0, upgraded) from files, directories or - for stdin.

    Accepts bundles, bare arrays and single objects, UTF-8 with or without a BOM. Each file is
    one transaction: valid objects are stored, invalid ones are refused with their reasons,
    and a file that is not readable JSON stores nothing. Exits 0 only if nothing was refused.

    Without --as the node operator imports, published (unless --draft or four eyes are required).
    """
    store = node.store()
    collection = store.get_collection(collection_ref)
    viewer = node.viewer(as_user)
    provenance = write_provenance(store, viewer, draft=draft, four_eyes=node.settings.four_eyes, org=org_name,
                                  recipients=recipients)
    limits = Limits(node.settings.max_nesting_depth, node.settings.max_object_bytes)
    total = IngestReport()
    failed_files = 0
    for source in _expand(paths):
        with ExitStack() as stack:
            if source == "-":
                stream: BinaryIO = sys.stdin.buffer
                size = None
                name = "<stdin>"
            else:
                stream = stack.enter_context(open(source, "rb"))
                size = Path(source).stat().st_size
                name = source
            read: Callable[[int], bytes] = stream.read
            read = stack.enter_context(byte_progress(read, size, name))
            doc = StixDocument(read, source=name, limits=limits)
            try:
                with bulk_gc(), store.transaction(dry_run=dry_run) as tx:
                    report = ingest_document(tx, collection, doc, provenance)
            except InputError as exc:
                failed_files += 1
                click.echo(f"{name}: refused, nothing stored: {exc.reason}"
                           + (f" (at byte {exc.offset})" if exc.offset is not None else ""), err=True)
                continue
        verb = "would store" if dry_run else "stored"
        click.echo(f"{name}: {verb} {report.stored}, added to collection {report.added}, "
                   f"unchanged {report.unchanged}, refused {len({p.index for p in report.refused})}"
                   + (f" (upgraded from STIX 2.0: {report.upgraded})" if report.upgraded else ""))
        _print_problems(report.refused, name)
        total.merge(report)
    if len(paths) > 1 or failed_files:
        click.echo(f"total: stored {total.stored}, added {total.added}, unchanged {total.unchanged}, "
                   f"refused {len({(p.index, p.object_id) for p in total.refused})}, "
                   f"files refused {failed_files}")
    if total.refused or failed_files:
        sys.exit(1)


@click.command("export")
@click.option("--collection", "collection_ref", metavar="ID",
              help="Only this collection (id or alias); default: every stored version.")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only this STIX type (repeatable).")
@click.option("--latest", is_flag=True, help="Only the newest version of each object.")
@click.option("--format", "fmt", type=click.Choice(["stix"]), default="stix", show_default=True,
              help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write here instead of stdout.")
@click.option("--as", "as_user", metavar="USERNAME", help="Export only what this user may see.")
@click.option("--for-org", "for_org", metavar="ORG", help="Export only what this organisation may receive.")
@click.pass_obj
def export(node: NodeContext, collection_ref: str | None, types: tuple[str, ...], latest: bool, fmt: str,
           output: str | None, as_user: str | None, for_org: str | None) -> None:
    """Export stored objects as one STIX 2.1 bundle, streamed.

    Without --as or --for-org the node operator exports everything stored, each object exactly
    as it was stored (compact JSON, original key order). With either, the export goes through
    the sharing gate: only what that user or organisation may see, granular markings applied,
    and what another organisation owns is recorded in the audit log as received.
    """
    store = node.store()
    if as_user and for_org:
        raise ConfigError("use --as or --for-org, not both")
    collection_pk = store.get_collection(collection_ref).pk if collection_ref else None
    query = VersionQuery(collection_pk=collection_pk, types=types, latest_only=latest)
    gated = as_user is not None or for_org is not None
    if as_user is not None:
        vis = visibility(store, node.viewer(as_user), micros_now())
    elif for_org is not None:
        vis = org_visibility(store, store.get_org(for_org).pk, micros_now())
    with ExitStack() as stack:
        out: BinaryIO = (stack.enter_context(open(output, "wb")) if output
                         else sys.stdout.buffer)
        out.write(b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":[')
        first = True
        count = 0
        for body in (_gated_bodies(store, vis, query) if gated else store.iter_bodies(query)):
            if not first:
                out.write(b",\n")
            out.write(body)
            first = False
            count += 1
        out.write(b"]}\n")
        out.flush()
    if not gated:
        store.audit_append(AuditEvent(OPERATOR, "export", detail={"objects": count, "gated": False}))
    if output:
        click.echo(f"exported {count} objects to {output}", err=True)


def _gated_bodies(store: Any, vis: Any, query: VersionQuery) -> Iterator[bytes]:
    batch: list[ListedVersion] = []
    for row in store.iter_visible(query, vis.predicate()):
        batch.append(row)
        if len(batch) >= 1000:
            yield from (d.body or b"" for d in disclose(store, vis, batch, channel="export"))
            batch = []
    if batch:
        yield from (d.body or b"" for d in disclose(store, vis, batch, channel="export"))


COMMANDS = [import_, export]
