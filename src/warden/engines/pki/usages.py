"""Key usage and extended key usage names as Vault spells them (Go's x509 constants)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Go's x509.KeyUsage names without the "KeyUsage" prefix -> the RFC 5280 bit's name.
KEY_USAGES: dict[str, str] = {
    "digitalsignature": "digital_signature",
    "contentcommitment": "content_commitment",
    "keyencipherment": "key_encipherment",
    "dataencipherment": "data_encipherment",
    "keyagreement": "key_agreement",
    "certsign": "key_cert_sign",
    "crlsign": "crl_sign",
    "encipheronly": "encipher_only",
    "decipheronly": "decipher_only",
}

# Go's x509.ExtKeyUsage names without the "ExtKeyUsage" prefix -> OID.
EXT_KEY_USAGES: dict[str, str] = {
    "any": "2.5.29.37.0",
    "serverauth": "1.3.6.1.5.5.7.3.1",
    "clientauth": "1.3.6.1.5.5.7.3.2",
    "codesigning": "1.3.6.1.5.5.7.3.3",
    "emailprotection": "1.3.6.1.5.5.7.3.4",
    "ipsecendsystem": "1.3.6.1.5.5.7.3.5",
    "ipsectunnel": "1.3.6.1.5.5.7.3.6",
    "ipsecuser": "1.3.6.1.5.5.7.3.7",
    "timestamping": "1.3.6.1.5.5.7.3.8",
    "ocspsigning": "1.3.6.1.5.5.7.3.9",
    "microsoftservergatedcrypto": "1.3.6.1.4.1.311.10.3.3",
    "netscapeservergatedcrypto": "2.16.840.1.113730.4.1",
    "microsoftcommercialcodesigning": "1.3.6.1.4.1.311.2.1.22",
    "microsoftkernelcodesigning": "1.3.6.1.4.1.311.61.1.1",
}

SERVER_AUTH = EXT_KEY_USAGES["serverauth"]
CLIENT_AUTH = EXT_KEY_USAGES["clientauth"]
CODE_SIGNING = EXT_KEY_USAGES["codesigning"]
EMAIL_PROTECTION = EXT_KEY_USAGES["emailprotection"]

# The bits a key of each type may carry (RFC 4055 for RSA, RFC 5480 for EC, RFC 8410 for Ed25519).
_ALLOWED_FOR_KEY: dict[str, frozenset[str]] = {
    "rsa": frozenset(KEY_USAGES.values()) - {"key_agreement", "encipher_only", "decipher_only"},
    "ec": frozenset(KEY_USAGES.values()) - {"key_encipherment", "data_encipherment"},
    "ed25519": frozenset({"digital_signature", "content_commitment", "key_cert_sign", "crl_sign"}),
}

_OID_RE = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


def _canonical(name: str, prefix: str) -> str:
    key = name.strip().replace("_", "").replace("-", "").lower()
    return key[len(prefix):] if key.startswith(prefix) else key


def parse_key_usages(names: Iterable[str]) -> frozenset[str]:
    """Vault's key_usage list -> bit names; raises ValueError naming an unknown entry."""
    bits = set()
    for name in names:
        if not name.strip():
            continue
        bit = KEY_USAGES.get(_canonical(name, "keyusage"))
        if bit is None:
            raise ValueError(f'unknown key usage "{name}"; valid values: {", ".join(_go_names(KEY_USAGES))}')
        bits.add(bit)
    return frozenset(bits)


def parse_ext_key_usages(names: Iterable[str]) -> tuple[str, ...]:
    """Vault's ext_key_usage list -> OIDs; raises ValueError naming an unknown entry."""
    oids: list[str] = []
    for name in names:
        if not name.strip():
            continue
        oid = EXT_KEY_USAGES.get(_canonical(name, "extkeyusage"))
        if oid is None:
            valid = ", ".join(_go_names(EXT_KEY_USAGES))
            raise ValueError(f'unknown extended key usage "{name}"; valid values: {valid}')
        oids.append(oid)
    return tuple(oids)


def check_oids(oids: Iterable[str], what: str) -> tuple[str, ...]:
    """Dotted OIDs, checked for form; raises ValueError naming a malformed one."""
    out = []
    for oid in oids:
        if not _OID_RE.match(oid.strip()):
            raise ValueError(f'{what} "{oid}" is not a dotted object identifier')
        out.append(oid.strip())
    return tuple(out)


def usages_for_key(bits: frozenset[str], key_type: str) -> frozenset[str]:
    """Drop the bits a key of this type must not carry (e.g. keyEncipherment on EC keys)."""
    allowed = bits & _ALLOWED_FOR_KEY.get(key_type, frozenset(KEY_USAGES.values()))
    if "key_agreement" not in allowed:
        allowed -= {"encipher_only", "decipher_only"}
    return allowed


def role_ext_key_usages(
    *, server: bool, client: bool, code_signing: bool, email: bool,
    names: Iterable[str], oids: Iterable[str],
) -> tuple[str, ...]:
    """The EKU OIDs a role's flags, names and OIDs add up to, de-duplicated in order."""
    flagged = [oid for flag, oid in ((server, SERVER_AUTH), (client, CLIENT_AUTH),
                                     (code_signing, CODE_SIGNING), (email, EMAIL_PROTECTION)) if flag]
    return tuple(dict.fromkeys([*flagged, *parse_ext_key_usages(names), *oids]))


def _go_names(table: dict[str, str]) -> list[str]:
    spelled = {
        "digitalsignature": "DigitalSignature", "contentcommitment": "ContentCommitment",
        "keyencipherment": "KeyEncipherment", "dataencipherment": "DataEncipherment",
        "keyagreement": "KeyAgreement", "certsign": "CertSign", "crlsign": "CRLSign",
        "encipheronly": "EncipherOnly", "decipheronly": "DecipherOnly", "any": "Any",
        "serverauth": "ServerAuth", "clientauth": "ClientAuth", "codesigning": "CodeSigning",
        "emailprotection": "EmailProtection", "ipsecendsystem": "IPSECEndSystem",
        "ipsectunnel": "IPSECTunnel", "ipsecuser": "IPSECUser", "timestamping": "TimeStamping",
        "ocspsigning": "OCSPSigning",
    }
    return [spelled.get(k, k) for k in table]
