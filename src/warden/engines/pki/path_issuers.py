"""Issuers of a mount (several per mount, so a CA can rotate in place) and the default issuer."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from warden.engines.pki import certstore, crl, store, x509util
from warden.engines.pki.authority import CaState, LoadedIssuer
from warden.engines.pki.certstore import RevokedEntry
from warden.engines.pki.fields import ISSUER_REF, PAGE_FIELDS, check_name_field, page, storage_of
from warden.engines.pki.path_config_urls import URL_NAMES, checked_url
from warden.engines.pki.store import ISSUER_USAGES, LEAF_NOT_AFTER, IssuerEntry, IssuersConfig
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.clock import to_rfc3339
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Delete

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S, B, CSV = FieldType.STRING, FieldType.BOOL, FieldType.COMMA_STRING_SLICE
R, U, P, D, L = Operation.READ, Operation.UPDATE, Operation.PATCH, Operation.DELETE, Operation.LIST

REF_FIELD = {"issuer_ref": Field(S, "An issuer's id, its name, or \"default\".", required=True)}
ISSUER_FIELDS: dict[str, Field] = {
    **REF_FIELD,
    "issuer_name": Field(S, "A unique name for the issuer (not \"default\")."),
    "leaf_not_after_behavior": Field(S, "err, truncate or permit: a leaf outliving the issuer.",
                                     default="err"),
    "manual_chain": Field(CSV, "Issuer references making up this issuer's ca_chain (self first)."),
    "usage": Field(CSV, "read-only, issuing-certificates, crl-signing, ocsp-signing.",
                   default=",".join(ISSUER_USAGES)),
    "revocation_signature_algorithm": Field(S, "Accepted for compatibility."),
    "issuing_certificates": Field(CSV, "AIA issuing certificate URLs for this issuer."),
    "crl_distribution_points": Field(CSV, "CRL distribution point URLs for this issuer."),
    "ocsp_servers": Field(CSV, "OCSP responder URLs for this issuer."),
    "delta_crl_distribution_points": Field(CSV, "Delta CRL URLs for this issuer (the Freshest CRL "
                                                "extension of its certificates and complete CRLs)."),
    "enable_aia_url_templating": Field(B, "AIA URL templates (not supported)."),
}
CONFIG_FIELDS = {
    "default": Field(S, "The default issuer: id or name."),
    "default_follows_latest_issuer": Field(B, "New roots and imports become the default issuer."),
}


def paths(b: PkiBackend) -> list[Path]:
    async def listing(req: Request, data: FieldData) -> Response:
        state = await b.ca(storage_of(req))
        # Unauthenticated, as in Vault: what the certificates say, never key references.
        info = {i.id: listing_info(i, i.id == state.default_issuer) for i in state.issuers.values()}
        keys = page(list(info), data)
        return Response.listing(keys, {k: info[k] for k in keys})

    async def read(req: Request, data: FieldData) -> Response:
        state = await b.ca(storage_of(req))
        return Response(data=issuer_view(state.issuer(data.get("issuer_ref"))))

    async def update(req: Request, data: FieldData) -> Response:
        return await _update(b, req, data, patch=req.operation is Operation.PATCH)

    async def delete(req: Request, data: FieldData) -> Response:
        return await _delete(b, req, data.get("issuer_ref"))

    async def public_json(req: Request, data: FieldData) -> Response:
        issuer = (await b.ca(storage_of(req))).issuer(data.get("issuer_ref"))
        return Response(data={"certificate": issuer.pem, "ca_chain": list(issuer.chain),
                              "issuer_id": issuer.id, "issuer_name": issuer.entry.name,
                              "revocation_time": int(issuer.entry.revocation_time)})

    async def raw(req: Request, data: FieldData) -> Response:
        issuer = (await b.ca(storage_of(req))).issuer(data.get("issuer_ref"))
        if data.get("encoding") == "der":
            return Response.raw_body(issuer.der, "application/pkix-cert")
        return Response.raw_body(issuer.pem.encode(), "application/pem-certificate-chain")

    async def revoke(req: Request, data: FieldData) -> Response:
        return await _revoke(b, req, data.get("issuer_ref"))

    async def read_config(req: Request, data: FieldData) -> Response:
        state = await b.ca(storage_of(req))
        return Response(data={"default": state.default_issuer,
                              "default_follows_latest_issuer": state.default_follows_latest_issuer})

    async def write_config(req: Request, data: FieldData) -> Response:
        return await _set_default(b, req, data, fallback="")

    async def replace_root(req: Request, data: FieldData) -> Response:
        return await _set_default(b, req, data, fallback="next")

    return [
        Path("issuers/?", fields=PAGE_FIELDS, operations={L: listing},
             help_synopsis="List the issuers of this mount."),
        Path(f"issuer/{ISSUER_REF}/json", fields=REF_FIELD, operations={R: public_json},
             help_synopsis="An issuer's certificate and chain (unauthenticated)."),
        Path(f"issuer/{ISSUER_REF}/(?P<encoding>pem|der)",
             fields={**REF_FIELD, "encoding": Field(S, "pem or der.")}, operations={R: raw},
             help_synopsis="An issuer's certificate, raw (unauthenticated)."),
        Path(f"issuer/{ISSUER_REF}/revoke", fields=REF_FIELD, operations={U: revoke},
             help_synopsis="Revoke an issuer: it stops issuing and lands on its parent's CRL."),
        Path(f"issuer/{ISSUER_REF}", fields=ISSUER_FIELDS,
             operations={R: read, U: update, P: update, D: delete},
             help_synopsis="Read, update or delete an issuer.", help_description=ISSUER_DESC),
        Path("config/issuers", fields=CONFIG_FIELDS, operations={R: read_config, U: write_config},
             help_synopsis="Read or set the default issuer."),
        Path("root/replace", fields=CONFIG_FIELDS, operations={U: replace_root},
             help_synopsis="Make another issuer (default: the one named next) the default issuer."),
    ]


def listing_info(issuer: LoadedIssuer, is_default: bool) -> dict[str, Any]:
    """Vault's key_info (name, default, serial) and, as a warden extension, what an operator
    checks first about a CA: its subject, key, validity and whether it may still issue."""
    info, spec = issuer.info, issuer.info.key_spec
    return {"issuer_name": issuer.entry.name, "is_default": is_default,
            "serial_number": store.format_serial(info.serial), "common_name": info.common_name,
            "key_type": spec.key_type if spec else "", "key_bits": spec.bits if spec else 0,
            "not_before": int(info.not_before), "not_after": int(info.not_after),
            "not_after_rfc3339": to_rfc3339(info.not_after), "is_root": issuer.is_root,
            "revoked": issuer.entry.revoked, "usage": ",".join(issuer.entry.usage)}


def issuer_view(issuer: LoadedIssuer) -> dict[str, Any]:
    e = issuer.entry
    return {
        "issuer_id": e.id, "issuer_name": e.name, "key_id": e.key_id, "certificate": issuer.pem,
        "ca_chain": list(issuer.chain), "manual_chain": list(e.manual_chain) or None,
        "leaf_not_after_behavior": e.leaf_not_after_behavior, "usage": ",".join(e.usage),
        "revocation_signature_algorithm": e.revocation_signature_algorithm,
        "issuing_certificates": list(e.issuing_certificates),
        "crl_distribution_points": list(e.crl_distribution_points), "ocsp_servers": list(e.ocsp_servers),
        "delta_crl_distribution_points": list(e.delta_crl_distribution_points),
        "revoked": e.revoked, "revocation_time": int(e.revocation_time),
        "revocation_time_rfc3339": to_rfc3339(e.revocation_time) if e.revoked else "",
        "serial_number": store.format_serial(issuer.info.serial),
    }


def _updated_entry(state: CaState, issuer: LoadedIssuer, data: FieldData, patch: bool) -> IssuerEntry:
    if data.get("enable_aia_url_templating"):
        raise InvalidRequest("AIA URL templating is not supported by warden")
    base = issuer.entry if patch else IssuerEntry(id=issuer.id, certificate=issuer.entry.certificate,
                                                   key_id=issuer.entry.key_id, revoked=issuer.entry.revoked,
                                                   revocation_time=issuer.entry.revocation_time)
    values: dict[str, Any] = {}
    for name in ("issuer_name", "leaf_not_after_behavior", "manual_chain", "usage",
                 "revocation_signature_algorithm", *URL_NAMES):
        if data.supplied(name) or not patch:
            value = data.get(name)
            key = "name" if name == "issuer_name" else name
            if name in URL_NAMES:
                value = [checked_url(u, name) for u in value]
            values[key] = tuple(value) if isinstance(value, list) else value
    entry = dataclasses.replace(base, **values)
    _check_entry(state, issuer, entry)
    if entry.manual_chain:
        resolved = tuple(state.issuer(ref).id for ref in entry.manual_chain)
        if resolved[0] != issuer.id:
            raise InvalidRequest("manual_chain must start with the issuer itself")
        entry = dataclasses.replace(entry, manual_chain=resolved)
    return entry


def _check_entry(state: CaState, issuer: LoadedIssuer, entry: IssuerEntry) -> None:
    check_name_field(entry.name, "an issuer name")
    if entry.name and state.name_taken(entry.name, issuer=True, but=issuer.id):
        raise InvalidRequest(f'an issuer named "{entry.name}" already exists in this mount')
    if entry.leaf_not_after_behavior not in LEAF_NOT_AFTER:
        raise InvalidRequest("leaf_not_after_behavior must be err, truncate or permit")
    unknown = [u for u in entry.usage if u not in ISSUER_USAGES]
    if unknown:
        raise InvalidRequest(f'unknown issuer usage "{unknown[0]}"; valid: {", ".join(ISSUER_USAGES)}')
    if "crl-signing" in entry.usage and not issuer.info.can_sign_crl:
        raise InvalidRequest("crl-signing usage needs the CRLSign key usage on the issuer's certificate")
    if entry.revoked and "issuing-certificates" in entry.usage:
        raise InvalidRequest("a revoked issuer cannot have the issuing-certificates usage")


async def _update(b: PkiBackend, req: Request, data: FieldData, *, patch: bool) -> Response:
    state = await b.ca(storage_of(req))
    issuer = state.issuer(data.get("issuer_ref"))
    entry = _updated_entry(state, issuer, data, patch)
    await store.save_issuer(storage_of(req), entry)
    b.ca_changed()
    return Response(data=issuer_view((await b.ca(storage_of(req))).issuer(entry.id)))


async def _delete(b: PkiBackend, req: Request, ref: str) -> Response:
    state = await b.ca(storage_of(req))
    issuer = state.find_issuer(ref)
    if issuer is None:
        return Response()
    ops = [Delete(store.ISSUER_PREFIX + issuer.id), *await crl.removal_ops(storage_of(req), issuer.id)]
    warnings = []
    if issuer.id == state.default_issuer:
        ops.append(Delete(store.CONFIG_ISSUERS))
        warnings.append("the default issuer was deleted; set a new default with config/issuers")
    await storage_of(req).batch(ops)
    b.ca_changed()
    return Response(warnings=warnings)


async def _revoke(b: PkiBackend, req: Request, ref: str) -> Response:
    storage = storage_of(req)
    state = await b.ca(storage)
    issuer = state.issuer(ref)
    if not issuer.entry.revoked:
        now = b.now()
        usage = tuple(u for u in issuer.entry.usage if u != "issuing-certificates")
        await store.save_issuer(storage, dataclasses.replace(issuer.entry, revoked=True, revocation_time=now,
                                                             usage=usage))
        parent = next((p for p in state.issuers.values()
                       if p.id != issuer.id and x509util.issued_by(issuer.cert, p.cert)), None)
        if parent is not None:
            await certstore.revoke_once(storage, RevokedEntry(
                serial_number=store.format_serial(issuer.info.serial), revocation_time=now,
                issuer_id=parent.id, not_after=int(issuer.info.not_after), certificate=issuer.pem))
        b.ca_changed()
        await crl.rebuild_all(b, storage)
    return Response(data=issuer_view((await b.ca(storage)).issuer(issuer.id)))


async def _set_default(b: PkiBackend, req: Request, data: FieldData, *, fallback: str) -> Response:
    state = await b.ca(storage_of(req))
    ref = data.get("default") or fallback
    target = state.issuer(ref).id if ref else state.default_issuer
    follows = (data.get("default_follows_latest_issuer") if data.supplied("default_follows_latest_issuer")
               else state.default_follows_latest_issuer)
    await store.save_config(storage_of(req), store.CONFIG_ISSUERS,
                            IssuersConfig(default=target, default_follows_latest_issuer=follows))
    b.ca_changed()
    return Response(data={"default": target, "default_follows_latest_issuer": follows})


ISSUER_DESC = """
POST replaces the issuer's settings (elided fields get their defaults); PATCH changes only
the fields given. The certificate itself never changes: import a new issuer instead.
Deleting the default issuer clears the default.
"""
