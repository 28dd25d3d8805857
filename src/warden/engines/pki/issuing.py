"""Role policy for issue/sign: check every requested name, then describe the certificate.

Pure: the handlers gather input into an ``IssueInput``; this module refuses what the role
does not allow (``InvalidRequest`` naming the name and the reason) and returns a CertSpec
for ``x509util`` to build. Validity follows Vault's ``GetCertificateNotAfter``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from warden.engines.pki import names, usages
from warden.engines.pki.roles import RoleEntry, parse_other_san
from warden.engines.pki.x509util import AiaUrls, AltNames, CertSpec, CsrInfo, KeySpec, Subject
from warden.logical.errors import InvalidRequest

MAX_CN_LENGTH = 64


@dataclass(frozen=True, slots=True)
class IssueInput:
    """The request fields of issue/sign (already parsed by the framework)."""

    common_name: str = ""
    alt_names: tuple[str, ...] = ()
    ip_sans: tuple[str, ...] = ()
    uri_sans: tuple[str, ...] = ()
    other_sans: tuple[str, ...] = ()
    serial_number: str = ""
    user_ids: tuple[str, ...] = ()
    ttl: int = 0
    not_after: str = ""
    exclude_cn_from_sans: bool = False
    csr: CsrInfo | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """Where a certificate's lifetime must end: the mount's TTLs and the issuer's own validity."""

    now: float
    default_ttl: int
    max_ttl: int
    issuer_not_before: float | None = None
    issuer_not_after: float | None = None
    leaf_not_after_behavior: str = "err"


@dataclass(frozen=True, slots=True)
class Validity:
    not_before: dt.datetime
    not_after: dt.datetime
    warnings: tuple[str, ...] = ()


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(ts), dt.UTC)


def parse_not_after(text: str) -> float:
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest('not_after must be an RFC 3339 time such as "2030-01-01T00:00:00Z"') from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def validity(*, limits: Limits, ttl: int, not_after: str, role_ttl: int = 0, role_max_ttl: int = 0,
             not_before_duration: int = 30) -> Validity:
    """The lower of the requested TTL (or not_after), the role's and the mount's maximum, then
    the issuer's expiry under its leaf_not_after_behavior."""
    if ttl and not_after:
        raise InvalidRequest("either ttl or not_after may be given, not both")
    limits = dataclasses.replace(limits, now=float(int(limits.now)))  # certificates count whole seconds
    warnings: list[str] = []
    ceiling = min(role_max_ttl or limits.max_ttl, limits.max_ttl)
    if not_after:
        end = parse_not_after(not_after)
        if end > limits.now + ceiling:
            warnings.append(f"not_after is later than the maximum TTL of {ceiling}s allows; "
                            "the maximum is used")
            end = limits.now + ceiling
    else:
        wanted = ttl or role_ttl or limits.default_ttl
        if wanted > ceiling:
            warnings.append(f"TTL of {wanted}s is longer than the maximum of {ceiling}s; "
                            "the maximum is used")
            wanted = ceiling
        end = limits.now + wanted
    end = _apply_issuer_expiry(end, limits)
    start = limits.now - not_before_duration
    if limits.issuer_not_before is not None and start < limits.issuer_not_before:
        start = limits.issuer_not_before  # never before the issuer itself is valid
    if end <= start:
        raise InvalidRequest("the certificate would expire before it becomes valid")
    return Validity(_utc(start), _utc(end), tuple(warnings))


def _apply_issuer_expiry(end: float, limits: Limits) -> float:
    if limits.issuer_not_after is None or end <= limits.issuer_not_after:
        return end
    if limits.leaf_not_after_behavior == "truncate":
        return limits.issuer_not_after
    if limits.leaf_not_after_behavior == "permit":
        return end
    raise InvalidRequest(
        f"cannot satisfy request, as TTL would result in notAfter of {_utc(end).isoformat()} "
        f"that is beyond the expiration of the CA certificate at {_utc(limits.issuer_not_after).isoformat()} "
        "(leaf_not_after_behavior=err)")


# -- names ---------------------------------------------------------------------------------

def _common_name(role: RoleEntry, req: IssueInput) -> str:
    cn = ""
    if req.csr is not None and role.use_csr_common_name:
        if len(req.csr.common_names) > 1:
            raise InvalidRequest("the CSR's subject has more than one common name")
        cn = req.csr.common_names[0] if req.csr.common_names else ""
    cn = cn or req.common_name
    if not cn and role.require_cn:
        raise InvalidRequest('the common_name field is required, or must be provided in a CSR with '
                             '"use_csr_common_name" set to true, unless "require_cn" is set to false')
    if len(cn) > MAX_CN_LENGTH:
        raise InvalidRequest(f"common_name is longer than {MAX_CN_LENGTH} characters (RFC 5280 upper bound)")
    return cn


def cn_as_san(cn: str) -> tuple[list[str], list[str]]:
    """Where a CN goes among the SANs: ([dns], [email]); a CN that is no hostname goes nowhere."""
    if "@" in cn:
        return [], [cn]
    try:
        converted = names.to_ascii(cn)
    except ValueError as exc:
        if cn.isascii():
            return [], []
        raise InvalidRequest(f"common name {names.show(cn)} is not a valid internationalized name: {exc}"
                             ) from None
    ok = names.WILD_HOSTNAME.match(converted) and not names.has_control_chars(cn)
    return ([converted], []) if ok else ([], [])


def _as_dns_san(name: str) -> str:
    """A requested DNS SAN in A-label form; InvalidRequest if it is not a DNS name at all."""
    try:
        converted = names.to_ascii(name)
    except ValueError as exc:
        raise InvalidRequest(f"subject alternate name {names.show(name)} is not a valid DNS name: {exc}"
                             ) from None
    if not names.WILD_HOSTNAME.match(converted) or names.has_control_chars(name):
        raise InvalidRequest(f"subject alternate name {names.show(name)} is not a valid DNS name "
                             "and cannot be included as a SAN")
    return converted


def _requested_dns(role: RoleEntry, req: IssueInput) -> tuple[list[str], list[str]]:
    """(DNS names in A-label form, email addresses) asked for besides the CN."""
    if req.csr is not None and role.use_csr_sans:
        dns_raw, emails = list(req.csr.alt_names.dns), list(req.csr.alt_names.emails)
    else:
        dns_raw, emails = names.split_alt_names(req.alt_names)
    return [_as_dns_san(n) for n in dns_raw], emails


def check_common_name(role: RoleEntry, cn: str) -> None:
    if role.cn_checks_disabled:
        return
    why = names.check_name(cn, role.name_policy())
    if why is None:
        kind = "email" if "@" in cn else "hostname"
        if role.cn_validations and kind not in role.cn_validations:
            why = f"the role's cn_validations do not allow {kind} common names"
    if why is not None:
        raise InvalidRequest(f"common name {names.show(cn)} not allowed by this role: {why}")


def _check_all(role: RoleEntry, values: Sequence[str], what: str) -> None:
    refused = names.check_names(values, role.name_policy())
    if refused:
        raise InvalidRequest(f"{what} {names.show(refused[0])} not allowed by this role: {refused[1]}")


def _dedupe(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _other_sans(role: RoleEntry, req: IssueInput) -> tuple[tuple[str, str], ...]:
    requested: list[tuple[str, str]] = []
    try:
        requested = [parse_other_san(o) for o in req.other_sans]
    except ValueError as exc:
        raise InvalidRequest(f"could not parse requested other SAN: {exc}") from None
    if req.csr is not None and role.use_csr_sans:
        requested += list(req.csr.alt_names.other)
    if not requested or role.allowed_other_sans == ("*",):
        return tuple(requested)
    allowed: dict[str, list[str]] = {}
    for entry in role.allowed_other_sans:
        oid, value = parse_other_san(entry)
        allowed.setdefault(oid, []).append(value)
    for oid, value in requested:
        if oid not in allowed:
            raise InvalidRequest(f"other SAN OID {oid} not allowed by this role (allowed_other_sans)")
        if not any(names.glob_match(p, value) for p in allowed[oid]):
            raise InvalidRequest(f"other SAN {names.show(value)} not allowed for OID {oid} by this role")
    return tuple(requested)


def _ip_sans(role: RoleEntry, req: IssueInput) -> tuple[str, ...]:
    from_csr = req.csr is not None and role.use_csr_sans
    raw = list(req.csr.alt_names.ips) if from_csr and req.csr else list(req.ip_sans)
    if raw and not role.allow_ip_sans:
        source = "via the CSR" if from_csr else "in ip_sans"
        raise InvalidRequest(f"IP Subject Alternative Names are not allowed in this role "
                             f"(allow_ip_sans=false), but some were provided {source}")
    ips = []
    for value in raw:
        try:
            ip = ipaddress.ip_address(value.strip())
        except ValueError:
            raise InvalidRequest(f"the value {names.show(value)} is not a valid IP address") from None
        cidrs = [ipaddress.ip_network(c, strict=False) for c in role.allowed_ip_sans_cidr]
        if cidrs and not any(ip in c for c in cidrs):
            raise InvalidRequest(f"IP address {ip} is not in the role's allowed_ip_sans_cidr")
        ips.append(str(ip))
    return _dedupe(ips)


def _uri_sans(role: RoleEntry, req: IssueInput) -> tuple[str, ...]:
    from_csr = req.csr is not None and role.use_csr_sans
    raw = list(req.csr.alt_names.uris) if from_csr and req.csr else list(req.uri_sans)
    if raw and not role.allowed_uri_sans:
        raise InvalidRequest("URI Subject Alternative Names are not allowed in this role "
                             "(allowed_uri_sans is empty)")
    for uri in raw:
        if names.has_control_chars(uri) or not urllib.parse.urlsplit(uri).scheme:
            raise InvalidRequest(f"the URI Subject Alternative Name {names.show(uri)} is not a valid URI")
        if not any(names.glob_match(p, uri) for p in role.allowed_uri_sans):
            raise InvalidRequest(f"URI Subject Alternative Name {names.show(uri)} is not allowed by this "
                                 "role (it matches none of allowed_uri_sans)")
    return _dedupe(raw)


def _subject_serial(role: RoleEntry, req: IssueInput) -> str:
    serial = req.serial_number or (req.csr.serial_number if req.csr else "")
    if serial and not any(names.glob_match(p, serial) if "*" in p else p == serial
                          for p in role.allowed_serial_numbers if p):
        raise InvalidRequest(f"serial_number {names.show(serial)} not allowed by this role "
                             "(allowed_serial_numbers)")
    return serial


def _user_ids(role: RoleEntry, req: IssueInput) -> tuple[str, ...]:
    """Vault's user_ids: each must match allowed_user_ids (exactly, ignoring case, or a glob)."""
    for uid in req.user_ids:
        allowed = any(p.lower() == uid.lower() or ("*" in p and names.glob_match(p, uid))
                      for p in role.allowed_user_ids if p)
        if not allowed:
            raise InvalidRequest(f"user_id {names.show(uid)} is not allowed by this role (allowed_user_ids)")
    return _dedupe(req.user_ids)


def leaf_names(role: RoleEntry, req: IssueInput) -> tuple[Subject, AltNames]:
    """The subject and SANs of a leaf, or InvalidRequest naming the first name the role refuses."""
    cn = _common_name(role, req)
    dns, emails = _requested_dns(role, req)
    if cn and not req.exclude_cn_from_sans:
        cn_dns, cn_email = cn_as_san(cn)
        dns, emails = cn_dns + dns, cn_email + emails
    if cn:
        check_common_name(role, cn)
    serial = _subject_serial(role, req)
    _check_all(role, dns, "subject alternate name")
    _check_all(role, emails, "email address")
    alt = AltNames(dns=_dedupe(dns), emails=_dedupe(emails), ips=_ip_sans(role, req),
                   uris=_uri_sans(role, req), other=_other_sans(role, req))
    subject = Subject(
        common_name=cn, organization=_dedupe(role.organization), ou=_dedupe(role.ou),
        country=_dedupe(role.country), locality=_dedupe(role.locality), province=_dedupe(role.province),
        street_address=_dedupe(role.street_address), postal_code=_dedupe(role.postal_code),
        serial_number=serial, user_ids=_user_ids(role, req))
    if not cn and not alt and not any(dataclasses.astuple(subject)):
        raise InvalidRequest("the certificate would have neither a subject nor any subject alternative name")
    return subject, alt


def check_csr_key(role: RoleEntry, csr: CsrInfo) -> KeySpec:
    """Proof of possession and the role's key type and size rules for a CSR's public key."""
    if not csr.signature_valid:
        raise InvalidRequest("the CSR's signature does not verify with its own public key "
                             "(proof of possession failed)")
    spec = csr.key_spec
    if spec is None:
        raise InvalidRequest("the CSR's public key type is not supported (use rsa, ec or ed25519)")
    if role.key_type != "any" and spec.key_type != role.key_type:
        raise InvalidRequest(f"role requires keys of type {role.key_type}, "
                             f"but the CSR's key is {spec.key_type}")
    floor = {"rsa": 2048, "ec": 224}.get(spec.key_type, 0)
    minimum = max(floor, role.key_bits if role.key_type == spec.key_type else 0)
    if spec.bits < minimum:
        raise InvalidRequest(f"role requires a minimum of a {minimum}-bit key, "
                             f"but CSR's key is {spec.bits} bits")
    return spec


def leaf_spec(role: RoleEntry, req: IssueInput, *, key: KeySpec, serial: int, limits: Limits,
              urls: AiaUrls) -> tuple[CertSpec, tuple[str, ...]]:
    """The whole certificate for issue/sign under ``role``, and any warnings."""
    subject, alt = leaf_names(role, req)
    valid = validity(limits=limits, ttl=req.ttl, not_after=req.not_after or role.not_after,
                     role_ttl=role.ttl, role_max_ttl=role.max_ttl,
                     not_before_duration=role.not_before_duration)
    spec = CertSpec(
        subject=subject, alt_names=alt, serial=serial, not_before=valid.not_before,
        not_after=valid.not_after, key_usage=usages.usages_for_key(role.key_usage_bits(), key.key_type),
        ext_key_usage=role.ext_key_usage_list(), policy_identifiers=role.policy_identifiers,
        basic_constraints_for_non_ca=role.basic_constraints_valid_for_non_ca, urls=urls,
        signature_bits=role.signature_bits, use_pss=role.use_pss)
    return spec, valid.warnings
