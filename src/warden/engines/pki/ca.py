"""CA material: names of a CA from request fields, keys to create or reuse, issuers to add.

Shared by root generation, intermediate CSRs, set-signed/imports and sign-intermediate.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from warden.engines.pki import certstore, crl, issuing, names, store, usages, x509util
from warden.engines.pki.authority import CaState
from warden.engines.pki.fields import check_name_field, storage_of
from warden.engines.pki.issuance import record_for
from warden.engines.pki.roles import parse_other_san
from warden.engines.pki.store import IssuerEntry, IssuersConfig, KeyEntry, KeysConfig
from warden.engines.pki.x509util import AltNames, Certificate, PrivateKey, Subject
from warden.framework import FieldData
from warden.logical.errors import InvalidRequest
from warden.logical.request import Request
from warden.logical.storage import BatchOp, Put

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

CA_KEY_USAGE = frozenset({"key_cert_sign", "crl_sign", "digital_signature"})


def ca_names(data: FieldData, *, cn_required: bool = True,
             default_cn: str = "") -> tuple[Subject, AltNames]:
    """A CA's subject and SANs from the request; any well-formed name is allowed for a CA.
    ``default_cn`` stands in for a common_name the request left out (a CSR's own CN)."""
    cn = data.get("common_name") or default_cn
    if not cn and cn_required:
        raise InvalidRequest("the common_name field is required")
    if len(cn) > issuing.MAX_CN_LENGTH:
        raise InvalidRequest(f"common_name is longer than {issuing.MAX_CN_LENGTH} characters")
    dns_raw, emails = names.split_alt_names(data.get("alt_names"))
    dns = [_dns_san(n) for n in dns_raw]
    if cn and not data.get("exclude_cn_from_sans"):
        cn_dns, cn_email = issuing.cn_as_san(cn)
        dns, emails = cn_dns + dns, cn_email + emails
    try:
        ips = tuple(str(ipaddress.ip_address(i.strip())) for i in data.get("ip_sans"))
        other = tuple(parse_other_san(o) for o in data.get("other_sans"))
    except ValueError as exc:
        raise InvalidRequest(f"invalid SAN: {exc}") from None
    subject = Subject(
        common_name=cn, organization=tuple(data.get("organization")), ou=tuple(data.get("ou")),
        country=_countries(data.get("country")), locality=tuple(data.get("locality")),
        province=tuple(data.get("province")), street_address=tuple(data.get("street_address")),
        postal_code=tuple(data.get("postal_code")), serial_number=data.get("serial_number"))
    alt = AltNames(dns=tuple(dict.fromkeys(dns)), emails=tuple(dict.fromkeys(emails)), ips=ips,
                   uris=tuple(data.get("uri_sans")), other=other)
    return subject, alt


def _dns_san(name: str) -> str:
    try:
        converted = names.to_ascii(name)
    except ValueError as exc:
        raise InvalidRequest(f"alt_names entry {names.show(name)} is not a valid DNS name: {exc}") from None
    if not names.WILD_HOSTNAME.match(converted):
        raise InvalidRequest(f"alt_names entry {names.show(name)} is not a valid DNS name")
    return converted


def _countries(values: list[str]) -> tuple[str, ...]:
    for value in values:
        if len(value) != 2:
            raise InvalidRequest(f'country "{value}" is not a two-letter ISO 3166 code')
    return tuple(values)


def path_length(requested: int) -> int | None:
    if requested < -1:
        raise InvalidRequest("max_path_length must be -1 (no limit) or at least 0")
    return None if requested == -1 else requested


def ca_usages(key: PrivateKey) -> frozenset[str]:
    spec = x509util.spec_of(key)
    return usages.usages_for_key(CA_KEY_USAGE, spec.key_type if spec else "rsa")


@dataclass(frozen=True, slots=True)
class KeyChoice:
    key: PrivateKey
    entry: KeyEntry
    is_new: bool


async def obtain_key(b: PkiBackend, state: CaState, data: FieldData, kind: str) -> KeyChoice:
    """The key for a new CA: an existing one (type=existing) or a fresh one (not yet stored)."""
    if kind == "existing":
        entry = state.key(data.get("key_ref"))
        return KeyChoice(state.parsed_keys[entry.id], entry, False)
    name = check_name_field(data.get("key_name"), "a key name")
    if name and state.name_taken(name, issuer=False):
        raise InvalidRequest(f'a key named "{name}" already exists in this mount')
    try:
        spec = x509util.key_spec(data.get("key_type"), data.get("key_bits"))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    key = await b.keypool.take(spec)
    entry = KeyEntry(id=b.new_id(), private_key=x509util.private_key_pem(key, pkcs8=True),
                     key_type=spec.key_type, key_bits=spec.bits, name=name)
    return KeyChoice(key, entry, True)


def key_ops(entries: Sequence[KeyEntry], state: CaState) -> list[BatchOp]:
    """Store new keys; the first key of a mount becomes its default key."""
    ops: list[BatchOp] = [Put(store.KEY_PREFIX + e.id, entry_json(e)) for e in entries]
    if entries and (not state.default_key or state.default_key not in state.keys):
        ops.append(Put(store.CONFIG_KEYS, entry_json(KeysConfig(default=entries[0].id))))
    return ops


def new_key_ops(choice: KeyChoice, state: CaState) -> list[BatchOp]:
    return key_ops([choice.entry], state) if choice.is_new else []


def issuer_ops(entry: IssuerEntry, state: CaState, *, becomes_default: bool) -> list[BatchOp]:
    ops: list[BatchOp] = [Put(store.ISSUER_PREFIX + entry.id, entry_json(entry))]
    no_default = not state.default_issuer or state.default_issuer not in state.issuers
    if becomes_default and (no_default or state.default_follows_latest_issuer):
        cfg = IssuersConfig(default=entry.id,
                            default_follows_latest_issuer=state.default_follows_latest_issuer)
        ops.append(Put(store.CONFIG_ISSUERS, entry_json(cfg)))
    return ops


def entry_json(entry: Any) -> bytes:
    return orjson.dumps(dataclasses.asdict(entry))


def new_issuer_name(data: FieldData, state: CaState, *, default: str = "") -> str:
    name = check_name_field(data.get("issuer_name") or default, "an issuer name")
    if name and state.name_taken(name, issuer=True):
        raise InvalidRequest(f'an issuer named "{name}" already exists in this mount')
    return name


async def commit(b: PkiBackend, req: Request, ops: list[BatchOp], *, new_issuers: Sequence[str] = (),
                 records: Sequence[tuple[Certificate, str]] = ()) -> None:
    """Write CA changes (and certificate records) atomically, then rebuild CRLs of new issuers."""
    storage = storage_of(req)
    for cert, issuer_id in records:
        ops += certstore.record_ops(record_for(cert, x509util.describe(cert), issuer_id=issuer_id,
                                               role="", req=req, issued_at=b.now()))
    await storage.batch(ops)
    b.ca_changed()
    for issuer_id in new_issuers:
        await crl.rebuild(b, storage, issuer_id)
