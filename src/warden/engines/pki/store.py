"""Storage layout of a PKI mount (inside its own storage view) and the codecs of its entries.

    issuer/<id>        IssuerEntry: a CA certificate, its key reference and settings
    key/<id>           KeyEntry: a private key (PKCS#8 PEM; never leaves the barrier)
    role/<name>        RoleEntry (see roles.py)
    config/issuers     the default issuer        config/keys     the default key
    config/urls        AIA URLs for new certs    config/crl      CRL and OCSP settings
    crls/<issuer id>   the issuer's current CRL and its number (.../delta: its delta CRL)
    crl-der/, crl-entries/   large CRLs in parts, and entries ready to sign (crl.py, crlindex.py)
    certs/<serial>     issued certificates      revoked/<serial>   revocations
    index/by-expiry/, index/by-role/, index/by-name/, index/by-issue/   time-ordered (certindex.py)

Serials are stored in Vault's hyphenated form (``17-67-16-b0-...``) and shown with colons.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from warden.logical.storage import Storage

ISSUER_PREFIX = "issuer/"
KEY_PREFIX = "key/"
CONFIG_ISSUERS = "config/issuers"
CONFIG_KEYS = "config/keys"
CONFIG_URLS = "config/urls"
CONFIG_CRL = "config/crl"
CRL_PREFIX = "crls/"
ISSUER_USAGES = ("read-only", "issuing-certificates", "crl-signing", "ocsp-signing")
LEAF_NOT_AFTER = ("err", "truncate", "permit")
_SERIAL_RE = re.compile(r"^[0-9a-fA-F]{1,2}([:-]?[0-9a-fA-F]{2})*$")

T = TypeVar("T")


def format_serial(serial: int) -> str:
    """Vault's display form: lower-case hex bytes joined by colons."""
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big").hex(":")


def storage_serial(serial: int) -> str:
    return format_serial(serial).replace(":", "-")


def parse_serial(text: str) -> int:
    """A serial in colon, hyphen or plain hex form; raises ValueError if it is none of them."""
    text = text.strip()
    if not text or not _SERIAL_RE.match(text):
        raise ValueError("serial numbers are hex bytes separated by colons or hyphens")
    return int(text.replace(":", "").replace("-", ""), 16)


def decode_entry(cls: type[T], data: Mapping[str, Any]) -> T:
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in fields}
    return cls(**values)


def _encode(entry: Any) -> bytes:
    return orjson.dumps(dataclasses.asdict(entry))


@dataclass(frozen=True, slots=True)
class IssuerEntry:
    id: str
    certificate: str
    name: str = ""
    key_id: str = ""
    manual_chain: tuple[str, ...] = ()
    leaf_not_after_behavior: str = "err"
    usage: tuple[str, ...] = ISSUER_USAGES
    revoked: bool = False
    revocation_time: float = 0.0
    issuing_certificates: tuple[str, ...] = ()
    crl_distribution_points: tuple[str, ...] = ()
    ocsp_servers: tuple[str, ...] = ()
    revocation_signature_algorithm: str = ""
    delta_crl_distribution_points: tuple[str, ...] = ()

    def allows(self, usage: str) -> bool:
        return usage in self.usage and not (self.revoked and usage == "issuing-certificates")


@dataclass(frozen=True, slots=True)
class KeyEntry:
    id: str
    private_key: str
    key_type: str
    key_bits: int = 0
    name: str = ""


@dataclass(frozen=True, slots=True)
class IssuersConfig:
    default: str = ""
    default_follows_latest_issuer: bool = False


@dataclass(frozen=True, slots=True)
class KeysConfig:
    default: str = ""


@dataclass(frozen=True, slots=True)
class UrlsConfig:
    issuing_certificates: tuple[str, ...] = ()
    crl_distribution_points: tuple[str, ...] = ()
    delta_crl_distribution_points: tuple[str, ...] = ()
    ocsp_servers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CrlConfig:
    expiry: int = 72 * 3600
    disable: bool = False
    ocsp_disable: bool = False
    ocsp_expiry: int = 12 * 3600
    auto_rebuild: bool = False
    auto_rebuild_grace_period: int = 12 * 3600
    enable_delta: bool = False
    delta_rebuild_interval: int = 15 * 60


@dataclass(frozen=True, slots=True)
class CrlState:
    """A signed CRL (complete, or delta when ``delta_of`` names its base's number). Its DER
    is inline (base64) when small, else in ``parts`` values of its own (see crl.py);
    ``ends`` is where it stopped in each issuer's entries: (issuer id, chunk, bytes)."""

    number: int
    der: str  # base64
    this_update: float
    next_update: float
    parts: int = 0
    ends: tuple[tuple[str, int, int], ...] = ()
    epoch: int = 0
    delta_of: int = 0


async def load_config(storage: Storage, key: str, cls: type[T]) -> T:
    raw = await storage.get(key)
    return cls() if raw is None else decode_entry(cls, orjson.loads(raw))


async def save_config(storage: Storage, key: str, entry: Any) -> None:
    await storage.put(key, _encode(entry))


async def load_issuers(storage: Storage) -> list[IssuerEntry]:
    return [e for e in [await load_issuer(storage, i) for i in await storage.list(ISSUER_PREFIX)] if e]


async def load_issuer(storage: Storage, issuer_id: str) -> IssuerEntry | None:
    raw = await storage.get(ISSUER_PREFIX + issuer_id)
    return None if raw is None else decode_entry(IssuerEntry, orjson.loads(raw))


async def save_issuer(storage: Storage, entry: IssuerEntry) -> None:
    await storage.put(ISSUER_PREFIX + entry.id, _encode(entry))


async def load_keys(storage: Storage) -> list[KeyEntry]:
    found = []
    for key_id in await storage.list(KEY_PREFIX):
        raw = await storage.get(KEY_PREFIX + key_id)
        if raw is not None:
            found.append(decode_entry(KeyEntry, orjson.loads(raw)))
    return found


async def save_key(storage: Storage, entry: KeyEntry) -> None:
    await storage.put(KEY_PREFIX + entry.id, _encode(entry))


def decode_crl_state(raw: bytes) -> CrlState:
    return decode_entry(CrlState, orjson.loads(raw))


def encode_crl_state(state: CrlState) -> bytes:
    return _encode(state)

