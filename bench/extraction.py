"""How well the text importer finds indicators: ESET write-ups against their own MISP events.

ESET's malware-ioc repository (../shared/data/eset-malware-ioc, BSD-2-Clause) publishes, for
some investigations, both an AsciiDoc write-up (defanged indicators in prose, lists, tables
and code blocks) and a MISP event of the same investigation. The MISP event is the ground
truth, read directly from its JSON: the values of its network and hash attributes (and of its
objects' attributes), of the types listed in ``GROUND_TRUTH_TYPES``.

Several write-ups cover more investigations than their MISP event (turla's README has eleven
sections, seven events). Only the sections that share at least one value with the event are
measured: the text before the first level-1 section (``== ...``) plus each such section, given
to the importer as one document. An indicator in the event that those sections never state
cannot be found in the text; those are counted apart ("event only"). "Stated" means the value
appears in the refanged, lower-cased text as a whole word. The importer's output is compared
with the stated set:

    recall    = stated values the importer made an indicator of / stated values
    precision = indicators the importer made that are in the MISP event / indicators made

Values the importer flags as known-benign (warninglists) and does not import count as not
found. Every pair is one import through the real importer (``accord.io.text``), entities off.

    python bench/extraction.py                # table per write-up and the total
    python bench/extraction.py --show turla   # + the misses and the extras of matching pairs
    python bench/extraction.py --record       # + append the table to bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ACCORD_SHARED_DATA", ROOT.parent / "shared" / "data")) / "eset-malware-ioc"
# MISP attribute type -> accord.io.indicators kind (None: decided by the value's form).
GROUND_TRUTH_TYPES: dict[str, str | None] = {
    "ip-src": None, "ip-dst": None, "domain": "domain", "hostname": "domain", "url": "url",
    "email": "email", "email-src": "email", "email-dst": "email",
    "md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512",
}
# Composite types: which parts of "a|b" are indicators of which kind.
COMPOSITE_TYPES: dict[str, tuple[str | None, str | None]] = {
    "domain|ip": ("domain", None), "ip-dst|port": (None, ""), "ip-src|port": (None, ""),
    "hostname|port": ("domain", ""), "filename|md5": ("", "md5"), "filename|sha1": ("", "sha1"),
    "filename|sha256": ("", "sha256"),
}


@dataclass
class Pair:
    name: str
    text: Path
    events: list[Path]


@dataclass
class Score:
    name: str
    stated: set[str] = field(default_factory=set)
    event_only: set[str] = field(default_factory=set)
    found: set[str] = field(default_factory=set)
    seconds: float = 0.0
    sections: int = 0
    sections_all: int = 0

    @property
    def hits(self) -> set[str]:
        return self.found & (self.stated | self.event_only)

    @property
    def recall(self) -> float:
        return len(self.found & self.stated) / len(self.stated) if self.stated else 1.0

    @property
    def precision(self) -> float:
        return len(self.hits) / len(self.found) if self.found else 1.0


def _is_misp_event(path: Path) -> bool:
    doc = orjson.loads(path.read_bytes())
    return isinstance(doc, dict) and ("Event" in doc or "response" in doc)


def pairs(root: Path = DATA) -> list[Pair]:
    """Each write-up with the MISP events of its investigation: an event named like a write-up
    goes with it; the others go with the folder's README.adoc."""
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        events = sorted(p for p in [*folder.glob("*.json"), *folder.glob("misp-events/*.json")] if _is_misp_event(p))
        if not events:
            continue
        for event in [e for e in events if (folder / f"{e.stem}.adoc").exists()]:
            found.append(Pair(f"{folder.name}/{event.stem}", folder / f"{event.stem}.adoc", [event]))
            events.remove(event)
        if events and (folder / "README.adoc").exists():
            found.append(Pair(folder.name, folder / "README.adoc", events))
    return found


def _attributes(event: dict[str, object]) -> Iterator[dict[str, object]]:
    yield from event.get("Attribute", []) or []  # type: ignore[misc]
    for obj in event.get("Object", []) or []:  # type: ignore[attr-defined]
        yield from obj.get("Attribute", []) or []


def _ip_kind(value: str) -> str:
    return "ipv6" if ":" in value else "ipv4"


def event_values(paths: Iterable[Path]) -> set[str]:
    """The ground-truth values of the MISP events, as the observable index spells them."""
    from accord.io.indicators import KINDS, canonical

    out: set[str] = set()
    for path in paths:
        doc = orjson.loads(path.read_bytes())
        events = [r["Event"] for r in doc["response"]] if "response" in doc else [doc["Event"]]
        for event in events:
            for attr in _attributes(event):
                kind_of, raw = str(attr.get("type")), str(attr.get("value", ""))
                parts: list[tuple[str | None, str]] = []
                if kind_of in GROUND_TRUTH_TYPES:
                    parts = [(GROUND_TRUTH_TYPES[kind_of], raw)]
                elif kind_of in COMPOSITE_TYPES:
                    parts = list(zip(COMPOSITE_TYPES[kind_of], raw.split("|", 1), strict=False))
                for kind, value in parts:
                    if kind == "":
                        continue
                    norm = canonical(KINDS[kind or _ip_kind(value)], value.strip())
                    if norm is not None:
                        out.add(norm)
    return out


def stated_in(text: str, values: set[str]) -> tuple[set[str], set[str]]:
    """(values the text states, values it does not), after refanging the text."""
    import ioc_fanger

    plain = ioc_fanger.fang(text).lower()
    stated = set()
    for value in values:
        if re.search(r"(?<![\w.-])" + re.escape(value.lower()) + r"(?![\w-]|\.\w)", plain):
            stated.add(value)
    return stated, values - stated


_SECTION = re.compile(r"^== ", re.MULTILINE)


def covered(text: str, truth: set[str]) -> tuple[str, int, int]:
    """The preamble and the level-1 sections of ``text`` that state a value of ``truth``, with
    the number of sections kept and in all."""
    starts = [m.start() for m in _SECTION.finditer(text)]
    if not starts:
        return text, 1, 1
    bounds = list(zip(starts, [*starts[1:], len(text)], strict=True))
    kept = [text[a:b] for a, b in bounds if stated_in(text[a:b], truth)[0]]
    return text[:starts[0]] + "".join(kept), len(kept), len(bounds)


def imported_values(data: bytes, name: str) -> set[str]:
    """The values the text importer makes indicators of, as the observable index spells them."""
    from accord.io.indicators import values_of
    from accord.services.formats import ImportOptions, Source, registry

    source = Source(name, Path(name), lambda: io.BytesIO(data), len(data))
    imported = registry().importer("text").read(source, ImportOptions(params={"entities": "false"}))
    out = set()
    for item in imported.items:
        if item.value is not None and item.value.get("type") == "indicator":
            out.update(value for _, value in values_of(item.value["pattern"]))
    return out


def score(pair: Pair) -> Score:
    result = Score(pair.name)
    truth = event_values(pair.events)
    text, result.sections, result.sections_all = covered(pair.text.read_text("utf-8-sig"), truth)
    result.stated, result.event_only = stated_in(text, truth)
    start = time.perf_counter()
    result.found = imported_values(text.encode(), pair.text.name)
    result.seconds = time.perf_counter() - start
    return result


def table(scores: list[Score]) -> str:
    lines = ["| write-up | sections | MISP values | stated in text | event only | indicators made | found of stated | "
             "extra | recall | precision | s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    total = Score("**total**")
    for s in [*scores, total]:
        if s is total:
            for one in scores:
                # Values are prefixed with their write-up so that totals add up rather than merge.
                total.stated |= {f"{one.name}:{v}" for v in one.stated}
                total.event_only |= {f"{one.name}:{v}" for v in one.event_only}
                total.found |= {f"{one.name}:{v}" for v in one.found}
                total.seconds += one.seconds
                total.sections += one.sections
                total.sections_all += one.sections_all
        lines.append(f"| {s.name} | {s.sections}/{s.sections_all} | {len(s.stated) + len(s.event_only)} | "
                     f"{len(s.stated)} | {len(s.event_only)} | "
                     f"{len(s.found)} | {len(s.found & s.stated)} | {len(s.found - s.hits)} | {s.recall:.3f} | "
                     f"{s.precision:.3f} | {s.seconds:.2f} |")
    return "\n".join(lines)


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}); Python {platform.python_version()}; {platform.platform()}"


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "accord/io/text"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return out.stdout.strip() + (" (accord/io/text modified)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", metavar="NAME",
                        help="list the misses and extras of write-ups whose name contains NAME")
    parser.add_argument("--record", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"no data: {DATA} is missing (set ACCORD_SHARED_DATA)", file=sys.stderr)
        return 2
    scores = [score(p) for p in pairs()]
    text = table(scores)
    print(text)
    for s in scores:
        if args.show and args.show in s.name:
            print(f"\n{s.name}\n  missed: {sorted(s.stated - s.found)}\n  extra: {sorted(s.found - s.hits)}")
    if args.record:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with open(ROOT / "bench" / "RESULTS.md", "a", encoding="utf-8") as out:
            out.write(f"\n## Text extraction (bench/extraction.py), {stamp}, commit {_commit()}\n\n"
                      f"- Machine: {_machine()}\n- Data: ESET malware-ioc write-ups paired with MISP events of "
                      f"the same investigation ({len(scores)} pairs)\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
