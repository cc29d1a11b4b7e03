"""What each STIX 2.1 cyber-observable object may hold (section 6), with its predefined extensions.

Same vocabulary as :mod:`accord.stix.schema`: one :class:`TypeSpec` per observable type, a hook
for the rules that relate several properties, and the predefined extensions (section 6.x.2) as
embedded shapes the validator checks under ``extensions.<name>``. Observables have no
``created``/``modified``; their ``spec_version`` is optional.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from accord.stix.schema import (
    BINARY,
    BOOLEAN,
    DICTIONARY,
    HASHES,
    HEX,
    INTEGER,
    NON_NEGATIVE,
    NUMBER,
    OPEN_VOCAB,
    STRING,
    STRINGS,
    TIMESTAMP,
    Found,
    Prop,
    Shape,
    TypeSpec,
    add_finding,
    embedded,
    embedded_list,
    enum,
    integer,
    ordered,
    ref,
    refs,
)
from accord.stix.vocab import (
    ENCRYPTION_ALGORITHMS,
    NETWORK_SOCKET_ADDRESS_FAMILIES,
    NETWORK_SOCKET_TYPES,
    SCO_TYPES,
    WINDOWS_INTEGRITY_LEVELS,
    WINDOWS_REGISTRY_DATATYPES,
    WINDOWS_SERVICE_START_TYPES,
    WINDOWS_SERVICE_STATUSES,
    WINDOWS_SERVICE_TYPES,
)


def _needs_one_of(names: Mapping[str, Prop]) -> Callable[[Mapping[str, Any]], Found | None]:
    """Sections 6.13, 6.16-6.18: the object must say something beyond its type and id."""
    wanted = frozenset(names) | {"extensions"}

    def rule(obj: Mapping[str, Any]) -> Found | None:
        if wanted.isdisjoint(obj):
            return [("", "needs at least one property of its type besides type and id")]
        return None

    return rule


# --- value formats the specification makes MUST ---------------------------------------------

_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:/(?:3[0-2]|[12]?[0-9]))?"
)
# Section 6.10: colon-delimited, lowercase, with leading zeros.
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def _value_rule(check: Callable[[str], bool], what: str) -> Callable[[Mapping[str, Any]], Found | None]:
    def rule(obj: Mapping[str, Any]) -> Found | None:
        value = obj.get("value")
        if isinstance(value, str) and not check(value):
            return [("value", f"must be {what}")]
        return None

    return rule


def _is_ipv6(value: str) -> bool:
    try:
        ipaddress.IPv6Network(value, strict=False)
    except ValueError:
        return False
    return True


def _artifact_rules(obj: Mapping[str, Any]) -> Found | None:
    found: Found | None = None
    if ("payload_bin" in obj) == ("url" in obj):
        found = add_finding(found, "", "needs exactly one of payload_bin and url")
    if "url" in obj and "hashes" not in obj:
        found = add_finding(found, "hashes", "required with url, so the content can be verified")
    if "decryption_key" in obj and "encryption_algorithm" not in obj:
        found = add_finding(found, "decryption_key", "only allowed with encryption_algorithm")
    return found


def _email_message_rules(obj: Mapping[str, Any]) -> Found | None:
    multipart = obj.get("is_multipart")
    if multipart is True and "body" in obj:
        return [("body", "not allowed when is_multipart is true (use body_multipart)")]
    if multipart is False and "body_multipart" in obj:
        return [("body_multipart", "not allowed when is_multipart is false (use body)")]
    return None


def _mime_part_rules(part: Mapping[str, Any]) -> Found | None:
    if ("body" in part) == ("body_raw_ref" in part):
        return [("", "needs exactly one of body and body_raw_ref")]
    return None


def _file_rules(obj: Mapping[str, Any]) -> Found | None:
    if "hashes" not in obj and "name" not in obj:
        return [("", "needs hashes or name")]
    return None


def _network_traffic_rules(obj: Mapping[str, Any]) -> Found | None:
    found = ordered(obj, "start", "end")
    if "src_ref" not in obj and "dst_ref" not in obj:
        found = add_finding(found, "", "needs src_ref or dst_ref")
    if obj.get("is_active") is True and "end" in obj:
        found = add_finding(found, "end", "not allowed while is_active is true")
    return found


# --- embedded shapes and predefined extensions ----------------------------------------------

# 6.6.2 Email MIME Component
MIME_PART = Shape(
    {
        "body": STRING, "body_raw_ref": ref("artifact", "file"), "content_type": STRING,
        "content_disposition": STRING,
    },
    rules=_mime_part_rules,
)
# 6.7.2 Archive File Extension
ARCHIVE_EXT = Shape({"contains_refs": refs("file", "directory"), "comment": STRING}, ("contains_refs",))
# 6.7.3 NTFS File Extension, with 6.7.3.2 Alternate Data Stream
ALTERNATE_DATA_STREAM = Shape({"name": STRING, "hashes": HASHES, "size": NON_NEGATIVE}, ("name",))
NTFS_EXT = Shape(
    {"sid": STRING, "alternate_data_streams": embedded_list(ALTERNATE_DATA_STREAM)}, not_empty=True
)
# 6.7.4 PDF File Extension
PDF_EXT = Shape(
    {
        "version": STRING, "is_optimized": BOOLEAN, "document_info_dict": DICTIONARY,
        "pdfid0": STRING, "pdfid1": STRING,
    },
    not_empty=True,
)
# 6.7.5 Raster Image File Extension
RASTER_IMAGE_EXT = Shape(
    {"image_height": INTEGER, "image_width": INTEGER, "bits_per_pixel": INTEGER, "exif_tags": DICTIONARY},
    not_empty=True,
)
# 6.7.6.2 Windows PE Optional Header: integers, sizes that cannot be negative, and hex fields.
PE_OPTIONAL_HEADER = Shape(
    {
        **{name: INTEGER for name in (
            "major_linker_version", "minor_linker_version", "address_of_entry_point", "base_of_code",
            "base_of_data", "image_base", "section_alignment", "file_alignment", "major_os_version",
            "minor_os_version", "major_image_version", "minor_image_version", "major_subsystem_version",
            "minor_subsystem_version", "number_of_rva_and_sizes",
        )},
        **{name: NON_NEGATIVE for name in (
            "size_of_code", "size_of_initialized_data", "size_of_uninitialized_data", "size_of_image",
            "size_of_headers", "size_of_stack_reserve", "size_of_stack_commit", "size_of_heap_reserve",
            "size_of_heap_commit",
        )},
        **{name: HEX for name in (
            "magic_hex", "win32_version_value_hex", "checksum_hex", "subsystem_hex",
            "dll_characteristics_hex", "loader_flags_hex",
        )},
        "hashes": HASHES,
    },
    not_empty=True,
)
# 6.7.6.3 Windows PE Section
PE_SECTION = Shape({"name": STRING, "size": NON_NEGATIVE, "entropy": NUMBER, "hashes": HASHES}, ("name",))
# 6.7.6 Windows PE Binary File Extension
WINDOWS_PEBINARY_EXT = Shape(
    {
        "pe_type": OPEN_VOCAB, "imphash": STRING, "machine_hex": HEX, "number_of_sections": NON_NEGATIVE,
        "time_date_stamp": TIMESTAMP, "pointer_to_symbol_table_hex": HEX, "number_of_symbols": NON_NEGATIVE,
        "size_of_optional_header": NON_NEGATIVE, "characteristics_hex": HEX, "file_header_hashes": HASHES,
        "optional_header": embedded(PE_OPTIONAL_HEADER), "sections": embedded_list(PE_SECTION),
    },
    ("pe_type",),
)
# 6.12.2 HTTP Request Extension
HTTP_REQUEST_EXT = Shape(
    {
        "request_method": STRING, "request_value": STRING, "request_version": STRING,
        "request_header": DICTIONARY, "message_body_length": NON_NEGATIVE,
        "message_body_data_ref": ref("artifact"),
    },
    ("request_method", "request_value"),
)
# 6.12.3 ICMP Extension
ICMP_EXT = Shape({"icmp_type_hex": HEX, "icmp_code_hex": HEX}, ("icmp_type_hex", "icmp_code_hex"))
# 6.12.4 Network Socket Extension
SOCKET_EXT = Shape(
    {
        "address_family": enum(NETWORK_SOCKET_ADDRESS_FAMILIES), "is_blocking": BOOLEAN,
        "is_listening": BOOLEAN, "options": DICTIONARY, "socket_type": enum(NETWORK_SOCKET_TYPES),
        "socket_descriptor": NON_NEGATIVE, "socket_handle": INTEGER,
    },
    ("address_family",),
)
# 6.12.5 TCP Extension
TCP_EXT = Shape({"src_flags_hex": HEX, "dst_flags_hex": HEX}, not_empty=True)
# 6.13.2 Windows Process Extension
WINDOWS_PROCESS_EXT = Shape(
    {
        "aslr_enabled": BOOLEAN, "dep_enabled": BOOLEAN, "priority": STRING, "owner_sid": STRING,
        "window_title": STRING, "startup_info": DICTIONARY, "integrity_level": enum(WINDOWS_INTEGRITY_LEVELS),
    },
    not_empty=True,
)
# 6.13.3 Windows Service Extension
WINDOWS_SERVICE_EXT = Shape(
    {
        "service_name": STRING, "descriptions": STRINGS, "display_name": STRING, "group_name": STRING,
        "start_type": enum(WINDOWS_SERVICE_START_TYPES), "service_dll_refs": refs("file"),
        "service_type": enum(WINDOWS_SERVICE_TYPES), "service_status": enum(WINDOWS_SERVICE_STATUSES),
    },
    not_empty=True,
)
# 6.16.2 UNIX Account Extension
UNIX_ACCOUNT_EXT = Shape(
    {"gid": INTEGER, "groups": STRINGS, "home_dir": STRING, "shell": STRING}, not_empty=True
)
# 6.17.2 Windows Registry Value
REGISTRY_VALUE = Shape(
    {"name": STRING, "data": STRING, "data_type": enum(WINDOWS_REGISTRY_DATATYPES)}, not_empty=True
)
# 6.18.2 X.509 v3 Extensions: all strings but two timestamps.
X509_V3_EXTENSIONS = Shape(
    {
        **{name: STRING for name in (
            "basic_constraints", "name_constraints", "policy_constraints", "key_usage",
            "extended_key_usage", "subject_key_identifier", "authority_key_identifier",
            "subject_alternative_name", "issuer_alternative_name", "subject_directory_attributes",
            "crl_distribution_points", "inhibit_any_policy", "certificate_policies", "policy_mappings",
        )},
        "private_key_usage_period_not_before": TIMESTAMP,
        "private_key_usage_period_not_after": TIMESTAMP,
    },
    not_empty=True,
)

# --- the observable types -------------------------------------------------------------------

_PROCESS_PROPS: Mapping[str, Prop] = {
    "is_hidden": BOOLEAN, "pid": INTEGER, "created_time": TIMESTAMP, "cwd": STRING, "command_line": STRING,
    "environment_variables": DICTIONARY, "opened_connection_refs": refs("network-traffic"),
    "creator_user_ref": ref("user-account"), "image_ref": ref("file"), "parent_ref": ref("process"),
    "child_refs": refs("process"),
}
_USER_ACCOUNT_PROPS: Mapping[str, Prop] = {
    "user_id": STRING, "credential": STRING, "account_login": STRING, "account_type": OPEN_VOCAB,
    "display_name": STRING, "is_service_account": BOOLEAN, "is_privileged": BOOLEAN,
    "can_escalate_privs": BOOLEAN, "is_disabled": BOOLEAN, "account_created": TIMESTAMP,
    "account_expires": TIMESTAMP, "credential_last_changed": TIMESTAMP, "account_first_login": TIMESTAMP,
    "account_last_login": TIMESTAMP,
}
_REGISTRY_KEY_PROPS: Mapping[str, Prop] = {
    "key": STRING, "values": embedded_list(REGISTRY_VALUE), "modified_time": TIMESTAMP,
    "creator_user_ref": ref("user-account"), "number_of_subkeys": NON_NEGATIVE,
}
_X509_PROPS: Mapping[str, Prop] = {
    "is_self_signed": BOOLEAN, "hashes": HASHES, "version": STRING, "serial_number": STRING,
    "signature_algorithm": STRING, "issuer": STRING, "validity_not_before": TIMESTAMP,
    "validity_not_after": TIMESTAMP, "subject": STRING, "subject_public_key_algorithm": STRING,
    "subject_public_key_modulus": STRING, "subject_public_key_exponent": INTEGER,
    "x509_v3_extensions": embedded(X509_V3_EXTENSIONS),
}
_ADDRESS_REFS = ("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")

SCO_SPECS: tuple[TypeSpec, ...] = (
    # 6.1 Artifact
    TypeSpec(
        "artifact",
        {
            "mime_type": STRING, "payload_bin": BINARY, "url": STRING, "hashes": HASHES,
            "encryption_algorithm": enum(ENCRYPTION_ALGORITHMS), "decryption_key": STRING,
        },
        rules=_artifact_rules,
    ),
    # 6.2 Autonomous System
    TypeSpec("autonomous-system", {"number": INTEGER, "name": STRING, "rir": STRING}, ("number",)),
    # 6.3 Directory
    TypeSpec(
        "directory",
        {
            "path": STRING, "path_enc": STRING, "ctime": TIMESTAMP, "mtime": TIMESTAMP, "atime": TIMESTAMP,
            "contains_refs": refs("file", "directory"),
        },
        ("path",),
    ),
    # 6.4 Domain Name
    TypeSpec(
        "domain-name",
        {"value": STRING, "resolves_to_refs": refs("ipv4-addr", "ipv6-addr", "domain-name")},
        ("value",),
    ),
    # 6.5 Email Address
    TypeSpec(
        "email-addr",
        {"value": STRING, "display_name": STRING, "belongs_to_ref": ref("user-account")},
        ("value",),
    ),
    # 6.6 Email Message
    TypeSpec(
        "email-message",
        {
            "is_multipart": BOOLEAN, "date": TIMESTAMP, "content_type": STRING, "from_ref": ref("email-addr"),
            "sender_ref": ref("email-addr"), "to_refs": refs("email-addr"), "cc_refs": refs("email-addr"),
            "bcc_refs": refs("email-addr"), "message_id": STRING, "subject": STRING,
            "received_lines": STRINGS, "additional_header_fields": DICTIONARY, "body": STRING,
            "body_multipart": embedded_list(MIME_PART), "raw_email_ref": ref("artifact"),
        },
        ("is_multipart",),
        _email_message_rules,
    ),
    # 6.7 File
    TypeSpec(
        "file",
        {
            "hashes": HASHES, "size": NON_NEGATIVE, "name": STRING, "name_enc": STRING,
            "magic_number_hex": HEX, "mime_type": STRING, "ctime": TIMESTAMP, "mtime": TIMESTAMP,
            "atime": TIMESTAMP, "parent_directory_ref": ref("directory"),
            "contains_refs": refs(SCO_TYPES, custom=True), "content_ref": ref("artifact"),
        },
        rules=_file_rules,
        extensions={
            "archive-ext": ARCHIVE_EXT, "ntfs-ext": NTFS_EXT, "pdf-ext": PDF_EXT,
            "raster-image-ext": RASTER_IMAGE_EXT, "windows-pebinary-ext": WINDOWS_PEBINARY_EXT,
        },
    ),
    # 6.8 IPv4 Address
    TypeSpec(
        "ipv4-addr",
        {"value": STRING, "resolves_to_refs": refs("mac-addr"), "belongs_to_refs": refs("autonomous-system")},
        ("value",),
        _value_rule(lambda v: _IPV4.fullmatch(v) is not None, "an IPv4 address or CIDR block"),
    ),
    # 6.9 IPv6 Address
    TypeSpec(
        "ipv6-addr",
        {"value": STRING, "resolves_to_refs": refs("mac-addr"), "belongs_to_refs": refs("autonomous-system")},
        ("value",),
        _value_rule(_is_ipv6, "an IPv6 address or CIDR block"),
    ),
    # 6.10 MAC Address
    TypeSpec(
        "mac-addr",
        {"value": STRING},
        ("value",),
        _value_rule(lambda v: _MAC.fullmatch(v) is not None, "a lowercase colon-separated MAC-48 address"),
    ),
    # 6.11 Mutex
    TypeSpec("mutex", {"name": STRING}, ("name",)),
    # 6.12 Network Traffic
    TypeSpec(
        "network-traffic",
        {
            "start": TIMESTAMP, "end": TIMESTAMP, "is_active": BOOLEAN, "src_ref": ref(*_ADDRESS_REFS),
            "dst_ref": ref(*_ADDRESS_REFS), "src_port": integer(0, 65535), "dst_port": integer(0, 65535),
            "protocols": STRINGS, "src_byte_count": NON_NEGATIVE, "dst_byte_count": NON_NEGATIVE,
            "src_packets": NON_NEGATIVE, "dst_packets": NON_NEGATIVE, "ipfix": DICTIONARY,
            "src_payload_ref": ref("artifact"), "dst_payload_ref": ref("artifact"),
            "encapsulates_refs": refs("network-traffic"), "encapsulated_by_ref": ref("network-traffic"),
        },
        ("protocols",),
        _network_traffic_rules,
        extensions={
            "http-request-ext": HTTP_REQUEST_EXT, "icmp-ext": ICMP_EXT, "socket-ext": SOCKET_EXT,
            "tcp-ext": TCP_EXT,
        },
    ),
    # 6.13 Process
    TypeSpec(
        "process",
        _PROCESS_PROPS,
        rules=_needs_one_of(_PROCESS_PROPS),
        extensions={"windows-process-ext": WINDOWS_PROCESS_EXT, "windows-service-ext": WINDOWS_SERVICE_EXT},
    ),
    # 6.14 Software
    TypeSpec(
        "software",
        {
            "name": STRING, "cpe": STRING, "swid": STRING, "languages": STRINGS, "vendor": STRING,
            "version": STRING,
        },
        ("name",),
    ),
    # 6.15 URL
    TypeSpec("url", {"value": STRING}, ("value",)),
    # 6.16 User Account
    TypeSpec(
        "user-account",
        _USER_ACCOUNT_PROPS,
        rules=_needs_one_of(_USER_ACCOUNT_PROPS),
        extensions={"unix-account-ext": UNIX_ACCOUNT_EXT},
    ),
    # 6.17 Windows Registry Key. The spec wants the hive spelled out (HKEY_LOCAL_MACHINE, not
    # HKLM), but MISP's STIX 2.1 exporter writes "HKLM\\...", so that rule is not enforced.
    TypeSpec("windows-registry-key", _REGISTRY_KEY_PROPS, rules=_needs_one_of(_REGISTRY_KEY_PROPS)),
    # 6.18 X.509 Certificate
    TypeSpec("x509-certificate", _X509_PROPS, rules=_needs_one_of(_X509_PROPS)),
)
