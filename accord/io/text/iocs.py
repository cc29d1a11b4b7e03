"""Indicators of compromise in prose, found by ioc-finder and cleaned by rules stated here.

ioc-finder (https://github.com/fhightower/ioc-finder) finds IPv4/IPv6 addresses, domains,
URLs, e-mail addresses, MD5/SHA-1/SHA-256/SHA-512 hashes and CVE ids, and refangs what
authors defang on the way (``[.]``, ``(.)``, ``[dot]``, ``hxxp``, ``[:]``, ``[at]``, ...: its
ioc-fanger step), so values come out as a tool would match them. What it reads wrongly in
threat reports is then dropped by these rules (each tested in tests/io/test_text_iocs.py):

- URL: it ends before the first character a URL cannot hold (``<``, ``>``, a quote, a
  backtick, a brace); trailing sentence punctuation, unbalanced closing brackets and AsciiDoc's
  ``++`` passthrough marks are not part of it; a URL needs a scheme (``evil.com/gate.php`` is
  read as the domain ``evil.com``).
- Domain: a host that is only ever written inside a URL or an e-mail address is not listed
  again on its own (the URL or address already says it). A "domain" always written directly
  after ``/``, ``\\``, ``@``, ``.`` or ``!``, or followed by ``.word``, is part of something
  longer: an antivirus detection name (``Win32/Agent.TEL``), a path, a bundle id
  (``com.apple.Notes``). Written live (not defanged), a name whose last label is a top-level
  domain that is mostly seen as a file extension (``FILE_EXTENSION_TLDS``: ``README.md``,
  ``setup.py``, ``invoice.zip``) is a file name, and so is one never written in lower case
  (``et2z7q0FREZ.cr``); authors write domains in lower case and defang the ones they mean.
- Hash: hex that runs on into letters or digits (``AppX37cc...``, part of a key or a longer
  string) is not a hash.
- IPv4: an address only ever written as a URL's host is not listed again on its own (as for
  domains). An address right after "version", "ver.", "v", "build" or "release", or inside a
  longer run of dotted numbers (an OID, a five-part version), is a version number; so is one
  written live whose four parts are single digits (``3.2.0.1``).

"Defanged" is decided per value: a value that appears in the original text exactly as found
was written live; one that only appears after refanging was defanged by the author, which is
the author saying "this is an indicator". The importer uses the same signal to tell reference
links from indicators, with ``cited``: a URL written as a link target (Markdown ``[text](URL)``
or ``<URL>``, AsciiDoc ``URL[text]``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from accord.io.indicators import KINDS, canonical

# ioc-finder's result keys and the kinds of accord.io.indicators they become ("cve" is ours).
_FINDER_KINDS = {
    "urls": "url", "email_addresses": "email", "ipv4s": "ipv4", "ipv6s": "ipv6", "domains": "domain",
    "md5s": "md5", "sha1s": "sha1", "sha256s": "sha256", "sha512s": "sha512", "cves": "cve",
}
_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "sftp", "ws", "wss", "tcp", "udp", "smb", "file"})
# Top-level domains that reports mostly show as file extensions (Perl, Python, shell scripts,
# shared objects, Markdown, archives, videos, macOS application bundles).
FILE_EXTENSION_TLDS = frozenset({"zip", "mov", "py", "sh", "so", "md", "pl", "app"})
_URL_TRAILING = ".,;:!?'*"
_URL_END = re.compile(r"[<>\"`{}|\\^\s]")
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_VERSION_BEFORE = re.compile(r"(?:\bv|\bver\.?|\bversion|\bbuild|\brelease)[\s:]*$", re.IGNORECASE)
_NOT_BEFORE_DOMAIN = frozenset("/\\@.!")
_HASHES = frozenset({"md5", "sha1", "sha256", "sha512"})


@dataclass(frozen=True)
class Found:
    """One value: its kind (a key of accord.io.indicators.KINDS, or ``cve``), as the index spells it."""

    kind: str
    value: str
    # Written as-is in the text (not defanged by the author).
    live: bool = False
    # A URL written as the target of a Markdown or AsciiDoc link: a citation.
    cited: bool = False


def _trim_url(url: str) -> str:
    end = _URL_END.search(url)
    if end is not None:
        url = url[:end.start()]
    while url.endswith("++"):
        url = url[:-2]
    while url:
        last = url[-1]
        if last in _URL_TRAILING or (last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)):
            url = url[:-1]
        else:
            break
    return url


def _occurrences(text: str, value: str) -> Iterator[int]:
    start = text.find(value)
    while start >= 0:
        yield start
        start = text.find(value, start + 1)


def _is_version(fanged: str, value: str) -> bool:
    """Every occurrence of an IPv4-looking ``value`` reads as a version number or part of an OID."""
    spots = list(_occurrences(fanged, value))
    if not spots:
        return False
    for at in spots:
        before = fanged[max(0, at - 12):at]
        after = fanged[at + len(value):at + len(value) + 2]
        longer_run = (before.endswith(".") and before[-2:-1].isdigit()) or (after[:1] == "." and after[1:2].isdigit())
        if not (longer_run or _VERSION_BEFORE.search(before)):
            return False
    return True


def _standalone(fanged_lower: str, value: str) -> bool:
    """Some occurrence of ``value`` (a domain or an address) stands alone: not inside a URL, an
    e-mail address, a path or a longer dotted name."""
    for at in _occurrences(fanged_lower, value):
        end = at + len(value)
        if at > 0 and fanged_lower[at - 1] in _NOT_BEFORE_DOMAIN:
            continue
        after = fanged_lower[end:end + 2]
        if after[:1] == "@" or (after[:1] in (".", "-") and after[1:].isalnum()):
            continue
        return True
    return False


def _standalone_hash(fanged_lower: str, value: str) -> bool:
    for at in _occurrences(fanged_lower, value):
        end = at + len(value)
        if not (at > 0 and fanged_lower[at - 1].isalnum()) and not fanged_lower[end:end + 1].isalnum():
            return True
    return False


def _cited(text: str, url: str) -> bool:
    for at in _occurrences(text, url):
        end = at + len(url)
        if text[max(0, at - 2):at] == "](" or text[end:end + 1] == "[" or (text[at - 1:at] == "<"
                                                                        and text[end:end + 1] == ">"):
            return True
    return False


@dataclass(frozen=True)
class _Context:
    text: str
    fanged: str
    fanged_lower: str


def _rejected(kind: str, value: str, live: bool, ctx: _Context) -> bool:
    if kind == "url":
        parts = urlsplit(value)
        return parts.scheme.lower() not in _SCHEMES or not parts.hostname
    if kind == "ipv4":
        return (_is_version(ctx.fanged, value) or (live and all(len(p) == 1 for p in value.split(".")))
                or not _standalone(ctx.fanged_lower, value))
    if kind == "domain":
        lower = value.lower()
        if live and (lower.rsplit(".", 1)[-1] in FILE_EXTENSION_TLDS or lower not in ctx.text):
            return True
        return not _standalone(ctx.fanged_lower, lower)
    if kind in _HASHES:
        return not _standalone_hash(ctx.fanged_lower, value.lower())
    return False


def extract(text: str) -> Iterator[Found]:
    """The indicators stated in ``text`` (one chunk of a document), each once per chunk."""
    import ioc_fanger  # type: ignore[import-untyped]
    from ioc_finder import find_iocs  # type: ignore[import-untyped]

    fanged = ioc_fanger.fang(text)
    # Hosts of URLs and addresses are asked for, then kept only where they also stand alone:
    # ioc-finder's own option drops a host from the domains even where it is written on its own too.
    found = find_iocs(fanged, included_ioc_types=list(_FINDER_KINDS), parse_urls_without_scheme=False)
    lower_text = text.lower()
    ctx = _Context(text, fanged, fanged.lower())
    seen: set[tuple[str, str]] = set()
    for key, kind in _FINDER_KINDS.items():
        for raw in found.get(key, ()):
            value = _trim_url(raw) if kind == "url" else raw
            live = value.lower() in lower_text
            if _rejected(kind, value, live, ctx):
                continue
            norm = value.upper() if kind == "cve" else canonical(KINDS[kind], value)
            if norm is None or (kind, norm) in seen:
                continue
            seen.add((kind, norm))
            yield Found(kind, norm, live, kind == "url" and live and _cited(text, value))
