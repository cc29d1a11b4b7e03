"""The privacy-preserving overlap check (issue 9 item 6; docs/early-warning.md, "Overlap check").

A party to an agreement asks this node "which of these values do you hold too?" by sending keyed
hashes instead of the values, and learns only the overlap. The key is the agreement's: 32 random
bytes this node makes (``new_agreement_key``) and its operator hands to the partner out of band;
the partner's node keeps it for its peer (``set_peer_key``) and hashes its own values with it.

The canonical form, which a partner's own tool must compute exactly::

    hex( HMAC-SHA256( key, utf8( index_type + "\\x00" + value ) ) )      lower-case, 64 digits

where ``(index_type, value)`` is one key of the observable index (stix/observables.py): a value
typed in is classified and normalised by ``lookup_pairs`` (``8.8.8.8`` -> ``ipv4-addr``,
``HTTP://Evil.Example.net/x`` -> ``url`` ``http://evil.example.net/x``; a 64-digit hex digest is
``file:hashes.SHA-256`` and five other keys), and each key is one hash.

The answering node decides nothing itself: its hash table (services/overlap_index.py) only turns
hashes back into candidate index keys, and a candidate is in the answer only if
``Lookup.visible_keys`` finds it in a version the caller may see, through the caller's gate, as
the caller would receive it. A value only hidden objects hold is answered like a value nobody
holds. Each question is one audit entry (action ``overlap``: who, under which agreement, how many
hashes, how many matched; never a value nor a hash).

The asking side hashes here too (``plan_hashes``); accord/sync/overlap.py sends the hashes with
the peer's account on the partner's node, which takes the question as the organisation that
account belongs to there; the key kept for the peer names it on our side (``for_org``). So
``askable_peers`` decides who on this node may make it ask: docs/early-warning.md, "Who may ask".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from accord.errors import ConfigError, NotFoundError, RequestError
from accord.policy.gate import Visibility
from accord.policy.roles import Role
from accord.policy.viewer import Viewer
from accord.services.lookup import MAX_VALUE_LENGTH, Lookup
from accord.services.overlap_index import Hasher, HashTables
from accord.services.secrets import SecretBox
from accord.stix.observables import lookup_pairs
from accord.storage.base import Agreement, AuditEvent, OverlapKey, Store

KEY_BYTES = 32
MAX_HASHES = 10_000  # hashes in one question (one value may stand for up to six index keys)
HASH = re.compile(r"[0-9a-f]{64}")
NOT_A_VALUE = "not an IP address or network, domain, URL, e-mail address or hash"


class OverlapRefused(ConfigError):
    """The caller's organisation may not ask (no active agreement with a key, or not this one)."""


class OverlapKeyChanged(ConfigError):
    """The asker hashed with another key than the agreement's current one (it was rotated)."""


# -- the canonical form --------------------------------------------------------------------------
def fingerprint(key: bytes) -> str:
    """What both operators compare to know they hold the same key: a digest that reveals nothing
    of a 256-bit random key (domain-separated, so it is no hash a question could contain)."""
    return hashlib.sha256(b"accord overlap key fingerprint\x00" + key).hexdigest()[:16]


def overlap_hash(key: bytes, index_type: str, value: str) -> str:
    """The canonical keyed hash of one index key (see the module docstring)."""
    return hmac.new(key, f"{index_type}\x00{value}".encode(), hashlib.sha256).hexdigest()


# -- keys ------------------------------------------------------------------------------------------
def parse_key(text: str) -> bytes:
    """A key as an operator pastes it: 64 hex digits (32 bytes)."""
    text = text.strip().lower()
    if len(text) != 2 * KEY_BYTES or not HASH.fullmatch(text):
        raise ConfigError(f"an overlap key is {2 * KEY_BYTES} hex digits (what `accord agreement overlap-key` "
                          f"printed on the partner's node); got {len(text)} characters")
    return bytes.fromhex(text)


def _when(micros: int) -> str:
    return dt.datetime.fromtimestamp(micros / 1e6, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def new_agreement_key(store: Store, box: SecretBox, name: str, *, rotate: bool, actor: str) -> tuple[str, str]:
    """Make (or, with ``rotate``, replace) an agreement's overlap key; returns (key as hex, fingerprint).
    The key is shown once, by the caller; only its sealed form is kept."""
    agreement = store.get_agreement(name)
    if agreement.ended is not None:
        raise ConfigError(f"agreement {name!r} has ended: an overlap key would never be usable")
    current = store.agreement_overlap_keys().get(agreement.pk)
    if current is not None and not rotate:
        raise ConfigError(f"agreement {name!r} already has an overlap key (fingerprint {current.fingerprint}, "
                          f"made {_when(current.created)}): --rotate replaces it (the partner must then set the "
                          "new one), --remove turns the overlap check off")
    key = secrets.token_bytes(KEY_BYTES)
    fp = fingerprint(key)
    store.set_agreement_overlap_key(name, sealed_key=box.seal(key.hex()), fingerprint=fp, actor=actor)
    return key.hex(), fp


def _local_org(store: Store, name: str) -> str:
    """The organisation a partner's key speaks for: one of this node's own (our side of the agreement)."""
    if store.get_org(name).kind != "local":
        raise ConfigError(f"organisation {name!r} is a partner: a partner's key speaks for the local organisation "
                          "whose account the peer uses on the partner's node (our side of the agreement)")
    return name


def set_peer_key(store: Store, box: SecretBox, peer: str, key_text: str, *, remote_agreement: str | None,
                 for_org: str | None, actor: str) -> OverlapKey:
    """Keep a partner's overlap key (sealed) for asking its node through ``peer``. ``for_org`` is the
    local organisation the peer's account on the partner's node belongs to there: its members may
    ask with the key (``askable_peers``); None leaves the key to node-admins."""
    key = parse_key(key_text)
    org = None if for_org is None else _local_org(store, for_org)
    return store.set_peer_overlap_key(peer, sealed_key=box.seal(key.hex()), fingerprint=fingerprint(key),
                                      remote_agreement=remote_agreement or None, for_org=org, actor=actor)


def set_peer_org(store: Store, peer: str, for_org: str, *, actor: str) -> OverlapKey:
    """Name the local organisation a key already kept for ``peer`` speaks for (a key kept before
    the organisation was recorded, or a peer whose account moved to another organisation there)."""
    return store.set_peer_overlap_org(peer, for_org=_local_org(store, for_org), actor=actor)


def unseal_key(box: SecretBox, record: OverlapKey) -> bytes:
    try:
        key = parse_key(box.unseal(record.sealed_key))
    except ConfigError as exc:
        raise ConfigError(f"the overlap key {record.fingerprint} cannot be opened ({exc}); make it again: "
                          "`accord agreement overlap-key NAME --rotate` (the key partners ask this node with) or "
                          "`accord peer overlap-key PEER --set - --for-org ORG` (a partner's key)") from None
    if fingerprint(key) != record.fingerprint:
        raise ConfigError("a stored overlap key does not match its fingerprint: set it again")
    return key


# -- the answering side ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AgreementKey:
    agreement: Agreement
    key: bytes
    fingerprint: str


def agreement_key_for(store: Store, box: SecretBox, viewer: Viewer, now: int, name: str | None) -> AgreementKey:
    """The agreement (and its key) under which ``viewer`` asks. Named: one its organisation is party
    to (any other, existing or not, is NotFoundError: the caller may not know of it), active and
    with a key. Not named: the one active agreement of its organisation that has a key."""
    keys = store.agreement_overlap_keys()
    mine = [a for a in store.agreements() if viewer.org_pk is not None and viewer.org_pk in a.parties]
    if name is not None:
        chosen = next((a for a in mine if a.name == name), None)
        if chosen is None:
            raise NotFoundError(f"no agreement {name!r}")
        state = chosen.state_at(now)
        if state != "active":
            raise OverlapRefused(f"agreement {name!r} is {state}: no overlap check under it")
        if chosen.pk not in keys:
            raise OverlapRefused(f"agreement {name!r} has no overlap key: this node's operator makes one with "
                                 f"`accord agreement overlap-key {name}`")
    else:
        usable = [a for a in mine if a.pk in keys and a.state_at(now) == "active"]
        if not usable:
            raise OverlapRefused("your organisation is party to no active agreement with an overlap key")
        if len(usable) > 1:
            raise RequestError("agreement", f"your organisation has {len(usable)} agreements with an overlap key "
                                            f"({', '.join(a.name for a in usable)}): name one")
        chosen = usable[0]
    record = keys[chosen.pk]
    return AgreementKey(chosen, unseal_key(box, record), record.fingerprint)


def check_hashes(hashes: object) -> list[str]:
    """The hashes of a question, or a RequestError naming the first that is unusable."""
    if not isinstance(hashes, list) or not hashes:
        raise RequestError("hashes", "must be a non-empty list of HMAC-SHA256 values (64 lower-case hex digits)")
    if len(hashes) > MAX_HASHES:
        raise RequestError("hashes", f"{len(hashes)} hashes; at most {MAX_HASHES} in one question")
    for i, h in enumerate(hashes):
        if not isinstance(h, str) or not HASH.fullmatch(h):
            shown = type(h).__name__ if not isinstance(h, str) else f"{h[:70]!r}"
            raise RequestError(f"hashes[{i}]", f"{shown} is not an HMAC-SHA256 value (64 lower-case hex digits)")
    return hashes


def answer(store: Store, vis: Visibility, asked: AgreementKey, tables: HashTables, hashes: Sequence[str],
           ) -> list[str]:
    """The submitted hashes (in the order sent, once each) of values that appear in an object
    ``vis``'s viewer may see; audited without values."""
    wanted = list(dict.fromkeys(hashes))
    tables.forget_except(set(k.fingerprint for k in store.agreement_overlap_keys().values()))
    candidates = tables.candidates_for(store, asked.fingerprint, asked.key, wanted)
    visible = Lookup(store, vis).visible_keys(list(dict.fromkeys(candidates.values())))
    matches = [h for h in wanted if h in candidates and candidates[h] in visible]
    viewer = vis.viewer
    store.audit_append(AuditEvent(viewer.username, "overlap", org=viewer.org_name, agreement=asked.agreement.name,
                                  detail={"channel": "overlap", "hashes": len(hashes), "matched": len(matches),
                                          "key": asked.fingerprint}), durable=False)
    return matches


# -- the asking side ---------------------------------------------------------------------------------
@dataclass
class HashPlan:
    """The hashes of the values to ask about, and which value each stands for (kept locally)."""

    values: list[str]
    by_hash: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)  # -> (value #, type, value)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (value, why it cannot be asked)


def plan_hashes(key: bytes, values: Sequence[str]) -> HashPlan:
    """Normalise each value exactly as the observable index does and hash every key it stands for."""
    plan = HashPlan([v.strip() for v in values])
    hasher = Hasher(key)
    for i, value in enumerate(plan.values):
        if len(value) > MAX_VALUE_LENGTH:
            plan.problems.append((value, f"longer than {MAX_VALUE_LENGTH} characters"))
            continue
        pairs = lookup_pairs(value) if value and "\x00" not in value else []
        if not pairs:
            plan.problems.append((value, NOT_A_VALUE))
        for index_type, norm in pairs:
            plan.by_hash.setdefault(hasher.hexdigest(index_type, norm), []).append((i, index_type, norm))
    return plan


@dataclass(frozen=True)
class OverlapResult:
    peer: str
    agreement: str | None  # as the partner's node named it
    key: str  # the key's fingerprint
    values: int  # values asked about (those that could be hashed)
    hashes: int
    overlap: list[tuple[str, str, str]]  # (value as given, index type, normalised value), in the order given
    problems: list[tuple[str, str]]  # (value, why it was not asked)
    for_org: str | None = None  # the local organisation the question was asked as (see AskablePeer)


@dataclass(frozen=True)
class AskablePeer:
    """A peer holding a partner's key, which a user may have this node ask (no token, no key)."""

    name: str
    org_name: str  # the partner organisation the peer speaks for
    fingerprint: str  # of the partner's key kept for it
    remote_agreement: str | None  # the agreement's name on the partner's node, when it must be named
    for_org: str | None  # the local organisation the question is asked as (None: not named; node-admins only)


def askable_peers(store: Store, viewer: Viewer, now: int) -> list[AskablePeer]:
    """The peers with a partner's overlap key that ``viewer`` may have this node ask.

    The question travels with the peer's one account on the partner's node, which belongs to one
    organisation there: the partner answers it as that organisation (what their agreement lets it
    see) and records it against it. The operator names that organisation, on our side, with the
    key (``for_org``). So: a node-admin (the operator, who can ask from the CLI anyway) through
    every keyed peer; an analyst or above of a local organisation through the peers whose key
    speaks for that very organisation, while it has an active agreement with the peer's partner;
    nobody else (readers, partner organisations' accounts, another local organisation, whatever
    its own agreements with that partner, since the partner would answer it as the first one)."""
    partners: set[int] | None = None  # None: every peer's
    if not viewer.is_node_admin:
        if not viewer.role.at_least(Role.ANALYST) or viewer.org_name is None \
                or store.get_org(viewer.org_name).kind != "local":
            return []
        partners = {pk for a in store.agreements() if viewer.org_pk in a.parties and a.state_at(now) == "active"
                    for pk in a.parties} - {viewer.org_pk}
    askable = []
    for peer in store.peers():
        if partners is None or peer.org_pk in partners:
            record = store.peer_overlap_key(peer.name)
            if record is not None and (partners is None or record.for_org == viewer.org_name):
                askable.append(AskablePeer(peer.name, peer.org_name, record.fingerprint, record.remote_agreement,
                                           record.for_org))
    return askable
