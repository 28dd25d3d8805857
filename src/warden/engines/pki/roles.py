"""PKI roles: the stored RoleEntry, its codec with versioned upgrades, and its validation."""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warden.engines.pki import usages, x509util
from warden.engines.pki.names import NamePolicy
from warden.framework.durations import parse_duration
from warden.logical.errors import InvalidRequest

SCHEMA_VERSION = 2
ROLE_PREFIX = "role/"
KEY_TYPES = ("rsa", "ec", "ed25519", "any")
DEFAULT_KEY_USAGE = ("DigitalSignature", "KeyAgreement", "KeyEncipherment")


@dataclass(frozen=True, slots=True)
class RoleEntry:
    """A role as stored; TTLs in seconds. Field names are Vault's API names."""

    name: str
    ttl: int = 0
    max_ttl: int = 0
    allow_localhost: bool = True
    allowed_domains: tuple[str, ...] = ()
    allow_bare_domains: bool = False
    allow_subdomains: bool = False
    allow_glob_domains: bool = False
    allow_wildcard_certificates: bool = True
    allow_any_name: bool = False
    enforce_hostnames: bool = True
    allow_ip_sans: bool = True
    allowed_ip_sans_cidr: tuple[str, ...] = ()
    allowed_uri_sans: tuple[str, ...] = ()
    allowed_other_sans: tuple[str, ...] = ()
    allowed_serial_numbers: tuple[str, ...] = ()
    allowed_user_ids: tuple[str, ...] = ()
    server_flag: bool = True
    client_flag: bool = True
    code_signing_flag: bool = False
    email_protection_flag: bool = False
    key_type: str = "rsa"
    key_bits: int = 2048
    signature_bits: int = 256
    use_pss: bool = False
    key_usage: tuple[str, ...] = DEFAULT_KEY_USAGE
    ext_key_usage: tuple[str, ...] = ()
    ext_key_usage_oids: tuple[str, ...] = ()
    use_csr_common_name: bool = True
    use_csr_sans: bool = True
    ou: tuple[str, ...] = ()
    organization: tuple[str, ...] = ()
    country: tuple[str, ...] = ()
    locality: tuple[str, ...] = ()
    province: tuple[str, ...] = ()
    street_address: tuple[str, ...] = ()
    postal_code: tuple[str, ...] = ()
    generate_lease: bool = False
    no_store: bool = False
    require_cn: bool = True
    cn_validations: tuple[str, ...] = ("email", "hostname")
    policy_identifiers: tuple[str, ...] = ()
    basic_constraints_valid_for_non_ca: bool = False
    not_before_duration: int = 30
    not_after: str = ""
    issuer_ref: str = "default"
    # Derived once per role (roles are cached), not per request; never stored.
    _derived: _Derived = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_derived", _derive(self))

    # -- the derived views the issuing code needs --------------------------------------

    def name_policy(self) -> NamePolicy:
        return self._derived.name_policy

    def key_usage_bits(self) -> frozenset[str]:
        return self._derived.key_usage

    def ext_key_usage_list(self) -> tuple[str, ...]:
        return self._derived.ext_key_usage

    @property
    def cn_checks_disabled(self) -> bool:
        return self.cn_validations == ("disabled",)

    # -- codec ------------------------------------------------------------------------------

    def fields(self) -> dict[str, Any]:
        """The stored fields, by name (the derived cache left out)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    def to_json(self) -> dict[str, Any]:
        return {"v": SCHEMA_VERSION, **{k: list(v) if isinstance(v, tuple) else v
                                         for k, v in self.fields().items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> tuple[RoleEntry, bool]:
        """The entry, and whether it had to be upgraded from an older schema version."""
        version = int(data.get("v", 0))
        values = dict(data)
        for step in range(version, SCHEMA_VERSION):
            values = _UPGRADES[step](values)
        known: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                                 for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known), version < SCHEMA_VERSION

    def view(self) -> dict[str, Any]:
        """The role as ``GET roles/<name>`` shows it."""
        out: dict[str, Any] = {}
        for key, value in self.fields().items():
            if key != "name":
                out[key] = list(value) if isinstance(value, tuple) else value
        out["allowed_domains_template"] = False
        out["allowed_uri_sans_template"] = False
        out["allow_token_displayname"] = False
        return out


@dataclass(frozen=True, slots=True)
class _Derived:
    name_policy: NamePolicy
    key_usage: frozenset[str]
    ext_key_usage: tuple[str, ...]


def _derive(role: RoleEntry) -> _Derived:
    policy = NamePolicy(
        allow_any_name=role.allow_any_name, enforce_hostnames=role.enforce_hostnames,
        allow_localhost=role.allow_localhost, allowed_domains=role.allowed_domains,
        allow_bare_domains=role.allow_bare_domains, allow_subdomains=role.allow_subdomains,
        allow_glob_domains=role.allow_glob_domains,
        allow_wildcard_certificates=role.allow_wildcard_certificates)
    try:  # an invalid role still constructs; validate() is where the error is reported
        bits = usages.parse_key_usages(role.key_usage)
        ekus = usages.role_ext_key_usages(
            server=role.server_flag, client=role.client_flag, code_signing=role.code_signing_flag,
            email=role.email_protection_flag, names=role.ext_key_usage, oids=role.ext_key_usage_oids)
    except ValueError:
        bits, ekus = frozenset(), ()
    return _Derived(policy, bits, ekus)


def _v0_to_v1(values: dict[str, Any]) -> dict[str, Any]:
    """v0 kept TTLs as duration strings and key_bits 0 for "default"."""
    for key in ("ttl", "max_ttl", "not_before_duration"):
        if isinstance(values.get(key), str):
            values[key] = parse_duration(values[key]) if values[key] else 0
    key_type = values.get("key_type", "rsa")
    if not values.get("key_bits") and key_type in ("rsa", "ec"):
        values["key_bits"] = x509util.key_spec(key_type).bits
    return values


def _v1_to_v2(values: dict[str, Any]) -> dict[str, Any]:
    """v2 added allow_wildcard_certificates and cn_validations; older roles keep Vault's defaults."""
    values.setdefault("allow_wildcard_certificates", True)
    values.setdefault("cn_validations", ["email", "hostname"])
    return values


_UPGRADES = {0: _v0_to_v1, 1: _v1_to_v2}


def validate(role: RoleEntry) -> RoleEntry:
    """The role with Vault's resolved defaults, or InvalidRequest naming the first problem."""
    try:
        role = _resolve_key(role)
        usages.parse_key_usages(role.key_usage)
        usages.parse_ext_key_usages(role.ext_key_usage)
        usages.check_oids(role.ext_key_usage_oids, "ext_key_usage_oids entry")
        usages.check_oids(role.policy_identifiers, "policy_identifiers entry")
        _check_other_sans(role.allowed_other_sans)
        for cidr in role.allowed_ip_sans_cidr:
            ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if role.max_ttl and role.ttl > role.max_ttl:
        raise InvalidRequest('"ttl" value must be less than "max_ttl" value')
    if role.no_store and role.generate_lease:
        raise InvalidRequest("no_store and generate_lease cannot both be true: a lease needs a stored "
                             "certificate to revoke")
    if role.not_before_duration < 0:
        raise InvalidRequest("not_before_duration must not be negative")
    bad_country = [c for c in role.country if len(c) != 2]
    if bad_country:
        raise InvalidRequest(f'country "{bad_country[0]}" is not a two-letter ISO 3166 code')
    _check_cn_validations(role.cn_validations)
    return role


def _resolve_key(role: RoleEntry) -> RoleEntry:
    if role.key_type not in KEY_TYPES:
        raise ValueError(f'unsupported key_type "{role.key_type}": use rsa, ec, ed25519 or any')
    bits = 0 if role.key_type == "any" else x509util.key_spec(role.key_type, role.key_bits).bits
    sig = role.signature_bits or 256
    if sig not in (256, 384, 512):
        raise ValueError(f"unsupported signature_bits {sig}: use 256, 384 or 512")
    return dataclasses.replace(role, key_bits=bits, signature_bits=sig)


def _check_other_sans(entries: tuple[str, ...]) -> None:
    if entries == ("*",):
        return
    for entry in entries:
        parse_other_san(entry)


def parse_other_san(entry: str) -> tuple[str, str]:
    """``<oid>;UTF8:<value>`` -> (oid, value); raises ValueError naming the entry."""
    oid, semi, typed = entry.partition(";")
    kind, colon, value = typed.partition(":")
    if not semi:
        raise ValueError(f'expected a semicolon in other SAN "{entry}"')
    if not colon:
        raise ValueError(f'expected a colon in other SAN "{entry}"')
    if kind.lower() not in ("utf8", "utf-8"):
        raise ValueError(f'only UTF8 other SANs are supported, found "{kind}" in "{entry}"')
    usages.check_oids([oid], "other SAN OID")
    return oid.strip(), value


def _check_cn_validations(values: tuple[str, ...]) -> None:
    for value in values:
        if value not in ("email", "hostname", "disabled"):
            raise InvalidRequest(f'cn_validations: unknown value "{value}" (use email, hostname or disabled)')
    if "disabled" in values and len(values) > 1:
        raise InvalidRequest('cn_validations: "disabled" must be the only value')
