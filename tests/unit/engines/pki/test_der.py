"""The direct DER encoding of leaves writes exactly what cryptography's builder writes."""

from __future__ import annotations

import datetime as dt
from functools import cache

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warden.engines.pki.x509util import AiaUrls, AltNames, CertSpec, Signer, Subject, der
from warden.engines.pki.x509util.build import _built, build_name, issue_certificate

NOW = dt.datetime(2030, 5, 6, 7, 8, 9, tzinfo=dt.UTC)


@cache
def _issuer(kind: str) -> Signer:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key({"p256": ec.SECP256R1(), "p384": ec.SECP384R1()}[kind])
    spec = CertSpec(subject=Subject(common_name=f"issuer {kind}", organization=("Ünïcode Org",)),
                    alt_names=AltNames(), serial=1,
                    not_before=NOW, not_after=NOW + dt.timedelta(days=3650), is_ca=True,
                    key_usage=frozenset({"key_cert_sign", "crl_sign"}))
    cert = issue_certificate(spec, key.public_key(), Signer(key))[0]
    with_id = kind != "p384"  # the key id given, or worked out from the certificate
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest if with_id else b""
    return Signer(key, cert, ski)


@cache
def _leaf_key(kind: str) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate().public_key()
    return ec.generate_private_key(ec.SECP256R1()).public_key()


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
_dns = st.lists(_label, min_size=1, max_size=4).map(".".join)
_usages = st.frozensets(st.sampled_from(["digital_signature", "content_commitment", "key_encipherment",
                                         "data_encipherment", "key_agreement", "key_cert_sign",
                                         "crl_sign"]))
_ekus = st.lists(st.sampled_from(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4",
                                  "1.2.3.4.5.6789012345"]), unique=True, max_size=4)
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=0x7FF), min_size=1,
                max_size=20)
_url = _dns.map(lambda d: f"http://{d}/x")


@st.composite
def specs(draw: st.DrawFn) -> CertSpec:
    start = draw(st.datetimes(min_value=dt.datetime(1960, 1, 1), max_value=dt.datetime(2090, 1, 1),
                              timezones=st.just(dt.UTC)))
    subject = Subject(
        common_name=draw(st.one_of(st.just(""), _dns.filter(lambda d: len(d) <= 64), _text)),
        organization=tuple(draw(st.lists(_text, max_size=2))), ou=tuple(draw(st.lists(_text, max_size=2))),
        country=tuple(draw(st.lists(st.sampled_from(["DE", "US"]), max_size=1))),
        locality=tuple(draw(st.lists(_text, max_size=1))),
        serial_number=draw(st.one_of(st.just(""), st.from_regex(r"[A-Z0-9]{1,10}", fullmatch=True))),
        user_ids=tuple(draw(st.lists(_text, max_size=1))))
    alt = AltNames(dns=tuple(draw(st.lists(_dns, max_size=3))),
                   emails=tuple(draw(st.lists(_dns.map(lambda d: "me@" + d), max_size=2))),
                   ips=tuple(draw(st.lists(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
                                           .map(str), max_size=2))),
                   uris=tuple(draw(st.lists(_url, max_size=2))))
    urls = AiaUrls(*(tuple(draw(st.lists(_url, max_size=2))) for _ in range(4)))
    return CertSpec(
        subject=subject, alt_names=alt, serial=draw(st.integers(1, 2**159 - 1)), not_before=start,
        not_after=start + dt.timedelta(seconds=draw(st.integers(1, 10**9))),
        key_usage=draw(_usages), ext_key_usage=tuple(draw(_ekus)),
        basic_constraints_for_non_ca=draw(st.booleans()), urls=urls,
        signature_bits=draw(st.sampled_from([0, 256, 384, 512])),
        skid=draw(st.one_of(st.just(b""), st.binary(min_size=20, max_size=20))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs(), issuer=st.sampled_from(["p256", "p384", "rsa", "ed25519"]),
       leaf=st.sampled_from(["p256", "rsa", "ed25519"]))
def test_leaves_are_byte_for_byte_the_builders(spec: CertSpec, issuer: str, leaf: str) -> None:
    signer, public_key = _issuer(issuer), _leaf_key(leaf)
    subject = build_name(spec.subject)
    if not spec.alt_names and not subject:
        return  # the role never issues a certificate without a name
    fast = der.leaf_certificate(spec, public_key, signer, subject)
    assert fast is not None
    built = _built(spec, public_key, signer, subject)
    assert fast.tbs_certificate_bytes == built.tbs_certificate_bytes
    assert fast.signature_algorithm_oid == built.signature_algorithm_oid
    fast.verify_directly_issued_by(signer.cert)  # type: ignore[arg-type]


@pytest.mark.parametrize("change", [
    {"is_ca": True}, {"use_pss": True}, {"policy_identifiers": ("1.2.3",)},
    {"permitted_dns_domains": ("example.com",)}, {"alt_names": AltNames(other=(("1.2.3", "x"),))},
    {"key_usage": frozenset({"key_agreement", "encipher_only"})},
    {"alt_names": AltNames(dns=("bücher.example",))},
])
def test_what_it_does_not_cover_goes_to_the_builder(change: dict[str, object]) -> None:
    base = CertSpec(subject=Subject(common_name="a.example"), alt_names=AltNames(dns=("a.example",)),
                    serial=5, not_before=NOW, not_after=NOW + dt.timedelta(days=1))
    spec = CertSpec(**{**{f: getattr(base, f) for f in CertSpec.__dataclass_fields__}, **change})
    signer = _issuer("p256")
    assert der.leaf_certificate(spec, _leaf_key("p256"), signer, build_name(spec.subject)) is None
    assert der.leaf_certificate(spec, _leaf_key("p256"), Signer(signer.key), build_name(spec.subject)) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(revoked=st.lists(st.tuples(st.integers(1, 2**159 - 1),
                                  st.datetimes(min_value=dt.datetime(1970, 1, 1),
                                               max_value=dt.datetime(2080, 1, 1),
                                               timezones=st.just(dt.UTC))), max_size=40),
       number=st.integers(1, 2**64), delta_of=st.none() | st.integers(0, 2**64),
       issuer=st.sampled_from(["p256", "p384", "rsa", "ed25519"]),
       freshest=st.lists(_url, max_size=2).map(tuple))
def test_crls_are_byte_for_byte_the_builders(revoked: list[tuple[int, dt.datetime]], number: int,
                                            delta_of: int | None, issuer: str,
                                            freshest: tuple[str, ...]) -> None:
    """The fast CRL encoder (entries kept encoded, one signature) writes the builder's TBS."""
    from warden.engines.pki.x509util import build_crl, crl_encode

    signer = _issuer(issuer)
    this_update, next_update = NOW, NOW + dt.timedelta(hours=72)
    when = [(s, w.replace(microsecond=0)) for s, w in revoked]
    entries = b"".join(crl_encode.revoked_entry(s, w) for s, w in when)
    fast = crl_encode.load(crl_encode.signed_crl(signer, entries, number=number, this_update=this_update,
                                                 next_update=next_update, delta_of=delta_of,
                                                 freshest=freshest))
    built = build_crl(signer, when, number=number, this_update=this_update, next_update=next_update,
                      delta_of=delta_of, freshest=freshest)
    assert fast.tbs_certlist_bytes == built.tbs_certlist_bytes
    assert fast.is_signature_valid(signer.cert.public_key())  # type: ignore[union-attr,arg-type]
    assert [(r.serial_number, r.revocation_date_utc) for r in fast] == when
