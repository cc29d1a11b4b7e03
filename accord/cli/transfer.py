"""Moving intelligence in and out of the node: ``accord import`` and ``accord export``.

Both are thin: the format registry (accord/services/formats.py) supplies the importer or exporter,
services/ingest.py stores what an importer produced, services/disclose.py decides what an
exporter receives.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import click
import orjson

from accord.cli.context import NodeContext
from accord.cli.progress import count_progress, counting_stream
from accord.errors import ConfigError, InputError, Problem
from accord.policy.gate import Visibility, org_visibility, visibility
from accord.services.collector import bulk_gc
from accord.services.decay import at_least, model_from_setting
from accord.services.disclose import disclosed_bodies
from accord.services.formats import (
    ExportOptions,
    Imported,
    Importer,
    ImportOptions,
    Source,
    check_params,
    parse_params,
    registry,
)
from accord.services.ingest import IngestReport, ingest_items
from accord.services.pipeline import Pipeline, Read, worth_forking
from accord.services.release import write_provenance
from accord.stix.stream import Item, Limits
from accord.storage.base import DEFAULT_COLLECTION_ALIAS, OPERATOR, AuditEvent, Provenance, VersionQuery
from accord.storage.sql import micros_now

# Refusals printed in full; the rest are counted (a 1M-object file of bad data should not flood).
MAX_PROBLEMS_SHOWN = 50
IMPORT_FORMATS = ["auto", *sorted(registry().importers)]
EXPORT_FORMATS = sorted(registry().exporters)


def _sources(paths: tuple[str, ...], fmt: str) -> Iterator[Source]:
    """Each input once: stdin, a file, a directory a format claims whole, or a directory's files."""
    formats = registry()
    importers = list(formats.importers.values()) if fmt == "auto" else [formats.importer(fmt)]
    suffixes = set().union(*(imp.suffixes for imp in importers))
    for raw in paths:
        if raw == "-":
            yield Source.from_stream("<stdin>", sys.stdin.buffer)
            continue
        path = Path(raw)
        if path.is_dir():
            if any(imp.claims_directory(path) for imp in importers):
                yield Source.from_path(path)
                continue
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise click.BadParameter(f"{raw}: no {'/'.join(sorted(suffixes))} files in this directory",
                                         param_hint="PATH")
            yield from (Source.from_path(p) for p in found)
        elif path.is_file():
            yield Source.from_path(path)
        else:
            raise click.BadParameter(f"{raw}: no such file or directory", param_hint="PATH")


def _print_problems(problems: list[Problem], source: str) -> None:
    for p in problems[:MAX_PROBLEMS_SHOWN]:
        click.echo(f"  refused: {p}", err=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        click.echo(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more refusals in {source}", err=True)


def _progress(source: Source, stack: ExitStack) -> Callable[[int], None] | None:
    """A progress bar counting the bytes of a file when stderr is a terminal, else None."""
    if source.path is None or not source.path.is_file():
        return None
    advance: Callable[[int], None] | None = stack.enter_context(count_progress(source.name, source.size,
                                                                               unit="bytes"))
    return advance


def _reader(importer: Importer, source: Source, options: ImportOptions) -> Read:
    """How to read ``source``, its bytes counted by the function given (in whichever process reads)."""
    def read(advance: Callable[[int], None] | None) -> Imported:
        if advance is None:
            return importer.read(source, options)
        counted = Source(source.name, source.path, lambda: counting_stream(source.open(), advance), source.size)
        return importer.read(counted, options)
    return read


def _kept(items: Iterable[Item], sink: list[object]) -> Iterator[Item]:
    for item in items:
        sink.append(item.value)
        yield item


@click.command("import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--collection", "collection_ref", default=DEFAULT_COLLECTION_ALIAS, show_default=True,
              metavar="ID", help="Collection (id or alias) the objects are added to.")
@click.option("--format", "fmt", type=click.Choice(IMPORT_FORMATS), default="auto", show_default=True,
              help="Input format; auto tells each file's format from its content (docs/formats.md).")
@click.option("--map", "column_map", metavar="COLUMN:FIELD,...",
              help="CSV only: which column holds what (docs/formats.md lists the fields and the defaults).")
@click.option("-O", "--option", "format_options", multiple=True, metavar="KEY=VALUE",
              help="An option of the input format (repeatable; docs/formats.md lists them).")
@click.option("--dry-run", is_flag=True,
              help="Validate and report, store nothing; for formats that need review (text), print the "
                   "STIX objects that would be created.")
@click.option("--as", "as_user", metavar="USERNAME",
              help="Write as this user: their organisation owns the objects, their role decides draft or published.")
@click.option("--org", "org_name", metavar="ORG",
              help="Without --as: the organisation that owns the objects (default: the node's own, 'node').")
@click.option("--draft", is_flag=True, help="Store as drafts, to be published later (accord publish).")
@click.option("--recipient", "recipients", multiple=True, metavar="ORG",
              help="Named recipient of the RED objects imported (repeatable).")
@click.pass_obj
def import_(node: NodeContext, paths: tuple[str, ...], collection_ref: str, fmt: str, column_map: str | None,
            format_options: tuple[str, ...], dry_run: bool, as_user: str | None, org_name: str | None, draft: bool,
            recipients: tuple[str, ...]) -> None:
    """Import intelligence from files, directories or - for stdin.

    STIX 2.1 (or 2.0, upgraded), MISP events and feeds, CSV and free-text reports; see
    docs/formats.md. Whatever the format, every object goes through STIX validation and the
    release rules. Each file is one transaction: valid objects are stored, invalid ones are
    refused with their reasons, and a file that cannot be read stores nothing. Exits 0 only
    if nothing was refused.

    Without --as the node operator imports, published (unless --draft, four eyes, or a format
    whose output needs review, like text, which is always imported as drafts).
    """
    store = node.store()
    collection = store.get_collection(collection_ref)
    viewer = node.viewer(as_user)
    params = parse_params(format_options)
    if column_map is not None:
        params["map"] = column_map
    provenances: dict[bool, Provenance] = {}

    def provenance_for(importer: Importer) -> Provenance:
        review = draft or importer.review_required
        if review not in provenances:
            provenances[review] = write_provenance(store, viewer, draft=review, four_eyes=node.settings.four_eyes,
                                                   org=org_name, recipients=recipients)
        return provenances[review]

    provenance_for(registry().importer(fmt) if fmt != "auto" else registry().importer("stix"))
    options = ImportOptions(Limits(node.settings.max_nesting_depth, node.settings.max_object_bytes), params)
    total = IngestReport()
    failed_files = 0
    for source in _sources(paths, fmt):
        with ExitStack() as stack:
            try:
                importer = registry().detect(source) if fmt == "auto" else registry().importer(fmt)
                check_params("import", importer.name, importer.options, params)
                read = _reader(importer, source, options)
                advance = _progress(source, stack)
                shown: list[object] = []
                if worth_forking(source) and not (dry_run and importer.review_required):
                    # Read and prepared by a child process while this one writes (services/pipeline.py).
                    pipeline = stack.enter_context(Pipeline(read, advance))
                    with bulk_gc(), store.transaction(dry_run=dry_run) as tx:
                        report = pipeline.ingest(tx, collection, provenance_for(importer))
                    notes = pipeline.notes
                else:
                    imported = read(advance)
                    items = _kept(imported.items, shown) if dry_run and importer.review_required else imported.items
                    with bulk_gc(), store.transaction(dry_run=dry_run) as tx:
                        report = ingest_items(tx, collection, items, provenance_for(importer),
                                              bundle_spec_version=imported.spec_version)
                    notes = imported.notes
            except InputError as exc:
                failed_files += 1
                click.echo(f"{source.name}: refused, nothing stored: {exc.reason}"
                           + (f" (at byte {exc.offset})" if exc.offset is not None else ""), err=True)
                continue
        if shown:
            sys.stdout.buffer.write(orjson.dumps({"type": "bundle", "objects": shown}, option=orjson.OPT_INDENT_2)
                                    + b"\n")
        verb = "would store" if dry_run else "stored"
        click.echo(f"{source.name}: {verb} {report.stored}, added to collection {report.added}, "
                   f"unchanged {report.unchanged}, refused {len({p.index for p in report.refused})}"
                   + (f" (upgraded from STIX 2.0: {report.upgraded})" if report.upgraded else "")
                   + (f" [{importer.name}]" if fmt == "auto" and importer.name != "stix" else ""),
                   err=bool(shown))
        for note in notes:
            click.echo(f"  note: {note}", err=True)
        _print_problems(report.refused, source.name)
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
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="stix", show_default=True,
              help="Output format (docs/formats.md).")
@click.option("-O", "--option", "format_options", multiple=True, metavar="KEY=VALUE",
              help="An option of the output format (repeatable; docs/formats.md lists them).")
@click.option("-o", "--output", type=click.Path(writable=True), metavar="PATH",
              help="Write here instead of stdout (a directory, for formats that write one: misp-feed).")
@click.option("--as", "as_user", metavar="USERNAME", help="Export only what this user may see.")
@click.option("--for-org", "for_org", metavar="ORG", help="Export only what this organisation may receive.")
@click.option("--min-score", "min_score", type=click.IntRange(0, 100), metavar="N",
              help="Leave out indicators whose decay score is below N (0-100), as the exporting user, "
                   "organisation or operator would see it (docs/early-warning.md); other objects are kept.")
@click.pass_obj
def export(node: NodeContext, collection_ref: str | None, types: tuple[str, ...], latest: bool, fmt: str,
           format_options: tuple[str, ...], output: str | None, as_user: str | None, for_org: str | None,
           min_score: int | None) -> None:
    """Export stored objects in a format defenders' tools read, streamed.

    Without --as or --for-org the node operator exports everything stored (in STIX, each object
    exactly as it was stored). With either, the export goes through the sharing gate: only what
    that user or organisation may see, granular markings applied, and what another organisation
    owns is recorded in the audit log as received. Every export is recorded in the audit log.
    """
    store = node.store()
    if as_user and for_org:
        raise ConfigError("use --as or --for-org, not both")
    exporter = registry().exporter(fmt)
    params = parse_params(format_options)
    check_params("export", exporter.name, exporter.options, params)
    if exporter.writes_directory and not output:
        raise ConfigError(f"format {fmt!r} writes a directory: give -o DIR")
    collection_pk = store.get_collection(collection_ref).pk if collection_ref else None
    query = VersionQuery(collection_pk=collection_pk, types=types, latest_only=latest)
    vis: Visibility | None = None
    if as_user is not None:
        vis = visibility(store, node.viewer(as_user), micros_now())
    elif for_org is not None:
        vis = org_visibility(store, store.get_org(for_org).pk, micros_now())
    model = model_from_setting(node.settings.decay_lifetimes) if min_score is not None else None
    options = ExportOptions(node=node.settings.node_name, params=params)
    with ExitStack() as stack:
        bodies = store.iter_bodies(query) if vis is None else disclosed_bodies(store, vis, query, channel="export")
        if model is not None and min_score is not None:
            now = micros_now()
            bodies = at_least(store, vis or visibility(store, node.viewer(None), now), bodies, min_score, now=now,
                              model=model, min_count=node.settings.sighting_min_count, channel="export")
        advance = stack.enter_context(count_progress(f"export {fmt}", None, unit="objects"))
        if advance is not None:
            bodies = _counted(bodies, advance)
        if exporter.writes_directory:
            summary = exporter.export_directory(bodies, Path(output or "."), options)
        else:
            out: BinaryIO = stack.enter_context(open(output, "wb")) if output else sys.stdout.buffer
            summary = exporter.export(bodies, out, options)
            out.flush()
    store.audit_append(AuditEvent(
        OPERATOR, "export", org=vis.viewer.org_name if vis is not None else None,
        subject=collection_ref, detail={"format": fmt, "objects": summary.objects_in, "written": summary.written,
                                        "gated": vis is not None, "as": as_user, "for_org": for_org,
                                        "min_score": min_score}))
    skipped = "".join(f"; skipped {n}: {why}" for why, n in sorted(summary.skipped.items()))
    if output or skipped:
        click.echo(f"exported {summary.written} of {summary.objects_in} objects as {fmt}"
                   + (f" to {output}" if output else "") + skipped, err=True)
    for note in summary.notes:
        click.echo(f"  note: {note}", err=True)


def _counted(bodies: Iterable[bytes], advance: Callable[[int], None]) -> Iterator[bytes]:
    for body in bodies:
        advance(1)
        yield body


COMMANDS = [import_, export]
