"""Intermediate CAs signed elsewhere: make a CSR whose key stays here, import what comes back.

Seed 001's offline-root flow: ``intermediate/generate/internal`` -> sign the CSR outside
(cfssl, openssl) -> ``intermediate/set-signed`` with the signed certificate, which must
match a key this mount holds. ``config/ca`` and ``issuers/import/*`` import CA bundles.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import TYPE_CHECKING, Any

from warden.engines.pki import ca, store, x509util
from warden.engines.pki.authority import CaState
from warden.engines.pki.fields import CA_FIELDS, check_generation_type, storage_of
from warden.engines.pki.store import IssuerEntry, KeyEntry
from warden.engines.pki.x509util import Certificate, PrivateKey
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Put

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

GEN_TYPE = r"(?P<exported>\w+)"
SET_SIGNED_FIELDS = {"certificate": Field(FieldType.STRING, "The signed CA certificate (PEM), optionally "
                                          "followed by its issuers.", required=True)}
BUNDLE_FIELDS = {"pem_bundle": Field(FieldType.STRING, "PEM certificates (and, where allowed, unencrypted "
                                     "private keys) concatenated in any order.", required=True)}


def paths(b: PkiBackend) -> list[Path]:
    async def generate(req: Request, data: FieldData) -> Response:
        return await _generate(b, req, data)

    async def set_signed(req: Request, data: FieldData) -> Response:
        return await import_pem(b, req, data.get("certificate"), allow_keys=False, require_key=True)

    async def import_bundle(req: Request, data: FieldData) -> Response:
        return await import_pem(b, req, data.get("pem_bundle"), allow_keys=True)

    async def import_certs(req: Request, data: FieldData) -> Response:
        return await import_pem(b, req, data.get("pem_bundle"), allow_keys=False)

    gen = {Operation.UPDATE: generate}
    return [
        Path(f"intermediate/generate/{GEN_TYPE}", fields=CA_FIELDS, operations=gen,
             help_synopsis=GEN_SYN, help_description=GEN_DESC),
        Path(f"issuers/generate/intermediate/{GEN_TYPE}", fields=CA_FIELDS, operations=gen,
             help_synopsis=GEN_SYN, help_description=GEN_DESC),
        Path("intermediate/set-signed", fields=SET_SIGNED_FIELDS, operations={Operation.UPDATE: set_signed},
             help_synopsis=SET_SIGNED_SYN, help_description=SET_SIGNED_DESC),
        Path("config/ca", fields=BUNDLE_FIELDS, operations={Operation.UPDATE: import_bundle},
             help_synopsis="Import CA certificates and private keys (a PEM bundle)."),
        Path("issuers/import/bundle", fields=BUNDLE_FIELDS, operations={Operation.UPDATE: import_bundle},
             help_synopsis="Import CA certificates and private keys (a PEM bundle)."),
        Path("issuers/import/cert", fields=BUNDLE_FIELDS, operations={Operation.UPDATE: import_certs},
             help_synopsis="Import CA certificates (no private keys)."),
    ]


async def _generate(b: PkiBackend, req: Request, data: FieldData) -> Response:
    kind = check_generation_type(data.get("exported"))
    state = await b.ca(storage_of(req))
    subject, alt = ca.ca_names(data)
    choice = await ca.obtain_key(b, state, data, kind)
    csr = x509util.build_csr(subject, alt, choice.key,
                             add_basic_constraints=data.get("add_basic_constraints"),
                             signature_bits=data.get("signature_bits"), use_pss=data.get("use_pss"))
    await ca.commit(b, req, ca.new_key_ops(choice, state))
    fmt = data.get("format")
    body: dict[str, Any] = {"key_id": choice.entry.id, "key_name": choice.entry.name,
                            "key_type": choice.entry.key_type}
    body["csr"] = base64.b64encode(x509util.csr_der(csr)).decode() if fmt == "der" else x509util.csr_pem(csr)
    if kind == "exported":
        pkcs8 = data.get("private_key_format") == "pkcs8"
        body["private_key_type"] = choice.entry.key_type
        body["private_key"] = (base64.b64encode(x509util.private_key_der(choice.key, pkcs8=pkcs8)).decode()
                               if fmt == "der" else x509util.private_key_pem(choice.key, pkcs8=pkcs8))
        if fmt == "pem_bundle":
            body["csr"] = x509util.private_key_pem(choice.key) + body["csr"]
    return Response(data=body)


def _parse_bundle(pem: str, *, allow_keys: bool) -> tuple[list[PrivateKey], list[Certificate]]:
    try:
        keys, certs = x509util.split_pem_bundle(pem)
    except ValueError as exc:
        raise InvalidRequest(f"the PEM bundle could not be parsed: {exc}") from None
    if keys and not allow_keys:
        raise InvalidRequest("this path does not accept private keys; use issuers/import/bundle")
    if not keys and not certs:
        raise InvalidRequest("no PEM certificate or private key was found in the input")
    for n, cert in enumerate(certs, 1):
        info = x509util.describe(cert)
        if not info.is_ca:
            raise InvalidRequest(f"certificate {n} of the bundle ({info.subject}) is not a CA certificate "
                                 "(basicConstraints CA:true is missing)")
    return keys, certs


def _new_keys(b: PkiBackend, state: CaState, keys: list[PrivateKey]) -> tuple[list[KeyEntry], list[str],
                                                                               dict[bytes, str]]:
    """(new key entries, ids of keys already here, public key id -> key id for all of them)."""
    known = {x509util.public_key_id(k): kid for kid, k in state.parsed_keys.items()}
    new, existing = [], []
    for key in keys:
        pid = x509util.public_key_id(key)
        if pid in known:
            existing.append(known[pid])
            continue
        spec = x509util.spec_of(key)
        entry = KeyEntry(id=b.new_id(), private_key=x509util.private_key_pem(key, pkcs8=True),
                         key_type=spec.key_type if spec else "", key_bits=spec.bits if spec else 0)
        known[pid] = entry.id
        new.append(entry)
    return new, existing, known


async def import_pem(b: PkiBackend, req: Request, pem: str, *, allow_keys: bool,
                     require_key: bool = False) -> Response:
    keys, certs = _parse_bundle(pem, allow_keys=allow_keys)
    state = await b.ca(storage_of(req))
    new_keys, existing_keys, key_ids = _new_keys(b, state, keys)
    if require_key and (not certs or x509util.public_key_id(certs[0].public_key()) not in key_ids):  # type: ignore[arg-type]
        raise InvalidRequest("the signed certificate's public key matches no key in this mount: was it "
                             "signed from a CSR made by intermediate/generate on this mount?")
    new_issuers: list[IssuerEntry] = []
    existing_issuers: list[str] = []
    ops = ca.key_ops(new_keys, state)
    for cert in certs:
        key_id = key_ids.get(x509util.public_key_id(cert.public_key()), "")  # type: ignore[arg-type]
        known = state.issuer_with_der(x509util.cert_der(cert))
        if known is not None:
            existing_issuers.append(known.id)
            if key_id and not known.entry.key_id:  # its key arrived after it: attach it
                ops.append(Put(store.ISSUER_PREFIX + known.id,
                               ca.entry_json(dataclasses.replace(known.entry, key_id=key_id))))
            continue
        if any(x509util.cert_pem(cert) == i.certificate for i in new_issuers):
            continue
        new_issuers.append(IssuerEntry(id=b.new_id(), certificate=x509util.cert_pem(cert), key_id=key_id))
    with_keys = [i for i in new_issuers if i.key_id]
    for entry in new_issuers:
        ops += ca.issuer_ops(entry, state, becomes_default=len(with_keys) == 1 and entry in with_keys)
    await ca.commit(b, req, ops, new_issuers=[i.id for i in with_keys])
    return Response(data={
        "imported_issuers": [i.id for i in new_issuers], "imported_keys": [k.id for k in new_keys],
        "mapping": {i.id: i.key_id for i in new_issuers},
        "existing_issuers": existing_issuers, "existing_keys": existing_keys,
    }, warnings=_validity_warnings(b, certs))


def _validity_warnings(b: PkiBackend, certs: list[Certificate]) -> list[str]:
    now = b.now()
    out = []
    for cert in certs:
        info = x509util.describe(cert)
        if info.not_after < now:
            out.append(f"imported certificate {info.subject} has expired")
        elif info.not_before > now + 60:
            out.append(f"imported certificate {info.subject} is not valid yet")
    return out


GEN_SYN = "Generate an intermediate CA's key and CSR; the key stays in this mount unless exported."
GEN_DESC = """
No issuer exists until the signed certificate is imported with intermediate/set-signed.
Sign the CSR with any CA: another mount's root/sign-intermediate, cfssl sign, openssl ca.
"""
SET_SIGNED_SYN = "Import the signed intermediate certificate; it must match a key made here."
SET_SIGNED_DESC = """
The first certificate must be a CA certificate whose public key is one this mount holds
(from intermediate/generate). Further certificates (the signing root, ...) are imported as
issuers without keys so ca_chain is complete. The new issuer becomes the default issuer if
the mount has none.
"""
