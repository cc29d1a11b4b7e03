"""What a prose document says about itself: its title and its date.

The report Accord makes from a document is named after its title: the markup's title (HTML
``<title>`` or first ``<h1>``), else the first heading (Markdown ``# ...`` or an underlined
line, AsciiDoc ``= ...``), else its first line when short, else the file name. Its date is the
first date written in the text (``2021-12-16``, ``2021/12/16``, ``16 December 2021``,
``December 16, 2021``, ``Dec. 16, 2021``; a blog URL's ``/2018/09/05/`` counts), else a fixed
epoch, so that importing the same file again gives the same objects.
"""

from __future__ import annotations

import re
from datetime import date

# The date of a document that states none (the STIX objects need one, and it must not be "now").
EPOCH = "1970-01-01T00:00:00.000Z"
_MONTHS = {name: number for number, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
    ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
    ("december", "dec")), start=1) for name in names}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_YEAR = r"((?:19|20)\d\d)"
_DATES = [
    (re.compile(_YEAR + r"([-/])(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)"), (1, 3, 4)),
    (re.compile(r"\b(0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+" + _YEAR + r"\b",
                re.IGNORECASE), (3, 2, 1)),
    (re.compile(r"\b" + _MONTH + r"\s+(0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s+" + _YEAR + r"\b",
                re.IGNORECASE), (3, 1, 2)),
]
_HEADING = re.compile(r"^(?:#{1,6}|={1,6})\s+(\S.*?)\s*[#=]*\s*$")
_UNDERLINE = re.compile(r"^(?:=+|-+)\s*$")
_INLINE_MARKUP = re.compile(r"[*_`]+|\[\[.*?\]\]|\{[^}\s]*\}")
MAX_TITLE = 200


def first_date(text: str) -> str | None:
    """The earliest-placed date written in ``text``, as a STIX timestamp."""
    best: tuple[int, str] | None = None
    for pattern, (y, m, d) in _DATES:
        for match in pattern.finditer(text):
            month = match.group(m)
            month_number = int(month) if month.isdigit() else _MONTHS[month.lower().rstrip(".")]
            try:
                day = date(int(match.group(y)), month_number, int(match.group(d)))
            except ValueError:
                continue
            if best is None or match.start() < best[0]:
                best = (match.start(), f"{day.isoformat()}T00:00:00.000Z")
            break
    return best[1] if best else None


def _clean(line: str) -> str:
    return " ".join(_INLINE_MARKUP.sub("", line).split())[:MAX_TITLE]


def title_of(text: str) -> str | None:
    """The first heading of a Markdown or AsciiDoc text, else its first line when it reads as a title."""
    lines = text.split("\n", 200)[:200]
    first_line = None
    for i, line in enumerate(lines):
        heading = _HEADING.match(line)
        if heading and (title := _clean(heading.group(1))):
            return title
        if line.strip() and i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and (title := _clean(line)):
            return title
        if first_line is None and line.strip():
            first_line = line
    if first_line is not None and len(first_line.strip()) <= 120 and (title := _clean(first_line)):
        return title
    return None
