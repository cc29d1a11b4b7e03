"""Formats: the one interface every importer and exporter plugs into, Accord's own included.

The interface and the registry live in services because the CLI and the REST API both drive
formats and may not import the io package; io (Accord's own formats) and third-party packages
implement it and are found at run time through entry points.

A format package exposes a callable ``register(registry)`` and names it under the entry-point
group ``accord.formats`` (see pyproject.toml, where Accord registers its built-in formats exactly
as a third party would)::

    [project.entry-points."accord.formats"]
    myformat = "mypackage.accord_format:register"

An importer turns a source (a file, a directory it claims, or stdin) into STIX objects; it never
writes to the store. What it yields goes through the same ingest pipeline as a TAXII POST:
STIX 2.0 upgrade, validation of every object, provenance, release state, audit. So an importer
cannot store an invalid object or bypass the release rules, however it is written.

An exporter receives object bodies that have already been through the policy gate and
disclosure (granular markings removed, receipts audited) and renders them; it never reads the
store. So an exporter cannot leak what the gate withheld, however it is written.
"""

from __future__ import annotations

import io
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from accord.errors import ConfigError, InputError
from accord.stix.stream import Item, Limits

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "accord.formats"
# How much of a file auto-detection looks at.
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Source:
    """One input: a file, a directory an importer claims, or standard input."""

    name: str
    path: Path | None
    open: Callable[[], BinaryIO]
    size: int | None = None
    # The first bytes, when the source cannot be opened twice (standard input): auto-detection
    # looks at these, and ``open`` replays them before the rest.
    head: bytes | None = None

    @classmethod
    def from_path(cls, path: Path) -> Source:
        size = path.stat().st_size if path.is_file() else None
        return cls(str(path), path, lambda: open(path, "rb"), size)

    @classmethod
    def from_stream(cls, name: str, stream: BinaryIO) -> Source:
        """A one-pass stream: its head is read now so that detection and import both see it."""
        head = stream.read(SNIFF_BYTES)
        return cls(name, None, lambda: io.BufferedReader(_Replay(head, stream)), None, head)


class _Replay(io.RawIOBase):
    """``head`` then the rest of ``stream``; closing it leaves ``stream`` open."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


@dataclass(frozen=True)
class ImportOptions:
    """What an importer is told besides its source.

    ``params`` holds the format's own options (``--map`` for CSV, ``-O KEY=VALUE`` for any);
    only keys the importer declares in ``Importer.options`` reach it.
    """

    limits: Limits = field(default_factory=Limits)
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Imported:
    """What an importer produced from one source.

    ``items`` are STIX objects (2.1, or 2.0 to be upgraded) in input order, each wrapped with
    its position so refusals can point at it; an item may instead carry a ``problem`` (an
    input element the importer could not turn into an object). Iterating may raise InputError
    when the source turns out to be unreadable: the caller then rolls back the whole source.
    ``spec_version`` reports the envelope's STIX version once known (bundles of STIX 2.0).
    ``notes`` are remarks for the person importing (values flagged as known-benign, attributes
    a converter could not map), shown after the summary; filled while ``items`` is consumed.
    """

    items: Iterable[Item]
    spec_version: Callable[[], str | None] = lambda: None
    notes: list[str] = field(default_factory=list)


class Importer(ABC):
    """Reads one kind of input into STIX objects."""

    name: ClassVar[str]
    summary: ClassVar[str]
    # File suffixes (lower case, with the dot) taken when a directory is imported with this format.
    suffixes: ClassVar[frozenset[str]] = frozenset()
    # Options the importer understands: name -> one-line help (shown in docs and --help).
    options: ClassVar[Mapping[str, str]] = {}
    # True when what it produces must be reviewed before release (entity extraction from prose):
    # the objects are stored as drafts whatever the importer's role.
    review_required: ClassVar[bool] = False
    # Order in which --format auto asks importers (lower first): specific formats before lenient ones.
    sniff_priority: ClassVar[int] = 50
    # When no importer recognises the content, the first (lowest) importer listing the file's suffix
    # takes it and says what is wrong with it: STIX, the general JSON format, for .json.
    suffix_priority: ClassVar[int] = 50

    def sniff(self, head: bytes, source: Source) -> bool:
        """Whether ``head`` (the first bytes of ``source``) looks like this format, for --format auto."""
        return False

    def claims_directory(self, path: Path) -> bool:
        """Whether this importer reads ``path`` as ONE source (a MISP feed), not file by file."""
        return False

    @abstractmethod
    def read(self, source: Source, options: ImportOptions) -> Imported:
        """Open ``source`` and describe its objects; nothing is read until ``items`` is iterated."""


@dataclass(frozen=True)
class ExportOptions:
    """What an exporter is told besides the objects.

    ``node`` names the exporting node (MISP's org, Suricata's sid range); ``params`` holds
    the format's own options, as for importers.
    """

    node: str = "accord"
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ExportSummary:
    """What an exporter wrote: counted by the exporter, shown to the operator, audited."""

    objects_in: int = 0
    written: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    # Remarks for the person exporting (what a converter left out and why), shown after the summary.
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count


class Exporter(ABC):
    """Renders disclosed STIX objects for a defender's tool."""

    name: ClassVar[str]
    summary: ClassVar[str]
    media_type: ClassVar[str] = "application/octet-stream"
    suffix: ClassVar[str] = ""
    # True for formats that are a directory of files (a MISP feed): ``export_directory`` is used.
    writes_directory: ClassVar[bool] = False
    options: ClassVar[Mapping[str, str]] = {}

    def export(self, bodies: Iterable[bytes], out: BinaryIO, options: ExportOptions) -> ExportSummary:
        """Write ``bodies`` (compact STIX JSON, one object each, in store order) to ``out``."""
        raise ConfigError(f"format {self.name!r} writes a directory: give -o DIR")

    def export_directory(self, bodies: Iterable[bytes], directory: Path, options: ExportOptions) -> ExportSummary:
        raise ConfigError(f"format {self.name!r} writes one file, not a directory")


class FormatRegistry:
    """The importers and exporters this process knows, by name."""

    def __init__(self) -> None:
        self.importers: dict[str, Importer] = {}
        self.exporters: dict[str, Exporter] = {}
        # Plugins that failed to load: name -> why. Logged, and the rest of Accord carries on.
        self.broken: dict[str, str] = {}

    def record_broken(self, name: str, exc: BaseException) -> None:
        self.broken[name] = f"{type(exc).__name__}: {exc}"
        log.warning("format plugin %s failed to load and is not available: %s", name, self.broken[name])

    def add_importer(self, importer: Importer) -> None:
        if importer.name in self.importers or importer.name == "auto":
            raise ConfigError(f"two importers are registered as {importer.name!r}")
        self.importers[importer.name] = importer

    def add_exporter(self, exporter: Exporter) -> None:
        if exporter.name in self.exporters:
            raise ConfigError(f"two exporters are registered as {exporter.name!r}")
        self.exporters[exporter.name] = exporter

    def importer(self, name: str) -> Importer:
        try:
            return self.importers[name]
        except KeyError:
            raise ConfigError(f"unknown import format {name!r}; known: {', '.join(sorted(self.importers))}") from None

    def exporter(self, name: str) -> Exporter:
        try:
            return self.exporters[name]
        except KeyError:
            raise ConfigError(f"unknown export format {name!r}; known: {', '.join(sorted(self.exporters))}") from None

    def detect(self, source: Source) -> Importer:
        """The importer for ``source`` under --format auto: a claimed directory, else by content."""
        if source.path is not None and source.path.is_dir():
            for imp in self.importers.values():
                if imp.claims_directory(source.path):
                    return imp
            raise ConfigError(f"{source.name}: no format claims this directory")
        if source.head is not None:
            head = source.head
        else:
            with source.open() as stream:
                head = stream.read(SNIFF_BYTES)
        ordered = sorted(self.importers.values(), key=lambda i: (i.sniff_priority, i.name))
        for imp in ordered:
            if imp.sniff(head, source):
                return imp
        # Content says nothing we know: the suffix decides, so the importer that owns it can say
        # precisely what is wrong ("not JSON at byte 0") rather than "unknown format".
        suffix = source.path.suffix.lower() if source.path is not None else ""
        for imp in sorted(ordered, key=lambda i: (i.suffix_priority, i.name)):
            if suffix in imp.suffixes:
                return imp
        raise InputError("cannot tell the format from the content or the file name; name it with --format",
                         source=source.name)


def check_params(kind: str, name: str, declared: Mapping[str, str], params: Mapping[str, str]) -> None:
    unknown = sorted(set(params) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise ConfigError(f"{kind} format {name!r} has no option {unknown[0]!r} (its options: {known})")


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings from the command line, as a dict."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"option {pair!r} is not KEY=VALUE")
        out[key.strip()] = value
    return out


_registry: FormatRegistry | None = None


def registry() -> FormatRegistry:
    """Every format installed, loaded once from the ``accord.formats`` entry points."""
    global _registry
    if _registry is None:
        reg = FormatRegistry()
        # Built-ins first, so a third party cannot take a built-in's name.
        found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (not ep.value.startswith("accord."),
                                                                               ep.name))
        for ep in found:
            try:
                ep.load()(reg)
            except Exception as exc:  # a third party's bug must not take the CLI and the server down
                reg.record_broken(f"{ep.name} ({ep.value})", exc)
        _registry = reg
    return _registry

