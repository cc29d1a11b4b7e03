"""The text importer's pieces: IOC extraction rules, decoding, titles and dates, name matching."""

from __future__ import annotations

import codecs
import hashlib
import io
from pathlib import Path

import pytest

from accord.errors import InputError
from accord.io.text import decode
from accord.io.text.decode import open_document
from accord.io.text.document import first_date, title_of
from accord.io.text.gazetteer import Entity, Gazetteer, Matches, case_ok
from accord.io.text.iocs import extract
from accord.services.formats import Source

SHA512 = hashlib.sha512(b"test").hexdigest()


def values(text: str) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in extract(text)}


@pytest.mark.parametrize(("written", "kind", "value"), [
    ("evil[.]example[.]com", "domain", "evil.example.com"),
    ("evil(.)example(.)com", "domain", "evil.example.com"),
    ("evil[dot]example[dot]com", "domain", "evil.example.com"),
    ("hxxp://evil[.]example[.]com/a.php", "url", "http://evil.example.com/a.php"),
    ("hxxps[:]//evil[.]example[.]com/x", "url", "https://evil.example.com/x"),
    ("198.51.100[.]23", "ipv4", "198.51.100.23"),
    ("boss[at]evil[.]example[.]com", "email", "boss@evil.example.com"),
    ("2001:db8:85a3::8a2e:370:7334", "ipv6", "2001:db8:85a3::8a2e:370:7334"),
    ("CVE-2021-44228", "cve", "CVE-2021-44228"),
    ("5D41402ABC4B2A76B9719D911017C592", "md5", "5d41402abc4b2a76b9719d911017c592"),
    ("2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "sha1", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"),
    ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "sha256",
     "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    (SHA512.upper(), "sha512", SHA512),
])
def test_defanged_and_plain_values_come_out_refanged(written: str, kind: str, value: str) -> None:
    assert (kind, value) in values(f"The operators used {written} in May.")


def test_defanged_values_are_marked_as_not_live() -> None:
    found = {f.value: f.live for f in extract("C2: evil[.]example[.]com and also live.example.net today")}
    assert found == {"evil.example.com": False, "live.example.net": True}


@pytest.mark.parametrize("text", [
    "Detected as Win32/Agent.TEL by the scanner.",
    "Read more in README.md and run setup.py or build.sh first.",
    "The archive bandicam_4.3.1.1490.zip was shared.",
    "It drops ~/Library/Containers/com.apple.Notes/Data there.",
    "A plugin named et2z7q0FREZ.cr was loaded.",
    "Tools at version 10.0.17134.1 and v1.2.3.4 and build 5.6.7.8 ran.",
    "The OID 1.3.6.1.4.1.311 is Microsoft's.",
    "DVDFab Media Player 3.2.0.1 was the bait.",
    "The key HKLM\\SOFTWARE\\App\\AppX37cc7fdccd644b4f85f4b22d5a3f105a\\Application is set.",
])
def test_what_the_extractor_misreads_is_dropped(text: str) -> None:
    assert values(text) == set()


def test_a_defanged_file_like_domain_is_kept() -> None:
    # The author defanged it: that is a domain, whatever its top-level domain looks like.
    assert ("domain", "tool.sh") in values("The C&C is tool[.]sh this week.")


def test_hosts_of_urls_and_addresses_are_not_repeated_unless_written_alone() -> None:
    text = "Payload at hxxp://198.51.100[.]4/a and hxxp://drop[.]example[.]org/b, mail to x[at]mail[.]example[.]net."
    found = values(text)
    assert ("url", "http://198.51.100.4/a") in found and ("email", "x@mail.example.net") in found
    assert not {("ipv4", "198.51.100.4"), ("domain", "drop.example.org"), ("domain", "mail.example.net")} & found
    alone = values(text + " The domain drop[.]example[.]org also resolved.")
    assert ("domain", "drop.example.org") in alone


@pytest.mark.parametrize(("written", "url"), [
    ("(see hxxp://evil[.]example[.]com/x).", "http://evil.example.com/x"),
    ("`++hxxp://evil[.]example[.]com/js/a.js++`", "http://evil.example.com/js/a.js"),
    ("hxxp://evil[.]example[.]com/q?d=<base64 data>", "http://evil.example.com/q?d="),
    ("\"hxxp://evil[.]example[.]com/p\",", "http://evil.example.com/p"),
])
def test_url_edges(written: str, url: str) -> None:
    assert {v for k, v in values(written) if k == "url"} == {url}


def test_cited_urls_are_marked() -> None:
    found = {f.value: f.cited for f in extract(
        "See [the blog](https://blog.example.org/post) and https://docs.example.org/a[the docs] and "
        "<https://auto.example.org/> but not hxxps://bad[.]example[.]org/p or https://plain.example.org/q.")
        if f.kind == "url"}
    assert found == {"https://blog.example.org/post": True, "https://docs.example.org/a": True,
                     "https://auto.example.org/": True, "https://bad.example.org/p": False,
                     "https://plain.example.org/q": False}


def _doc(data: bytes, kind: str = "text", *, max_bytes: int = 1 << 20, encoding: str | None = None,
         name: str = "doc.txt") -> tuple[str | None, str]:
    source = Source(name, Path(name), lambda: io.BytesIO(data), len(data))
    digest = hashlib.sha256()
    doc = open_document(source, kind, encoding, max_bytes, digest)
    text = "".join(doc.chunks)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    return doc.title, text


def test_bom_crlf_and_utf16_decode_to_the_same_text() -> None:
    plain = "Title line\nC2 is evil[.]example[.]com\n"
    crlf = plain.replace("\n", "\r\n")
    assert _doc(codecs.BOM_UTF8 + crlf.encode())[1] == plain
    assert _doc(crlf.replace("\r\n", "\r").encode())[1] == plain
    assert _doc(codecs.BOM_UTF16_LE + crlf.encode("utf-16-le"))[1] == plain
    assert _doc("Caf\u00e9\n".encode("latin-1"), encoding="latin-1")[1] == "Caf\u00e9\n"


def test_crlf_split_across_blocks_is_one_line_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "BLOCK", 4)
    monkeypatch.setattr(decode, "CHUNK_CHARS", 8)
    text = "abc\r\ndefgh\r\nij klmnopqrstu\r\nend"
    assert _doc(text.encode())[1] == text.replace("\r\n", "\n")


def test_chunks_end_at_line_breaks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode, "CHUNK_CHARS", 64)
    line = "host evil[.]example[.]com seen\n"
    data = (line * 40).encode()
    source = Source("d.txt", None, lambda: io.BytesIO(data), len(data))
    chunks = list(open_document(source, "text", None, 1 << 20, hashlib.sha256()).chunks)
    assert len(chunks) > 10 and all(c.endswith("\n") and len(c) <= 64 for c in chunks)


@pytest.mark.parametrize(("data", "reason"), [
    (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "NUL byte"),
    (b"plain start \xff\xfe\xfa then junk", "cannot be decoded"),
])
def test_binary_junk_is_refused_with_its_offset(data: bytes, reason: str) -> None:
    with pytest.raises(InputError, match=reason) as exc:
        _doc(data)
    assert exc.value.offset == data.index(b"\x00" if b"\x00" in data else b"\xff")


def test_size_limit_is_checked_before_and_while_reading() -> None:
    with pytest.raises(InputError, match="limit of 10 bytes"):
        _doc(b"x" * 11, max_bytes=10)
    # A stream of unknown size is refused once it passes the limit.
    source = Source("<stdin>", None, lambda: io.BytesIO(b"y" * 50), None)
    with pytest.raises(InputError, match="more than 10 bytes"):
        list(open_document(source, "text", None, 10, hashlib.sha256()).chunks)


def test_html_drops_scripts_and_keeps_cells_apart() -> None:
    page = (b"<!DOCTYPE html><html><head><title>Lantern report</title><style>p{}</style>"
            b"<script>var x='hidden[.]example[.]com';</script></head><body><h1>Other</h1>"
            b"<table><tr><td>evil[.]example[.]com</td><td>C2</td></tr></table></body></html>")
    title, text = _doc(page, "html", name="r.html")
    assert title == "Lantern report"
    assert "hidden" not in text and ("domain", "evil.example.com") in values(text)


def test_titles_and_dates() -> None:
    assert title_of("= Sednit: *new* tools\n\ntext") == "Sednit: new tools"
    assert title_of("\n\n## Second level first\n# Later") == "Second level first"
    assert title_of("Lantern report\n==============\nbody") == "Lantern report"
    assert title_of("x" * 300) is None
    assert first_date("posted https://x.example/2018/09/05/post/ on 1 Oct 2019") == "2018-09-05T00:00:00.000Z"
    assert first_date("On March 14, 2024 and 2020-01-02") == "2024-03-14T00:00:00.000Z"
    assert first_date("On 31 February 2024, nothing") is None


def test_case_rules() -> None:
    assert case_ok("Turla", "Turla") and case_ok("TURLA", "Turla") and not case_ok("turla", "Turla")
    assert case_ok("Predator", "PREDATOR") and not case_ok("predator", "PREDATOR")
    assert case_ok("RTM", "RTM") and not case_ok("Rtm", "RTM")
    assert not case_ok("at", "at") and case_ok("certutil", "certutil")


def test_an_ordinary_word_used_in_lower_case_is_not_a_name() -> None:
    gaz = Gazetteer()
    gaz.add("Lantern", Entity("m:lantern", "malware", "Lantern"))
    gaz.add("Paper Lantern", Entity("m:paper", "malware", "Paper Lantern"))
    named = Matches()
    gaz.scan("Lantern was seen. The Paper Lantern toolkit", named)
    assert [e.name for e in named.entities()] == ["Lantern", "Paper Lantern"]
    common = Matches()
    gaz.scan("Lantern was seen. Hold the lantern high; see lantern/config.py", common)
    assert [e.name for e in common.entities()] == []
