"""Pattern validation against stix2-patterns (the reference), and pattern observables.

The fast path may only ever say "valid" where the reference does; everything else it defers.
The differential tests hold it to that on every real pattern under ../shared/data and on
generated and mutated patterns.
"""

from __future__ import annotations

import base64
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stix2patterns.v21.object_validator import HASHES_REGEX
from stix2patterns.validator import run_validator

from accord.stix.patterns import (
    HASH_DEFERRED,
    HASH_RULES,
    _fast_comparisons,
    _general_comparisons,
    _hash_checks_pass,
    fast_comparisons,
    observables_from,
    pattern_observables,
    pattern_problem,
    reference_comparisons,
)

SHARED_DATA = Path(
    os.environ.get("ACCORD_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)


def reference_valid(pattern: str) -> bool:
    try:
        errors: list[str] = run_validator(pattern, stix_version="2.1")
    except Exception:  # it crashes on "" and on deep nesting: not a confirmation
        return False
    return not errors


def _walk(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            # Only indicators: JSON Schema files in the corpus use "pattern" for regexes.
            pattern = item.get("pattern")
            if (
                item.get("type") == "indicator"
                and isinstance(pattern, str)
                and item.get("pattern_type", "stix") == "stix"
            ):
                yield pattern
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


@cache
def real_patterns() -> tuple[str, ...]:
    found: list[str] = []
    for path in sorted(SHARED_DATA.rglob("*")):
        if path.suffix not in (".json", ".stix2", ".stix") or not path.is_file():
            continue
        raw = path.read_bytes()
        if b'"pattern"' not in raw:  # most files (mitre-cti, MISP) hold none; skip parsing them
            continue
        try:
            found.extend(_walk(orjson.loads(raw)))
        except orjson.JSONDecodeError:
            continue
    return tuple(found)


@pytest.mark.realdata
def test_real_patterns_agree_with_reference(capsys: pytest.CaptureFixture[str]) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is missing (set ACCORD_SHARED_DATA)")
    patterns = real_patterns()
    assert patterns, "no indicator patterns found under the shared data"
    fast = reference_time = fast_time = 0.0
    for p in patterns:
        t0 = time.perf_counter()
        ok = reference_valid(p)
        t1 = time.perf_counter()
        accepted = fast_comparisons(p) is not None
        t2 = time.perf_counter()
        reference_time += t1 - t0
        if accepted:
            fast += 1
            fast_time += t2 - t1
        assert not accepted or ok, f"fast path accepted what the reference refuses: {p!r}"
        assert (pattern_problem(p) is None) == ok, p
    with capsys.disabled():
        print(
            f"\n{len(patterns)} real patterns compared with stix2-patterns; {fast:.0f} "
            f"({fast / len(patterns):.1%}) via the fast path at {fast_time / max(fast, 1) * 1e6:.1f} us "
            f"each vs {reference_time / len(patterns) * 1e6:.0f} us for the reference"
        )
    assert fast / len(patterns) > 0.95  # the fast path exists for the common case: keep it covering it


@pytest.mark.realdata
def test_single_comparison_shortcut_agrees_with_the_general_loop_on_real_patterns() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is missing (set ACCORD_SHARED_DATA)")
    for p in set(real_patterns()):
        assert _fast_comparisons(p) == _general_comparisons(p), p


@pytest.mark.realdata
def test_real_pattern_observables_match_reference_inspection() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is missing (set ACCORD_SHARED_DATA)")
    for p in set(real_patterns()):
        if fast_comparisons(p) is not None:
            assert sorted(pattern_observables(p)) == sorted(observables_from(reference_comparisons(p))), p


# --- generated patterns --------------------------------------------------------------------------
# Hypothesis draws one seed per example and a plain generator builds the pattern from it: drawing
# every token through Hypothesis cost ~20 ms an example. Failures print the pattern, which is
# enough to reproduce; shrinking a pattern by hand is easy.

_GOOD_TYPES = [
    "file",
    "ipv4-addr",
    "domain-name",
    "network-traffic",
    "x-custom",
    "url",
    "email-message",
    "t",
    "h",
]
_ODD_TYPES = ["File", "X_Y", "x-", "IN-x", "AND", "true", "7zip", "a--b", "_x"]
_GOOD_IDENTS = ["value", "name", "hashes", "dst_ref", "x_prop", "size", "key", "Name", "_x", "b", "t"]
_ODD_IDENTS = ["AND", "OR", "IN", "true", "false", "NOT", "LIKE", "STOP", "AND_x", "truex", "a-b", "9a"]
_STRING_PIECES = [
    "a", "Z", "0", "9", " ", ".", ":", "/", "-", "_", "%", "[", "]", "(", ")", "=", ",", "é", "\n",
    "\u00a0", "\\'", "\\\\", "AND", "/*", "//", "\U0001f600", "\t", "\x00",
]  # fmt: skip
_ODD_LITERALS = [
    "TRUE",
    "b''",
    "h'abc'",
    "h''",
    "05",
    "1.",
    "1e5",
    "- 1",
    "'a\\n'",
    "'\\'",
    "t'2020-13-01T00:00:00Z'",
]
_HASH_NAMES = ["MD5", "'SHA-256'", "SHA256", "sha1", "'SHA-1'", "SSDEEP", "TLSH", "MD6", "IMPHASH", "'md5'"]


class _Gen:
    """Builds patterns that are mostly valid, with a few odd tokens the reference may refuse."""

    def __init__(self, seed: int, odd: float = 0.04):
        self.r = random.Random(seed)
        self.odd = odd

    def pick(self, good: list[str], bad: list[str]) -> str:
        return self.r.choice(bad if self.r.random() < self.odd else good)

    def sp(self) -> str:
        return self.r.choice([" "] * 6 + ["  ", "\t", "\n", " \r\n "])

    def opt_sp(self) -> str:
        return self.r.choice(["", "", " ", " ", "\t", "\n"])

    def string(self) -> str:
        body = "".join(self.r.choice(_STRING_PIECES) for _ in range(self.r.randint(0, 10)))
        if self.r.random() < self.odd:
            return f"'{body}'"  # a stray quote or backslash may now break it
        return "'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def ident(self) -> str:
        if self.r.random() < 0.3:
            return self.r.choice("abcxyzAB_") + "".join(
                self.r.choice("az09_B") for _ in range(self.r.randint(0, 6))
            )
        return self.pick(_GOOD_IDENTS, _ODD_IDENTS)

    def literal(self, orderable: bool = False) -> str:
        r = self.r
        kind = r.randint(0, 9)
        if r.random() < self.odd:
            return r.choice(_ODD_LITERALS)
        if kind <= 3:
            return self.string()
        if kind == 4:
            return r.choice(["", "+", "-"]) + str(r.randint(0, 10**6))
        if kind == 5:
            return r.choice(["", "+", "-"]) + r.choice(["", "0", "12"]) + "." + str(r.randint(0, 999))
        if kind == 6 and (not orderable or r.random() < self.odd * 5):  # order against bool: refused
            return r.choice(["true", "false"])
        if kind == 7:
            return f"h'{r.randbytes(r.randint(0, 8)).hex()}'"
        if kind == 8:
            return f"b'{base64.b64encode(r.randbytes(r.randint(1, 9))).decode()}'"
        return self.timestamp()

    def timestamp(self) -> str:
        r = self.r
        frac = r.choice(["", ".1", ".123456"])
        day = r.randint(1, 31 if r.random() > self.odd else 39)
        return f"t'{r.randint(0, 9999):04d}-{r.randint(1, 12):02d}-{day:02d}T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 60):02d}{frac}Z'"  # noqa: E501

    def path(self) -> str:
        r = self.r
        out = self.pick(_GOOD_TYPES, _ODD_TYPES) + ":" + (self.string() if r.random() < 0.1 else self.ident())
        for _ in range(r.choice([0, 0, 1, 1, 2, 3])):
            step = r.randint(0, 5)
            if step <= 2:
                out += "." + self.ident()
            elif step == 3:
                out += "." + self.string()
            else:
                out += self.pick(["[*]", "[0]", "[1]", "[+2]", "[10]"], ["[-1]", "[01]", "[ 0 ]", "[]"])
        return out

    def comparison(self) -> str:
        r = self.r
        kind = r.randint(0, 9)
        if kind == 0:
            n = r.choice([32, 40, 64, 128, 31, 0])
            value = "".join(r.choice("0123456789abcdefABCDEF") for _ in range(n))
            return f"file:hashes.{r.choice(_HASH_NAMES)} {r.choice(['=', '!=', 'LIKE'])} '{value}'"
        neg = " NOT" if r.random() < 0.15 else ""
        if kind <= 5:
            op = r.choice(["=", "=", "!=", "==", "<>", "<", ">", "<=", ">="])
            if r.random() < self.odd:
                op = r.choice(["=~", "===", "=<", "!", "<<"])
            value = self.literal(orderable=op[0] in "<>" and op != "<>")
            return f"{self.path()}{neg}{self.opt_sp()}{op}{self.opt_sp()}{value}"
        if kind <= 7:
            op = r.choice(["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"])
            return f"{self.path()}{neg}{self.sp()}{op}{self.sp()}{self.string()}"
        items = (self.literal() for _ in range(r.randint(0, 4)))
        return f"{self.path()}{neg}{self.sp()}IN{self.opt_sp()}({(',' + self.opt_sp()).join(items)})"

    def comparisons(self, depth: int = 0) -> str:
        r = self.r
        if depth < 3 and r.random() < 0.25:
            return f"({self.opt_sp()}{self.comparisons(depth + 1)}{self.opt_sp()})"
        if depth < 3 and r.random() < 0.35:
            return (
                self.comparisons(depth + 1)
                + self.sp()
                + r.choice(["AND", "OR"])
                + self.sp()
                + self.comparisons(depth + 1)
            )
        return self.comparison()

    def qualifiers(self) -> str:
        r = self.r
        options = [
            f"WITHIN {self.pick(['5', '0', '+3', '1.5', '.5'], ['-1', '05', '1.'])} SECONDS",
            f"REPEATS {self.pick(['2', '0', '+7'], ['-2', '1.5'])} TIMES",
            f"START {self.timestamp()} STOP {self.timestamp()}",
        ]
        return "".join(" " + r.choice(options) for _ in range(r.choice([0, 0, 0, 1, 1, 2])))

    def pattern(self, depth: int = 0) -> str:
        r = self.r
        if depth < 3 and r.random() < 0.15:
            return f"({self.pattern(depth + 1)}){self.qualifiers()}"
        if depth < 3 and r.random() < 0.35:
            op = r.choice(["AND", "OR", "FOLLOWEDBY"])
            return self.pattern(depth + 1) + self.sp() + op + self.sp() + self.pattern(depth + 1)
        return f"[{self.opt_sp()}{self.comparisons()}{self.opt_sp()}]{self.qualifiers()}"


_INSERTS = [*"[]()':=<>!.,*\\ -_aZ09\t", "AND", "OR", "NOT", "/*", "*/", "//", "\u00a0", "h", "\x00"]
_REPLACEMENTS = [
    ("]", ""), ("[", ""), ("'", ""), ("'", "''"), (":", ""), ("=", "=~"), ("=", "==="), (" AND ", " and "),
    (" AND ", "AND"), ("file", "FILE"), ("(", ""), (")", ""), ("SECONDS", "SECOND"), (" ", ""), ("\\", ""),
]  # fmt: skip


def mutate(seed: int) -> str:
    r = random.Random(seed)
    p = _Gen(seed, odd=0.0).pattern()
    for _ in range(r.randint(1, 2)):
        kind = r.choice(["delete", "insert", "replace", "swapcase", "targeted", "truncate"])
        i = r.randint(0, max(len(p) - 1, 0))
        if kind == "delete":
            p = p[:i] + p[i + 1 :]
        elif kind == "insert":
            p = p[:i] + r.choice(_INSERTS) + p[i:]
        elif kind == "replace":
            p = p[:i] + r.choice(_INSERTS) + p[i + 1 :]
        elif kind == "swapcase":
            j = r.randint(i, min(i + 8, len(p)))
            p = p[:i] + p[i:j].swapcase() + p[j:]
        elif kind == "truncate":
            p = p[:i]
        else:
            old, new = r.choice(_REPLACEMENTS)
            p = p.replace(old, new, 1)
    return p


_SEEDS = st.integers(0, 2**63)


def _check(p: str, stats: Counter[str]) -> None:
    ok = reference_valid(p)
    accepted = fast_comparisons(p) is not None
    assert not accepted or ok, f"fast path accepted what the reference refuses: {p!r}"
    assert (pattern_problem(p) is None) == ok, p
    stats["valid" if ok else "invalid"] += 1
    stats["fast"] += accepted


_SETTINGS = settings(max_examples=1200, derandomize=True, deadline=None, database=None)


def test_generated_patterns_agree_with_reference(capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()

    @_SETTINGS
    @given(_SEEDS)
    def check(seed: int) -> None:
        _check(_Gen(seed).pattern(), stats)

    check()
    with capsys.disabled():
        print(f"\ngenerated: {dict(stats)}")
    # The generator is meant to hit the fast path often; if it stops doing so the test proves little.
    assert stats["fast"] >= 0.5 * stats["valid"] > 0.3 * stats["invalid"]


def test_mutated_patterns_agree_with_reference(capsys: pytest.CaptureFixture[str]) -> None:
    stats: Counter[str] = Counter()

    @_SETTINGS
    @given(_SEEDS)
    def check(seed: int) -> None:
        _check(mutate(seed), stats)

    check()
    with capsys.disabled():
        print(f"\nmutated: {dict(stats)}")
    assert stats["invalid"] > 0.2 * (stats["valid"] + stats["invalid"])


EDGE_CASES = [
    "[file:name = 'a']AND[file:name = 'b']",
    "[file:size = 5AND file:size = 6]",
    "[file:name = trueAND file:size = 1]",
    "[file:true = 1]",
    "[AND:name = 'x']",
    "[x-custom:name-x = 'a']",
    "[File:Name = 'a']",
    "[file:name = 'a' /* comment */]",
    "/* c */ [file:name = 'a']",
    "[file:name\u00a0= 'a']",
    "[file:name = 'a\\n']",
    "[file:name = 'a\\'b\\\\']",
    "[file:size = 05]",
    "[file:size = 1.]",
    "[file:size = -.5]",
    "[artifact:payload_bin = b'']",
    "[artifact:payload_bin = b'QUJD']",
    "[file:x = h'abc']",
    "[file:created = t'2020-02-30T00:00:60Z']",
    "[file:created = t'2020-13-01T00:00:00Z']",
    "[file:hashes[0] = 'a']",
    "[file:hashes[*] = 'a']",
    "[file:hashes.MD6 = 'abc']",
    "[file:hashes.'SHA-256' LIKE '%ab%']",
    "[file:hashes.MD5 IN ('d41d8cd98f00b204e9800998ecf8427e')]",
    "[file:hashes.TLSH IN ('x', 'y')]",
    "[file:hashes.SSDEEP = '" + "a" * 129 + "']",
    "[file:hashes.'ſha1' = 'x']",
    "[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS",
    "([a:b = 1]) WITHIN 5 SECONDS WITHIN 6 SECONDS",
    "[a:b = 1] REPEATS 2 TIMES WITHIN 5 SECONDS START t'2020-01-01T00:00:00Z' STOP t'2020-01-01T00:00:00Z'",
    "[a:b = 1] STARTt'2020-01-01T00:00:00Z' STOP t'2020-01-01T00:00:00Z'",
    "[a:b IN ()]",
    "[a:b NOT IN (1, 'a', true)]",
    "[a:b NOT= 1]",
    "[a:b < true]",
    "[a:b <> true]",
    "[a:b < > 1]",
    "[a:b EXISTS]",
    "[EXISTS a:b]",
    "[a:b = 1] ",
    " \n([a:b = 1])",
    "",
    "   ",
    "a:b = 1",
    "[a:b = 1]]",
    "(" * 300 + "[a:b = 1]" + ")" * 300,
    "[" + " AND ".join(["a:b = 1"] * 1200) + "]",
    "[" + " AND ".join(["a:b = 1"] * 150) + "]",
]


@pytest.mark.parametrize("pattern", EDGE_CASES)
def test_edge_cases_agree_with_reference(pattern: str) -> None:
    _check(pattern, Counter())


# The "[type:path = 'literal']" shortcut in _fast_comparisons must give exactly what the general
# loop gives (and so stay within what the reference accepts): single comparisons with every kind
# of head, literal and spacing the shortcut has to tell apart.
_SINGLE_TYPES = ["ipv4-addr", "file", "x-custom", "true", "false", "AND", "File", "_x", "x_y", "a--b", "7zip", ""]
_SINGLE_PATHS = [
    "value", "name", "hashes.MD5", "hashes.'SHA-256'", "hashes.sha256", "hashes.MD6", "hashes.SSDEEP",
    "hashes.TLSH", "hashes.OR", "hashes.true", "dst_ref.value", "'value'", "'a b'", "'a = 'b'", "a.b.c",
    "hashes[0]", "hashes[*]", "AND", "true", "truex", "a-b", "9a", "x.'it\\'s'", "hashes.'SHA\\'256'", "",
]
_SINGLE_LITERALS = [
    "''", "'1.2.3.4'", "'d41d8cd98f00b204e9800998ecf8427e'", "'D41D8CD98F00B204E9800998ECF8427E'",
    "'d41d8cd98f00b204e9800998ecf8427'", "'d41d8cd98f00b204e9800998ecf8427g'", "'" + "a" * 64 + "'",
    "'" + "a" * 63 + " '", "' " + "a" * 63 + "'", "'3:abc+/:def.'", "'a]b'", "'a = 'b'", "'a\\'b'",
    "'a\\\\b'", "'", "'''", "1", "true", "'x' AND a:b = 'y'", "'x'] OR [a:b = 'y'", "'\u00e4'",
]


def test_single_comparison_shortcut_agrees_with_the_general_loop() -> None:
    r = random.Random(7)
    patterns = [f"[{t}:{p} = {lit}]" for t in _SINGLE_TYPES for p in _SINGLE_PATHS for lit in _SINGLE_LITERALS]
    patterns += [
        p.replace(" = ", r.choice([" == ", "= ", " =", "  = ", " != ", " = \n"]), 1) for p in patterns[::7]
    ]
    patterns += ["[a:b = 'c'] ", " [a:b = 'c']", "[a:b = 'c']]", "[[a:b = 'c']", "[a:b = 'c'", "[a:b = ']"]
    shortcut = 0
    for p in patterns:
        fast = _fast_comparisons(p)
        assert fast == _general_comparisons(p), p
        shortcut += fast is not None
    assert shortcut > 500  # the cases exercise the shortcut, not only its refusals
    for p in r.sample(patterns, 400):  # and the reference agrees with both
        _check(p, Counter())


def test_hex_length_rules_match_the_hash_regexes() -> None:
    r = random.Random(3)
    for name, rule in HASH_RULES.items():
        path = f"hashes.'{name}'"
        for _ in range(300):
            n = r.choice([0, 1, 31, 32, 33, 40, 56, 64, 96, 128, 129])
            value = "".join(r.choice("0123456789abcdefABCDEFg \n+/:.\u0663") for _ in range(n))
            assert _hash_checks_pass(path, f"'{value}'") == (rule.fullmatch(value) is not None), (name, value)


def test_problem_is_a_short_reason() -> None:
    assert pattern_problem("[file:hashes.MD5 = 'zz']") == "'zz' is not a valid MD5 hash"
    assert pattern_problem("") == "pattern is empty"
    assert "nested too deeply" in (pattern_problem("(" * 400 + "[a:b = 1]" + ")" * 400) or "")
    assert pattern_problem(123) == "pattern is not a string"  # type: ignore[arg-type]


def test_hash_rules_restate_the_reference() -> None:
    assert set(HASH_RULES) | HASH_DEFERRED == set(HASHES_REGEX)
    samples = ["a" * n for n in (31, 32, 40, 56, 64, 96, 128, 129)] + [
        "3:abc+/:def.",
        "A" * 128,
        "g" * 32,
        "",
    ]
    for name, rule in HASH_RULES.items():
        for value in samples:
            if rule.fullmatch(value):
                assert re.match(HASHES_REGEX[name][0], value), (name, value)


# --- observables -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ipv4-addr:value = '198.51.100.1/32']", [("ipv4-addr", "198.51.100.1")]),
        ("[ipv4-addr:value = '198.51.100.7/24']", [("ipv4-addr", "198.51.100.0/24")]),
        ("[ipv6-addr:value = '2001:DB8:0::1/128']", [("ipv6-addr", "2001:db8::1")]),
        ("[domain-name:value = 'Example.COM.']", [("domain-name", "example.com")]),
        ("[url:value = 'HTTP://Evil.Example/A?B']", [("url", "http://evil.example/A?B")]),
        ("[email-addr:value = 'Bob@Example.org']", [("email-addr", "bob@example.org")]),
        (
            "[file:hashes.sha256 = 'AEC070645FE53EE3B3763059376134F058CC337247C978ADD178B6CCDFB0019F']",
            [("file:hashes.SHA-256", "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f")],
        ),
        (
            "[file:hashes.'SHA-1' = '46aba99aa7158e4609aaa72b50990842fd22ae86']",
            [("file:hashes.SHA-1", "46aba99aa7158e4609aaa72b50990842fd22ae86")],
        ),
        ("[file:name = 'a.exe' OR file:name != 'b.exe']", [("file:name", "a.exe")]),
        ("[file:name NOT = 'a.exe']", []),
        ("[file:name = 123 OR file:size = 5]", []),  # only autonomous-system numbers are indexed
        (
            "[domain-name:value IN ('a.example', 'B.example', 5)]",
            [("domain-name", "a.example"), ("domain-name", "b.example")],
        ),
        ("[autonomous-system:number = 15169]", [("autonomous-system", "15169")]),
        (
            "[mutex:name = 'Global\\\\X'] AND [windows-registry-key:key = 'HKLM\\\\Run']",
            [("mutex", "Global\\X"), ("windows-registry-key", "hklm\\run")],
        ),
        (
            "[network-traffic:dst_ref.value = '203.0.113.5'"
            " AND network-traffic:src_ref[0].value = 'C2.example']",
            [("ipv4-addr", "203.0.113.5"), ("domain-name", "c2.example")],
        ),
        ("[network-traffic:dst_ref.value = 'fe80::1']", [("ipv6-addr", "fe80::1")]),
        ("[email-message:from_ref.value = 'X@Y.example']", [("email-addr", "x@y.example")]),
        ("[x509-certificate:hashes.'SHA-1' = 'AA']", []),  # not 40 hex digits: not a SHA-1
        (
            "[x509-certificate:hashes.'SHA-1' = '46ABA99AA7158E4609AAA72B50990842FD22AE86']",
            [("x509-certificate:hashes.SHA-1", "46aba99aa7158e4609aaa72b50990842fd22ae86")],
        ),
        ("[ipv4-addr:value = 'not an ip']", []),
        (
            "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.4']",
            [("ipv4-addr", "1.2.3.4")],
        ),
        # deferred to the reference (a comment), same answer
        ("[ipv4-addr:value = '10.0.0.1' /* c2 */]", [("ipv4-addr", "10.0.0.1")]),
        ("[ipv4-addr:value = '10.0.0.1'", []),
    ],
)
def test_pattern_observables(pattern: str, expected: list[tuple[str, str]]) -> None:
    assert pattern_observables(pattern) == expected


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(_SEEDS)
def test_generated_observables_match_reference_inspection(seed: int) -> None:
    p = _Gen(seed, odd=0.0).pattern()
    if fast_comparisons(p) is not None:
        assert sorted(pattern_observables(p)) == sorted(observables_from(reference_comparisons(p))), p
