"""Bare values as STIX and back (accord/io/indicators.py), checked against the stix2 library."""

from __future__ import annotations

import pytest
import stix2

from accord.io.indicators import KINDS, derived_id, indicator, observable, values_of
from accord.stix.validate import validate_object

CREATED = "2024-05-01T00:00:00.000Z"


@pytest.mark.parametrize(("kind", "value", "reference"), [
    ("ipv4", "203.0.113.7", lambda v: stix2.v21.IPv4Address(value=v)),
    ("domain", "bad.example", lambda v: stix2.v21.DomainName(value=v)),
    ("url", "http://bad.example/a?b=c", lambda v: stix2.v21.URL(value=v)),
    ("email", "x@bad.example", lambda v: stix2.v21.EmailAddress(value=v)),
    ("sha256", "ab" * 32, lambda v: stix2.v21.File(hashes={"SHA-256": v})),
    ("md5", "cd" * 16, lambda v: stix2.v21.File(hashes={"MD5": v})),
])
def test_observable_ids_agree_with_the_stix2_library(kind: str, value: str, reference: object) -> None:
    sco = observable(KINDS[kind], value)
    assert sco["id"] == reference(value).id  # type: ignore[operator]
    assert validate_object(sco) == []


@pytest.mark.parametrize("value", ["http://x.example/it's", "c:\\temp\\a.exe", "plain"])
def test_indicator_patterns_quote_and_round_trip(value: str) -> None:
    kind = KINDS["url"] if value.startswith("http") else KINDS["filename"]
    obj = indicator(kind, value, source_key="feed-a", created=CREATED)
    assert validate_object(obj) == []
    stix2.parse(obj, allow_custom=False)
    assert values_of(obj["pattern"]) == [(kind, value)]


def test_indicator_ids_are_stable_per_source_and_distinct_across_sources() -> None:
    one = indicator(KINDS["ipv4"], "198.51.100.1", source_key="a", created=CREATED)
    again = indicator(KINDS["ipv4"], "198.51.100.1", source_key="a", created="2025-01-01T00:00:00.000Z")
    other = indicator(KINDS["ipv4"], "198.51.100.1", source_key="b", created=CREATED)
    assert one["id"] == again["id"] != other["id"]
    assert derived_id("report", "a", "x") != derived_id("report", "a", "y")


def test_values_of_skips_what_no_kind_names() -> None:
    pattern = "[ipv4-addr:value = '198.51.100.1'] AND [process:pid = 4]"
    assert values_of(pattern) == [(KINDS["ipv4"], "198.51.100.1")]
