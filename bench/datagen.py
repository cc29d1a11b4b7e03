"""Deterministic generator of realistic STIX 2.1 test data for the benchmarks.

    python bench/datagen.py 1000000 -o bench/out/bundle-1000000.json [--seed 1]

Writes one STIX 2.1 bundle, streamed: each object is written as soon as it is made, so memory
stays flat however large N is. Only bounded pools of recent ids and values are kept, for the
objects that point at others (relationships, sightings, reports, indicators built on an
observable seen earlier), which is also how real feeds look: references are mostly local.

The file layout is fixed and the floor in ``bench/ingest.py`` depends on it: the bundle header on
the first line, then exactly one compact JSON object per line (each but the last followed by a
comma), then ``]}`` on the last line. Accord's reader does not care about the layout.

Everything random comes from one ``random.Random(seed)``: the same (N, seed) gives the same bytes
on every machine and Python 3.11+. SDO/SRO/meta ids are version-4 UUIDs built from seeded bits;
SCO ids are version-5 UUIDs of their id-contributing properties, as STIX 2.1 section 2.9 asks.

The mix (after a preamble of marking definitions, producer and victim identities and a few
malware families, actors and intrusion sets) is roughly: 34% indicators (ipv4/ipv6/domain/url
and MD5/SHA-1/SHA-256 patterns, ~12% with two comparisons joined by AND/OR), 24% observables
(ipv4-addr, ipv6-addr, domain-name, url, file), 25% relationships, 6% sightings, 3% new versions
of recent indicators, 2% reports, and a trickle of malware, threat actors and intrusion sets.
Markings follow what a national CERT exchange carries: mostly TLP:GREEN and TLP:AMBER, some
CLEAR, little AMBER+STRICT and RED, a few unmarked, and a producer's terms-of-use statement on
some. The exact counts are printed on stderr at the end.
"""

from __future__ import annotations

import argparse
import bisect
import ipaddress
import random
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

# --- fixed identifiers ----------------------------------------------------------------------
# The standard TLP 2.0 marking definitions (OASIS TLP 2.0 extension); the same ids as
# accord/stix/markings.py. Written here rather than imported so that the generator does not
# depend on the code it benchmarks.
TLP2_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2 = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
# The namespace STIX 2.1 section 2.9 fixes for deterministic SCO ids.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

# Share of objects per TLP level; None is "unmarked" (the collection default applies).
TLP_WEIGHTS: list[tuple[str | None, float]] = [
    ("clear", 0.15), ("green", 0.45), ("amber", 0.25), ("amber+strict", 0.05), ("red", 0.02), (None, 0.08),
]
# Of the marked objects, how many also carry their producer's terms-of-use statement.
STATEMENT_SHARE = 0.10

# What is generated after the preamble, by weight.
KIND_WEIGHTS: list[tuple[str, float]] = [
    ("indicator", 0.34), ("sco", 0.24), ("relationship", 0.25), ("sighting", 0.06),
    ("revision", 0.03), ("report", 0.02), ("malware", 0.015), ("threat-actor", 0.005),
    ("intrusion-set", 0.005), ("identity", 0.001),
]
SCO_WEIGHTS: list[tuple[str, float]] = [
    ("ipv4-addr", 0.35), ("domain-name", 0.25), ("url", 0.20), ("file", 0.15), ("ipv6-addr", 0.05),
]
# Indicator pattern subjects; the hash share matches what malware-analysis feeds produce.
PATTERN_WEIGHTS: list[tuple[str, float]] = [
    ("ipv4-addr", 0.30), ("domain-name", 0.22), ("url", 0.18), ("file:MD5", 0.08), ("file:SHA-1", 0.05),
    ("file:SHA-256", 0.14), ("ipv6-addr", 0.03),
]
COMPOUND_SHARE = 0.12  # indicators whose pattern joins two comparisons
REUSE_SHARE = 0.40  # indicators whose value is an observable generated shortly before

# Bounded pools: references point at recent objects, and memory does not grow with N.
POOL = 2048

EPOCH_START = 1546300800  # 2019-01-01T00:00:00Z
EPOCH_SPAN = 6 * 365 * 86400  # objects are created over six years

# --- vocabularies for realistic text ------------------------------------------------------------

PRODUCERS = [
    ("CERT-EU", "government"), ("ANSSI CERT-FR", "government"), ("NCSC-NL", "government"),
    ("CERT-Bund", "government"), ("CCN-CERT", "government"), ("CERT.at", "government"),
    ("NCSC-FI", "government"), ("CERT-PL", "government"), ("DefenceCERT", "defense"),
    ("FinCERT Nordic", "financial-services"), ("Energy-ISAC EU", "energy"), ("Telecom SOC Alliance",
                                                                            "telecommunications"),
]
VICTIM_SECTORS = [
    "government-national", "government-regional", "defense", "energy", "financial-services",
    "healthcare", "telecommunications", "transportation", "manufacturing", "education", "water",
]
COUNTRIES = ["FR", "DE", "NL", "BE", "AT", "FI", "PL", "ES", "IT", "SE", "DK", "EE", "LT", "CZ", "PT"]
FAMILY_PARTS = [
    "Dark", "Shadow", "Black", "Cobalt", "Iron", "Night", "Silent", "Ghost", "Venom", "Storm", "Red",
    "Crypt", "Lock", "Gate", "Loader", "Rat", "Bot", "Stealer", "Worm", "Hydra", "Raven", "Viper",
    "Pony", "Kraken", "Nova", "Zeus", "Emo", "Qak", "Ice", "Bumble", "Smoke", "Agent", "Trick",
]
ACTOR_ADJ = [
    "Crimson", "Silent", "Fancy", "Cozy", "Wicked", "Sandy", "Golden", "Velvet", "Hidden", "Ember",
    "Frozen", "Lunar", "Rusty", "Scarlet", "Turquoise", "Amber", "Obsidian", "Hollow", "Copper",
]
ACTOR_NOUN = [
    "Bear", "Panda", "Kitten", "Chollima", "Spider", "Typhoon", "Blizzard", "Sandstorm", "Sleet",
    "Otter", "Jackal", "Heron", "Lynx", "Mantis", "Falcon", "Wolf", "Badger", "Raccoon",
]
MALWARE_TYPES = [
    "ransomware", "trojan", "backdoor", "remote-access-trojan", "dropper", "downloader", "spyware",
    "keylogger", "bot", "worm", "wiper", "rootkit", "exploit-kit", "webshell",
]
CAPABILITIES = [
    "communicates-with-c2", "exfiltrates-data", "steals-authentication-credentials",
    "persists-after-system-reboot", "evades-av", "escalates-privileges", "installs-other-components",
    "accesses-remote-machines",
]
INDICATOR_TYPES = ["malicious-activity", "anomalous-activity", "compromised", "attribution"]
LABELS = [
    "phishing", "c2", "botnet", "apt", "ransomware", "scanner", "tor-exit", "malspam", "exploit",
    "credential-theft", "ddos", "cryptomining", "watering-hole", "supply-chain", "infostealer",
]
PHASES = [
    ("mitre-attack", "initial-access"), ("mitre-attack", "execution"), ("mitre-attack", "persistence"),
    ("mitre-attack", "command-and-control"), ("mitre-attack", "exfiltration"),
    ("mitre-attack", "credential-access"), ("lockheed-martin-cyber-kill-chain", "delivery"),
    ("lockheed-martin-cyber-kill-chain", "installation"),
    ("lockheed-martin-cyber-kill-chain", "command-and-control"),
]
TECHNIQUES = [
    ("T1566.001", "Spearphishing Attachment"), ("T1566.002", "Spearphishing Link"),
    ("T1190", "Exploit Public-Facing Application"), ("T1059.001", "PowerShell"),
    ("T1071.001", "Web Protocols"), ("T1105", "Ingress Tool Transfer"),
    ("T1486", "Data Encrypted for Impact"), ("T1003.001", "LSASS Memory"),
    ("T1021.001", "Remote Desktop Protocol"), ("T1567.002", "Exfiltration to Cloud"),
]
TLDS = ["com", "net", "org", "info", "xyz", "top", "ru", "cn", "io", "biz", "online", "site", "club", "eu"]
WORDS = [
    "secure", "login", "update", "account", "verify", "cloud", "mail", "office", "portal", "service",
    "support", "cdn", "static", "api", "sync", "docs", "drive", "auth", "billing", "invoice", "track",
    "delivery", "microsoft", "adobe", "paypal", "bank", "gov", "news", "media", "data", "host", "node",
]
URL_PATHS = [
    "wp-content/uploads", "wp-admin/css", "images", "admin", "gate", "panel", "files", "download",
    "assets/js", "include", "tmp", "cgi-bin", "api/v1", "owa/auth", "dropbox",
]
URL_FILES = ["index.php", "gate.php", "login.html", "update.exe", "invoice.zip", "doc.hta", "payload.bin",
             "config.bin", "a.js", "verify.php", "setup.msi", "report.iso"]
FILE_NAMES = ["invoice", "scan", "update", "setup", "payment", "document", "report", "order", "svchost",
              "rundll", "chrome_update", "readme", "contract", "cv"]
FILE_EXTS = ["exe", "dll", "docm", "xlsm", "zip", "iso", "lnk", "js", "hta", "ps1", "vbs", "pdf", "msi"]
REPORT_TYPES = ["threat-report", "campaign", "indicator", "malware", "threat-actor", "vulnerability"]
SENTENCES = [
    "Observed during an intrusion at a {sector} organisation in {country} in the context of a wider "
    "{family} campaign.",
    "The infrastructure was used as a command-and-control server for {family} and remained active for "
    "several weeks.",
    "Delivered through malspam with a malicious attachment impersonating an invoice from a {sector} "
    "supplier.",
    "Linked with moderate confidence to {actor}, based on overlapping infrastructure and tooling.",
    "Partners are advised to block the indicator at the perimeter and to review proxy logs for the "
    "past 90 days.",
    "First reported by a partner CERT; confirmed by our own telemetry and sandbox analysis.",
    "The sample drops a second-stage loader that retrieves {family} from a compromised web server.",
    "Activity consistent with {technique} ({tid}) was observed shortly after initial access.",
    "Scanning from this address targeted VPN appliances and public-facing mail servers across {country}.",
    "Victims reported credential theft followed by lateral movement using remote desktop.",
    "This entry supersedes earlier reporting; the previous assessment was based on incomplete data.",
    "No false positives are expected; the value does not appear on any known allow list.",
]
GOALS = ["espionage against government networks", "theft of intellectual property", "financial gain",
         "disruption of critical infrastructure", "influence operations", "access to defence supply chains"]
MOTIVATIONS = ["organizational-gain", "personal-gain", "ideology", "dominance", "coercion", "notoriety"]
RESOURCE_LEVELS = ["government", "organization", "club", "team", "individual"]
SOPHISTICATION = ["expert", "advanced", "strategic", "intermediate", "innovator"]
ACTOR_TYPES = ["nation-state", "crime-syndicate", "hacker", "activist", "criminal", "spy"]
BLOGS = ["securelist.com", "unit42.paloaltonetworks.com", "blog.talosintelligence.com",
         "www.welivesecurity.com", "research.checkpoint.com", "www.mandiant.com", "cert.europa.eu",
         "www.cert.ssi.gouv.fr"]

_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _b36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _B36[r] + out
        if not n:
            return out


def _cumulative(weights: list[tuple[Any, float]]) -> tuple[list[Any], list[float]]:
    items, cum, total = [], [], 0.0
    for item, w in weights:
        total += w
        items.append(item)
        cum.append(total)
    return items, [c / total for c in cum]


class Generator:
    """Makes STIX objects one at a time; see the module docstring for the mix."""

    def __init__(self, seed: int = 1):
        # Not a source of secrets: a seeded generator is what makes the data reproducible.
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self._kinds = _cumulative(KIND_WEIGHTS)
        self._scos = _cumulative(SCO_WEIGHTS)
        self._patterns = _cumulative(PATTERN_WEIGHTS)
        self._tlp = _cumulative(TLP_WEIGHTS)
        # Per-type sequence numbers: they make observable values unique, so that two SCOs never
        # share an id (which would make them one object with possibly different markings).
        self._seq: Counter[str] = Counter()
        self.producers: list[str] = []
        self.statements: dict[str, str] = {}  # producer id -> its terms-of-use marking id
        self.victims: list[str] = []
        self.pools: dict[str, deque[Any]] = {
            k: deque(maxlen=POOL) for k in (
                "indicator", "malware", "threat-actor", "intrusion-set", "ipv4-addr", "ipv6-addr",
                "domain-name", "url", "file", "relationship", "sighting")
        }
        # Recent observable values an indicator can be built on: (pattern subject, value).
        self.values: deque[tuple[str, str]] = deque(maxlen=POOL)
        # Recent indicators (content, modified in ms), so that a later version can be derived from one.
        self.revisable: deque[tuple[dict[str, Any], int]] = deque(maxlen=256)
        self.family_names: deque[str] = deque(maxlen=256)
        self.actor_names: deque[str] = deque(maxlen=128)

    # --- primitives -------------------------------------------------------------------------
    def pick(self, table: tuple[list[Any], list[float]]) -> Any:
        items, cum = table
        return items[bisect.bisect_left(cum, self.rng.random())]

    def sid(self, stix_type: str) -> str:
        # A version-4 UUID from seeded bits (uuid4() would make runs differ).
        return f"{stix_type}--{uuid.UUID(int=self.rng.getrandbits(128), version=4)}"

    @staticmethod
    def sco_id(stix_type: str, contributing: dict[str, Any]) -> str:
        name = orjson.dumps(contributing, option=orjson.OPT_SORT_KEYS).decode()
        return f"{stix_type}--{uuid.uuid5(SCO_NAMESPACE, name)}"

    def when(self, after: int | None = None, within: int = EPOCH_SPAN) -> int:
        """A time in milliseconds: in the data's six years, or up to ``within`` s after ``after``."""
        base = EPOCH_START if after is None else after // 1000 + 1
        return (base + self.rng.randrange(within)) * 1000 + self.rng.randrange(1000)

    @staticmethod
    def ts(ms: int) -> str:
        seconds, millis = divmod(ms, 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"

    def hexdigits(self, bits: int) -> str:
        return f"{self.rng.getrandbits(bits):0{bits // 4}x}"

    def description(self, lo: int = 1, hi: int = 4) -> str:
        rng = self.rng
        tid, technique = rng.choice(TECHNIQUES)
        fill = {
            "sector": rng.choice(VICTIM_SECTORS), "country": rng.choice(COUNTRIES),
            "family": self.family_name(), "actor": self.actor_name(), "technique": technique, "tid": tid,
        }
        return " ".join(rng.choice(SENTENCES).format(**fill) for _ in range(rng.randint(lo, hi)))

    def family_name(self) -> str:
        if self.family_names and self.rng.random() < 0.9:
            return self.rng.choice(self.family_names)
        return self.rng.choice(FAMILY_PARTS) + self.rng.choice(FAMILY_PARTS).lower()

    def actor_name(self) -> str:
        if self.actor_names and self.rng.random() < 0.9:
            return self.rng.choice(self.actor_names)
        return f"{self.rng.choice(ACTOR_ADJ)} {self.rng.choice(ACTOR_NOUN)}"

    def common(self, obj: dict[str, Any], created: int, *, sdo: bool = True) -> dict[str, Any]:
        """Producer, markings, labels and references: the properties every feed object carries."""
        rng = self.rng
        producer = rng.choice(self.producers) if self.producers else None
        if sdo:
            obj["created"] = obj["modified"] = self.ts(created)
            if producer is not None:
                obj["created_by_ref"] = producer
        level = self.pick(self._tlp)
        if level is not None:
            refs = [TLP2[level]]
            if producer in self.statements and rng.random() < STATEMENT_SHARE:
                refs.append(self.statements[producer])
            obj["object_marking_refs"] = refs
        return obj

    def extras(self, obj: dict[str, Any], *, labels: float = 0.5, refs: float = 0.3) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < labels:
            obj["labels"] = rng.sample(LABELS, rng.randint(1, 3))
        if rng.random() < 0.6:
            obj["confidence"] = rng.choice((15, 30, 50, 70, 85, 100))
        if rng.random() < refs:
            obj["external_references"] = [self.external_reference() for _ in range(rng.randint(1, 2))]
        return obj

    def external_reference(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            tid, name = rng.choice(TECHNIQUES)
            return {"source_name": "mitre-attack", "external_id": tid, "description": name,
                    "url": f"https://attack.mitre.org/techniques/{tid.replace('.', '/')}/"}
        if roll < 0.55:
            cve = f"CVE-{rng.randint(2017, 2025)}-{rng.randint(1000, 49999)}"
            return {"source_name": "cve", "external_id": cve}
        blog = rng.choice(BLOGS)
        return {"source_name": blog.removeprefix("www.").split(".")[0],
                "url": f"https://{blog}/{rng.randint(2019, 2025)}/{self.hexdigits(32)[:10]}/",
                "description": "Vendor analysis of the campaign and its infrastructure"}

    def kill_chain(self) -> list[dict[str, str]]:
        phases = self.rng.sample(PHASES, self.rng.randint(1, 2))
        return [{"kill_chain_name": k, "phase_name": p} for k, p in phases]

    # --- observable values ------------------------------------------------------------------
    def ipv4(self) -> str:
        # A bijection of a counter (odd multiplier mod 2**32) gives addresses that look random and
        # never repeat; reserved first octets are skipped, not remapped, to keep it a bijection.
        while True:
            n = self._seq["ipv4"]
            self._seq["ipv4"] += 1
            x = (n * 2654435761 + 0x5BD1E995) & 0xFFFFFFFF
            first = x >> 24
            if first not in (0, 10, 127) and first < 224:
                return f"{first}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}"

    def ipv6(self) -> str:
        n = self._seq["ipv6"]
        self._seq["ipv6"] += 1
        # 2001:db8::/32-like prefixes are documentation ranges; use global unicast 2xxx::/16 with the
        # counter in the low bits (unique) and random middle bits (realistic spread).
        high = (0x2000 | self.rng.randrange(0x1000)) << 112
        middle = self.rng.getrandbits(64) << 32
        return str(ipaddress.IPv6Address(high | middle | n))

    def domain(self) -> str:
        rng = self.rng
        n = self._seq["domain"]
        self._seq["domain"] += 1
        form = rng.random()
        if form < 0.5:
            label = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}{n}"
        elif form < 0.8:
            label = f"{rng.choice(WORDS)}{_b36(n * 7919 + 12345)}"
        else:  # DGA-looking
            label = _b36(n) + "".join(rng.choice(_B36[10:]) for _ in range(rng.randint(8, 14)))
        if rng.random() < 0.2:
            label = f"{rng.choice(WORDS)}.{label}"
        return f"{label}.{rng.choice(TLDS)}"

    def url(self) -> str:
        rng = self.rng
        n = self._seq["url"]
        self._seq["url"] += 1
        host = self.domain() if rng.random() < 0.8 else self.ipv4()
        scheme = "https" if rng.random() < 0.6 else "http"
        path = f"{rng.choice(URL_PATHS)}/{_b36(n)}/{rng.choice(URL_FILES)}"
        return f"{scheme}://{host}/{path}"

    def file_hashes(self) -> dict[str, str]:
        return {"MD5": self.hexdigits(128), "SHA-1": self.hexdigits(160), "SHA-256": self.hexdigits(256)}

    # --- objects ----------------------------------------------------------------------------
    def tlp_definitions(self) -> Iterator[dict[str, Any]]:
        for level, mid in TLP2.items():
            yield {
                "type": "marking-definition", "spec_version": "2.1", "id": mid,
                "created": "2022-10-01T00:00:00.000Z", "name": f"TLP:{level.upper()}",
                "extensions": {TLP2_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}},
            }

    def producer_identity(self, name: str, sector: str) -> dict[str, Any]:
        created = self.when(within=86400 * 30)
        obj = {
            "type": "identity", "spec_version": "2.1", "id": self.sid("identity"),
            "created": self.ts(created), "modified": self.ts(created), "name": name,
            "description": f"{name}, national point of contact for cyber incident coordination.",
            "identity_class": "organization", "sectors": [sector],
            "contact_information": f"incident@{name.lower().replace(' ', '-').replace('.', '')}.example.eu",
            "object_marking_refs": [TLP2["clear"]],
        }
        self.producers.append(obj["id"])
        return obj

    def statement(self, producer: str, name: str) -> dict[str, Any]:
        mid = self.sid("marking-definition")
        self.statements[producer] = mid
        return {
            "type": "marking-definition", "spec_version": "2.1", "id": mid,
            "created": self.ts(self.when(within=86400 * 30)), "created_by_ref": producer,
            "name": f"{name} terms of use", "definition_type": "statement",
            "definition": {"statement": f"Copyright {name}. Shared under the partner exchange agreement; "
                                        "no onward distribution without permission."},
        }

    def victim_identity(self) -> dict[str, Any]:
        rng = self.rng
        sector = rng.choice(VICTIM_SECTORS)
        obj = self.common({
            "type": "identity", "spec_version": "2.1", "id": self.sid("identity"),
        }, self.when())
        where = f"{rng.choice(COUNTRIES)}-{rng.randint(1, 999):03d}"
        obj["name"] = f"{sector.replace('-', ' ').title()} organisation {where}"
        obj["identity_class"] = "organization"
        obj["sectors"] = [sector]
        self.victims.append(obj["id"])
        return obj

    def malware(self) -> dict[str, Any]:
        rng = self.rng
        created = self.when()
        name = rng.choice(FAMILY_PARTS) + rng.choice(FAMILY_PARTS).lower()
        self.family_names.append(name)
        obj = self.common({"type": "malware", "spec_version": "2.1", "id": self.sid("malware")}, created)
        obj["name"] = name
        obj["description"] = self.description(2, 5)
        obj["malware_types"] = rng.sample(MALWARE_TYPES, rng.randint(1, 2))
        obj["is_family"] = True
        if rng.random() < 0.5:
            obj["aliases"] = [name.upper(), f"{name}Loader"]
        first = self.when(within=EPOCH_SPAN // 2)
        obj["first_seen"] = self.ts(first)
        if rng.random() < 0.5:
            obj["last_seen"] = self.ts(self.when(after=first, within=EPOCH_SPAN // 2))
        obj["kill_chain_phases"] = self.kill_chain()
        if rng.random() < 0.6:
            obj["capabilities"] = rng.sample(CAPABILITIES, rng.randint(1, 3))
        self.pools["malware"].append(obj["id"])
        return self.extras(obj, refs=0.6)

    def threat_actor(self) -> dict[str, Any]:
        rng = self.rng
        name = f"{rng.choice(ACTOR_ADJ)} {rng.choice(ACTOR_NOUN)}"
        self.actor_names.append(name)
        obj = self.common({"type": "threat-actor", "spec_version": "2.1", "id": self.sid("threat-actor")},
                          self.when())
        obj["name"] = name
        obj["description"] = self.description(2, 5)
        obj["threat_actor_types"] = [rng.choice(ACTOR_TYPES)]
        obj["aliases"] = [f"APT{rng.randint(1, 45)}", f"TA{rng.randint(400, 599)}"]
        obj["first_seen"] = self.ts(self.when(within=EPOCH_SPAN // 2))
        obj["roles"] = ["agent"]
        obj["goals"] = rng.sample(GOALS, rng.randint(1, 2))
        obj["sophistication"] = rng.choice(SOPHISTICATION)
        obj["resource_level"] = rng.choice(RESOURCE_LEVELS)
        obj["primary_motivation"] = rng.choice(MOTIVATIONS)
        self.pools["threat-actor"].append(obj["id"])
        return self.extras(obj, refs=0.7)

    def intrusion_set(self) -> dict[str, Any]:
        rng = self.rng
        obj = self.common({"type": "intrusion-set", "spec_version": "2.1", "id": self.sid("intrusion-set")},
                          self.when())
        obj["name"] = rng.choice((f"UNC{rng.randint(1000, 5999)}", f"Storm-{rng.randint(1, 2000):04d}",
                                  f"TEMP.{rng.choice(ACTOR_NOUN)}"))
        obj["description"] = self.description(2, 4)
        obj["aliases"] = [self.actor_name()]
        first = self.when(within=EPOCH_SPAN // 2)
        obj["first_seen"] = self.ts(first)
        obj["last_seen"] = self.ts(self.when(after=first, within=EPOCH_SPAN // 2))
        obj["goals"] = rng.sample(GOALS, rng.randint(1, 2))
        obj["resource_level"] = rng.choice(RESOURCE_LEVELS)
        obj["primary_motivation"] = rng.choice(MOTIVATIONS)
        self.pools["intrusion-set"].append(obj["id"])
        return self.extras(obj, refs=0.5)

    def sco(self) -> dict[str, Any]:
        rng = self.rng
        stype = self.pick(self._scos)
        if stype == "file":
            hashes = self.file_hashes()
            contributing: dict[str, Any] = {"hashes": {"MD5": hashes["MD5"]}}
            props: dict[str, Any] = {"hashes": hashes}
            if rng.random() < 0.7:
                props["name"] = contributing["name"] = f"{rng.choice(FILE_NAMES)}.{rng.choice(FILE_EXTS)}"
            if rng.random() < 0.6:
                props["size"] = rng.randint(2_000, 9_000_000)
            # Feeds quote SHA-256 most, then MD5, then SHA-1.
            algo = rng.choice(("SHA-256", "SHA-256", "MD5", "SHA-1"))
            self.values.append((f"file:{algo}", hashes[algo]))
        else:
            value = {"ipv4-addr": self.ipv4, "ipv6-addr": self.ipv6, "domain-name": self.domain,
                     "url": self.url}[stype]()
            contributing = {"value": value}
            props = {"value": value}
            self.values.append((stype, value))
        obj = {"type": stype, "spec_version": "2.1", "id": self.sco_id(stype, contributing), **props}
        self.common(obj, 0, sdo=False)
        self.pools[stype].append(obj["id"])
        return obj

    def comparison(self, subject: str) -> tuple[str, str]:
        """One comparison expression and the value it tests, for an indicator's pattern."""
        value = None
        if self.values and self.rng.random() < REUSE_SHARE:
            recent_subject, recent_value = self.rng.choice(self.values)
            subject, value = recent_subject, recent_value
        if subject.startswith("file:"):
            algo = subject[5:]
            value = value or self.hexdigits({"MD5": 128, "SHA-1": 160, "SHA-256": 256}[algo])
            path = "hashes.MD5" if algo == "MD5" else f"hashes.'{algo}'"
            return f"file:{path} = '{value}'", value
        value = value or {"ipv4-addr": self.ipv4, "ipv6-addr": self.ipv6, "domain-name": self.domain,
                          "url": self.url}[subject]()
        # STIX pattern string literals escape ' and \ with a backslash.
        literal = value.replace("\\", "\\\\").replace("'", "\\'")
        return f"{subject}:value = '{literal}'", value

    def pattern(self) -> tuple[str, str, str]:
        """(pattern, subject, headline value); some join two comparisons with AND or OR."""
        rng = self.rng
        subject = self.pick(self._patterns)
        first, value = self.comparison(subject)
        subject = first.split(":", 1)[0]
        if rng.random() >= COMPOUND_SHARE:
            return f"[{first}]", subject, value
        roll = rng.random()
        if subject == "file" and roll < 0.5:
            # The same sample under two hash algorithms, or its hash and its file name.
            if rng.random() < 0.5:
                second = f"file:hashes.'SHA-256' = '{self.hexdigits(256)}'"
                return f"[{first} OR {second}]", subject, value
            name = f"{rng.choice(FILE_NAMES)}.{rng.choice(FILE_EXTS)}"
            return f"[{first} AND file:name = '{name}']", subject, value
        if roll < 0.7:
            # Two values of one type (a pair of C2 addresses, primary and fallback domain).
            second, _ = self.comparison(subject if subject != "file" else "file:MD5")
            if second.split(":", 1)[0] == subject:
                return f"[{first} OR {second}]", subject, value
            return f"[{first}] OR [{second}]", subject, value
        # Two observations: a domain together with the address it resolved to.
        second, _ = self.comparison("ipv4-addr")
        joiner = "AND" if rng.random() < 0.5 else "OR"
        return f"[{first}] {joiner} [{second}]", subject, value

    def indicator(self) -> dict[str, Any]:
        rng = self.rng
        created = self.when()
        pattern, subject, value = self.pattern()
        obj = self.common({"type": "indicator", "spec_version": "2.1", "id": self.sid("indicator")}, created)
        family = self.family_name()
        kind = {"ipv4-addr": "IP address", "ipv6-addr": "IPv6 address", "domain-name": "domain",
                "url": "URL", "file": "file hash"}[subject]
        obj["name"] = f"Malicious {kind} {value[:80]} ({family})"
        if rng.random() < 0.85:
            obj["description"] = self.description(1, 4)
        obj["indicator_types"] = [rng.choice(INDICATOR_TYPES)]
        obj["pattern"] = pattern
        obj["pattern_type"] = "stix"
        obj["pattern_version"] = "2.1"
        valid_from = created - rng.randrange(0, 86400_000 * 3)
        obj["valid_from"] = self.ts(valid_from)
        if rng.random() < 0.6:
            obj["valid_until"] = self.ts(self.when(after=valid_from, within=86400 * 365))
        if rng.random() < 0.4:
            obj["kill_chain_phases"] = self.kill_chain()
        self.extras(obj)
        self.pools["indicator"].append(obj["id"])
        self.revisable.append((obj, created))
        return obj

    def revision(self) -> dict[str, Any]:
        """A later version of a recent indicator: new confidence, sometimes revoked or re-described."""
        rng = self.rng
        if not self.revisable:
            return self.indicator()
        at = rng.randrange(len(self.revisable))
        previous, modified = self.revisable[at]
        del self.revisable[at]  # the next revision must start from this newer one
        obj = dict(previous)
        modified = self.when(after=modified, within=86400 * 60)
        obj["modified"] = self.ts(modified)
        obj["confidence"] = rng.choice((15, 30, 50, 70, 85, 100))
        if rng.random() < 0.3:
            obj["description"] = self.description(1, 3)
        if rng.random() < 0.1:
            obj["revoked"] = True
        else:  # a revoked object gets no further versions
            self.revisable.append((obj, modified))
        return obj

    def relationship(self) -> dict[str, Any]:
        rng = self.rng
        p = self.pools
        roll = rng.random()
        # (source pool, relationship type, target pools) in the proportions feeds show.
        if roll < 0.45:
            source, rtype, targets = "indicator", "indicates", ("malware",)
        elif roll < 0.55:
            source, rtype, targets = "indicator", "indicates", ("intrusion-set", "threat-actor")
        elif roll < 0.70:
            source, rtype = "malware", "communicates-with"
            targets = ("ipv4-addr", "domain-name", "url", "ipv6-addr")
        elif roll < 0.75:
            source, rtype, targets = "malware", "drops", ("file",)
        elif roll < 0.80:
            source, rtype, targets = "domain-name", "resolves-to", ("ipv4-addr", "ipv6-addr")
        elif roll < 0.85:
            source, rtype, targets = "intrusion-set", "uses", ("malware",)
        elif roll < 0.88:
            source, rtype, targets = "threat-actor", "uses", ("malware",)
        elif roll < 0.90:
            source, rtype, targets = "intrusion-set", "attributed-to", ("threat-actor",)
        elif roll < 0.92:
            source, rtype, targets = "malware", "variant-of", ("malware",)
        else:
            source, rtype, targets = "indicator", "related-to", ("ipv4-addr", "domain-name", "url", "file")
        target_pool = next((t for t in rng.sample(targets, len(targets)) if p[t]), None)
        if not p[source] or target_pool is None:
            source, rtype, target_pool = "indicator", "indicates", "malware"
        created = self.when()
        obj = self.common({"type": "relationship", "spec_version": "2.1", "id": self.sid("relationship")},
                          created)
        obj["relationship_type"] = rtype
        obj["source_ref"] = rng.choice(p[source]) if p[source] else self.sid("indicator")
        obj["target_ref"] = rng.choice(p[target_pool]) if p[target_pool] else self.sid("malware")
        if rng.random() < 0.3:
            obj["description"] = self.description(1, 2)
        if rng.random() < 0.2:
            obj["start_time"] = self.ts(created - rng.randrange(1, 86400_000 * 30))
        self.extras(obj, labels=0.1, refs=0.05)
        self.pools["relationship"].append(obj["id"])
        return obj

    def sighting(self) -> dict[str, Any]:
        rng = self.rng
        created = self.when()
        obj = self.common({"type": "sighting", "spec_version": "2.1", "id": self.sid("sighting")}, created)
        of_pool = "indicator" if self.pools["indicator"] and rng.random() < 0.85 else "malware"
        obj["sighting_of_ref"] = (rng.choice(self.pools[of_pool]) if self.pools[of_pool]
                                  else self.sid("indicator"))
        if self.victims:
            obj["where_sighted_refs"] = rng.sample(self.victims, min(len(self.victims), rng.randint(1, 2)))
        obj["count"] = rng.choice((1, 1, 1, 2, 3, 5, 12, 40, 250))
        first = created - rng.randrange(86400_000, 86400_000 * 20)
        obj["first_seen"] = self.ts(first)
        obj["last_seen"] = self.ts(first + rng.randrange(0, 86400_000 * 10))
        if rng.random() < 0.3:
            obj["description"] = self.description(1, 2)
        self.pools["sighting"].append(obj["id"])
        return self.extras(obj, labels=0.1, refs=0.0)

    def report(self) -> dict[str, Any]:
        rng = self.rng
        created = self.when()
        obj = self.common({"type": "report", "spec_version": "2.1", "id": self.sid("report")}, created)
        family = self.family_name()
        kind = rng.choice(("Weekly bulletin", "Flash alert", "Campaign analysis", "Threat assessment"))
        obj["name"] = f"{kind}: {family}"
        obj["description"] = self.description(3, 8)
        obj["report_types"] = rng.sample(REPORT_TYPES, rng.randint(1, 2))
        obj["published"] = self.ts(created + rng.randrange(0, 86400_000))
        refs: list[str] = []
        for pool, (lo, hi) in (("indicator", (2, 30)), ("malware", (0, 2)), ("relationship", (0, 15)),
                               ("intrusion-set", (0, 1)), ("ipv4-addr", (0, 8)), ("domain-name", (0, 5)),
                               ("sighting", (0, 3))):
            items = self.pools[pool]
            if items:
                refs.extend(rng.sample(items, min(len(items), rng.randint(lo, hi))))
        obj["object_refs"] = list(dict.fromkeys(refs)) or [rng.choice(self.producers)]
        return self.extras(obj, labels=0.6, refs=0.8)

    # --- the stream -------------------------------------------------------------------------
    def preamble(self) -> Iterator[dict[str, Any]]:
        yield from self.tlp_definitions()
        for name, sector in PRODUCERS:
            yield self.producer_identity(name, sector)
        # Two producers publish terms of use besides TLP.
        for producer, (name, _) in zip(self.producers[:2], PRODUCERS[:2], strict=True):
            yield self.statement(producer, name)
        for _ in range(30):
            yield self.victim_identity()
        for _ in range(20):
            yield self.malware()
        for _ in range(6):
            yield self.threat_actor()
        for _ in range(6):
            yield self.intrusion_set()

    def objects(self, n: int) -> Iterator[dict[str, Any]]:
        makers = {
            "indicator": self.indicator, "sco": self.sco, "relationship": self.relationship,
            "sighting": self.sighting, "revision": self.revision, "report": self.report,
            "malware": self.malware, "threat-actor": self.threat_actor, "intrusion-set": self.intrusion_set,
            "identity": self.victim_identity,
        }
        produced = 0
        for obj in self.preamble():
            if produced >= n:
                return
            self.counts[obj["type"]] += 1
            produced += 1
            yield obj
        while produced < n:
            obj = makers[self.pick(self._kinds)]()
            self.counts[obj["type"]] += 1
            produced += 1
            yield obj


def write_bundle(n: int, path: Path, seed: int = 1) -> Counter[str]:
    """Write an N-object bundle to ``path`` (layout in the module docstring); return counts by type."""
    gen = Generator(seed)
    bundle_id = gen.sid("bundle")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    dumps = orjson.dumps
    with open(tmp, "wb", buffering=1 << 20) as out:
        out.write(b'{"type":"bundle","id":"' + bundle_id.encode() + b'","objects":[\n')
        first = True
        for obj in gen.objects(n):
            if not first:
                out.write(b",\n")
            out.write(dumps(obj))
            first = False
        out.write(b"\n]}\n")
    # Rename at the end so that an interrupted run never leaves a truncated file under the real name.
    tmp.replace(path)
    return gen.counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write a deterministic, realistic STIX 2.1 bundle of N objects.")
    parser.add_argument("n", type=lambda s: int(s.replace("_", "")),
                        help="number of objects (1_000_000 is fine)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="bundle file to write")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    counts = write_bundle(args.n, args.output, args.seed)
    elapsed = time.perf_counter() - started
    size = args.output.stat().st_size
    print(f"wrote {args.n} objects, {size / 1e6:.1f} MB, to {args.output} in {elapsed:.1f} s",
          file=sys.stderr)
    for stype, count in counts.most_common():
        print(f"  {stype:<20} {count:>9}  {100 * count / max(args.n, 1):5.1f}%", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
