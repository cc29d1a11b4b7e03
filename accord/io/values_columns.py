"""Which CSV column holds what: the ``--map COLUMN:FIELD,...`` option and the header defaults.

A FIELD is one of ``FIELDS`` (the row's value, its type, comment, to_ids, dates, tags...) or a
type (an Accord kind such as ``domain``, or a MISP attribute type such as ``ip-dst``): such a
column holds values of that one type, so a list with ``domain_name,ip_address`` columns maps as
``--map domain_name:domain,ip_address:ip-dst``. A COLUMN is a header name (case and surrounding
spaces ignored) or a 0-based position. Without ``--map`` the header names are looked up in
``HEADER_NAMES``, which covers MISP's CSV exports and Accord's own.

Also here: the cell neutralisation that keeps spreadsheets from running exported cells as
formulas (OWASP, "CSV Injection"), and its inverse for import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accord.errors import ConfigError, InputError
from accord.io.values_misp import is_mappable, misp_types

FIELDS = frozenset({"value", "type", "comment", "category", "to_ids", "tags", "date", "first_seen", "last_seen",
                    "uuid", "name", "tlp", "ignore"})
# Header names (lower case) understood without --map; unknown headers are ignored.
HEADER_NAMES = {
    "value": "value", "type": "type", "kind": "type", "comment": "comment", "description": "comment",
    "category": "category", "to_ids": "to_ids", "tags": "tags", "attribute_tag": "tags", "labels": "tags",
    "date": "date", "created": "date", "timestamp": "date", "first_seen": "first_seen", "valid_from": "first_seen",
    "last_seen": "last_seen", "valid_until": "last_seen", "uuid": "uuid", "name": "name", "tlp": "tlp",
}
# Leading characters that make Excel, LibreOffice or Google Sheets evaluate a cell (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class RowProblem(Exception):
    """A data row that cannot be imported: the column (position, None for the row) and why."""

    def __init__(self, column: int | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass
class Columns:
    """The fields' column positions and the columns holding values of one fixed type."""

    names: list[str] | None  # the header, when there is one
    fields: dict[str, int] = field(default_factory=dict)
    typed: list[tuple[int, str]] = field(default_factory=list)

    def describe(self, column: int | None) -> str:
        if column is None:
            return "row"
        if self.names is not None and column < len(self.names):
            return f"column {self.names[column].strip()!r} (#{column})"
        return f"column #{column}"

    def check_width(self, row: list[str]) -> None:
        if self.names is not None:
            if len(row) > len(self.names):
                raise RowProblem(len(self.names), f"{len(row)} cells, the header has {len(self.names)} columns")
            if len(row) < len(self.names):
                raise RowProblem(len(row), f"missing: {len(row)} cells, the header has {len(self.names)} columns")
            return
        needed = max([*self.fields.values(), *(c for c, _ in self.typed)]) + 1
        if len(row) < needed:
            raise RowProblem(len(row), f"missing: {len(row)} cells, the mapping reads {needed} columns")


def parse_flag(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"-O {name}: true or false, not {text!r}")
    return lowered in ("true", "1", "yes")


def neutralise(cell: str) -> str:
    """A cell no spreadsheet evaluates: a leading formula character gets a ``'`` in front."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise` (a ``'`` before a formula character is the exporter's)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def _position(ref: str, names: list[str] | None, source: str) -> int:
    ref = ref.strip()
    if ref.isdigit():
        position = int(ref)
        if names is not None and position >= len(names):
            raise InputError(f"--map: column #{position} is past the header's {len(names)} columns", source=source)
        return position
    if names is None:
        raise ConfigError(f"--map: {ref!r} is a column name but -O header=false; use 0-based positions")
    lowered = [n.strip().lower() for n in names]
    if ref.lower() not in lowered:
        raise InputError(f"--map: no column {ref!r} in the header ({', '.join(n.strip() for n in names)})",
                         source=source)
    return lowered.index(ref.lower())


def _add(cols: Columns, position: int, name: str) -> None:
    if name in FIELDS:
        if name in cols.fields:
            raise ConfigError(f"--map: two columns hold the field {name!r}")
        if name != "ignore":
            cols.fields[name] = position
    elif is_mappable(name):
        cols.typed.append((position, name))
    elif name in misp_types():
        raise ConfigError(f"--map: MISP type {name!r} names no value Accord can match (an address, domain, URL, "
                          "e-mail address, hash, file name, mutex or MAC address)")
    else:
        raise ConfigError(f"--map: {name!r} is neither a field ({', '.join(sorted(FIELDS))}) nor a value type")


def read_columns(names: list[str] | None, mapping: str | None, source: str) -> Columns:
    """The columns of a CSV with header ``names`` (None without one) under ``mapping``."""
    cols = Columns(names)
    if mapping:
        for entry in mapping.split(","):
            ref, sep, name = entry.rpartition(":")
            if not sep or not ref.strip() or not name.strip():
                raise ConfigError(f"--map: {entry!r} is not COLUMN:FIELD")
            _add(cols, _position(ref, names, source), name.strip().lower())
    elif names is None:
        raise ConfigError("a CSV without a header needs --map (e.g. --map 0:value,1:type or --map 0:domain)")
    else:
        lowered = [n.strip().lower() for n in names]
        # Accord's own export has both: "type" is the STIX type there, "kind" the value's type.
        if "kind" in lowered:
            cols.fields["type"] = lowered.index("kind")
        for position, header in enumerate(lowered):
            known = HEADER_NAMES.get(header)
            if known is not None and known not in cols.fields:
                cols.fields[known] = position
    if "value" in cols.fields and "type" not in cols.fields:
        if mapping:
            raise ConfigError("--map: the value column needs a type column, or a type of its own (e.g. value:domain)")
        raise InputError("the header has a value column but no type or kind column; give the values' type with "
                         "--map (e.g. --map value:domain)", source=source)
    if "value" not in cols.fields and not cols.typed:
        header = ", ".join(n.strip() for n in names) if names else "none"
        raise InputError(f"no column holds the values (header: {header}); name them with --map", source=source)
    return cols
