"""Root CAs: generate (root/generate, root/rotate), delete, and sign other CAs with one.

``root/sign-intermediate`` signs any intermediate CSR (another mount's, or an outside CA's);
``root/sign-self-issued`` cross-signs a self-issued CA certificate.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from warden.engines.pki import ca, crl, issuing, store, usages, x509util
from warden.engines.pki.authority import LoadedIssuer
from warden.engines.pki.fields import (
    CA_FIELDS,
    ISSUER_REF,
    ISSUER_REF_FIELD,
    NAME_FIELDS,
    OUTPUT_FIELDS,
    SUBJECT_FIELDS,
    VALIDITY_FIELDS,
    check_generation_type,
    storage_of,
)
from warden.engines.pki.issuance import audit_facts, certificate_data, chain_of
from warden.engines.pki.issuing import Limits
from warden.engines.pki.roles import RoleEntry
from warden.engines.pki.store import IssuerEntry
from warden.engines.pki.x509util import CertSpec
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Delete, clear

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S, B = FieldType.STRING, FieldType.BOOL
GEN_TYPE = r"(?P<exported>\w+)"

SIGN_INTERMEDIATE_FIELDS: dict[str, Field] = {
    **NAME_FIELDS, **SUBJECT_FIELDS, **VALIDITY_FIELDS, **OUTPUT_FIELDS,
    "common_name": Field(S, "The CA's common name; default: the CSR's."),
    "csr": Field(S, "The PEM CSR of the intermediate CA.", required=True),
    "max_path_length": Field(FieldType.INT, "Path length constraint (-1: one less than the issuer's).",
                             default=-1),
    "permitted_dns_domains": Field(FieldType.COMMA_STRING_SLICE, "DNS name constraints."),
    "use_csr_values": Field(B, "Take the subject and SANs from the CSR."),
    "not_before_duration": Field(FieldType.DURATION, "How far to backdate NotBefore.", default="30s"),
    "signature_bits": Field(FieldType.INT, "SHA-2 size of RSA signatures."),
    "use_pss": Field(B, "Use RSA-PSS signatures."),
    "skid": Field(S, "A fixed subject key identifier (hex), for cross-signing."),
}
SELF_ISSUED_FIELDS: dict[str, Field] = {
    "certificate": Field(S, "The PEM self-issued CA certificate to sign.", required=True),
    "require_matching_certificate_algorithms": Field(B, "Refuse if key algorithms differ."),
}


def paths(b: PkiBackend) -> list[Path]:
    async def generate(req: Request, data: FieldData) -> Response:
        return await generate_root(b, req, data)

    async def rotate(req: Request, data: FieldData) -> Response:
        return await generate_root(b, req, data, default_name="next")

    async def sign_intermediate(req: Request, data: FieldData) -> Response:
        return await _sign_intermediate(b, req, data)

    async def sign_self_issued(req: Request, data: FieldData) -> Response:
        return await _sign_self_issued(b, req, data)

    async def delete_all(req: Request, data: FieldData) -> Response:
        return await _delete_all(b, req)

    gen = {Operation.UPDATE: generate}
    return [
        Path(f"root/generate/{GEN_TYPE}", fields=CA_FIELDS, operations=gen,
             help_synopsis=ROOT_SYN, help_description=ROOT_DESC),
        Path(f"issuers/generate/root/{GEN_TYPE}", fields=CA_FIELDS, operations=gen,
             help_synopsis=ROOT_SYN, help_description=ROOT_DESC),
        Path(f"root/rotate/{GEN_TYPE}", fields=CA_FIELDS, operations={Operation.UPDATE: rotate},
             help_synopsis="Generate a new root next to the current one (issuer_name defaults to next)."),
        Path("root/sign-intermediate", fields=SIGN_INTERMEDIATE_FIELDS,
             operations={Operation.UPDATE: sign_intermediate}, help_synopsis=SIGN_INT_SYN),
        Path(f"issuer/{ISSUER_REF}/sign-intermediate",
             fields={**SIGN_INTERMEDIATE_FIELDS, **ISSUER_REF_FIELD},
             operations={Operation.UPDATE: sign_intermediate}, help_synopsis=SIGN_INT_SYN),
        Path("root/sign-self-issued", fields=SELF_ISSUED_FIELDS,
             operations={Operation.UPDATE: sign_self_issued}, help_synopsis=SELF_SYN),
        Path(f"issuer/{ISSUER_REF}/sign-self-issued", fields={**SELF_ISSUED_FIELDS, **ISSUER_REF_FIELD},
             operations={Operation.UPDATE: sign_self_issued}, help_synopsis=SELF_SYN),
        Path("root", operations={Operation.DELETE: delete_all},
             help_synopsis="Delete every issuer and key of this mount (requires sudo)."),
    ]


def _limits(b: PkiBackend, req: Request, parent: LoadedIssuer | None = None) -> Limits:
    default, maximum = b.ttl_limits(req)
    if parent is None:
        return Limits(now=b.now(), default_ttl=default, max_ttl=maximum)
    return Limits(now=b.now(), default_ttl=default, max_ttl=maximum,
                  issuer_not_before=parent.info.not_before, issuer_not_after=parent.info.not_after,
                  leaf_not_after_behavior=parent.entry.leaf_not_after_behavior)


async def generate_root(b: PkiBackend, req: Request, data: FieldData, *, default_name: str = "") -> Response:
    kind = check_generation_type(data.get("exported"))
    state = await b.ca(storage_of(req))
    name = ca.new_issuer_name(data, state, default=default_name)
    subject, alt = ca.ca_names(data)
    valid = issuing.validity(limits=_limits(b, req), ttl=data.get("ttl"), not_after=data.get("not_after"),
                             not_before_duration=data.get("not_before_duration"))
    choice = await ca.obtain_key(b, state, data, kind)
    spec = CertSpec(subject=subject, alt_names=alt, serial=b.new_serial(), not_before=valid.not_before,
                    not_after=valid.not_after, is_ca=True,
                    max_path_length=ca.path_length(data.get("max_path_length")),
                    key_usage=ca.ca_usages(choice.key),
                    permitted_dns_domains=tuple(data.get("permitted_dns_domains")),
                    urls=_mount_aia(await b.urls(storage_of(req))),
                    signature_bits=data.get("signature_bits"), use_pss=data.get("use_pss"))
    cert = x509util.sign_certificate(spec, choice.key.public_key(), x509util.Signer(choice.key))
    entry = IssuerEntry(id=b.new_id(), certificate=x509util.cert_pem(cert), name=name, key_id=choice.entry.id)
    ops = ca.new_key_ops(choice, state) + ca.issuer_ops(entry, state, becomes_default=True)
    await ca.commit(b, req, ops, new_issuers=[entry.id], records=[(cert, entry.id)])
    info = x509util.describe(cert)
    body = _ca_body(cert, info, data, entry, choice, exported=kind == "exported")
    resp = Response(data=body, warnings=list(valid.warnings))
    resp.audit = audit_facts(info, issuer_id=entry.id, role="", req=req)
    return resp


def _mount_aia(urls: store.UrlsConfig) -> x509util.AiaUrls:
    return x509util.AiaUrls(urls.issuing_certificates, urls.crl_distribution_points, urls.ocsp_servers,
                            urls.delta_crl_distribution_points)


def _ca_body(cert: x509util.Certificate, info: x509util.CertInfo, data: FieldData, entry: IssuerEntry,
             choice: ca.KeyChoice, *, exported: bool) -> dict[str, Any]:
    fmt, pem = data.get("format"), x509util.cert_pem(cert)
    certificate = (base64.b64encode(x509util.cert_der(cert)).decode() if fmt == "der" else pem)
    body: dict[str, Any] = {
        "certificate": certificate, "issuing_ca": certificate,
        "serial_number": store.format_serial(info.serial),
        "expiration": int(info.not_after), "issuer_id": entry.id, "issuer_name": entry.name,
        "key_id": choice.entry.id, "key_name": choice.entry.name,
    }
    if exported:
        key_data = certificate_data(cert, info, _stub(entry, cert), [], fmt=fmt, key=choice.key,
                                    key_format=data.get("private_key_format"))
        body["private_key"], body["private_key_type"] = key_data["private_key"], key_data["private_key_type"]
        if fmt == "pem_bundle":
            body["certificate"] = key_data["certificate"]
    return body


def _stub(entry: IssuerEntry, cert: x509util.Certificate) -> LoadedIssuer:
    return LoadedIssuer(entry=entry, cert=cert, info=x509util.describe(cert), pem=x509util.cert_pem(cert),
                        der=x509util.cert_der(cert), key=None)


def _child_path_length(requested: int, parent: LoadedIssuer) -> int | None:
    parent_len = parent.info.path_length
    if parent_len == 0:
        raise InvalidRequest(f"issuer {parent.id} has a path length constraint of 0 and cannot sign "
                             "intermediate CAs")
    if requested == -1:
        return None if parent_len is None else parent_len - 1
    wanted = ca.path_length(requested)
    if parent_len is not None and wanted is not None and wanted > parent_len - 1:
        raise InvalidRequest(f"max_path_length {wanted} exceeds what issuer {parent.id} allows "
                             f"({parent_len - 1})")
    return wanted


async def _sign_intermediate(b: PkiBackend, req: Request, data: FieldData) -> Response:
    state = await b.ca(storage_of(req))
    parent = state.issuer(data.get("issuer_ref") if "issuer_ref" in data.schema else "default")
    csr = _verified_csr(data.get("csr"))
    if data.get("use_csr_values"):
        subject, alt, raw = x509util.Subject(), csr.alt_names, csr.subject
    else:
        # Vault (use_csr_common_name when none is given): the CSR names the intermediate.
        csr_cn = csr.common_names[0] if csr.common_names else ""
        (subject, alt), raw = ca.ca_names(data, default_cn=csr_cn), None
    valid = issuing.validity(limits=_limits(b, req, parent), ttl=data.get("ttl"),
                             not_after=data.get("not_after"),
                             not_before_duration=data.get("not_before_duration"))
    assert csr.public_key is not None
    spec = CertSpec(subject=subject, alt_names=alt, serial=b.new_serial(), not_before=valid.not_before,
                    not_after=valid.not_after, is_ca=True,
                    max_path_length=_child_path_length(data.get("max_path_length"), parent),
                    key_usage=_usages_for(csr),
                    permitted_dns_domains=tuple(data.get("permitted_dns_domains")),
                    urls=parent.urls(await b.urls(storage_of(req))),
                    signature_bits=data.get("signature_bits"), use_pss=data.get("use_pss"),
                    skid=_skid(data.get("skid")), raw_subject=raw)
    cert = x509util.sign_certificate(spec, csr.public_key, parent.signer("issuing-certificates"))
    await ca.commit(b, req, [], records=[(cert, parent.id)])
    info = x509util.describe(cert)
    chain = chain_of(state, parent, remove_roots=data.get("remove_roots_from_chain"))
    body = certificate_data(cert, info, parent, chain, fmt=data.get("format"))
    resp = Response(data=body, warnings=list(valid.warnings))
    resp.audit = audit_facts(info, issuer_id=parent.id, role="", req=req)
    return resp


def _verified_csr(pem: str) -> x509util.CsrInfo:
    try:
        csr = x509util.parse_csr(pem)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    issuing.check_csr_key(RoleEntry(name="", key_type="any", key_bits=0), csr)
    return csr


def _usages_for(csr: x509util.CsrInfo) -> frozenset[str]:
    spec = csr.key_spec
    return usages.usages_for_key(ca.CA_KEY_USAGE, spec.key_type if spec else "rsa")


def _skid(text: str) -> bytes:
    if not text:
        return b""
    try:
        return bytes.fromhex(text.replace(":", "").replace("-", "").replace(" ", ""))
    except ValueError:
        raise InvalidRequest("cannot parse the requested skid as hex") from None


async def _sign_self_issued(b: PkiBackend, req: Request, data: FieldData) -> Response:
    state = await b.ca(storage_of(req))
    parent = state.issuer(data.get("issuer_ref") if "issuer_ref" in data.schema else "default")
    try:
        cert = x509util.load_certificate(data.get("certificate"))
    except ValueError as exc:
        raise InvalidRequest(f"certificate: {exc}") from None
    info = x509util.describe(cert)
    if not info.is_ca:
        raise InvalidRequest("the given certificate is not marked for CA use (basicConstraints CA:true)")
    if not info.self_issued:
        raise InvalidRequest("the given certificate is not self-issued (its issuer differs from its subject)")
    if data.get("require_matching_certificate_algorithms") and (
            info.key_spec is None or parent.info.key_spec is None
            or info.key_spec.key_type != parent.info.key_spec.key_type):
        raise InvalidRequest("the certificate's key algorithm differs from the issuer's")
    signed = x509util.resign_self_issued(cert, parent.signer("issuing-certificates"))
    return Response(data={"certificate": x509util.cert_pem(signed), "issuing_ca": parent.pem})


async def _delete_all(b: PkiBackend, req: Request) -> Response:
    storage = storage_of(req)
    for prefix in (store.ISSUER_PREFIX, store.KEY_PREFIX, store.CRL_PREFIX, crl.DER_PREFIX):
        await clear(storage, prefix)
    await storage.batch([Delete(store.CONFIG_ISSUERS), Delete(store.CONFIG_KEYS)])
    b.ca_changed()
    b.crls.clear()
    return Response(warnings=["DELETE /root deletes all keys and issuers; prefer deleting them one by one"])


ROOT_SYN = "Generate a self-signed root CA (its key stays in warden unless exported)."
ROOT_DESC = """
type is internal (the key is never returned), exported (the key is returned once) or
existing (key_ref names a key already in the mount). The new issuer becomes the default
issuer if the mount has none. TTL is capped by the mount's max_lease_ttl (tune it for a
long-lived root, as seed 000 does).
"""
SIGN_INT_SYN = "Sign an intermediate CA's CSR with this mount's issuer (privileged)."
SELF_SYN = "Cross-sign a self-issued CA certificate with this mount's issuer (requires sudo)."
