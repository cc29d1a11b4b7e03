"""The STIX 2.1 type catalogue and the value sets the validator needs.

Type sets follow the object categories of the specification: domain objects (section 4),
relationship objects (section 5), cyber-observable objects (section 6) and the meta objects
(section 7). A type in none of them is a custom object (section 11.2), which Accord keeps.

Most STIX vocabularies are *open* (section 2.9): any string is allowed, so they need no value
set here. The few *closed* enumerations (section 2.8) are listed because a value outside them
is a violation. Hashing algorithms are listed for another reason: the vocabulary is open, but a
value under one of its well-known names has a fixed shape (section 10.7).
"""

from __future__ import annotations

from typing import Final

SDO_TYPES: Final = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    }
)

SRO_TYPES: Final = frozenset({"relationship", "sighting"})

SCO_TYPES: Final = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    }
)

META_TYPES: Final = frozenset({"marking-definition", "language-content", "extension-definition"})

STIX_TYPES: Final = SDO_TYPES | SRO_TYPES | SCO_TYPES | META_TYPES

# A bundle (section 8) wraps objects and is not one itself: nothing may point at it.
BUNDLE_TYPE: Final = "bundle"

# Names STIX 2.1 marks RESERVED (a reserved name MUST NOT be present). The OASIS JSON schemas
# forbid them on every SDO, SRO and SCO; custom objects are not bound by them.
RESERVED_PROPERTIES: Final = frozenset({"severity", "action", "username", "phone_numbers"})

# --- closed enumerations (section 10) -----------------------------------------------------

ENCRYPTION_ALGORITHMS: Final = frozenset({"AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated"})

EXTENSION_TYPES: Final = frozenset(
    {"new-sdo", "new-sco", "new-sro", "property-extension", "toplevel-property-extension"}
)

NETWORK_SOCKET_ADDRESS_FAMILIES: Final = frozenset(
    {"AF_UNSPEC", "AF_INET", "AF_IPX", "AF_APPLETALK", "AF_NETBIOS", "AF_INET6", "AF_IRDA", "AF_BTH"}
)

NETWORK_SOCKET_TYPES: Final = frozenset(
    {"SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET"}
)

OPINIONS: Final = frozenset({"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"})

WINDOWS_INTEGRITY_LEVELS: Final = frozenset({"low", "medium", "high", "system"})

WINDOWS_REGISTRY_DATATYPES: Final = frozenset(
    {
        "REG_NONE",
        "REG_SZ",
        "REG_EXPAND_SZ",
        "REG_BINARY",
        "REG_DWORD",
        "REG_DWORD_BIG_ENDIAN",
        "REG_DWORD_LITTLE_ENDIAN",
        "REG_LINK",
        "REG_MULTI_SZ",
        "REG_RESOURCE_LIST",
        "REG_FULL_RESOURCE_DESCRIPTION",
        "REG_RESOURCE_REQUIREMENTS_LIST",
        "REG_QWORD",
        "REG_INVALID_TYPE",
    }
)

WINDOWS_SERVICE_START_TYPES: Final = frozenset(
    {
        "SERVICE_AUTO_START",
        "SERVICE_BOOT_START",
        "SERVICE_DEMAND_START",
        "SERVICE_DISABLED",
        "SERVICE_SYSTEM_ALERT",
    }
)

WINDOWS_SERVICE_TYPES: Final = frozenset(
    {
        "SERVICE_KERNEL_DRIVER",
        "SERVICE_FILE_SYSTEM_DRIVER",
        "SERVICE_WIN32_OWN_PROCESS",
        "SERVICE_WIN32_SHARE_PROCESS",
    }
)

WINDOWS_SERVICE_STATUSES: Final = frozenset(
    {
        "SERVICE_CONTINUE_PENDING",
        "SERVICE_PAUSE_PENDING",
        "SERVICE_PAUSED",
        "SERVICE_RUNNING",
        "SERVICE_START_PENDING",
        "SERVICE_STOP_PENDING",
        "SERVICE_STOPPED",
    }
)

# The TLP 1.0 levels a ``tlp`` marking definition may name (section 7.2.1.4).
TLP1_LEVELS: Final = frozenset({"white", "green", "amber", "red"})

# --- open vocabularies with a consequence ---------------------------------------------------

# hashing-algorithm-ov (section 10.7): the digest length each well-known name implies, in hex
# digits. SSDEEP and TLSH are left out: their text forms changed across tool versions.
HASH_HEX_LENGTHS: Final[dict[str, int]] = {
    "MD5": 32,
    "SHA-1": 40,
    "SHA-256": 64,
    "SHA-512": 128,
    "SHA3-256": 64,
    "SHA3-512": 128,
}
HASH_ALGORITHMS: Final = frozenset({*HASH_HEX_LENGTHS, "SSDEEP", "TLSH"})
