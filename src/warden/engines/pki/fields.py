"""Field schemas shared by several PKI paths (Vault's addCACommonFields and friends)."""

from __future__ import annotations

from warden.framework import Field, FieldData, FieldType, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.request import Request
from warden.logical.storage import Storage

S, B, INT, D = FieldType.STRING, FieldType.BOOL, FieldType.INT, FieldType.DURATION
CSV = FieldType.COMMA_STRING_SLICE

ISSUER_REF = generic_name_regex("issuer_ref")
ROLE = generic_name_regex("role")

ISSUER_REF_FIELD = {"issuer_ref": Field(S, "An issuer's id, its name, or \"default\".", default="default")}
ROLE_FIELD = {"role": Field(S, "The role to issue under.", required=True)}

SUBJECT_FIELDS: dict[str, Field] = {
    "ou": Field(CSV, "OU (OrganizationalUnit) values of the subject."),
    "organization": Field(CSV, "O (Organization) values of the subject."),
    "country": Field(CSV, "C (Country) values of the subject (two-letter codes)."),
    "locality": Field(CSV, "L (Locality) values of the subject."),
    "province": Field(CSV, "ST (Province) values of the subject."),
    "street_address": Field(CSV, "Street address values of the subject."),
    "postal_code": Field(CSV, "Postal code values of the subject."),
    "serial_number": Field(S, "The subject's serialNumber attribute (not the certificate serial)."),
}

NAME_FIELDS: dict[str, Field] = {
    "common_name": Field(S, "The requested CN."),
    "alt_names": Field(CSV, "DNS names and email addresses for the SAN extension."),
    "ip_sans": Field(CSV, "IP addresses for the SAN extension."),
    "uri_sans": Field(CSV, "URIs for the SAN extension."),
    "other_sans": Field(CSV, "Other SANs as <oid>;UTF8:<value>."),
    "exclude_cn_from_sans": Field(B, "Do not put the CN into the DNS or email SANs."),
}

OUTPUT_FIELDS: dict[str, Field] = {
    "format": Field(S, "pem, der (base64) or pem_bundle.", default="pem",
                    allowed_values=("pem", "der", "pem_bundle")),
    "private_key_format": Field(S, "der (PKCS#1/SEC1; base64 or PEM per format) or pkcs8.",
                                default="der", allowed_values=("", "der", "pem", "pkcs8")),
    "remove_roots_from_chain": Field(B, "Leave self-signed CAs out of ca_chain."),
}

VALIDITY_FIELDS: dict[str, Field] = {
    "ttl": Field(D, "Requested lifetime, capped by the role's and the mount's maximum."),
    "not_after": Field(S, "An absolute end of validity (RFC 3339); instead of ttl."),
}

KEY_FIELDS: dict[str, Field] = {
    "key_type": Field(S, "rsa, ec or ed25519.", default="rsa"),
    "key_bits": Field(INT, "Key size: rsa 2048/3072/4096/8192, ec 224/256/384/521 (0: default)."),
    "key_name": Field(S, "A name for a newly created key."),
    "key_ref": Field(S, "The existing key to use (type=existing): id, name or default.",
                     default="default"),
    "signature_bits": Field(INT, "SHA-2 size for RSA signatures: 256, 384 or 512 (0: 256)."),
    "use_pss": Field(B, "Use RSA-PSS signatures for an RSA key."),
}

CA_FIELDS: dict[str, Field] = {
    **NAME_FIELDS, **SUBJECT_FIELDS, **VALIDITY_FIELDS, **OUTPUT_FIELDS, **KEY_FIELDS,
    "max_path_length": Field(INT, "Path length constraint of the CA (-1: none).", default=-1),
    "permitted_dns_domains": Field(CSV, "DNS name constraints (RFC 5280 4.2.1.10)."),
    "not_before_duration": Field(D, "How far to backdate NotBefore.", default="30s"),
    "issuer_name": Field(S, "A name for the new issuer."),
    "exported": Field(S, "internal, exported, existing (or kms, unsupported).", required=True),
    "add_basic_constraints": Field(B, "Put basicConstraints CA:true into the CSR."),
}


PAGE_FIELDS: dict[str, Field] = {
    "after": Field(S, "List only entries that sort after this one (pagination)."),
    "limit": Field(INT, "List at most this many entries (0: all)."),
}


def page(keys: list[str], data: FieldData) -> list[str]:
    """Vault's LIST pagination: sorted entries after ``after``, at most ``limit`` of them."""
    after, limit = data.get("after"), data.get("limit")
    if limit < 0:
        raise InvalidRequest("limit must not be negative")
    selected = [k for k in sorted(keys) if not after or k > after]
    return selected[:limit] if limit else selected


def storage_of(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("a PKI request arrived without its mount's storage")
    return req.storage


def check_name_field(name: str, what: str) -> str:
    if name == "default":
        raise InvalidRequest(f'"default" is a reserved name and cannot be used as {what}')
    return name


def check_generation_type(kind: str) -> str:
    if kind == "kms":
        raise InvalidRequest("managed (kms) keys are not supported by warden")
    if kind not in ("internal", "exported", "existing"):
        raise InvalidRequest(f'unknown type "{kind}": use internal, exported or existing')
    return kind
