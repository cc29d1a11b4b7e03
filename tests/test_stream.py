"""The streaming reader gives exactly what orjson would, in any chunking, and refuses bad documents."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import accord.stix.stream as stream
from accord.errors import InputError
from accord.stix.stream import BOM, Item, Limits, StixDocument


def read_all(data: bytes, *, chunk: int | None = None, limits: Limits | None = None,
             monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[StixDocument, list[Item]]:
    if chunk is not None:
        assert monkeypatch is not None
        monkeypatch.setattr(stream, "CHUNK", chunk)
    doc = StixDocument(io.BytesIO(data).read, source="test", limits=limits)
    return doc, list(doc)


# Strings full of the characters that could confuse a reader that does not parse strings.
tricky_text = st.text(alphabet=st.sampled_from(list('ab{}[],:"\\\n\t é😀')), max_size=30)
json_scalar = st.none() | st.booleans() | st.integers(-(2**62), 2**62) | tricky_text
json_value = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(tricky_text, children, max_size=4),
    max_leaves=20,
)
stix_like = st.dictionaries(tricky_text, json_value, max_size=6).map(lambda d: {"type": "x-test", **d})


@settings(max_examples=300, deadline=None)
@given(objects=st.lists(stix_like, max_size=8), chunk=st.sampled_from([1, 2, 7, 64, 1 << 20]),
       indent=st.booleans(), bom=st.booleans())
def test_bundle_items_equal_orjson(objects: list[dict[str, Any]], chunk: int, indent: bool, bom: bool) -> None:
    option = orjson.OPT_INDENT_2 if indent else 0
    data = orjson.dumps({"type": "bundle", "id": "bundle--x", "objects": objects}, option=option)
    old = stream.CHUNK
    stream.CHUNK = chunk
    try:
        doc = StixDocument(io.BytesIO((BOM if bom else b"") + data).read)
        items = list(doc)
    finally:
        stream.CHUNK = old
    assert [i.value for i in items] == objects
    assert all(i.problem is None for i in items)
    assert [i.index for i in items] == list(range(len(objects)))
    assert doc.shape == "bundle"
    assert doc.envelope == {"type": "bundle", "id": "bundle--x"}


@settings(max_examples=100, deadline=None)
@given(objects=st.lists(stix_like, min_size=1, max_size=5))
def test_bare_array_and_single_object(objects: list[dict[str, Any]]) -> None:
    doc, items = read_all(orjson.dumps(objects))
    assert doc.shape == "array"
    assert [i.value for i in items] == objects
    doc, items = read_all(orjson.dumps(objects[0]))
    assert doc.shape == "object"
    assert [i.value for i in items] == [objects[0]]


def test_taxii_envelope_shape() -> None:
    doc, items = read_all(b'{"more": false, "objects": [{"type": "x-a"}]}')
    assert doc.shape == "envelope"
    assert doc.envelope == {"more": False}
    assert [i.value for i in items] == [{"type": "x-a"}]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty input"),
        (b"   \n", "empty input"),
        (b"this is not json", "not JSON"),
        (b'{"type": "bundle", "objects": [{"a": 1}', "unexpected end of input"),
        (b'[{"a": 1}', "unexpected end of input"),
        (b'[{"a": 1}] trailing', "after the end"),
        (b'[{"a": 1} {"b": 2}]', "expected ',' or ']'"),
        (b'{"type": "bundle" "objects": []}', "expected ',' or '}'"),
    ],
)
def test_malformed_documents_raise_input_error(data: bytes, reason: str) -> None:
    with pytest.raises(InputError) as exc:
        read_all(data)
    assert reason in exc.value.reason
    assert exc.value.offset is not None


def test_bad_elements_are_reported_individually() -> None:
    data = b'[{"type": "x-a"}, 42, {"broken": ,}, {"type": "x-b"}]'
    _, items = read_all(data)
    assert items[0].value == {"type": "x-a"}
    assert items[1].value == 42  # not an object: the ingest pipeline refuses it, not the reader
    assert items[2].problem is not None
    assert "not valid JSON" in items[2].problem
    assert items[3].value == {"type": "x-b"}


def test_invalid_utf8_inside_one_object() -> None:
    _, items = read_all(b'[{"name": "\xff\xfe"}, {"type": "x-ok"}]')
    assert items[0].problem is not None
    assert items[1].value == {"type": "x-ok"}


def test_nesting_limit_is_per_object(monkeypatch: pytest.MonkeyPatch) -> None:
    deep = b'{"a":' * 101 + b"1" + b"}" * 101
    ok = b'{"a":' * 99 + b"1" + b"}" * 99
    for chunk in (5, 1 << 20):
        _, items = read_all(b"[" + deep + b"," + ok + b"]", chunk=chunk, monkeypatch=monkeypatch)
        assert items[0].problem == "nested deeper than 100 levels"
        assert items[1].problem is None


def test_nesting_limit_on_single_object_and_envelope() -> None:
    deep = b'{"type": "x-a", "p":' + b"[" * 150 + b"]" * 150 + b"}"
    with pytest.raises(InputError, match="nested deeper"):
        read_all(deep)  # a one-object document: the document is refused as a whole
    with pytest.raises(InputError, match="nested deeper"):
        read_all(b'{"objects": [], "x": ' + b"[" * 150 + b"]" * 150 + b"}")


def test_object_size_limit() -> None:
    big = orjson.dumps([{"type": "x-a", "p": "y" * 5000}, {"type": "x-b"}])
    _, items = read_all(big, limits=Limits(max_object_bytes=1000))
    assert items[0].problem is not None
    assert "larger than the limit" in items[0].problem
    assert items[1].value == {"type": "x-b"}
    # An object that never ends within the limit cannot be skipped safely: the document is refused.
    with pytest.raises(InputError, match="size limit"):
        read_all(b'[{"p": "' + b"y" * 5000, limits=Limits(max_object_bytes=1000))


def test_brackets_in_strings_do_not_confuse_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = [{"type": "x-a", "d": "}]," * 50 + "[[{"}, {"type": "x-b", "d": "]}"}, {"type": "x-c"}]
    for chunk in (3, 1 << 20):
        _, items = read_all(orjson.dumps(objects), chunk=chunk, monkeypatch=monkeypatch)
        assert [i.value for i in items] == objects


def test_memory_is_flat_in_document_size() -> None:
    """The reader never holds much more than one chunk plus one object, whatever the file size."""
    one = orjson.dumps({"type": "x-a", "id": "x-a--0", "description": "z" * 200})
    count = 20_000

    class Source:
        def __init__(self) -> None:
            self.parts = [b'{"type":"bundle","objects":[', *([one + b","] * (count - 1)), one, b"]}"]
            self.max_buffer = 0

        def read(self, n: int) -> bytes:
            out = bytearray()
            while self.parts and len(out) < n:
                out += self.parts.pop(0) if len(self.parts[0]) <= n - len(out) else self._split(n - len(out))
            return bytes(out)

        def _split(self, k: int) -> bytes:
            head, self.parts[0] = self.parts[0][:k], self.parts[0][k:]
            return head

    src = Source()
    doc = StixDocument(src.read)
    n = 0
    for _ in doc:
        n += 1
        src.max_buffer = max(src.max_buffer, len(doc._buf))
    assert n == count
    total = len(one) * count
    assert src.max_buffer <= stream.CHUNK + 2 * len(one)
    assert total > 4 * stream.CHUNK  # the document really was larger than what was held


# Regressions from the review of 2026-11-25 (each once let something through).


def _nest(levels: int) -> bytes:
    """An x-test object whose property alternates objects and arrays, `levels` deep."""
    inner = b"1"
    for i in range(levels):
        inner = (b'{"a":' + inner + b"}") if i % 2 else (b"[" + inner + b"]")
    return b'{"type":"x-test","p":' + inner + b"}"


def test_depth_limit_holds_inside_a_run_of_many_objects() -> None:
    small = b',{"type":"x-test","id":"x-test--%d"}'
    doc = b"[" + _nest(180) + b"".join(small % i for i in range(20_000)) + b"]"
    _, items = read_all(doc)
    assert items[0].problem == "nested deeper than 100 levels"
    assert all(i.problem is None for i in items[1:])


def test_duplicate_objects_property_is_refused() -> None:
    with pytest.raises(InputError, match="duplicate 'objects'"):
        read_all(b'{"type":"bundle","id":"bundle--1","objects":[{"type":"x-a"}],"objects":[{"type":"x-b"}]}')


def test_single_object_with_an_objects_property_stays_one_object() -> None:
    doc, items = read_all(b'{"type":"x-custom","id":"x-custom--1","objects":[1,2]}')
    assert doc.shape == "object"
    assert [i.value for i in items] == [{"type": "x-custom", "id": "x-custom--1", "objects": [1, 2]}]


def test_long_whitespace_across_a_chunk_boundary(monkeypatch: pytest.MonkeyPatch) -> None:
    small = b'{"type":"x-a","id":"x-a--1"}'
    big = b'{"type":"x-b","p":"' + b"A" * 5000 + b'"}'
    _, items = read_all(b"[" + small + b" " * 200 + b"," + big + b"]", chunk=64, monkeypatch=monkeypatch,
                        limits=Limits(100, 5200))
    assert [i.value["type"] for i in items] == ["x-a", "x-b"]


@settings(max_examples=500, deadline=None)
@given(values=st.lists(json_value, min_size=1, max_size=6))
def test_structure_depth_equals_the_parsed_nesting(values: list[Any]) -> None:
    # Whole values separated by commas, as _read_run hands them over; strings full of quotes,
    # backslashes and brackets, empty strings and strings side by side are all in tricky_text.
    piece = b",".join(orjson.dumps(v) for v in values)
    deepest = max(stream.nesting_depth(v) for v in values)
    assert stream.structure_depth(piece, 1000) == deepest


def test_structure_depth_of_unbalanced_slices_is_none() -> None:
    assert stream.structure_depth(b'{"a":"]"', 100) is None
    assert stream.structure_depth(b'{"a":""}}', 100) is None
    assert stream.structure_depth(b'{"a":"x\\"}"}', 100) == 1
    assert stream.structure_depth(b'{"":"","[":["]"]}', 100) == 2
    assert stream.structure_depth(b"][", 100) is None
    # Kinds are not matched (valid JSON nests them properly; orjson refuses a mix-up).
    assert stream.structure_depth(b"[{]}", 100) == 2


def test_mixed_up_brackets_in_a_run_are_reported_as_before() -> None:
    good = b'{"type":"x-a","id":"x-a--1"}'
    bad = b'{"type":"x-a","v":[1}]'
    body = b",".join([good] * 3000 + [bad] + [good] * 3000)
    _, items = read_all(b'{"type":"bundle","objects":[' + body + b"]}")
    assert len(items) == 6001
    assert [i.index for i in items if i.problem is not None] == [3000]
    assert (items[3000].problem or "").startswith("not valid JSON")
    assert all(i.value == orjson.loads(good) for i in items if i.index != 3000)
