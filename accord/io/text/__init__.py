"""Free-text threat reports (plain text, Markdown, AsciiDoc, HTML, PDF) to a STIX 2.1 report.

``accord import --format text FILE`` reads the prose, finds the indicators it states
(accord.io.text.iocs: ioc-finder plus cleaning rules), the groups, software, surveillance
vendors and ATT&CK techniques it names (accord.io.text.galaxies: MISP galaxies), the countries
and sectors (accord.io.text.vocabulary), and makes one STIX ``report`` that refers to all of
them (accord.io.text.report). Values on a MISP warninglist (accord.io.warninglists) are named in
the import's notes and left out. Extraction from prose makes mistakes, so the importer asks for
review: the CLI stores what it makes as drafts, and ``--dry-run`` prints it.

docs/formats.md describes the options; this package's modules state their rules.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from accord.errors import ConfigError
from accord.io.text.decode import KINDS, SUFFIX_KIND, kind_of, open_document
from accord.io.text.document import EPOCH, first_date, title_of
from accord.io.text.iocs import Found, extract
from accord.io.text.report import Extraction, stix_objects
from accord.services.formats import SNIFF_BYTES, FormatRegistry, Imported, Importer, ImportOptions, Source
from accord.stix.stream import Item

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
# Notes listing benign values stop after this many; the rest are counted.
MAX_BENIGN_NOTES = 20
_TECHNIQUE = re.compile(r"(?<![\w.])T\d{4}(?:\.\d{3})?(?![\w.]*\w)")
_NETWORK = frozenset({"url", "domain", "ipv4", "ipv6", "email"})
_TRUE = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _flag(params: Mapping[str, str], key: str, default: bool) -> bool:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        return _TRUE[raw.strip().lower()]
    except KeyError:
        raise ConfigError(f"option {key}={raw!r}: expected true or false") from None


def _positive(params: Mapping[str, str], key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"option {key}={raw!r}: expected a positive whole number of bytes")
    return value


def _date(params: Mapping[str, str]) -> str | None:
    raw = params.get("date")
    if raw is None:
        return None
    found = first_date(raw)
    if found is None:
        raise ConfigError(f"option date={raw!r}: expected a date such as 2024-05-01")
    return found


class TextImporter(Importer):
    name = "text"
    summary = "free-text reports (txt, Markdown, AsciiDoc, HTML, PDF): indicators and named entities, for review"
    suffixes = frozenset(SUFFIX_KIND)
    review_required = True
    sniff_priority = 90
    options: ClassVar[Mapping[str, str]] = {
        "include_benign": "true: import values on a MISP warninglist as indicators too (default false: noted only)",
        "max_bytes": f"refuse documents larger than this many bytes (default {DEFAULT_MAX_BYTES})",
        "encoding": "encoding of a text file without a byte-order mark (default utf-8)",
        "input": "text, html or pdf (default: from the content, then the file name)",
        "date": "the report's date, YYYY-MM-DD (default: the first date in the text, else 1970-01-01)",
        "name": "the report's name (default: the document's title or first heading, else the file name)",
        "entities": "false: indicators only, no groups, software, vendors, countries or sectors (default true)",
    }

    def sniff(self, head: bytes, source: Source) -> bool:
        # Content alone: PDF and HTML say what they are; other text is taken by its suffix.
        return kind_of(head, Source(source.name, None, source.open)) != "text"

    def read(self, source: Source, options: ImportOptions) -> Imported:
        params = options.params
        kind = params.get("input", "auto")
        if kind not in (*KINDS, "auto"):
            raise ConfigError(f"option input={kind!r}: expected one of auto, {', '.join(KINDS)}")
        settings = {
            "include_benign": _flag(params, "include_benign", False),
            "entities": _flag(params, "entities", True),
            "max_bytes": _positive(params, "max_bytes", DEFAULT_MAX_BYTES),
            "date": _date(params),
        }
        imported = Imported(iter(()))
        imported.items = self._items(source, kind, params, settings, imported.notes)
        return imported

    def _items(self, source: Source, kind: str, params: Mapping[str, str], settings: dict[str, Any],
               notes: list[str]) -> Iterator[Item]:
        if kind == "auto":
            head = source.head if source.head is not None else _head(source)
            kind = kind_of(head, source)
        digest = hashlib.sha256()
        doc = open_document(source, kind, params.get("encoding"), settings["max_bytes"], digest)
        values: dict[tuple[str, str], Found] = {}
        techniques: list[str] = []
        title, date = doc.title, settings["date"]
        matches = None
        know = None
        if settings["entities"]:
            from accord.io.text.galaxies import knowledge
            from accord.io.text.gazetteer import Matches

            know = knowledge()
            matches = Matches()
        first = True
        for chunk in doc.chunks:
            if first and title is None:
                title = title_of(chunk)
            first = False
            date = date or first_date(chunk)
            for found in extract(chunk):
                values.setdefault((found.kind, found.value), found)
            if know is not None and matches is not None:
                know.gazetteer.scan(chunk, matches)
                techniques.extend(t for t in _TECHNIQUE.findall(chunk) if t not in techniques)
        kept = _screen(list(values.values()), settings["include_benign"], notes)
        entities = list(matches.entities()) if matches is not None else []
        known = []
        for tid in techniques:
            if know is not None and tid in know.techniques:
                known.append(know.techniques[tid])
            else:
                notes.append(f"{tid}: not an ATT&CK technique id known to the MISP galaxy; left out")
        name = params.get("name") or title or (source.path.name if source.path is not None else source.name)
        extraction = Extraction(
            source_key=f"text:sha256:{digest.hexdigest()}", name=name, date=date or EPOCH, values=kept,
            entities=entities, techniques=known, galaxy_version=know.version if know is not None else 0,
            description=(f"Extracted by Accord's text importer from a {kind} document (sha256 {digest.hexdigest()}): "
                         f"{len(kept)} indicators and {len(entities) + len(known)} named entities, to be reviewed."))
        count = 0
        for count, obj in enumerate(stix_objects(extraction)):
            yield Item(count, obj)
        if count == 0:
            notes.append("nothing recognised in the text: no report made")


def _head(source: Source) -> bytes:
    with source.open() as stream:
        return stream.read(SNIFF_BYTES)


def _screen(values: list[Found], include_benign: bool, notes: list[str]) -> list[Found]:
    """``values`` less the known-benign ones and reference links (each noted), unless benign ones
    are to be imported anyway.

    A reference link is a URL written live as a link's target (Markdown, AsciiDoc), or written
    live in a document that defangs some of its indicators (the author's convention says the
    live ones are citations), or a live URL whose host is on a warninglist (a well-known site).
    """
    from accord.io.warninglists import benign

    defangs = any(not f.live for f in values if f.kind in _NETWORK)
    kept: list[Found] = []
    flagged = 0
    for found in values:
        lists = [] if found.kind == "cve" else benign(found.value)
        why = f"known-benign (warninglist {lists[0]!r}{_more(lists)})" if lists else ""
        if not lists and found.kind == "url" and found.live:
            lists = benign(urlsplit(found.value).hostname or "")
            if lists:
                why = f"a link to a site on warninglist {lists[0]!r}{_more(lists)}"
            elif found.cited or defangs:
                lists = ["reference"]
                why = ("the target of a link in the text: a reference" if found.cited
                       else "a live link in a document that defangs its indicators: a reference")
        if not lists or include_benign:
            kept.append(found)
        if lists:
            flagged += 1
            if flagged <= MAX_BENIGN_NOTES:
                fate = "imported anyway (include_benign=true)" if include_benign else "not imported"
                notes.append(f"{found.value}: {why}; {fate}")
    if flagged > MAX_BENIGN_NOTES:
        notes.append(f"... and {flagged - MAX_BENIGN_NOTES} more values on warninglists or read as references")
    return kept


def _more(lists: list[str]) -> str:
    return f" and {len(lists) - 1} more" if len(lists) > 1 else ""


def register(registry: FormatRegistry) -> None:
    registry.add_importer(TextImporter())
