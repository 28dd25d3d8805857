"""x509util: keys, serialisation, certificates per key type, CSRs, CRLs and OCSP messages."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from warden.engines.pki import usages
from warden.engines.pki import x509util as xu

NOW = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
KEYS = {t: xu.generate_private_key(xu.key_spec(t)) for t in ("ec", "ed25519")}


@pytest.fixture(scope="module")
def rsa_key() -> xu.PrivateKey:
    return xu.generate_private_key(xu.key_spec("rsa"))


def _key(kind: str, rsa_key: xu.PrivateKey) -> xu.PrivateKey:
    return rsa_key if kind == "rsa" else KEYS[kind]


def _ca(key: xu.PrivateKey, cn: str = "Root", path_len: int | None = None) -> xu.Certificate:
    spec = xu.CertSpec(subject=xu.Subject(common_name=cn), alt_names=xu.AltNames(), serial=7,
                       not_before=NOW, not_after=NOW + dt.timedelta(days=365), is_ca=True,
                       max_path_length=path_len,
                       key_usage=usages.usages_for_key(frozenset({"key_cert_sign", "crl_sign"}), "ec"))
    return xu.sign_certificate(spec, key.public_key(), xu.Signer(key))


def test_key_specs_follow_vaults_defaults_and_limits() -> None:
    assert xu.key_spec("rsa") == xu.KeySpec("rsa", 2048)
    assert xu.key_spec("ec") == xu.KeySpec("ec", 256)
    assert xu.key_spec("ed25519", 4096) == xu.KeySpec("ed25519", 0)
    for kind, bits in (("rsa", 1024), ("ec", 192), ("dsa", 0)):
        with pytest.raises(ValueError):
            xu.key_spec(kind, bits)
    assert xu.spec_of(KEYS["ec"]) == xu.KeySpec("ec", 256)


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_private_key_formats_round_trip(kind: str, rsa_key: xu.PrivateKey) -> None:
    key = _key(kind, rsa_key)
    traditional = xu.private_key_pem(key)
    expected = {"rsa": "RSA PRIVATE KEY", "ec": "EC PRIVATE KEY", "ed25519": "PRIVATE KEY"}[kind]
    assert traditional.startswith(f"-----BEGIN {expected}-----")
    assert xu.private_key_pem(key, pkcs8=True).startswith("-----BEGIN PRIVATE KEY-----")
    assert xu.public_key_id(xu.load_private_key(traditional)) == xu.public_key_id(key)
    with pytest.raises(ValueError, match="not an unencrypted PEM private key") as err:
        xu.load_private_key(traditional.replace("A", "B", 5))
    assert "MII" not in str(err.value)  # never echoes key material


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed25519"])
def test_a_leaf_has_the_extensions_rfc5280_wants(kind: str, rsa_key: xu.PrivateKey) -> None:
    ca_key = KEYS["ec"]
    ca = _ca(ca_key)
    key = _key(kind, rsa_key)
    bits = usages.usages_for_key(usages.parse_key_usages(["DigitalSignature", "KeyAgreement",
                                                          "KeyEncipherment"]), kind)
    spec = xu.CertSpec(subject=xu.Subject(common_name="a.example.com", organization=("g1", "g2")),
                       alt_names=xu.AltNames(dns=("a.example.com",), ips=("10.0.0.1", "::1"),
                                             uris=("spiffe://c/x",), emails=("a@example.com",),
                                             other=(("1.3.6.1.4.1.311.20.2.3", "u@example.com"),)),
                       serial=2**158 + 1, not_before=NOW, not_after=NOW + dt.timedelta(hours=1),
                       key_usage=bits, ext_key_usage=(usages.SERVER_AUTH, usages.CLIENT_AUTH),
                       urls=xu.AiaUrls(("http://127.0.0.1/ca",), ("http://127.0.0.1/crl",),
                                       ("http://127.0.0.1/ocsp",)),
                       policy_identifiers=("1.2.3.4",))
    cert = xu.sign_certificate(spec, key.public_key(), xu.Signer(ca_key, ca))
    exts = {e.oid: e for e in cert.extensions}
    ku = exts[ExtensionOID.KEY_USAGE]
    assert ku.critical and ku.value.digital_signature
    assert ku.value.key_encipherment == (kind == "rsa") and ku.value.key_agreement == (kind == "ec")
    assert ExtensionOID.BASIC_CONSTRAINTS not in exts
    assert list(exts[ExtensionOID.EXTENDED_KEY_USAGE].value) == [ExtendedKeyUsageOID.SERVER_AUTH,
                                                                  ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = exts[ExtensionOID.AUTHORITY_KEY_IDENTIFIER].value.key_identifier
    assert aki == ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    info = xu.describe(cert)
    assert info.alt_names.other == (("1.3.6.1.4.1.311.20.2.3", "u@example.com"),)
    assert info.alt_names.ips == ("10.0.0.1", "::1") and not info.is_ca and info.key_spec == xu.spec_of(key)
    assert xu.issued_by(cert, ca) and not xu.issued_by(cert, _ca(KEYS["ed25519"]))


def test_ca_and_empty_subject_rules() -> None:
    key = KEYS["ec"]
    ca = _ca(key, path_len=0)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert xu.describe(ca).self_issued
    # No subject at all: the SAN extension must be critical.
    spec = xu.CertSpec(subject=xu.Subject(), alt_names=xu.AltNames(dns=("x.example",)), serial=3,
                       not_before=NOW, not_after=NOW + dt.timedelta(hours=1))
    leaf = xu.sign_certificate(spec, KEYS["ed25519"].public_key(), xu.Signer(key, ca))
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical


def test_csr_round_trip_and_proof_of_possession() -> None:
    key = KEYS["ec"]
    csr = xu.build_csr(xu.Subject(common_name="Kubernetes Intermediate"), xu.AltNames(dns=("k.example",)),
                       key, add_basic_constraints=True)
    info = xu.parse_csr(xu.csr_pem(csr))
    assert info.signature_valid and info.requests_ca and info.common_names == ("Kubernetes Intermediate",)
    assert info.alt_names.dns == ("k.example",) and info.key_spec == xu.KeySpec("ec", 256)
    with pytest.raises(ValueError, match="the CSR could not be parsed"):
        xu.parse_csr("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")


def test_resign_self_issued_keeps_everything_but_the_issuer() -> None:
    old, new = KEYS["ec"], KEYS["ed25519"]
    old_root, new_root = _ca(old, "Old"), _ca(new, "New")
    cross = xu.resign_self_issued(new_root, xu.Signer(old, old_root))
    assert cross.subject == new_root.subject and cross.issuer == old_root.subject
    assert cross.public_key() == new_root.public_key() and cross.serial_number == new_root.serial_number
    assert xu.issued_by(cross, old_root)


def test_crl_and_ocsp_messages() -> None:
    key = KEYS["ec"]
    ca = _ca(key)
    crl = xu.build_crl(xu.Signer(key, ca), [(5, NOW)], number=3, this_update=NOW,
                       next_update=NOW + dt.timedelta(hours=72))
    assert crl.is_signature_valid(key.public_key())  # type: ignore[arg-type]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 3
    assert crl.get_revoked_certificate_by_serial_number(5) is not None
    assert xu.load_crl(xu.crl_der(crl)) == crl
    leaf = xu.sign_certificate(xu.CertSpec(subject=xu.Subject(common_name="l"), alt_names=xu.AltNames(),
                                           serial=5, not_before=NOW, not_after=NOW + dt.timedelta(hours=1)),
                               KEYS["ed25519"].public_key(), xu.Signer(key, ca))
    request = (ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, hashes.SHA1())
               .add_extension(x509.OCSPNonce(b"n" * 16), False).build())
    query = xu.parse_ocsp_request(request.public_bytes(serialization.Encoding.DER))
    assert query.serial == 5 and query.nonce == b"n" * 16 and xu.issuer_matches(ca, query)
    assert not xu.issuer_matches(_ca(KEYS["ed25519"]), query)
    der = xu.build_ocsp_response(query, xu.Signer(key, ca), xu.OCSP_REVOKED, this_update=NOW,
                                 next_update=NOW + dt.timedelta(hours=12), revoked_at=NOW)
    resp = ocsp.load_der_ocsp_response(der)
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED and resp.revocation_time_utc == NOW
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"n" * 16
    assert ocsp.load_der_ocsp_response(xu.ocsp_failure("malformed")).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    with pytest.raises(ValueError, match="malformed OCSP request"):
        xu.parse_ocsp_request(b"\x30\x03junk")


def test_pem_bundles_split_into_keys_and_certificates() -> None:
    key = KEYS["ec"]
    ca = _ca(key)
    crl = "-----BEGIN X509 CRL-----\nAA\n-----END X509 CRL-----\n"
    bundle = xu.private_key_pem(key) + xu.cert_pem(ca) + crl
    keys, certs = xu.split_pem_bundle(bundle)
    assert len(keys) == 1 and certs == [ca]
    assert xu.der_to_pem(xu.cert_der(ca), "CERTIFICATE") == xu.cert_pem(ca)
