"""Streaming reader for STIX JSON documents: bundles, bare arrays, single objects, TAXII envelopes.

Memory stays flat in the size of the document: only the object being read (and one read-ahead
chunk) is held at a time. The reader finds where each element of the ``objects`` array ends
without tokenising it in Python: it looks for the places an object could end (a ``}`` followed
by ``,`` or ``]``), skips those whose bracket counts do not balance, and lets orjson parse the
first one that does. A prefix of a JSON object that ends early is never itself valid JSON, so
the first slice that parses is the object. Brackets inside strings can upset the counts; after a
bounded number of misses the reader falls back to a string-aware scan for that one object.

Document-level faults (not JSON, truncated, garbage after the end, envelope nested too deep)
raise :class:`accord.errors.InputError`. Element-level faults (an element that is not a JSON
object, one nested deeper than the limit, invalid UTF-8 inside it) are reported per element so
the rest of the document can still be read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from accord.errors import InputError
from accord.stix.ids import split_id

BOM = b"\xef\xbb\xbf"
# Deepest nesting accepted in one object (documented in docs/stix.md); STIX needs well under 20.
DEFAULT_MAX_DEPTH = 100
# Largest single object accepted; a bound on memory for hostile input.
DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024
CHUNK = 1 << 20
# Misses of the bracket-count shortcut tolerated before scanning the object properly.
_MAX_SHORTCUT_MISSES = 32

_WS = re.compile(rb"[ \t\r\n]*")
_OBJECT_END = re.compile(rb"\}[ \t\r\n]*[,\]]")
_VALUE_END = re.compile(rb"[,\]}]")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Where a run of objects may end: a closing brace before a comma (or the list's end).
_RUN_END = re.compile(rb"\}[ \t\r\n]*,")
_RUN_TAIL = 1 << 16  # look for run ends in the last 64 KiB of the buffer
_RUN_ATTEMPTS = 8
# For structure_depth: delete every byte except the four brackets and the double quote, and
# read "{" "}" as "[" "]". Valid JSON nests the two kinds properly, so only their count matters
# for depth; a slice that mixes them up is not JSON, which orjson then says.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'{}[]"')
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]|"', re.DOTALL)


@dataclass(slots=True)
class Item:
    """One element of a document's object list: the parsed value, or why it is unusable."""

    index: int
    value: Any
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = DEFAULT_MAX_DEPTH
    max_object_bytes: int = DEFAULT_MAX_OBJECT_BYTES


def nesting_depth(value: Any) -> int:
    """Depth of nested arrays/objects in a parsed JSON value (a scalar is 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = v.values()
        elif not isinstance(v, list):
            continue
        d += 1
        deepest = max(deepest, d)
        stack.extend((child, d) for child in v)
    return deepest


def structure_depth(piece: bytes, limit: int) -> int | None:
    """Deepest bracket nesting of a slice of JSON holding whole values, or None if unbalanced.

    Works on bytes at C speed: escaped backslashes and quotes are dropped, everything but
    brackets and quotes is deleted (braces become square brackets), the strings (by then empty
    or holding brackets) are cut out, and the innermost pairs are removed one nesting level per
    round. Brackets are counted, not matched by kind: a slice that mixes kinds up is not JSON and
    fails to parse. Stops counting a little past ``limit``.
    """
    if b"\\" in piece:  # a find is cheaper than two replaces over the whole slice
        piece = piece.replace(b"\\\\", b"").replace(b'\\"', b"")
    s = piece.translate(_ONE_KIND, _NOT_STRUCTURE)
    if s.count(b'"') % 2:
        return None
    # Two adjacent quotes are an empty string or the gap between two strings: either way,
    # dropping them keeps every later quote's parity and cuts no bracket that counts. Almost no
    # string holds a bracket, so this leaves few quotes, and often none, for the split below.
    s = s.replace(b'""', b"")
    if b'"' in s:
        s = b"".join(s.split(b'"')[::2])
    depth = 0
    while s:
        # replace() does not rescan what it produces, so "[[]]" loses one level per round.
        reduced = s.replace(b"[]", b"")
        if len(reduced) == len(s):
            return None
        s = reduced
        depth += 1
        if depth > limit:
            return depth
    return depth


class StixDocument:
    """Iterate the STIX objects of one JSON document read through ``read(n) -> bytes``.

    After iteration, :attr:`shape` is ``bundle``, ``envelope`` (a TAXII envelope or any object
    with an ``objects`` array and no bundle type), ``array`` or ``object``, and :attr:`envelope`
    holds the top-level properties other than ``objects``.
    """

    def __init__(self, read: Callable[[int], bytes], *, source: str = "input", limits: Limits | None = None):
        self._read = read
        self.source = source
        self.limits = limits or Limits()
        self._buf = b""
        self._pos = 0
        self._base = 0  # absolute offset of _buf[0], for error messages
        self._eof = False
        self._no_run_before = 0
        self.shape: str | None = None
        self.envelope: dict[str, Any] = {}

    # -- buffer handling -------------------------------------------------------------------
    def _fill(self) -> bool:
        """Read one more chunk, dropping consumed bytes. False at end of input."""
        if self._eof:
            return False
        data = self._read(CHUNK)
        if not data:
            self._eof = True
            return False
        self._base += self._pos
        self._buf = self._buf[self._pos :] + data
        self._pos = 0
        return True

    def _error(self, reason: str, at: int | None = None) -> InputError:
        return InputError(reason, source=self.source, offset=self._base + (self._pos if at is None else at))

    def _skip_ws(self) -> None:
        while True:
            m = _WS.match(self._buf, self._pos)
            assert m is not None
            self._pos = m.end()
            if self._pos < len(self._buf) or not self._fill():
                return

    def _peek(self) -> int | None:
        self._skip_ws()
        return self._buf[self._pos] if self._pos < len(self._buf) else None

    def _expect(self, char: bytes) -> None:
        c = self._peek()
        if c is None:
            raise self._error(f"unexpected end of input, expected {char.decode()!r}")
        if c != char[0]:
            raise self._error(f"expected {char.decode()!r}, found {chr(c)!r}")
        self._pos += 1

    # -- values ----------------------------------------------------------------------------
    def _read_string(self) -> str:
        while True:
            m = _STRING.match(self._buf, self._pos)
            if m is not None:
                self._pos = m.end()
                try:
                    text: str = orjson.loads(m.group())
                except orjson.JSONDecodeError as exc:
                    raise self._error(f"invalid string: {exc}") from exc
                return text
            if len(self._buf) - self._pos > self.limits.max_object_bytes:
                raise self._error("string longer than the object size limit")
            if not self._fill():
                raise self._error("unexpected end of input inside a string")

    def _scan_end(self, start: int) -> tuple[int, int]:
        """String-aware scan of the array/object starting at ``start``.

        Returns (end, deepest) with ``end`` exclusive, or (-1, deepest) at end of input. Only
        used when the fast path cannot delimit an element, so clarity beats speed here.
        """
        depth = deepest = 0
        pos = start
        while True:
            for m in _TOKENS.finditer(self._buf, pos):
                tok = m.group()
                if tok == b'"':
                    break  # an unterminated string: read more and rescan it whole
                pos = m.end()
                if tok in (b"{", b"["):
                    depth += 1
                    deepest = max(deepest, depth)
                elif tok in (b"}", b"]"):
                    depth -= 1
                    if depth == 0:
                        return pos, deepest
            else:
                pos = len(self._buf)
            consumed = self._pos
            if len(self._buf) - consumed > self.limits.max_object_bytes:
                raise self._error("object larger than the size limit")
            if not self._fill():
                return -1, deepest
            pos -= consumed
            start -= consumed

    def _read_element(self) -> tuple[Any, str | None]:
        """Read one array element (normally a STIX object); returns (value, problem)."""
        start = self._pos
        first = self._buf[start]
        if first != 0x7B:  # not '{': a scalar or array where an object belongs
            return self._read_other_element()
        search = start
        misses = 0
        while True:
            m = _OBJECT_END.search(self._buf, search)
            if m is None:
                if len(self._buf) - start > self.limits.max_object_bytes:
                    raise self._error("object larger than the size limit", at=start)
                # Resume at the last '}' seen: it may be the end, with its ',' still unread.
                last_brace = self._buf.rfind(b"}", search)
                resume = (last_brace if last_brace >= 0 else search) - start
                if not self._fill():
                    # Bracket characters inside strings may have hidden the real end.
                    return self._read_scanned(start)
                start = 0
                search = max(0, resume)
                continue
            end = m.start() + 1
            piece = self._buf[start:end]
            opens = piece.count(b"{") + piece.count(b"[")
            if opens == piece.count(b"}") + piece.count(b"]"):
                try:
                    value = orjson.loads(piece)
                except orjson.JSONDecodeError:
                    value = None
                else:
                    self._pos = end
                    if end - start > self.limits.max_object_bytes:
                        return None, f"object of {end - start} bytes is larger than the limit"
                    if opens > self.limits.max_depth and nesting_depth(value) > self.limits.max_depth:
                        return None, f"nested deeper than {self.limits.max_depth} levels"
                    return value, None
            misses += 1
            search = end
            if misses > _MAX_SHORTCUT_MISSES:
                return self._read_scanned(start)

    # -- runs: many objects in one orjson call --------------------------------------------------
    def _bulk_ok(self) -> bool:
        # Small object limits (tests) need the per-object size check; after a failed run,
        # the region it covered is read object by object so a bad object is reported alone.
        return (self.limits.max_object_bytes >= 2 * CHUNK
                and self._base + self._pos >= self._no_run_before)

    def _read_run(self) -> list[Any] | None:
        """Parse every whole object from here to near the end of the buffer in one orjson call.

        The run ends at a ``}`` followed by ``,``; a candidate end is accepted when the run's
        bracket structure (with strings removed) closes within the nesting limit and orjson
        parses it. Objects nested deeper than the limit, invalid JSON or a run too short to pay
        off send the reader back to one object at a time.
        """
        if len(self._buf) - self._pos < CHUNK // 2 and not self._eof:
            self._fill()
        start = self._pos
        if self._buf[start] != 0x7B:
            return None
        tail = max(start, len(self._buf) - _RUN_TAIL)
        ends = [m.start() + 1 for m in _RUN_END.finditer(self._buf, tail)]
        for end in reversed(ends[-_RUN_ATTEMPTS:]):
            piece = self._buf[start:end]
            depth = structure_depth(piece, self.limits.max_depth)
            if depth is None:
                continue  # brackets do not balance: this '}' is not between two objects
            if depth > self.limits.max_depth:
                break
            try:
                values: list[Any] = orjson.loads(b"[" + piece + b"]")
            except orjson.JSONDecodeError:
                break
            self._pos = end
            return values
        self._no_run_before = self._base + len(self._buf)
        return None

    def _read_scanned(self, start: int) -> tuple[Any, str | None]:
        self._pos = start
        end, deepest = self._scan_end(start)
        if end == -1:
            raise self._error("unexpected end of input inside an object")
        start = self._pos  # the buffer may have moved while scanning
        self._pos = end
        if end - start > self.limits.max_object_bytes:
            return None, f"object of {end - start} bytes is larger than the limit"
        if deepest > self.limits.max_depth:
            return None, f"nested deeper than {self.limits.max_depth} levels"
        try:
            return orjson.loads(self._buf[start:end]), None
        except orjson.JSONDecodeError as exc:
            return None, f"not valid JSON: {exc}"

    def _read_other_element(self) -> tuple[Any, str | None]:
        first = self._buf[self._pos]
        if first in (0x5B,):  # '[': an array element; find its end properly
            return self._read_scanned(self._pos)
        if first == 0x22:  # '"'
            return self._read_string(), None
        # number / true / false / null: up to the next delimiter
        while True:
            m = _VALUE_END.search(self._buf, self._pos)
            if m is not None:
                piece = self._buf[self._pos : m.start()]
                try:
                    value = orjson.loads(piece)
                except orjson.JSONDecodeError as exc:
                    raise self._error(f"not valid JSON: {exc}") from exc
                self._pos = m.start()
                return value, None
            if not self._fill():
                raise self._error("unexpected end of input")

    def _read_value(self) -> Any:
        """Read a whole JSON value of the envelope (not the objects array)."""
        c = self._peek()
        if c is None:
            raise self._error("unexpected end of input, expected a value")
        if c == 0x22:
            return self._read_string()
        if c in (0x7B, 0x5B):
            value, problem = self._read_scanned(self._pos)
            if problem is not None:
                raise self._error(problem)
            return value
        value, _ = self._read_other_element()
        return value

    # -- document shapes -------------------------------------------------------------------
    def _iter_array(self) -> Iterator[Item]:
        self._expect(b"[")
        index = 0
        if self._peek() == 0x5D:
            self._pos += 1
            return
        while True:
            if self._peek() is None:
                raise self._error("unexpected end of input inside the object list")
            run = self._read_run() if self._bulk_ok() else None
            if run:
                for value in run:
                    yield Item(index, value)
                    index += 1
            else:
                value, problem = self._read_element()
                yield Item(index, value, problem)
                index += 1
            c = self._peek()
            if c == 0x2C:
                self._pos += 1
                continue
            if c == 0x5D:
                self._pos += 1
                return
            if c is None:
                raise self._error("unexpected end of input inside the object list")
            raise self._error(f"expected ',' or ']' after object #{index - 1}, found {chr(c)!r}")

    def _iter_top_object(self) -> Iterator[Item]:
        self._expect(b"{")
        # Filled as properties are read, so a bundle's spec_version is known to the consumer
        # by the time its objects arrive (producers write the envelope keys first).
        props: dict[str, Any] = self.envelope
        streamed = False
        if self._peek() == 0x7D:
            self._pos += 1
        else:
            while True:
                if self._peek() != 0x22:
                    raise self._error("expected a property name")
                key = self._read_string()
                self._expect(b":")
                if key == "objects" and streamed:
                    raise self._error("duplicate 'objects' property: parsers disagree on which one counts")
                # An object list is streamed unless the object already said it is some other
                # STIX type (a custom object may have a property named 'objects').
                if key == "objects" and self._peek() == 0x5B and props.get("type", "bundle") == "bundle":
                    streamed = True
                    yield from self._iter_array()
                else:
                    props[key] = self._read_value()
                c = self._peek()
                if c == 0x2C:
                    self._pos += 1
                    continue
                if c == 0x7D:
                    self._pos += 1
                    break
                if c is None:
                    raise self._error("unexpected end of input")
                raise self._error(f"expected ',' or '}}' after property {key!r}, found {chr(c)!r}")
        if streamed:
            self.shape = "bundle" if props.get("type") == "bundle" else "envelope"
        else:
            self.shape = "object"
            self.envelope = {}
            if len(props) and nesting_depth(props) > self.limits.max_depth:
                yield Item(0, None, f"nested deeper than {self.limits.max_depth} levels")
            else:
                yield Item(0, props)

    def _strip_bom(self) -> None:
        while len(self._buf) < len(BOM) and self._fill():
            pass
        if self._buf.startswith(BOM):
            self._pos = len(BOM)

    def check_envelope(self) -> None:
        """After iteration: refuse a bundle whose id is not ``bundle--UUID`` (STIX 2.1 section 8)."""
        if self.shape == "bundle":
            bundle_id = self.envelope.get("id")
            parts = split_id(bundle_id)
            if parts is None or parts[0] != "bundle":
                raise InputError(f"bundle id {bundle_id!r} is not of the form bundle--UUID", source=self.source)

    def spec_version(self) -> str | None:
        """The envelope's ``spec_version`` (a STIX 2.0 bundle says 2.0), once read."""
        value = self.envelope.get("spec_version")
        return value if isinstance(value, str) else None

    def __iter__(self) -> Iterator[Item]:
        self._strip_bom()
        c = self._peek()
        if c is None:
            raise self._error("empty input: expected a STIX bundle, an array of objects or one object")
        if c == 0x5B:
            self.shape = "array"
            yield from self._iter_array()
        elif c == 0x7B:
            yield from self._iter_top_object()
        else:
            raise self._error("not JSON: expected a STIX bundle, an array of objects or one object")
        if self._peek() is not None:
            raise self._error("unexpected data after the end of the JSON document")
