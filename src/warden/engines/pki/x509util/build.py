"""Building certificates and CSRs with cryptography's immutable builders."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from asn1crypto import core as asn1  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID, ObjectIdentifier

from warden.engines.pki.x509util import der
from warden.engines.pki.x509util.keys import hash_for, rsa_padding, spec_of
from warden.engines.pki.x509util.model import (
    AiaUrls,
    AltNames,
    Certificate,
    CertInfo,
    CertSpec,
    KeySpec,
    PrivateKey,
    PublicKey,
    Signer,
    Subject,
)
from warden.engines.pki.x509util.read import describe, ski_of

_NAME_ATTRS = (("country", NameOID.COUNTRY_NAME), ("province", NameOID.STATE_OR_PROVINCE_NAME),
               ("locality", NameOID.LOCALITY_NAME), ("street_address", NameOID.STREET_ADDRESS),
               ("postal_code", NameOID.POSTAL_CODE), ("organization", NameOID.ORGANIZATION_NAME),
               ("ou", NameOID.ORGANIZATIONAL_UNIT_NAME))


def build_name(subject: Subject) -> x509.Name:
    """Go's pkix.Name order (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER), one value per RDN."""
    attrs = [x509.NameAttribute(oid, value)
             for name, oid in _NAME_ATTRS for value in getattr(subject, name)]
    if subject.common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, subject.common_name))
    if subject.serial_number:
        attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, subject.serial_number))
    attrs += [x509.NameAttribute(NameOID.USER_ID, uid) for uid in subject.user_ids]
    return x509.Name(attrs)


def _general_names(names: AltNames) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName(d) for d in names.dns]
    out += [x509.RFC822Name(e) for e in names.emails]
    out += [x509.IPAddress(ipaddress.ip_address(i)) for i in names.ips]
    out += [x509.UniformResourceIdentifier(u) for u in names.uris]
    out += [x509.OtherName(ObjectIdentifier(oid), asn1.UTF8String(value).dump())
            for oid, value in names.other]
    return out


def _key_usage(bits: frozenset[str]) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{n: n in bits for n in names})


def _extensions(spec: CertSpec, public_key: PublicKey, signer: Signer, subject: x509.Name,
                ) -> list[tuple[x509.ExtensionType, bool]]:
    ski = x509.SubjectKeyIdentifier(spec.skid) if spec.skid else x509.SubjectKeyIdentifier.from_public_key(
        public_key)
    if signer.cert is None:
        issuer_ski = ski
    else:
        issuer_ski = x509.SubjectKeyIdentifier(signer.key_id) if signer.key_id else ski_of(signer.cert)
    exts: list[tuple[x509.ExtensionType, bool]] = []
    if spec.is_ca:
        exts.append((x509.BasicConstraints(ca=True, path_length=spec.max_path_length), True))
    elif spec.basic_constraints_for_non_ca:
        exts.append((x509.BasicConstraints(ca=False, path_length=None), True))
    if spec.key_usage:
        exts.append((_key_usage(spec.key_usage), True))
    if spec.ext_key_usage:
        exts.append((x509.ExtendedKeyUsage([ObjectIdentifier(o) for o in spec.ext_key_usage]), False))
    exts.append((ski, False))
    exts.append((x509.AuthorityKeyIdentifier(issuer_ski.digest, None, None), False))
    if spec.alt_names:
        exts.append((x509.SubjectAlternativeName(_general_names(spec.alt_names)), len(subject) == 0))
    if spec.permitted_dns_domains:
        subtrees = [x509.DNSName(d) for d in spec.permitted_dns_domains]
        exts.append((x509.NameConstraints(permitted_subtrees=subtrees, excluded_subtrees=None), True))
    if spec.policy_identifiers:
        policies = [x509.PolicyInformation(ObjectIdentifier(p), None) for p in spec.policy_identifiers]
        exts.append((x509.CertificatePolicies(policies), False))
    exts += _aia_extensions(spec.urls)
    return exts


def _aia_extensions(urls: AiaUrls) -> list[tuple[x509.ExtensionType, bool]]:
    out: list[tuple[x509.ExtensionType, bool]] = []
    access = [x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                     x509.UniformResourceIdentifier(u)) for u in urls.ocsp_servers]
    access += [x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                      x509.UniformResourceIdentifier(u)) for u in urls.issuing_certificates]
    if access:
        out.append((x509.AuthorityInformationAccess(access), False))
    if urls.crl_distribution_points:
        out.append((x509.CRLDistributionPoints(distribution_points(urls.crl_distribution_points)), False))
    if urls.delta_crl_distribution_points:
        out.append((x509.FreshestCRL(distribution_points(urls.delta_crl_distribution_points)), False))
    return out


def distribution_points(urls: Sequence[str]) -> list[x509.DistributionPoint]:
    """One full-name URI point per URL (CRL Distribution Points, and Freshest CRL's)."""
    return [x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in urls]


def sign_certificate(spec: CertSpec, public_key: PublicKey, signer: Signer) -> Certificate:
    return issue_certificate(spec, public_key, signer)[0]


def issue_certificate(spec: CertSpec, public_key: PublicKey, signer: Signer,
                      key: KeySpec | None = None) -> tuple[Certificate, CertInfo]:
    """The signed certificate and its facts (taken from ``spec``: nothing is parsed back)."""
    subject = spec.raw_subject if spec.raw_subject is not None else build_name(spec.subject)
    cert = der.leaf_certificate(spec, public_key, signer, subject)
    if cert is None:
        cert = _built(spec, public_key, signer, subject)
    if spec.raw_subject is not None or spec.raw_extensions:
        return cert, describe(cert)
    return cert, CertInfo(
        serial=spec.serial, subject=subject.rfc4514_string(), issuer="",
        common_name=spec.subject.common_name, alt_names=spec.alt_names,
        not_before=spec.not_before.timestamp(), not_after=spec.not_after.timestamp(),
        is_ca=spec.is_ca, path_length=spec.max_path_length if spec.is_ca else None,
        self_issued=signer.cert is None, can_sign_crl=not spec.key_usage or "crl_sign" in spec.key_usage,
        key_spec=key or spec_of(public_key))


def _built(spec: CertSpec, public_key: PublicKey, signer: Signer, subject: x509.Name) -> Certificate:
    """The certificate through cryptography's builder (what ``der`` does not cover)."""
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(subject if signer.cert is None else signer.cert.subject)
               .public_key(public_key)
               .serial_number(spec.serial)
               .not_valid_before(spec.not_before)
               .not_valid_after(spec.not_after))
    own = _extensions(spec, public_key, signer, subject)
    taken = {type(ext) for ext, _ in own}
    for ext, critical in own:
        builder = builder.add_extension(ext, critical)
    for raw in spec.raw_extensions:
        if type(raw.value) not in taken and raw.oid not in _NEVER_COPIED:
            builder = builder.add_extension(raw.value, raw.critical)
    return builder.sign(signer.key, hash_for(signer.key, spec.signature_bits),  # type: ignore[arg-type]
                        rsa_padding=rsa_padding(signer.key, spec.use_pss))


_NEVER_COPIED = {ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
                 ExtensionOID.AUTHORITY_INFORMATION_ACCESS, ExtensionOID.CRL_DISTRIBUTION_POINTS,
                 ExtensionOID.FRESHEST_CRL}


def resign_self_issued(cert: Certificate, signer: Signer) -> Certificate:
    """The same certificate, issued by ``signer`` instead of itself (cross-signing)."""
    assert signer.cert is not None
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(signer.cert.subject)
               .public_key(cert.public_key()).serial_number(cert.serial_number)
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc))
    for ext in cert.extensions:
        if ext.oid != ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            builder = builder.add_extension(ext.value, ext.critical)
    aki = x509.AuthorityKeyIdentifier(ski_of(signer.cert).digest, None, None)
    builder = builder.add_extension(aki, False)
    return builder.sign(signer.key, hash_for(signer.key, 0))  # type: ignore[arg-type]


def build_csr(subject: Subject, alt_names: AltNames, key: PrivateKey, *,
              add_basic_constraints: bool = False, signature_bits: int = 0,
              use_pss: bool = False) -> x509.CertificateSigningRequest:
    builder = x509.CertificateSigningRequestBuilder().subject_name(build_name(subject))
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(_general_names(alt_names)), False)
    if add_basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    return builder.sign(key, hash_for(key, signature_bits),  # type: ignore[arg-type]
                        rsa_padding=rsa_padding(key, use_pss))
