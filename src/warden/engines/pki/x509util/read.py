"""Reading certificates and CSRs into plain facts."""

from __future__ import annotations

from asn1crypto import core as asn1  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtensionOID, NameOID

from warden.engines.pki.x509util.keys import spec_of
from warden.engines.pki.x509util.model import AltNames, Certificate, CertInfo, CsrInfo, PublicKey


def parse_csr(pem: str) -> CsrInfo:
    """A PEM CSR, read; raises ValueError naming what is wrong with it."""
    try:
        csr = x509.load_pem_x509_csr(pem.strip().encode())
        exts = tuple(csr.extensions)
    except ValueError as exc:
        raise ValueError(f"the CSR could not be parsed: {short_reason(exc)}") from None
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm):
        public_key = None
    by_oid = {e.oid: e for e in exts}
    bc = by_oid.get(ExtensionOID.BASIC_CONSTRAINTS)
    san = by_oid.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    return CsrInfo(
        common_names=tuple(str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)),
        serial_number=";".join(str(a.value) for a in csr.subject.get_attributes_for_oid(
            NameOID.SERIAL_NUMBER)),
        alt_names=alt_names_of(san.value if san else None),
        key_spec=spec_of(public_key) if public_key is not None else None,
        public_key=public_key if isinstance(public_key, PublicKey) else None,
        signature_valid=csr.is_signature_valid,
        requests_ca=bool(bc and bc.value.ca),
        has_basic_constraints=bc is not None,
        has_key_usage=ExtensionOID.KEY_USAGE in by_oid,
        has_ext_key_usage=ExtensionOID.EXTENDED_KEY_USAGE in by_oid,
        subject=csr.subject,
        extensions=exts,
    )


def alt_names_of(san: x509.SubjectAlternativeName | None) -> AltNames:
    if san is None:
        return AltNames()
    others = []
    for other in san.get_values_for_type(x509.OtherName):
        value = asn1.load(other.value)
        if not isinstance(value, asn1.UTF8String):
            raise ValueError(f"other SAN {other.type_id.dotted_string} is not a UTF8String")
        others.append((other.type_id.dotted_string, value.native))
    return AltNames(
        dns=tuple(san.get_values_for_type(x509.DNSName)),
        emails=tuple(san.get_values_for_type(x509.RFC822Name)),
        ips=tuple(str(i) for i in san.get_values_for_type(x509.IPAddress)),
        uris=tuple(san.get_values_for_type(x509.UniformResourceIdentifier)),
        other=tuple(others),
    )


def describe(cert: Certificate) -> CertInfo:
    exts = {e.oid: e.value for e in cert.extensions}
    bc = exts.get(ExtensionOID.BASIC_CONSTRAINTS)
    ku = exts.get(ExtensionOID.KEY_USAGE)
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        alt = alt_names_of(exts.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME))
    except ValueError:
        alt = AltNames()
    return CertInfo(
        serial=cert.serial_number,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=str(cns[0].value) if cns else "",
        alt_names=alt,
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        is_ca=bool(bc and bc.ca),
        path_length=bc.path_length if bc else None,
        self_issued=cert.issuer == cert.subject,
        can_sign_crl=ku is None or bool(ku.crl_sign),
        key_spec=spec_of(cert.public_key()),
    )


def ski_of(cert: Certificate) -> x509.SubjectKeyIdentifier:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def key_identifier(cert: Certificate) -> bytes:
    """The subject key identifier a certificate's children name in their AKI."""
    return ski_of(cert).digest


def issued_by(child: Certificate, parent: Certificate) -> bool:
    """Whether ``parent``'s key signed ``child`` (and the names chain)."""
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def short_reason(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
