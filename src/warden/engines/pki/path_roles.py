"""``roles/<name>``: what may be issued from this mount, and how (Vault's role API)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from warden.engines.pki import roles
from warden.engines.pki.fields import PAGE_FIELDS, page, storage_of
from warden.engines.pki.roles import ROLE_PREFIX, RoleEntry
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest, NotFound
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

S, B, INT, D = FieldType.STRING, FieldType.BOOL, FieldType.INT, FieldType.DURATION
CSV = FieldType.COMMA_STRING_SLICE

ROLE_FIELDS: dict[str, Field] = {
    "name": Field(S, "The role's name."),
    "issuer_ref": Field(S, "The issuer that signs for this role: id, name or default."),
    "ttl": Field(D, "Default lifetime of certificates (0: the mount's default lease TTL)."),
    "max_ttl": Field(D, "Maximum lifetime of certificates (0: the mount's maximum lease TTL)."),
    "allow_localhost": Field(B, "Allow localhost and localdomain as names."),
    "allowed_domains": Field(CSV, "Domains names may be issued for (see the allow_* options)."),
    "allowed_domains_template": Field(B, "Identity templates in allowed_domains (not supported)."),
    "allow_bare_domains": Field(B, "Allow the allowed_domains themselves as names."),
    "allow_subdomains": Field(B, "Allow subdomains (and wildcards) of allowed_domains."),
    "allow_glob_domains": Field(B, "Treat '*' in allowed_domains as a glob that may span labels."),
    "allow_wildcard_certificates": Field(B, "Allow RFC 6125 wildcard names."),
    "allow_any_name": Field(B, "Allow any name (enforce_hostnames still applies)."),
    "enforce_hostnames": Field(B, "Names must be valid hostnames (CNs, DNS SANs, email hosts)."),
    "allow_ip_sans": Field(B, "Allow IP SANs."),
    "allowed_ip_sans_cidr": Field(CSV, "CIDRs IP SANs must fall in (empty: any)."),
    "allowed_uri_sans": Field(CSV, "Globs URI SANs must match (empty: no URI SANs)."),
    "allowed_uri_sans_template": Field(B, "Identity templates in allowed_uri_sans (not supported)."),
    "allowed_other_sans": Field(CSV, "Allowed other SANs as <oid>;UTF8:<glob>, or \"*\"."),
    "allowed_serial_numbers": Field(CSV, "Globs the subject serialNumber must match."),
    "allowed_user_ids": Field(CSV, "user_ids that may be requested: exact (any case) or globs; empty: none."),
    "server_flag": Field(B, "Add the serverAuth extended key usage."),
    "client_flag": Field(B, "Add the clientAuth extended key usage."),
    "code_signing_flag": Field(B, "Add the codeSigning extended key usage."),
    "email_protection_flag": Field(B, "Add the emailProtection extended key usage."),
    "key_type": Field(S, "rsa, ec, ed25519, or any (signing only)."),
    "key_bits": Field(INT, "Key size for generated keys; the minimum for CSRs."),
    "signature_bits": Field(INT, "SHA-2 size of RSA signatures: 256, 384 or 512."),
    "use_pss": Field(B, "Use RSA-PSS signatures when the issuer's key is RSA."),
    "key_usage": Field(CSV, "Key usages (Go names without the KeyUsage prefix)."),
    "ext_key_usage": Field(CSV, "Extended key usages (Go names without the ExtKeyUsage prefix)."),
    "ext_key_usage_oids": Field(CSV, "Extended key usage OIDs."),
    "use_csr_common_name": Field(B, "sign/: take the CN from the CSR."),
    "use_csr_sans": Field(B, "sign/: take the SANs from the CSR."),
    "ou": Field(CSV, "OU values of issued certificates."),
    "organization": Field(CSV, "O values of issued certificates (Kubernetes groups)."),
    "country": Field(CSV, "C values of issued certificates."),
    "locality": Field(CSV, "L values of issued certificates."),
    "province": Field(CSV, "ST values of issued certificates."),
    "street_address": Field(CSV, "Street address values of issued certificates."),
    "postal_code": Field(CSV, "Postal code values of issued certificates."),
    "generate_lease": Field(B, "Attach a lease; revoking it revokes the certificate."),
    "no_store": Field(B, "Do not store or index issued certificates."),
    "require_cn": Field(B, "A common name is required."),
    "cn_validations": Field(CSV, "email, hostname, or disabled: what a CN may be."),
    "policy_identifiers": Field(CSV, "Certificate policy OIDs."),
    "basic_constraints_valid_for_non_ca": Field(B, "Add basicConstraints CA:false to leaves."),
    "not_before_duration": Field(D, "How far to backdate NotBefore."),
    "not_after": Field(S, "A fixed NotAfter (RFC 3339) for every certificate of the role."),
}

_NOT_STORED = ("name", "allowed_domains_template", "allowed_uri_sans_template")


def paths(b: PkiBackend) -> list[Path]:
    async def list_roles(req: Request, data: FieldData) -> Response:
        return Response.listing(page(await storage_of(req).list(ROLE_PREFIX), data))

    async def exists(req: Request, data: FieldData) -> bool:
        return await b.role(storage_of(req), data.get("name")) is not None

    async def read(req: Request, data: FieldData) -> Response | None:
        role = await b.role(storage_of(req), data.get("name"))
        return None if role is None else Response(data=role.view())

    async def write(req: Request, data: FieldData) -> Response:
        role = await _build(b, req, data, RoleEntry(name=data.get("name")))
        await b.save_role(storage_of(req), role)
        return Response(data=role.view())

    async def patch(req: Request, data: FieldData) -> Response:
        current = await b.role(storage_of(req), data.get("name"))
        if current is None:
            raise NotFound(f'role "{data.get("name")}" does not exist')
        role = await _build(b, req, data, current)
        await b.save_role(storage_of(req), role)
        return Response(data=role.view())

    async def delete(req: Request, data: FieldData) -> None:
        await b.delete_role(storage_of(req), data.get("name"))

    return [
        Path("roles/?", fields=PAGE_FIELDS, operations={Operation.LIST: list_roles},
             help_synopsis="List the roles of this mount.",
             help_description="Only names are returned; read a role for its settings."),
        Path("roles/" + generic_name_regex("name"), fields=ROLE_FIELDS,
             operations={Operation.READ: read, Operation.UPDATE: write, Operation.PATCH: patch,
                         Operation.DELETE: delete},
             existence_check=exists,
             help_synopsis="Manage a role: which names, key types, usages and lifetimes it allows.",
             help_description=ROLE_HELP),
    ]


async def _build(b: PkiBackend, req: Request, data: FieldData, base: RoleEntry) -> RoleEntry:
    """``base`` overlaid with the supplied fields, validated (POST starts from defaults)."""
    if data.get("allowed_domains_template") or data.get("allowed_uri_sans_template"):
        raise InvalidRequest("identity templates in allowed_domains/allowed_uri_sans are not supported")
    values: dict[str, Any] = {}
    for name in ROLE_FIELDS:
        if name in _NOT_STORED or not data.supplied(name):
            continue
        value = data.get(name)
        values[name] = tuple(value) if isinstance(value, list) else value
    if "key_usage" in values:
        values["key_usage"] = tuple(values["key_usage"])
    role = dataclasses.replace(base, **values)
    if role.key_type == "any" and not data.supplied("key_bits"):
        role = dataclasses.replace(role, key_bits=0)
    elif data.supplied("key_type") and not data.supplied("key_bits") and base.key_type != role.key_type:
        role = dataclasses.replace(role, key_bits=0)  # the new type's default size
    role = roles.validate(role)
    if role.issuer_ref not in ("", "default"):
        (await b.ca(storage_of(req))).issuer(role.issuer_ref)
    return role


ROLE_HELP = """
A role decides which certificates issue/<role> and sign/<role> may produce: the names
(allowed_domains with allow_bare_domains, allow_subdomains, allow_glob_domains,
allow_localhost, allow_any_name, enforce_hostnames), IP/URI/other SANs, key type and size,
key usages, subject fields such as organization (Kubernetes groups), and lifetimes (ttl,
max_ttl). POST replaces the role (elided fields get defaults); PATCH changes only the fields
given.
"""
