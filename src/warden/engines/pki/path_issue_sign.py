"""``issue/<role>``, ``sign/<role>`` and ``sign-verbatim``: certificates under a role's rules."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from warden.engines.pki import issuing, usages, x509util
from warden.engines.pki.authority import CaState, LoadedIssuer
from warden.engines.pki.fields import (
    ISSUER_REF,
    ISSUER_REF_FIELD,
    NAME_FIELDS,
    OUTPUT_FIELDS,
    ROLE,
    ROLE_FIELD,
    VALIDITY_FIELDS,
    storage_of,
)
from warden.engines.pki.issuance import (
    audit_facts,
    certificate_data,
    chain_of,
    lease_secret,
    record_for,
    signed_response,
    store_certificate,
)
from warden.engines.pki.issuing import IssueInput, Limits
from warden.engines.pki.roles import RoleEntry
from warden.engines.pki.x509util import CertSpec, KeySpec, PrivateKey, PublicKey
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S, CSV = FieldType.STRING, FieldType.COMMA_STRING_SLICE

ISSUE_FIELDS: dict[str, Field] = {
    **NAME_FIELDS, **VALIDITY_FIELDS, **OUTPUT_FIELDS,
    "serial_number": Field(S, "The subject's serialNumber attribute (checked against the role)."),
    "key_type": Field(S, "With a role of key_type any: rsa, ec or ed25519."),
    "key_bits": Field(FieldType.INT, "With a role of key_type any: the key size (0: default)."),
    "user_ids": Field(CSV, "UID subject attributes; each must match the role's allowed_user_ids."),
}
SIGN_FIELDS: dict[str, Field] = {
    **ISSUE_FIELDS,
    "csr": Field(S, "The PEM CSR to sign.", required=True),
}
VERBATIM_FIELDS: dict[str, Field] = {
    **VALIDITY_FIELDS, **OUTPUT_FIELDS,
    "csr": Field(S, "The PEM CSR to sign.", required=True),
    "role": Field(S, "Optional role whose ttl, max_ttl, no_store and generate_lease apply."),
    "key_usage": Field(CSV, "Key usages when the CSR asks for none.",
                       default="DigitalSignature,KeyAgreement,KeyEncipherment"),
    "ext_key_usage": Field(CSV, "Extended key usages when the CSR asks for none."),
    "ext_key_usage_oids": Field(CSV, "Extended key usage OIDs when the CSR asks for none."),
    "signature_bits": Field(FieldType.INT, "SHA-2 size of RSA signatures."),
    "use_pss": Field(FieldType.BOOL, "Use RSA-PSS signatures."),
    "basic_constraints_valid_for_non_ca": Field(FieldType.BOOL, "Add basicConstraints CA:false."),
}


def paths(b: PkiBackend) -> list[Path]:
    issue = _handler(b, _issue)
    sign = _handler(b, _sign)
    verbatim = _handler(b, _verbatim)
    return [
        Path(f"issuer/{ISSUER_REF}/issue/{ROLE}", fields={**ISSUE_FIELDS, **ROLE_FIELD, **ISSUER_REF_FIELD},
             operations={Operation.UPDATE: issue}, help_synopsis=ISSUE_SYN, help_description=ISSUE_DESC),
        Path(f"issue/{ROLE}", fields={**ISSUE_FIELDS, **ROLE_FIELD},
             operations={Operation.UPDATE: issue}, help_synopsis=ISSUE_SYN, help_description=ISSUE_DESC),
        Path(f"issuer/{ISSUER_REF}/sign/{ROLE}", fields={**SIGN_FIELDS, **ROLE_FIELD, **ISSUER_REF_FIELD},
             operations={Operation.UPDATE: sign}, help_synopsis=SIGN_SYN, help_description=SIGN_DESC),
        Path(f"sign/{ROLE}", fields={**SIGN_FIELDS, **ROLE_FIELD},
             operations={Operation.UPDATE: sign}, help_synopsis=SIGN_SYN, help_description=SIGN_DESC),
        Path(f"issuer/{ISSUER_REF}/sign-verbatim(?:/{ROLE})?",
             fields={**VERBATIM_FIELDS, **ISSUER_REF_FIELD},
             operations={Operation.UPDATE: verbatim}, help_synopsis=VERBATIM_SYN),
        Path(f"sign-verbatim(?:/{ROLE})?", fields=VERBATIM_FIELDS,
             operations={Operation.UPDATE: verbatim}, help_synopsis=VERBATIM_SYN),
    ]


def _handler(b: PkiBackend, fn: Callable[[PkiBackend, Request, FieldData], Awaitable[Response]]
             ) -> Callable[[Request, FieldData], Awaitable[Response]]:
    async def handle(req: Request, data: FieldData) -> Response:
        return await fn(b, req, data)
    return handle


def _input(data: FieldData, csr: x509util.CsrInfo | None = None) -> IssueInput:
    return IssueInput(
        common_name=data.get("common_name"), alt_names=tuple(data.get("alt_names")),
        ip_sans=tuple(data.get("ip_sans")), uri_sans=tuple(data.get("uri_sans")),
        other_sans=tuple(data.get("other_sans")), serial_number=data.get("serial_number"),
        user_ids=tuple(data.get("user_ids")),
        ttl=data.get("ttl"), not_after=data.get("not_after"),
        exclude_cn_from_sans=data.get("exclude_cn_from_sans"), csr=csr)


async def _role(b: PkiBackend, req: Request, name: str) -> RoleEntry:
    role = await b.role(storage_of(req), name)
    if role is None:
        raise InvalidRequest(f"unknown role: {name}")
    return role


def _limits(b: PkiBackend, req: Request, issuer: LoadedIssuer) -> Limits:
    default, maximum = b.ttl_limits(req)
    return Limits(now=b.now(), default_ttl=default, max_ttl=maximum,
                  issuer_not_before=issuer.info.not_before, issuer_not_after=issuer.info.not_after,
                  leaf_not_after_behavior=issuer.entry.leaf_not_after_behavior)


def _issuer_for(state: CaState, data: FieldData, role: RoleEntry | None) -> LoadedIssuer:
    ref = data.get("issuer_ref") if "issuer_ref" in data.schema else (role.issuer_ref if role else "default")
    return state.issuer(ref or "default")


def _generated_key_spec(role: RoleEntry, data: FieldData) -> KeySpec:
    key_type, bits = role.key_type, role.key_bits
    if key_type == "any":
        if not data.get("key_type") or data.get("key_type") == "any":
            raise InvalidRequest('role key_type is "any": give key_type (rsa, ec or ed25519) to issue')
        key_type, bits = data.get("key_type"), data.get("key_bits")
    try:
        return x509util.key_spec(key_type, bits)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


async def _issue(b: PkiBackend, req: Request, data: FieldData) -> Response:
    role = await _role(b, req, data.get("role"))
    key_spec = _generated_key_spec(role, data)
    # Check everything before paying for a key: a refused request costs no key generation.
    state = await b.ca(storage_of(req))
    issuer = _issuer_for(state, data, role)
    spec, warnings = issuing.leaf_spec(role, _input(data), key=key_spec, serial=b.new_serial(),
                                       limits=_limits(b, req, issuer), urls=issuer.urls(await b.urls(
                                           storage_of(req))))
    key = await b.keypool.take(key_spec)
    return await _finish(b, req, data, state, issuer, role, spec, key.public_key(), key_spec, warnings,
                         key=key)


async def _sign(b: PkiBackend, req: Request, data: FieldData) -> Response:
    role = await _role(b, req, data.get("role"))
    csr = _parse_csr(data.get("csr"))
    key_spec = issuing.check_csr_key(role, csr)
    state = await b.ca(storage_of(req))
    issuer = _issuer_for(state, data, role)
    spec, warnings = issuing.leaf_spec(role, _input(data, csr), key=key_spec, serial=b.new_serial(),
                                       limits=_limits(b, req, issuer), urls=issuer.urls(await b.urls(
                                           storage_of(req))))
    if csr.requests_ca:
        warnings += ("the CSR's Basic Constraints extension was ignored: sign/ never issues a CA",)
    assert csr.public_key is not None
    return await _finish(b, req, data, state, issuer, role, spec, csr.public_key, key_spec, warnings)


def _parse_csr(pem: str) -> x509util.CsrInfo:
    try:
        return x509util.parse_csr(pem)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


async def _verbatim(b: PkiBackend, req: Request, data: FieldData) -> Response:
    role_name = data.get("role")
    role = await _role(b, req, role_name) if role_name else RoleEntry(name="")
    csr = _parse_csr(data.get("csr"))
    if csr.requests_ca:
        raise InvalidRequest("sign-verbatim will not sign a CA certificate; use root/sign-intermediate")
    check = RoleEntry(name="", key_type="any", key_bits=0)
    key_spec = issuing.check_csr_key(check, csr)
    state = await b.ca(storage_of(req))
    issuer = _issuer_for(state, data, None)
    valid = issuing.validity(limits=_limits(b, req, issuer), ttl=data.get("ttl"),
                             not_after=data.get("not_after"), role_ttl=role.ttl, role_max_ttl=role.max_ttl,
                             not_before_duration=role.not_before_duration)
    spec = _verbatim_spec(b, data, csr, key_spec, valid, role)
    spec = dataclasses.replace(spec, urls=issuer.urls(await b.urls(storage_of(req))))
    assert csr.public_key is not None
    return await _finish(b, req, data, state, issuer, role, spec, csr.public_key, key_spec, valid.warnings)


def _verbatim_spec(b: PkiBackend, data: FieldData, csr: x509util.CsrInfo, key_spec: KeySpec,
                   valid: issuing.Validity, role: RoleEntry) -> CertSpec:
    try:
        ku = frozenset() if csr.has_key_usage else usages.usages_for_key(
            usages.parse_key_usages(data.get("key_usage")), key_spec.key_type)
        eku = () if csr.has_ext_key_usage else tuple(dict.fromkeys([
            *usages.parse_ext_key_usages(data.get("ext_key_usage")),
            *usages.check_oids(data.get("ext_key_usage_oids"), "ext_key_usage_oids entry")]))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    flag = "basic_constraints_valid_for_non_ca"
    bc = data.get(flag) if data.supplied(flag) else role.basic_constraints_valid_for_non_ca
    return CertSpec(subject=x509util.Subject(), alt_names=x509util.AltNames(), serial=b.new_serial(),
                    not_before=valid.not_before, not_after=valid.not_after, key_usage=ku, ext_key_usage=eku,
                    basic_constraints_for_non_ca=bc and not csr.has_basic_constraints,
                    signature_bits=data.get("signature_bits"), use_pss=data.get("use_pss"),
                    raw_subject=csr.subject, raw_extensions=csr.extensions)


async def _finish(b: PkiBackend, req: Request, data: FieldData, state: CaState, issuer: LoadedIssuer,
                  role: RoleEntry, spec: CertSpec, public_key: PublicKey, key_spec: KeySpec,
                  warnings: tuple[str, ...], *, key: PrivateKey | None = None) -> Response:
    signer = issuer.signer("issuing-certificates")
    cert, info = x509util.issue_certificate(spec, public_key, signer, key_spec)
    pem = x509util.cert_pem(cert)
    if not role.no_store:
        await store_certificate(storage_of(req), record_for(cert, info, issuer_id=issuer.id,
                                                            role=role.name, req=req, pem=pem,
                                                            issued_at=b.now()))
    chain = chain_of(state, issuer, remove_roots=data.get("remove_roots_from_chain"))
    body = certificate_data(cert, info, issuer, chain, fmt=data.get("format"), key=key,
                            key_format=data.get("private_key_format"), pem=pem, trust=state.trust_bundle)
    secret = lease_secret(b, info) if role.generate_lease and not role.no_store else None
    return signed_response(body, warnings, audit_facts(info, issuer_id=issuer.id, role=role.name, req=req),
                           secret)


ISSUE_SYN = "Generate a private key and a certificate under a role."
ISSUE_DESC = """
The role decides which names, SANs, key type and lifetime are allowed; anything else is
refused with a 400 naming the name and the rule. The response carries the certificate, the
private key (never stored), the issuing CA and the chain, and (a warden extension) the
mount's trust bundle in trust_bundle: what the certificate's peers should trust, old and new
CA while the mount's CA rotates (see cert/trust_bundle).
"""
SIGN_SYN = "Sign a CSR under a role."
SIGN_DESC = """
The CSR's signature must verify (proof of possession) and its key must satisfy the role.
With use_csr_common_name/use_csr_sans (the default) the CN and SANs come from the CSR and
are checked like issue/ input; the subject's other fields always come from the role.
"""
VERBATIM_SYN = "Sign a CSR as it is (privileged): its subject and extensions are used unchanged."
