"""What makes two object versions the same: the version key and the content digest.

STIX identifies a version of an SDO/SRO by (id, modified) (STIX 2.1 section 3.6). Objects
without ``modified`` (marking definitions) use ``created``; objects with neither (most SCOs)
have a single, unversioned form, keyed by the empty string.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from accord.stix.timestamps import timestamp_key

CONTENT_VERSION_PREFIX = "#"


def version_key(obj: dict[str, Any]) -> str:
    """The store's version of an object: ``modified``, else ``created``, else ``#`` + content digest."""
    for prop in ("modified", "created"):
        key = timestamp_key(obj.get(prop))
        if key is not None:
            return key
    return CONTENT_VERSION_PREFIX + content_hash(obj).hex()


def content_hash(obj: dict[str, Any]) -> bytes:
    """Digest of the object's content, independent of key order and whitespace."""
    return hashlib.blake2b(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def body_hash(body: bytes) -> bytes:
    """Digest of one serialisation. Equal digests mean equal content; different digests may
    still be equal content written differently, which :func:`same_content` settles."""
    return hashlib.blake2b(body, digest_size=16).digest()


def same_content(a: bytes, b: bytes) -> bool:
    """Whether two JSON serialisations hold the same object (key order and spacing aside)."""
    return bool(orjson.dumps(orjson.loads(a), option=orjson.OPT_SORT_KEYS)
                == orjson.dumps(orjson.loads(b), option=orjson.OPT_SORT_KEYS))
