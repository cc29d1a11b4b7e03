"""Webhook delivery of alerts: where a POST may go, how it is signed, and the outbox it drains.

A rule's webhook address is chosen by a user of an organisation, not by the operator, so the node
must not become a way to reach what only it can reach (server-side request forgery):

* only ``http`` and ``https`` URLs, without user info (the signature is the credential);
* the host is resolved when the rule is made and again before every attempt, and refused if any
  address it resolves to is not a global unicast address (loopback, private, link-local, shared,
  documentation, multicast, unspecified...), unless the operator allows private targets
  (``alert_webhook_private_targets``, docs/operations.md; loopback and private networks only);
* the POST goes to the address that was checked (the URL's host stays in the Host header and in
  TLS's server name and certificate check), so a name that resolves to something else between
  the check and the connection (DNS rebinding) reaches nothing new;
* redirects are not followed, timeouts are short, and the response body is never read.

Each POST carries ``X-Accord-Signature: sha256=HEX``, the HMAC-SHA256 of the exact body with the
rule's secret, and ``X-Accord-Alert``, the alert's id (a retry repeats both). A failed attempt is
retried with exponential backoff, up to :data:`MAX_ATTEMPTS`; before each attempt the versions
the payload discloses are checked once more against the organisation's view now (an agreement
suspended, a version retracted, a ceiling lowered below a granular marking since): if one is no
longer the organisation's to see, or no longer as the payload has it, the delivery is
``withheld`` and nothing is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson

from accord.errors import AccordError, RequestError
from accord.policy.gate import org_visibility
from accord.services.disclose import Received
from accord.services.secrets import SecretBox
from accord.storage.base import Delivery, ListedVersion, Store

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Accord-Signature"
ALERT_HEADER = "X-Accord-Alert"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_ATTEMPTS = 8
FIRST_BACKOFF_S = 30
MAX_BACKOFF_S = 3600
LEASE_S = 120  # a claimed delivery is not claimed again for this long (another runner's attempt)
BATCH = 50
MAX_URL = 2048

Resolver = Callable[[str, int], Sequence[str]]


class TargetRefused(AccordError):
    """A webhook address the node will not post to; ``reason`` says why."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"webhook {url!r}: {reason}")


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host!r}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True)
class Target:
    """A checked webhook address: the URL as given, and the address to connect to."""

    url: str
    scheme: str
    host: str  # as in the URL, lower-cased (brackets removed for IPv6)
    port: int
    address: str

    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        return urlunsplit((parts.scheme, f"{host}:{self.port}", parts.path or "/", parts.query, ""))

    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64 well-known and local-use,
# IPv4-compatible): Python 3.11 calls such an address global whatever IPv4 address it wraps.
_WRAPS_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"),
               ipaddress.ip_network("::/96"))


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _WRAPS_IPV4) and not ip.is_unspecified and not ip.is_loopback:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_refusal(address: str, allow_private: bool) -> str | None:
    # The address itself is not repeated in the refusal: an organisation's admin must not learn
    # from it what an internal name resolves to.
    ip = ipaddress.ip_address(address)
    wrapped = _embedded_ipv4(ip)
    if wrapped is not None:
        ip = wrapped
    if ip.is_unspecified or ip.is_multicast:
        return "the host is not a unicast address"
    if ip.is_link_local:  # never: cloud metadata services (169.254.169.254, fd00:ec2::254 is ULA, below)
        return "the host is a link-local address"
    if ip.is_global:
        return None
    if allow_private and (ip.is_loopback or ip.is_private):
        return None
    return ("the host is a loopback, private or otherwise non-public address; the operator may allow "
            "private targets (alert_webhook_private_targets)")


def parse_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a usable webhook URL, or TargetRefused naming what is wrong."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise TargetRefused(url[:100], f"not a URL of at most {MAX_URL} characters without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(url, f"not a usable URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(url, "only http and https URLs are allowed")
    if not parts.hostname:
        raise TargetRefused(url, "the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(url, "user info in the URL is not allowed (the signature authenticates the node)")
    if parts.fragment:
        raise TargetRefused(url, "a fragment is not sent to a server; leave it out")
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def check_target(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> Target:
    """The address to post ``url``'s payloads to, after every check of the module docstring."""
    scheme, host, port = parse_target(url)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = list(resolver(host, port))
        except OSError as exc:
            raise TargetRefused(url, str(exc)) from None
    if not addresses:
        raise TargetRefused(url, f"{host!r} resolves to no address")
    for address in addresses:
        refusal = _address_refusal(address, allow_private)
        if refusal is not None:
            raise TargetRefused(url, refusal)
    return Target(url, scheme, host, port, addresses[0])


def validate_webhook(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> str:
    """A webhook URL for a new rule, or RequestError('webhook', why) to show its creator."""
    try:
        check_target(url, allow_private=allow_private, resolver=resolver)
    except TargetRefused as exc:
        raise RequestError("webhook", f"{exc.url!r}: {exc.reason}") from None
    return url


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_s(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` failed ones: 30 s, 60 s, ... up to an hour."""
    return int(min(FIRST_BACKOFF_S * 2 ** (attempts - 1), MAX_BACKOFF_S))


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    withheld: int = 0


def post(client: httpx.Client, target: Target, payload: bytes, headers: dict[str, str]) -> int:
    """POST ``payload`` to the checked address; the response's status (its body is not read)."""
    request_headers = {"Content-Type": "application/json", "Host": target.host_header(),
                       "User-Agent": "accord-alerts", **headers}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with client.stream("POST", target.pinned_url(), content=payload, headers=request_headers,
                       extensions=extensions) as response:
        return response.status_code


def _still_as_received(store: Store, d: Delivery, now: int) -> bool:
    """Whether the organisation may still receive the payload as it stands: every version it
    holds still visible, and each still received exactly as the payload has it (after the
    agreement's ceiling drops, a part under a granular marking may no longer be; what matched
    is taken from those parts, so it holds whenever they are unchanged)."""
    vis = org_visibility(store, d.org_pk, now)
    rows: dict[int, ListedVersion] = {}
    for row in store.listed_versions(list(d.version_pks), vis.predicate()):
        rows.setdefault(row.pk, row)
    if not set(d.version_pks) <= set(rows):
        return False
    payload = orjson.loads(d.payload)
    sent = [payload["object"], *payload["related"]]
    received = Received(store, vis)
    return len(sent) == len(d.version_pks) and all(
        received.parsed(rows[pk]) == body for pk, body in zip(d.version_pks, sent, strict=True))


def deliver_due(store: Store, box: SecretBox, *, now: int, allow_private: bool,
                client: httpx.Client | None = None, resolver: Resolver = resolve,
                limit: int = BATCH) -> DeliveryReport:
    """Attempt every pending delivery due at ``now`` (microseconds) once."""
    report = DeliveryReport()
    deliveries = store.claim_deliveries(now, lease=LEASE_S * 1_000_000, limit=limit)
    if not deliveries:
        return report
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
    try:
        for d in deliveries:
            _attempt(store, box, d, now, http, allow_private, resolver, report)
    finally:
        if own_client:
            http.close()
    return report


def _attempt(store: Store, box: SecretBox, d: Delivery, now: int, http: httpx.Client, allow_private: bool,
             resolver: Resolver, report: DeliveryReport) -> None:
    if not _still_as_received(store, d, now):
        store.finish_delivery(d.alert_pk, state="withheld", attempts=d.attempts, next_attempt=now, status=None,
                              error="no longer visible to the organisation, in whole or in part; not sent")
        report.withheld += 1
        return
    status: int | None = None
    error: str | None = None
    try:
        target = check_target(d.webhook_url, allow_private=allow_private, resolver=resolver)
        secret = box.unseal(d.sealed_secret)
        status = post(http, target, d.payload, {SIGNATURE_HEADER: sign(secret, d.payload), ALERT_HEADER: d.uid})
        if not 200 <= status < 300:
            error = f"the webhook answered HTTP {status}"
    except TargetRefused as exc:
        error = exc.reason
    except AccordError as exc:  # the node key file is missing or was replaced
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    attempts = d.attempts + 1
    if error is None:
        store.finish_delivery(d.alert_pk, state="delivered", attempts=attempts, next_attempt=now, status=status,
                              error=None)
        report.delivered += 1
    elif attempts >= MAX_ATTEMPTS:
        store.finish_delivery(d.alert_pk, state="failed", attempts=attempts, next_attempt=now, status=status,
                              error=error)
        report.failed += 1
        log.warning("alert %s: webhook delivery failed for good after %d attempts: %s", d.uid, attempts, error)
    else:
        store.finish_delivery(d.alert_pk, state="pending", attempts=attempts,
                              next_attempt=now + backoff_s(attempts) * 1_000_000, status=status, error=error)
        report.retrying += 1
