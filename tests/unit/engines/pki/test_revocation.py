"""Revocation shows in the CRL and in OCSP; CRL settings, numbering and auto-rebuild."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from support.pki import HOUR, PkiKit, load_pem
from warden.logical.clock import FrozenClock
from warden.logical.operation import Operation


async def _setup(clock: FrozenClock | None = None) -> tuple[PkiKit, dict[str, Any]]:
    kit = PkiKit(clock=clock) if clock else PkiKit()
    root = await kit.root("ec", common_name="Root")
    await kit.write("roles/web", allowed_domains="example.com", allow_subdomains=True, key_type="ec")
    return kit, root


async def _crl(kit: PkiKit, path: str = "crl") -> x509.CertificateRevocationList:
    resp = await kit.read(path)
    assert resp is not None and resp.raw is not None
    return x509.load_der_x509_crl(resp.raw.body)


async def test_revoke_by_serial_certificate_and_key_then_the_crl_lists_them() -> None:
    kit, root = await _setup()
    a = await kit.data("issue/web", common_name="a.example.com")
    b = await kit.data("issue/web", common_name="b.example.com")
    c = await kit.data("issue/web", common_name="c.example.com")
    first = await kit.data("revoke", serial_number=a["serial_number"].replace(":", "-"))
    again = await kit.data("revoke", serial_number=a["serial_number"])
    assert again["revocation_time"] == first["revocation_time"]  # idempotent
    await kit.data("revoke", certificate=b["certificate"])
    assert "does not match" in await kit.refused("revoke-with-key", serial_number=c["serial_number"],
                                                 private_key=b["private_key"])
    await kit.data("revoke-with-key", serial_number=c["serial_number"], private_key=c["private_key"])
    crl = await _crl(kit)
    assert crl.is_signature_valid(load_pem(root["certificate"]).public_key())  # type: ignore[arg-type]
    revoked = {r.serial_number for r in crl}
    assert revoked == {load_pem(x["certificate"]).serial_number for x in (a, b, c)}
    pem = (await kit.read("crl/pem")).raw.body.decode()  # type: ignore[union-attr]
    assert x509.load_pem_x509_crl(pem.encode()) == crl
    listed = await kit.get("issuer/default/crl")
    assert x509.load_pem_x509_crl(listed["crl"].encode()) == crl
    assert (await kit.get(f"cert/{a['serial_number']}"))["revocation_time"] == first["revocation_time"]


async def test_revoke_refusals() -> None:
    kit, root = await _setup()
    assert "exactly one" in await kit.refused("revoke")
    assert "not found" in await kit.refused("revoke", serial_number="01:02:03")
    assert "serial_number" in await kit.refused("revoke", serial_number="zz")
    assert "issuers cannot be revoked here" in await kit.refused("revoke", certificate=root["certificate"])
    stranger = await PkiKit().root("ec", common_name="Other")
    assert "not issued by any issuer" in await kit.refused("revoke", certificate=stranger["certificate"])


async def test_crl_numbers_grow_and_config_controls_expiry_disable_and_auto_rebuild() -> None:
    clock = FrozenClock(start=1_800_000_000)
    kit, _ = await _setup(clock)
    leaf = await kit.data("issue/web", common_name="a.example.com")

    def number(crl: x509.CertificateRevocationList) -> int:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    first = number(await _crl(kit))
    await kit.data("revoke", serial_number=leaf["serial_number"])
    after_revoke = await _crl(kit)
    assert number(after_revoke) == first + 1 and len(list(after_revoke)) == 1
    assert (await kit.get("crl/rotate"))["success"]
    assert number(await _crl(kit)) == first + 2
    config = await kit.data("config/crl", expiry="24h", disable=True)
    assert config["expiry"] == "24h0m0s" and config["disable"]
    disabled = await _crl(kit)
    assert len(list(disabled)) == 0
    assert disabled.next_update_utc.timestamp() - disabled.last_update_utc.timestamp() == 24 * HOUR
    assert "needs auto_rebuild" in await kit.refused("config/crl", enable_delta=True)
    assert "shorter than expiry" in await kit.refused("config/crl", auto_rebuild=True,
                                                      auto_rebuild_grace_period="48h")
    await kit.data("config/crl", disable=False, auto_rebuild=True, auto_rebuild_grace_period="2h")
    before = number(await _crl(kit))
    clock.advance(10 * HOUR)
    await kit.pki.periodic()
    assert number(await _crl(kit)) == before  # not due yet: 22h of validity left, grace is 2h
    clock.advance(13 * HOUR)
    await kit.pki.periodic()
    rebuilt = await _crl(kit)
    assert number(rebuilt) == before + 1 and len(list(rebuilt)) == 1


async def test_auto_rebuild_defers_the_crl_until_rotation() -> None:
    kit, _ = await _setup()
    await kit.data("config/crl", auto_rebuild=True)
    leaf = await kit.data("issue/web", common_name="a.example.com")
    await kit.data("revoke", serial_number=leaf["serial_number"])
    assert len(list(await _crl(kit))) == 0  # Vault: with auto_rebuild, no rebuild on revocation
    await kit.get("crl/rotate")
    assert len(list(await _crl(kit))) == 1


def _ocsp_request(cert_pem: str, issuer_pem: str, nonce: bytes | None = None) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(load_pem(cert_pem), load_pem(issuer_pem),
                                                        hashes.SHA1())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


async def _ask(kit: PkiKit, der: bytes, *, post: bool) -> ocsp.OCSPResponse:
    encoded = base64.b64encode(der).decode()
    resp = (await kit.call(Operation.UPDATE, "ocsp", ocsp_request=encoded) if post
            else await kit.read("ocsp/" + encoded))
    assert resp is not None and resp.raw is not None and resp.raw.content_type == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(resp.raw.body)


async def test_ocsp_answers_good_revoked_and_unknown() -> None:
    kit, root = await _setup()
    leaf = await kit.data("issue/web", common_name="a.example.com")
    good = await _ask(kit, _ocsp_request(leaf["certificate"], root["certificate"], b"nonce-1234567890"),
                      post=False)
    assert good.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert good.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"nonce-1234567890"
    root_cert = load_pem(root["certificate"])
    root_cert.public_key().verify(good.signature, good.tbs_response_bytes,  # type: ignore[call-arg]
                                  ec.ECDSA(hashes.SHA256()))  # signed by the issuer itself
    await kit.data("revoke", serial_number=leaf["serial_number"])
    revoked = await _ask(kit, _ocsp_request(leaf["certificate"], root["certificate"]), post=True)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED and revoked.revocation_time_utc
    await kit.write("roles/web", allowed_domains="example.com", allow_subdomains=True, key_type="ec",
                    no_store=True)
    unstored = await kit.data("issue/web", common_name="b.example.com")
    unknown = await _ask(kit, _ocsp_request(unstored["certificate"], root["certificate"]), post=True)
    assert unknown.certificate_status == ocsp.OCSPCertStatus.UNKNOWN


async def test_ocsp_failures_are_ocsp_statuses() -> None:
    kit, root = await _setup()
    leaf = await kit.data("issue/web", common_name="a.example.com")
    malformed = await _ask(kit, b"\x30\x03abc", post=True)
    assert malformed.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    other = await PkiKit().root("ec", common_name="Other")
    stranger = await _ask(kit, _ocsp_request(leaf["certificate"], other["certificate"]), post=True)
    assert stranger.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    await kit.data("config/crl", ocsp_disable=True)
    off = await _ask(kit, _ocsp_request(leaf["certificate"], root["certificate"]), post=False)
    assert off.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    bad = await kit.read("ocsp/%%%not-base64")
    assert bad is not None and bad.raw is not None
    status = ocsp.load_der_ocsp_response(bad.raw.body).response_status
    assert status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


async def test_revoking_an_intermediate_issuer_puts_it_on_its_parents_crl() -> None:
    kit = PkiKit()
    root = await kit.root("ec", common_name="Root")
    inter_csr = await kit.data("intermediate/generate/internal", common_name="Inter", key_type="ec")
    signed = await kit.data("root/sign-intermediate", csr=inter_csr["csr"], common_name="Inter")
    imported = await kit.data("intermediate/set-signed", certificate=signed["certificate"])
    inter_id = imported["imported_issuers"][0]
    view = await kit.data(f"issuer/{inter_id}/revoke")
    assert view["revoked"] and "issuing-certificates" not in view["usage"]
    crl = await _crl(kit, f"issuer/{root['issuer_id']}/crl/der")
    assert [r.serial_number for r in crl] == [load_pem(signed["certificate"]).serial_number]
    assert "cannot have the issuing-certificates usage" in await kit.refused(
        f"issuer/{inter_id}", usage="read-only,issuing-certificates")


async def test_revocation_survives_a_new_backend_instance() -> None:
    kit, _ = await _setup()
    leaf = await kit.data("issue/web", common_name="a.example.com")
    await kit.data("revoke", serial_number=leaf["serial_number"])
    kit.pki = type(kit.pki)(kit.pki.conf)  # a new instance over the same storage: no caches
    assert len(list(await _crl(kit))) == 1
    assert (await kit.get(f"cert/{leaf['serial_number']}"))["revocation_time"] > 0
