"""Adding a partner node: the rules a peer's URL must follow, and its token sealed before storing.

Shared by every way of adding a peer (today the CLI), so that none of them can store a peer the
sync client would later refuse or that would leak our token.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from accord.errors import ConfigError
from accord.services.secrets import SecretBox
from accord.storage.base import Peer, Store

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def check_peer_url(url: str) -> None:
    """A peer's discovery URL is https (plain http only to this machine, for tests and local
    setups: it would send our token in clear), with no credentials inside it (they would end up
    in the audit log and in `peer list`) and a usable host and port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"--url {url!r} is not a usable URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--url {url!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"--url {url!r}: no credentials in the URL; give them with --username and --token")
    if parts.scheme != "https" and parts.hostname.lower() not in LOOPBACK:
        raise ConfigError(f"--url {url!r}: a partner node is reached over https (plain http would send our "
                          "token in clear)")


def add_peer(store: Store, box: SecretBox, name: str, *, url: str, username: str, token: str, org: str,
             interval_s: int, accept_max_tlp: str, accept_types: Sequence[str],
             links: Sequence[tuple[str, str, str]], actor: str) -> Peer:
    check_peer_url(url)
    if not token.strip():
        raise ConfigError("--token: empty token")
    return store.add_peer(name, url=url, username=username, sealed_token=box.seal(token.strip()), org=org,
                          interval_s=interval_s, accept_max_tlp=accept_max_tlp, accept_types=accept_types,
                          links=links, actor=actor)
