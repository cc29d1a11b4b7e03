"""Bytes of a prose document to text: plain text (Markdown, AsciiDoc), HTML and PDF.

Plain text is decoded as it streams, in blocks, and handed on in chunks that end at a line
break, so that neither an indicator nor a one-line name is cut in two and memory stays bounded
by the chunk size whatever the file's size. Encodings: UTF-8 with or without a byte-order mark,
UTF-16 with one, or the one named by ``-O encoding=``. Line ends (CRLF, CR) become LF. A NUL
byte or bytes that do not decode mean the file is not text: the whole file is refused with the
byte offset, rather than mined for indicators that would be noise.

HTML (parsed with BeautifulSoup; script, style and template elements dropped, one line per
block element and table cell) and PDF (pdfminer.six, text layer only: a scanned PDF yields
nothing) need the whole document in memory, so they are read up to the same size limit.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from accord.errors import InputError
from accord.services.formats import Source

BLOCK = 1 << 20
# A chunk handed to extraction: big enough that per-call overhead is small, small enough that
# the extractor's working memory stays a few MiB.
CHUNK_CHARS = 1 << 18
KINDS = ("text", "html", "pdf")
SUFFIX_KIND = {".txt": "text", ".text": "text", ".md": "text", ".markdown": "text", ".adoc": "text",
               ".asciidoc": "text", ".html": "html", ".htm": "html", ".pdf": "pdf"}
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE | re.DOTALL)
_NEWLINES = re.compile(r"\r\n?")
# Elements whose text is never prose a reader sees.
_HTML_DROPPED = ("script", "style", "template", "noscript", "svg")


class Digest(Protocol):
    def update(self, data: bytes, /) -> None: ...


@dataclass(frozen=True)
class Document:
    """A decoded document: its kind, its title when the markup names one, and its text in chunks."""

    kind: str
    title: str | None
    chunks: Iterator[str]


def kind_of(head: bytes, source: Source) -> str:
    """``text``, ``html`` or ``pdf``, from the first bytes, else from the file name."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if _HTML_START.match(head.removeprefix(codecs.BOM_UTF8)):
        return "html"
    suffix = source.path.suffix.lower() if source.path is not None else ""
    return SUFFIX_KIND.get(suffix, "text")


def open_document(source: Source, kind: str, encoding: str | None, max_bytes: int, digest: Digest) -> Document:
    """Read ``source`` as ``kind``; raises InputError for a file that is not a readable document.
    Every byte read is fed to ``digest``."""
    if source.size is not None and source.size > max_bytes:
        raise InputError(f"{source.size} bytes is over the text importer's limit of {max_bytes} bytes; "
                         "raise it with -O max_bytes=N if the file really is one report", source=source.name)
    if kind == "text":
        return Document("text", None, _text_chunks(source, encoding, max_bytes, digest))
    with source.open() as stream:
        data = _read_limited(stream, max_bytes, source.name)
    digest.update(data)
    if kind == "pdf":
        return Document("pdf", None, _split(_pdf_text(data, source.name)))
    title, text = _html_text(data, encoding)
    return Document("html", title, _split(text))


def _read_limited(stream: BinaryIO, max_bytes: int, name: str) -> bytes:
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"more than {max_bytes} bytes, the text importer's limit; "
                         "raise it with -O max_bytes=N if the file really is one report", source=name)
    return data


def _encoding_of(head: bytes, named: str | None) -> tuple[str, int]:
    """The codec and how many bytes of byte-order mark to skip."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0  # the utf-16 codec reads the mark itself to learn the byte order
    if named is None:
        return "utf-8", 0
    try:
        return codecs.lookup(named).name, 0
    except LookupError:
        raise InputError(f"unknown encoding {named!r} (-O encoding=)") from None


def _text_chunks(source: Source, named: str | None, max_bytes: int, digest: Digest) -> Iterator[str]:
    with source.open() as stream:
        block = stream.read(BLOCK)
        digest.update(block)
        codec, offset = _encoding_of(block, named)
        block = block[offset:]
        # A NUL byte never occurs in 8-bit or UTF-8 text; in UTF-16 it is half of every ASCII letter.
        check_nul = not codec.startswith("utf-16")
        decoder = codecs.getincrementaldecoder(codec)("strict")
        buffer = ""
        while True:
            final = not block
            if offset + len(block) > max_bytes:
                raise InputError(f"more than {max_bytes} bytes, the text importer's limit; raise it with "
                                 "-O max_bytes=N if the file really is one report", source=source.name)
            if check_nul and (nul := block.find(b"\0")) >= 0:
                raise InputError("a NUL byte: this is binary data, not a text document", source=source.name,
                                 offset=offset + nul)
            try:
                buffer += decoder.decode(block, final=final)
            except UnicodeDecodeError as exc:
                raise InputError(f"not {codec} text (byte 0x{exc.object[exc.start]:02x} cannot be decoded); "
                                 "name the encoding with -O encoding=NAME if it is text",
                                 source=source.name, offset=offset + exc.start) from None
            offset += len(block)
            # A trailing CR waits for the next block, where its LF may be.
            held = "\r" if buffer.endswith("\r") and not final else ""
            buffer = _NEWLINES.sub("\n", buffer[:len(buffer) - len(held)])
            if final:
                yield from _split(buffer)
                return
            start = 0
            while len(buffer) - start > CHUNK_CHARS:
                end = _cut(buffer, start)
                yield buffer[start:end]
                start = end
            buffer = buffer[start:] + held
            block = stream.read(BLOCK)
            digest.update(block)


def _cut(text: str, start: int) -> int:
    """Where a chunk starting at ``start`` ends: after the last line break within CHUNK_CHARS, or
    after the last space on one endless line, or at CHUNK_CHARS."""
    end = start + CHUNK_CHARS
    cut = text.rfind("\n", start, end)
    if cut < 0:
        cut = text.rfind(" ", start, end)
    return cut + 1 if cut >= 0 else end


def _split(text: str) -> Iterator[str]:
    """All of ``text`` in chunks of at most CHUNK_CHARS that end after a line break where one is."""
    start = 0
    while len(text) - start > CHUNK_CHARS:
        end = _cut(text, start)
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]


def _html_text(data: bytes, encoding: str | None) -> tuple[str | None, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser", from_encoding=encoding)
    for tag in soup(list(_HTML_DROPPED)):
        tag.decompose()
    title = None
    for candidate in (soup.title, soup.find("h1")):
        if candidate is not None and (text := " ".join(candidate.get_text(" ").split())):
            title = text
            break
    # A newline between elements keeps table cells and paragraphs apart for the extractors.
    text = soup.get_text("\n")
    return title, _NEWLINES.sub("\n", text)


def _pdf_text(data: bytes, name: str) -> str:
    from pdfminer.high_level import extract_text
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psparser import PSException

    try:
        text: str = extract_text(io.BytesIO(data))
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a readable PDF: {exc}", source=name) from None
    if not text.strip():
        raise InputError("the PDF has no text layer (a scan?): nothing to extract", source=name)
    return _NEWLINES.sub("\n", text)
