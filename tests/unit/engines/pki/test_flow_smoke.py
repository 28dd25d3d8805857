"""A first end-to-end pass through the backend: root, role, issue, sign, revoke, CRL."""

from __future__ import annotations

from cryptography import x509

from support.pki import PkiKit, load_pem, make_csr, make_key
from warden.logical.operation import Operation


async def test_root_role_issue_sign_revoke() -> None:
    kit = PkiKit()
    root = await kit.root("ec", common_name="c1/pki/etcd")
    assert root["issuer_id"] and root["serial_number"].count(":") >= 8
    await kit.write("roles/member", allow_any_name=True, max_ttl="720h", key_type="ec")
    issued = (await kit.write("issue/member", common_name="etcd-1.example.com", ttl="1h")).data
    assert issued is not None
    cert = load_pem(issued["certificate"])
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "etcd-1.example.com"
    assert issued["ca_chain"] == [root["certificate"]]
    assert issued["private_key_type"] == "ec"
    csr = make_csr(make_key("ec"), "etcd-2.example.com", dns=["etcd-2.example.com"])
    signed = (await kit.write("sign/member", csr=csr)).data
    assert signed is not None and "private_key" not in signed
    keys = await kit.list("certs")
    assert issued["serial_number"] in keys and signed["serial_number"] in keys
    revoked = (await kit.write("revoke", serial_number=issued["serial_number"])).data
    assert revoked is not None and revoked["revocation_time"] > 0
    crl_resp = await kit.read("crl")
    assert crl_resp is not None and crl_resp.raw is not None
    crl = x509.load_der_x509_crl(crl_resp.raw.body)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    role = await kit.call(Operation.READ, "roles/member")
    assert role is not None and role.data is not None and role.data["max_ttl"] == 720 * 3600
