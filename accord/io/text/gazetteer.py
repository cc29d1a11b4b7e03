"""Whole-word matching of known names (groups, software, vendors, countries, sectors) in prose.

Names and text are cut into the same word tokens (letters and digits, joined by ``.``, ``'``
or ``&`` inside a word, so ``Agent.BTZ`` is one token; a hyphen separates, so ``APT-C-20`` is
three and ``German-made`` names Germany), and the longest name starting at each token wins. A
name matches only as whole tokens: ``Turla`` does not match inside ``Turlaxx``.

Case rules, because short or ordinary-word names would otherwise hit everywhere:

- A name of three characters or fewer matches only exactly as its source spells it (``RTM``,
  ``UAE``). A name its source spells all in lower case (ATT&CK's ``at``, ``net``, ``certutil``)
  is a command name: matched exactly, and only when six characters or longer.
- A longer name matches as spelt, or in capitals (headings: ``TURLA``), or, when its source
  spells it in capitals (``PREDATOR``, ``GAMEFISH``), with initial capitals (``Predator``).
  Never in lower case, unless the vocabulary says so (sector phrases are ordinary words).
- A one-word name that is also an ordinary word is taken only if the document never uses that
  word in lower case: a text that says "the agent" does not name the malware ``Agent`` when it
  starts a sentence with "Agent". Names on ``STOP_NAMES`` (ordinary words found to hit falsely
  in reports) are never matched alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"\w+(?:[.'’&]\w+)*")
MAX_TOKENS = 8
_IN_NAME = frozenset("/\\._-@:=")
# Galaxy names that are ordinary words (or everyday product names) and hit falsely in reports.
STOP_NAMES = frozenset({
    "agent", "alien", "backdoor", "bot", "client", "cloud", "data", "default", "downloader", "dropper", "email",
    "exchange", "exploit", "file", "ghost", "google", "helper", "installer", "java", "loader", "mail",
    "microsoft", "network", "nova", "office", "outlook", "payload", "python", "remote", "server", "service",
    "stealer", "stop", "system", "target", "telegram", "tiny", "trojan", "update", "updater", "windows", "worm",
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
})


@dataclass(eq=False)
class Entity:
    """Something the text can name: a galaxy cluster (merged across galaxies), a country, a sector."""

    key: str
    stix_type: str
    name: str
    aliases: list[str] = field(default_factory=list)
    # MISP galaxy cluster uuids merged into this entity, and their (dest-uuid, type) relations.
    uuids: set[str] = field(default_factory=set)
    related: list[tuple[str, str]] = field(default_factory=list)
    external_id: str | None = None
    props: dict[str, Any] = field(default_factory=dict)
    # Vendors whose product this is (MISP surveillance-vendor galaxy).
    vendors: list[Entity] = field(default_factory=list)
    # Known only as a vendor's product: matched only in a document that names a vendor of it too.
    needs_vendor: bool = False


@dataclass(frozen=True)
class _Name:
    tokens: tuple[str, ...]
    spelt: str
    entity: Entity
    any_case: bool


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _titled(name: str) -> str:
    return " ".join(word[:1].upper() + word[1:].lower() for word in name.split(" "))


def case_ok(written: str, name: str) -> bool:
    """The case rules above, for a span of text ``written`` that equals ``name`` ignoring case."""
    if not any(c.isupper() for c in name):
        return written == name and len(name) >= 6
    if written == name:
        return True
    if len(name) <= 3:
        return False
    if written == name.upper():
        return True
    return not any(c.islower() for c in name) and written == _titled(name)


def _ordinary_word(name: str) -> bool:
    """A one-token, all-letter name in initial capitals, which prose may use as a plain word."""
    return name.isalpha() and name[:1].isupper() and (name[1:].islower() or name[1:].isupper())


class Gazetteer:
    """Names to entities, matched in chunks of text; one ``Matches`` collects a document's hits."""

    def __init__(self) -> None:
        self._first: dict[str, list[_Name]] = {}

    def add(self, name: str, entity: Entity, *, any_case: bool = False) -> None:
        words = tuple(tokens(name))
        if not words or len(words) > MAX_TOKENS or (len(words) == 1 and words[0].lower() in STOP_NAMES):
            return
        key = tuple(w.lower() for w in words)
        entry = _Name(key, " ".join(words), entity, any_case)
        bucket = self._first.setdefault(key[0], [])
        if all(e.tokens != key or e.entity is not entity for e in bucket):
            bucket.append(entry)
            bucket.sort(key=lambda e: -len(e.tokens))

    def scan(self, text: str, into: Matches) -> None:
        spans = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        lowered = [w.lower() for w, _, _ in spans]
        i = 0
        while i < len(spans):
            bucket = self._first.get(lowered[i])
            step = 1
            if bucket is not None:
                word, start, end = spans[i]
                # A lower-case word in prose, not in a path, URL or file name ("turla/turla.yar").
                if word == lowered[i] and text[start - 1:start] not in _IN_NAME and text[end:end + 1] not in _IN_NAME:
                    into.lower_words.add(word)
                for entry in bucket:
                    n = len(entry.tokens)
                    if tuple(lowered[i:i + n]) != entry.tokens:
                        continue
                    written = " ".join(w for w, _, _ in spans[i:i + n])
                    if entry.any_case or case_ok(written, entry.spelt):
                        into.add(entry.entity, written, plain_word=n == 1 and _ordinary_word(entry.spelt))
                        step = n
                        break
            i += step


@dataclass
class Matches:
    """The entities a document names, in order of first mention, with the words used."""

    found: dict[str, Entity] = field(default_factory=dict)
    written: dict[str, set[str]] = field(default_factory=dict)
    # Entities only ever named by a one-word name that is also an ordinary word.
    plain_only: set[str] = field(default_factory=set)
    lower_words: set[str] = field(default_factory=set)

    def add(self, entity: Entity, written: str, *, plain_word: bool) -> None:
        if entity.key not in self.found:
            self.found[entity.key] = entity
            if plain_word:
                self.plain_only.add(entity.key)
        elif not plain_word:
            self.plain_only.discard(entity.key)
        self.written.setdefault(entity.key, set()).add(written)

    def entities(self) -> Iterator[Entity]:
        """What the document names, after the document-wide rules (ordinary words, vendors' products)."""
        for key, entity in self.found.items():
            if key in self.plain_only and any(w.lower() in self.lower_words for w in self.written[key]):
                continue
            if entity.needs_vendor and not any(v.key in self.found for v in entity.vendors):
                continue
            yield entity
