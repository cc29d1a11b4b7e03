"""CSV in and out: lists of indicator values, MISP's CSV exports, spreadsheets (RFC 4180).

Import reads one value (or two, for MISP's composite types) per row into an indicator, or into a
bare observable when the row says it is not for detection (MISP ``to_ids`` 0) or the value is on
a MISP warninglist. Which column holds what is given with ``--map`` or read from the header; the
header names of MISP's two CSV export variants (``uuid,event_id,category,type,value,comment,
to_ids,date`` and the longer one adding ``object_relation,attribute_tag,...``) and of Accord's own
CSV export are known. The column mapping is parsed in accord/io/values_columns.py.

Export writes one row per value an indicator's pattern names (or an observable holds), with
cells a spreadsheet would run as a formula neutralised as OWASP's "CSV Injection" page advises
(a leading ``'``), which the importer undoes.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO, ClassVar

import orjson

from accord.errors import ConfigError, InputError
from accord.io.indicators import derived_id, indicator, observable
from accord.io.values_columns import Columns, RowProblem, neutralise, parse_flag, read_columns, unneutralise
from accord.io.values_misp import ValueProblem, is_mappable, misp_types, parts, stix_time
from accord.io.values_select import kind_values
from accord.services.formats import (
    Exporter,
    ExportOptions,
    ExportSummary,
    FormatRegistry,
    Imported,
    Importer,
    ImportOptions,
    Source,
)
from accord.stix.markings import TLP2_ID_FOR_LEVEL, TLP_LEVELS, object_tlp, strictest
from accord.stix.stream import BOM, Item

# Individual warninglist notes shown per file; the rest are counted.
MAX_BENIGN_NOTES = 20
SPOOL_BYTES = 16 * 1024 * 1024
_FALSE = frozenset({"0", "false", "no", "n", "f"})
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
EXPORT_COLUMNS = ("id", "type", "kind", "value", "name", "tlp", "created", "modified", "valid_from",
                  "valid_until", "revoked", "labels", "description")


def _tlp_ref(level: str | None) -> list[str]:
    return [TLP2_ID_FOR_LEVEL[level]] if level in TLP2_ID_FOR_LEVEL else []


def _tlp_level(text: str) -> str:
    level = text.strip().lower().removeprefix("tlp:").replace("white", "clear")
    if level not in TLP_LEVELS:
        raise ValueError(f"{text!r} is not a TLP level ({', '.join(TLP_LEVELS)})")
    return level


class _Reading:
    """The state of one CSV source being read: options, ids' namespace, what to tell the user."""

    def __init__(self, source: Source, options: ImportOptions) -> None:
        params = options.params
        self.source = source
        self.base_tlp: str | None = None
        if params.get("tlp"):
            try:
                self.base_tlp = _tlp_level(params["tlp"])
            except ValueError as exc:
                raise ConfigError(f"-O tlp: {exc}") from None
        self.default_date = self._default_date(params.get("date"))
        # Ids of rows without a uuid derive from the list's name if given, else its content; rows
        # without a date of their own also from the stand-in date, so that a file touched later
        # makes new indicators rather than versions whose ``created`` moved.
        self.source_key = "csv:" + params["source"] if params.get("source") else ""
        self.notes: list[str] = []
        self.unmapped: Counter[str] = Counter()
        self.benign: list[str] = []
        self.benign_count = 0

    def _default_date(self, given: str | None) -> str | None:
        if given:
            stamp = stix_time(given)
            if stamp is None:
                raise ConfigError(f"-O date: {given!r} is not a date (YYYY-MM-DD or an RFC 3339 timestamp)")
            return stamp
        if self.source.path is not None:
            mtime = self.source.path.stat().st_mtime
            return f"{datetime.fromtimestamp(int(mtime), UTC):%Y-%m-%dT%H:%M:%S}.000Z"
        return None

    def finish(self) -> None:
        if self.benign_count > len(self.benign):
            self.benign.append(f"... and {self.benign_count - len(self.benign)} more values on MISP warninglists")
        self.notes.extend(self.benign)
        if self.unmapped:
            listed = ", ".join(f"{name} ({n})" for name, n in sorted(self.unmapped.items()))
            self.notes.append(f"not imported, these MISP types name no value to match: {listed}")


def _cell(row: list[str], cols: Columns, field: str) -> str:
    index = cols.fields.get(field)
    return unneutralise(row[index]).strip() if index is not None else ""


def _row_objects(row: list[str], cols: Columns, state: _Reading, rowno: int) -> list[dict[str, Any]]:
    """The STIX objects of one data row; raises RowProblem naming the column at fault."""
    typed: list[tuple[int, str, str]] = []  # (column, type name, raw value)
    if "value" in cols.fields:
        raw_type = _cell(row, cols, "type")
        type_col = cols.fields["type"]
        if not raw_type:
            raise RowProblem(type_col, "empty type")
        if not is_mappable(raw_type):
            if raw_type in misp_types():
                state.unmapped[raw_type] += 1
                return []
            raise RowProblem(type_col, f"unknown type {raw_type[:60]!r} (a MISP attribute type or an Accord kind)")
        typed.append((cols.fields["value"], raw_type, unneutralise(row[cols.fields["value"]])))
    typed.extend((col, name, unneutralise(row[col])) for col, name in cols.typed if row[col].strip())
    if not typed or not any(raw.strip() for _, _, raw in typed):
        raise RowProblem(cols.fields.get("value", cols.typed[0][0] if cols.typed else 0), "empty value")

    to_ids_text = _cell(row, cols, "to_ids").lower()
    if to_ids_text and to_ids_text not in _TRUE | _FALSE:
        raise RowProblem(cols.fields["to_ids"], f"{to_ids_text[:20]!r} is not 0/1 or true/false")
    for_detection = to_ids_text not in _FALSE

    created, extra, source_key = _row_dates(row, cols, state)
    markings, labels = _row_marks(row, cols, state)

    objects: list[dict[str, Any]] = []
    uuid = _cell(row, cols, "uuid")
    for col, type_name, raw in typed:
        try:
            found = parts(type_name, raw)
        except ValueProblem as exc:
            raise RowProblem(col, str(exc)) from None
        for part in found:
            benign = _benign(part.value, state, rowno) if for_detection else []
            marking = {"object_marking_refs": markings} if markings else {}
            if not for_detection or benign:
                objects.append({**observable(part.kind, part.value), **marking})
                continue
            description = "; ".join(x for x in (_cell(row, cols, "comment"), part.context) if x)
            props: dict[str, Any] = {**extra, **marking}
            if description:
                props["description"] = description
            if labels:
                props["labels"] = labels
            obj = indicator(part.kind, part.value, source_key=source_key, created=created,
                            name=_cell(row, cols, "name") or None, **props)
            if uuid:
                # Not MISP's uuid itself: misp-stix already uses that for the event's own rendering.
                obj["id"] = derived_id("indicator", "misp-csv", uuid.lower(), obj["pattern"])
            objects.append(obj)
    return objects


def _row_dates(row: list[str], cols: Columns, state: _Reading) -> tuple[str, dict[str, Any], str]:
    """``created``, the validity properties and the id namespace of a row."""
    extra: dict[str, Any] = {}
    for field, prop in (("first_seen", "valid_from"), ("last_seen", "valid_until")):
        text = _cell(row, cols, field)
        if text:
            stamp = stix_time(text)
            if stamp is None:
                raise RowProblem(cols.fields[field], f"{text[:40]!r} is not a date")
            extra[prop] = stamp
    source_key = state.source_key
    date_text = _cell(row, cols, "date")
    created = stix_time(date_text) if date_text else extra.get("valid_from", state.default_date)
    if created is None:
        if date_text:
            raise RowProblem(cols.fields["date"], f"{date_text[:40]!r} is not a date")
        raise RowProblem(None, "no date: no date in this row and no file date; give -O date=YYYY-MM-DD")
    if not date_text and "valid_from" not in extra:
        source_key += f":{created}"
    if "valid_until" in extra and extra["valid_until"] <= extra.get("valid_from", created):
        raise RowProblem(cols.fields["last_seen"], "last_seen is not after first_seen/date")
    return created, extra, source_key


def _row_marks(row: list[str], cols: Columns, state: _Reading) -> tuple[list[str], list[str]]:
    """The TLP marking refs (the strictest of -O tlp, tlp:* tags and a tlp column) and the labels."""
    levels = [state.base_tlp] if state.base_tlp else []
    labels: list[str] = []
    for tag in (t.strip() for t in _cell(row, cols, "tags").split(",")):
        if tag.lower().startswith("tlp:"):
            try:
                levels.append(_tlp_level(tag))
                continue
            except ValueError:
                pass
        if tag:
            labels.append(tag)
    tlp_text = _cell(row, cols, "tlp")
    if tlp_text:
        try:
            levels.append(_tlp_level(tlp_text))
        except ValueError as exc:
            raise RowProblem(cols.fields["tlp"], str(exc)) from None
    category = _cell(row, cols, "category")
    if category:
        labels.insert(0, f'misp:category="{category}"')
    return (_tlp_ref(strictest(levels)) if levels else []), labels


def _benign(value: str, state: _Reading, rowno: int) -> list[str]:
    from accord.io.warninglists import benign

    lists = benign(value)
    if lists:
        state.benign_count += 1
        if len(state.benign) < MAX_BENIGN_NOTES:
            state.benign.append(f"row {rowno}: {value} is on MISP warninglist {lists[0]!r}"
                                + (f" (and {len(lists) - 1} more)" if len(lists) > 1 else "")
                                + ": kept as an observable, not an indicator")
    return lists


def _spooled(source: Source) -> tuple[BinaryIO, str]:
    """The source's bytes, seekable, and their SHA-256 (a stream is spooled to read it twice)."""
    digest = hashlib.sha256()
    if source.path is not None:
        with source.open() as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        return source.open(), digest.hexdigest()
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 -- returned to the caller
    with source.open() as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            spool.write(chunk)
    spool.seek(0)
    return spool, digest.hexdigest()  # type: ignore[return-value]


def _text(raw: BinaryIO, source: Source, encoding: str) -> io.TextIOWrapper:
    head = raw.read(4096)
    raw.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif b"\x00" in head:
        raise InputError(f"binary data (a NUL byte at offset {head.index(0)}), not CSV text", source=source.name)
    elif encoding == "utf-8":
        encoding = "utf-8-sig"  # a leading BOM (Excel's "CSV UTF-8") is dropped
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


class CsvImporter(Importer):
    name = "csv"
    summary = "CSV: one indicator value per row (MISP CSV exports, spreadsheets, Accord's CSV export)"
    suffixes = frozenset({".csv", ".tsv"})
    sniff_priority = 80
    options: ClassVar[Mapping[str, str]] = {
        "map": "which column holds what: COLUMN:FIELD,... (COLUMN a header name or 0-based position)",
        "header": "true (default): the first row names the columns; false: every row is data",
        "delimiter": "the cell separator: ',' ';' '|' or 'tab' (default: guessed from the first line)",
        "encoding": "text encoding when not UTF-8 (UTF-8 and UTF-16 with a BOM are recognised): e.g. cp1252",
        "date": "created/modified of rows without a date (default: the file's modification time)",
        "source": "a stable name for this list: ids of rows without a uuid derive from it (default: the content)",
        "tlp": "TLP level for everything imported (clear, green, amber, amber+strict, red); rows may be stricter",
    }

    def sniff(self, head: bytes, source: Source) -> bool:
        first = head.removeprefix(BOM).split(b"\n", 1)[0].decode("utf-8", "replace").lower()
        names = {cell.strip().strip('"') for cell in first.replace(";", ",").replace("\t", ",").split(",")}
        return "value" in names and bool(names & {"type", "kind"})

    def read(self, source: Source, options: ImportOptions) -> Imported:
        params = options.params
        header = parse_flag("header", params.get("header", "true"))
        delimiter = params.get("delimiter")
        if delimiter == "tab":
            delimiter = "\t"
        if delimiter is not None and len(delimiter) != 1:
            raise ConfigError("-O delimiter: one character, or 'tab'")
        state = _Reading(source, options)  # checks the options before anything is read
        notes: list[str] = []

        def items() -> Iterator[Item]:
            raw, key = _spooled(source)
            state.source_key = state.source_key or f"csv:{key}"
            with raw:
                text = _text(raw, source, params.get("encoding", "utf-8"))
                try:
                    yield from _rows(text, source, state, params.get("map"), header, delimiter)
                except UnicodeDecodeError as exc:
                    raise InputError(f"not {exc.encoding} text (byte {exc.start} of a chunk); "
                                     "give -O encoding=...", source=source.name) from None
                except csv.Error as exc:
                    raise InputError(f"not readable as CSV: {exc}", source=source.name) from None
                finally:
                    text.detach()
                    state.finish()
                    notes.extend(state.notes)

        return Imported(items(), notes=notes)


def _guess_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _rows(text: io.TextIOWrapper, source: Source, state: _Reading, mapping: str | None, header: bool,
          delimiter: str | None) -> Iterator[Item]:
    first_line = text.readline()
    rest: Iterable[str] = _chain(first_line, text)
    reader = csv.reader(rest, delimiter=delimiter or _guess_delimiter(first_line))
    names: list[str] | None = None
    if header:
        names = next(reader, None)
        if names is None:
            return
    cols = read_columns(names, mapping, source.name)
    index = 0
    rowno = 1 if header else 0
    last_line = reader.line_num
    for row in reader:
        rowno += 1
        where = f"row {rowno}" + (f" (line {last_line + 1})" if last_line + 1 != rowno else "")
        last_line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        try:
            cols.check_width(row)
            objects = _row_objects(row, cols, state, rowno)
        except RowProblem as exc:
            yield Item(index, None, problem=f"{where}: {cols.describe(exc.column)}: {exc.reason}")
            index += 1
            continue
        for obj in objects:
            yield Item(index, obj)
            index += 1


def _chain(first: str, rest: Iterable[str]) -> Iterator[str]:
    yield first
    yield from rest


class CsvExporter(Exporter):
    name = "csv"
    summary = "CSV: a header and one row per indicator or observable value (kind, value, TLP, validity)"
    media_type = "text/csv; charset=utf-8"
    suffix = ".csv"
    options: ClassVar[Mapping[str, str]] = {"bom": "true: begin with a UTF-8 byte order mark (Excel); default false"}

    def export(self, bodies: Iterable[bytes], out: BinaryIO, options: ExportOptions) -> ExportSummary:
        summary = ExportSummary()
        if parse_flag("bom", options.params.get("bom", "false")):
            out.write(BOM)
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        try:
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(EXPORT_COLUMNS)
            for body in bodies:
                summary.objects_in += 1
                obj = orjson.loads(body)
                values, reason = kind_values(obj, disjunctive_only=False)
                if not values:
                    summary.skip(reason or "no value of a known kind")
                    continue
                summary.written += 1
                common = _common_cells(obj)
                for kind, value in values:
                    cells = {**common, "kind": kind.name, "value": value}
                    writer.writerow([neutralise(cells.get(column, "")) for column in EXPORT_COLUMNS])
        finally:
            text.detach()
        return summary


def _common_cells(obj: dict[str, Any]) -> dict[str, str]:
    cells = {key: obj[key] for key in ("id", "type", "name", "created", "modified", "valid_from", "valid_until",
                                       "description") if isinstance(obj.get(key), str)}
    cells["tlp"] = object_tlp(obj) or ""
    if obj.get("revoked") is True:
        cells["revoked"] = "true"
    labels = obj.get("labels")
    if isinstance(labels, list):
        cells["labels"] = ",".join(str(label) for label in labels)
    return cells


def register(registry: FormatRegistry) -> None:
    registry.add_importer(CsvImporter())
    registry.add_exporter(CsvExporter())
