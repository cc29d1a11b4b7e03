"""Observable normalisation and extraction for the lookup index."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.stix.observables import (
    _HASH_OWNERS,
    _HEX_LENGTHS,
    _LOOKUP_TYPES,
    _candidates,
    address_pair,
    hash_algorithm,
    lookup_pairs,
    normalise,
    observables_of,
)

SHARED_DATA = Path(
    os.environ.get("ACCORD_SHARED_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data")
)
SHA256 = "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"


@pytest.mark.parametrize(
    ("index_type", "value", "expected"),
    [
        ("ipv4-addr", "198.51.100.1", "198.51.100.1"),
        ("ipv4-addr", " 198.51.100.1 ", "198.51.100.1"),
        ("ipv4-addr", "198.51.100.1/32", "198.51.100.1"),
        ("ipv4-addr", "198.51.100.7/24", "198.51.100.0/24"),
        ("ipv4-addr", "198.051.100.1", None),  # leading zeros: octal to some parsers, refused
        ("ipv4-addr", "256.1.1.1", None),
        ("ipv4-addr", "2001:db8::1", None),
        ("ipv4-addr", "", None),
        ("ipv6-addr", "2001:DB8:0:0::1", "2001:db8::1"),
        ("ipv6-addr", "2001:db8::1/128", "2001:db8::1"),
        ("ipv6-addr", "2001:db8::7/64", "2001:db8::/64"),
        ("ipv6-addr", "198.51.100.1", None),
        ("domain-name", "Example.COM.", "example.com"),
        ("domain-name", "_dmarc.example.com", "_dmarc.example.com"),
        ("domain-name", "bücher.example", "xn--bcher-kva.example"),
        ("domain-name", "BÜCHER.example", "xn--bcher-kva.example"),
        ("domain-name", "localhost", "localhost"),
        ("domain-name", "1.2.3.4", None),
        ("domain-name", "exa mple.com", None),
        ("domain-name", "a..b", None),
        ("domain-name", "x" * 64 + ".com", None),
        ("domain-name", "", None),
        ("url", "HTTP://Evil.Example:8080/A/B?Q=1#F", "http://evil.example:8080/A/B?Q=1#F"),
        ("url", "https://User:Pw@HOST.example/x", "https://User:Pw@host.example/x"),
        ("url", "hxxp://evil.example", "hxxp://evil.example"),
        ("url", "MAILTO:Bob@Example.org", "mailto:Bob@Example.org"),
        ("url", "evil.example/path", None),
        ("url", "", None),
        ("email-addr", "Bob.Smith@Example.ORG", "bob.smith@example.org"),
        ("email-addr", "bob@bücher.example", "bob@xn--bcher-kva.example"),
        ("email-addr", "no-at-sign", None),
        ("email-addr", "@example.org", None),
        ("mac-addr", "00-1A-2b-3c-4d-5e", "00:1a:2b:3c:4d:5e"),
        ("mac-addr", "001a.2b3c.4d5e", "00:1a:2b:3c:4d:5e"),
        ("mac-addr", "001A2B3C4D5E", "00:1a:2b:3c:4d:5e"),
        ("mac-addr", "00:1a:2b:3c:4d", None),
        ("autonomous-system", "AS15169", "15169"),
        ("autonomous-system", "0015169", "15169"),
        ("autonomous-system", "AS99999999999", None),
        ("mutex", "Global\\Mtx", "Global\\Mtx"),
        ("windows-registry-key", "HKEY_LOCAL_MACHINE\\Software\\Run", "hkey_local_machine\\software\\run"),
        ("user-account", "1001", "1001"),
        ("file:name", "Invoice.PDF.exe", "Invoice.PDF.exe"),
        ("file:name", "", None),
        ("x509-certificate:serial_number", "36:F7:D4:32", "36:f7:d4:32"),
        ("file:hashes.SHA-256", SHA256.upper(), SHA256),
        ("file:hashes.SHA-256", SHA256[:-1], None),
        ("file:hashes.MD5", "z" * 32, None),
        (
            "file:hashes.SSDEEP",
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C",
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C",
        ),
        ("file:hashes.TLSH", "T1" + "AB" * 35, "t1" + "ab" * 35),
        ("file:hashes.TLSH", "nope", None),
        ("file:hashes.IMPHASH", "ABCDEF", "abcdef"),
        ("artifact:hashes.MD5", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
    ],
)
def test_normalise(index_type: str, value: str, expected: str | None) -> None:
    assert normalise(index_type, value) == expected


def test_normalise_refuses_unknown_index_types() -> None:
    with pytest.raises(ValueError, match="unknown observable index type"):
        normalise("malware", "x")
    with pytest.raises(ValueError, match="unknown observable index type"):
        normalise("indicator:hashes.MD5", "x")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sha256", "SHA-256"),
        ("SHA-256", "SHA-256"),
        ("SHA_256", "SHA-256"),
        ("sha-1", "SHA-1"),
        ("Md5", "MD5"),
        ("sha3-256", "SHA3-256"),
        ("ssdeep", "SSDEEP"),
        ("tlsh", "TLSH"),
        ("imphash", "IMPHASH"),
    ],
)
def test_hash_algorithm(name: str, expected: str) -> None:
    assert hash_algorithm(name) == expected


def test_address_pair_classifies_by_form() -> None:
    assert address_pair("203.0.113.9") == ("ipv4-addr", "203.0.113.9")
    assert address_pair("2001:DB8::9") == ("ipv6-addr", "2001:db8::9")
    assert address_pair("C2.Example.") == ("domain-name", "c2.example")
    assert address_pair("not a host") is None


_INDEX_VALUES = st.one_of(
    st.tuples(st.just("ipv4-addr"), st.ip_addresses(v=4).map(str)),
    st.tuples(st.just("ipv6-addr"), st.ip_addresses(v=6).map(str)),
    st.tuples(
        st.sampled_from(["ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "mac-addr"]), st.text()
    ),
    st.tuples(
        st.just("domain-name"),
        st.from_regex(r"[A-Za-z0-9_ü-]{1,10}(\.[A-Za-z0-9-]{1,5}){0,3}\.?", fullmatch=True),
    ),
    st.tuples(
        st.just("url"),
        st.from_regex(r"[A-Za-z]{1,5}://[A-Za-z0-9.@:]{0,12}(/[A-Za-z0-9?#]*)?", fullmatch=True),
    ),
    st.tuples(
        st.sampled_from(["file:hashes.MD5", "file:hashes.TLSH", "file:hashes.X"]),
        st.text("0123456789abcdefABCDEFT"),
    ),
)


# Values a person may paste, in every shape the lookup guards tell apart (and near misses).
_TYPED_IN = st.one_of(
    _INDEX_VALUES.map(lambda pair: pair[1]),
    st.tuples(st.ip_addresses(), st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.emails(),
    st.from_regex(r"\s?(AS|as)?[0-9]{1,11}\s?", fullmatch=True),
    st.from_regex(r"[0-9A-Fa-f]{2}([-:.]?[0-9A-Fa-f]{2}){5,7}", fullmatch=True),
    st.from_regex(r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}", fullmatch=True),
    st.text("0123456789abcdef.:/@[]AaSs -", max_size=24),
)


@settings(max_examples=1500, derandomize=True, database=None)
@given(_TYPED_IN)
def test_lookup_guards_never_drop_a_value_a_normaliser_accepts(value: str) -> None:
    # lookup_pairs only tries the normalisers _candidates names: every type whose normaliser
    # accepts the value must be among them, or a lookup would silently miss it.
    candidates = _candidates(value.strip())
    for index_type in _LOOKUP_TYPES:
        found = normalise(index_type, value)
        if found is not None and not (index_type == "domain-name" and "." not in found):  # a bare word
            assert index_type in candidates, (index_type, value)


def _every_reading(value: str) -> list[tuple[str, str]]:
    """What lookup_pairs must answer, by brute force: every lookup type's normaliser tried on the
    value (no guard, no shortcut), then the value as a digest of every algorithm and owner."""
    pairs = []
    for index_type in _LOOKUP_TYPES:
        found = normalise(index_type, value)
        if found is not None and not (index_type == "domain-name" and "." not in found):
            pairs.append((index_type, found))
    stripped = value.strip()
    for algorithm, length in _HEX_LENGTHS.items():
        if len(stripped) == length and normalise(f"file:hashes.{algorithm}", stripped) is not None:
            pairs += [(f"{owner}:hashes.{algorithm}", stripped.lower()) for owner in _HASH_OWNERS]
    if normalise("file:hashes.TLSH", stripped) is not None:
        pairs += [(f"{owner}:hashes.TLSH", stripped.lower()) for owner in _HASH_OWNERS]
    return list(dict.fromkeys(pairs))


@settings(max_examples=1500, derandomize=True, database=None)
@given(st.one_of(_TYPED_IN, st.ip_addresses(v=4).map(str).map(lambda v: f" {v}\t"),
                 st.sampled_from(sorted({*_HEX_LENGTHS.values(), 70, 72})).flatmap(
                     lambda n: st.text("0123456789abcdefABCDEF", min_size=n, max_size=n)).map(lambda v: f" {v}"),
                 st.text("0123456789abcdefABCDEFT", min_size=30, max_size=130)))
def test_lookup_pairs_takes_no_shortcut_that_changes_the_answer(value: str) -> None:
    # lookup_pairs skips normalisers that cannot accept a value and answers a plain dotted quad
    # at once (a bulk lookup classifies 10,000 values): the answer must be the brute-force one.
    assert lookup_pairs(value) == _every_reading(value), value


@settings(max_examples=400, derandomize=True, database=None)
@given(_INDEX_VALUES)
def test_normalise_is_idempotent(pair: tuple[str, str]) -> None:
    index_type, value = pair
    once = normalise(index_type, value)
    if once is not None:
        assert normalise(index_type, once) == once


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"type": "ipv4-addr", "value": "198.51.100.1/32"}, [("ipv4-addr", "198.51.100.1")]),
        ({"type": "domain-name", "value": "Example.com"}, [("domain-name", "example.com")]),
        ({"type": "url", "value": "HTTP://X.example/A"}, [("url", "http://x.example/A")]),
        ({"type": "email-addr", "value": "A@B.example"}, [("email-addr", "a@b.example")]),
        ({"type": "mac-addr", "value": "00:1a:2b:3c:4d:5e"}, [("mac-addr", "00:1a:2b:3c:4d:5e")]),
        ({"type": "autonomous-system", "number": 15169}, [("autonomous-system", "15169")]),
        ({"type": "autonomous-system", "number": True}, []),
        ({"type": "mutex", "name": "m1"}, [("mutex", "m1")]),
        ({"type": "windows-registry-key", "key": "HKLM\\Run"}, [("windows-registry-key", "hklm\\run")]),
        ({"type": "user-account", "user_id": "1001"}, [("user-account", "1001")]),
        (
            {
                "type": "file",
                "name": "a.exe",
                "hashes": {"SHA-256": SHA256, "sha256": SHA256.upper(), "MD5": "bad"},
            },
            [("file:hashes.SHA-256", SHA256), ("file:name", "a.exe")],
        ),
        ({"type": "artifact", "hashes": {"SHA-256": SHA256}}, [("artifact:hashes.SHA-256", SHA256)]),
        (
            {"type": "x509-certificate", "hashes": {"SHA-256": SHA256}, "serial_number": "0A:0B"},
            [("x509-certificate:hashes.SHA-256", SHA256), ("x509-certificate:serial_number", "0a:0b")],
        ),
        (
            {"type": "indicator", "pattern_type": "stix", "pattern": "[ipv4-addr:value = '203.0.113.1']"},
            [("ipv4-addr", "203.0.113.1")],
        ),
        (
            {"type": "indicator", "pattern": "[domain-name:value = 'a.example']"},
            [("domain-name", "a.example")],
        ),
        ({"type": "indicator", "pattern_type": "snort", "pattern": "alert tcp any any -> any any"}, []),
        ({"type": "indicator", "pattern_type": "stix", "pattern": "[ipv4-addr:value = "}, []),
        ({"type": "indicator", "pattern_type": "stix", "pattern": 5}, []),
        ({"type": "malware", "name": "x", "is_family": True}, []),
        ({"type": "file", "name": 5, "hashes": ["not", "a", "dict"]}, []),
        ({"type": ["ipv4-addr"], "value": "1.2.3.4"}, []),
        ({"value": "1.2.3.4"}, []),
    ],
)
def test_observables_of(obj: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert observables_of(obj) == expected


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("type"), str):
                yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


@pytest.mark.realdata
def test_real_objects_give_canonical_pairs() -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is missing (set ACCORD_SHARED_DATA)")
    pairs = 0
    for path in sorted(SHARED_DATA.rglob("*")):
        if path.suffix not in (".json", ".stix2") or not path.is_file():
            continue
        raw = path.read_bytes()
        if b'"spec_version"' not in raw and b'"pattern"' not in raw:  # not STIX: MISP, galaxies, lists
            continue
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        for obj in _objects(doc):
            found = observables_of(obj)
            assert len(found) == len(set(found)), obj.get("id")
            for index_type, value in found:
                assert normalise(index_type, value) == value, (obj.get("id"), index_type, value)
            pairs += len(found)
    assert pairs > 1000
