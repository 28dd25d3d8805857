"""CA set-up and rotation: roots, intermediates (in-mount and signed elsewhere), issuers, keys."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from support.pki import PkiKit, key_pem, load_pem, make_csr, make_key
from warden.engines.pki import x509util
from warden.logical.errors import NotFound
from warden.logical.operation import Operation
from warden.logical.response import Secret


async def _role(kit: PkiKit, **extra: object) -> None:
    await kit.write("roles/web", allowed_domains="example.com", allow_subdomains=True, key_type="ec", **extra)


async def test_root_generation_exported_and_internal() -> None:
    kit = PkiKit()
    internal = await kit.root("ec", common_name="c1/pki/etcd", issuer_name="root-a")
    assert "private_key" not in internal and internal["issuer_name"] == "root-a"
    cert = load_pem(internal["certificate"])
    assert cert.issuer == cert.subject
    # A CN that is no hostname stays out of the SANs.
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    exported = await kit.data("root/generate/exported", common_name="ca.example.com", key_type="ed25519",
                                max_path_length=1, permitted_dns_domains="example.com",
                                organization="Acme", country="DE", format="pem_bundle")
    assert exported is not None and exported["private_key_type"] == "ed25519"
    assert exported["certificate"].startswith("-----BEGIN PRIVATE KEY")
    root = x509util.load_certificates(exported["certificate"])[0]
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert root.extensions.get_extension_for_oid(ExtensionOID.NAME_CONSTRAINTS).critical
    assert (await kit.read("config/issuers")).data["default"] == internal["issuer_id"]
    assert "kms" in await kit.refused("root/generate/kms", common_name="x")
    assert "already exists" in await kit.refused("root/generate/internal", common_name="x",
                                                 issuer_name="root-a")
    assert "reserved" in await kit.refused("root/generate/internal", common_name="x", issuer_name="default")


async def test_two_issuers_rotate_without_a_new_mount() -> None:
    kit = PkiKit()
    old = await kit.root("ec", issuer_name="old")
    new = await kit.data("root/rotate/internal", common_name="Root 2", key_type="ec")
    assert new is not None and new["issuer_name"] == "next"
    await _role(kit)
    leaf = await kit.data("issue/web", common_name="a.example.com")
    assert leaf["issuing_ca"] == old["certificate"]
    await kit.write("root/replace", default="next")
    leaf = await kit.data("issue/web", common_name="a.example.com")
    assert leaf["issuing_ca"] == new["certificate"]
    via_path = await kit.data("issuer/old/issue/web", common_name="a.example.com")
    assert via_path["issuing_ca"] == old["certificate"]
    listing = await kit.call(Operation.LIST, "issuers")
    assert listing is not None and set(listing.data["keys"]) == {old["issuer_id"], new["issuer_id"]}
    assert listing.data["key_info"][new["issuer_id"]]["is_default"]
    assert "key_id" not in listing.data["key_info"][new["issuer_id"]]  # the listing is public
    # The old issuer stops issuing but keeps its CRL; then it is deleted.
    await kit.call(Operation.PATCH, "issuer/old", usage="read-only,crl-signing")
    assert "does not allow issuing-certificates" in await kit.refused("issuer/old/issue/web",
                                                                      common_name="a.example.com")
    assert (await kit.read("issuer/old/crl/der")) is not None
    await kit.call(Operation.DELETE, "issuer/old")
    assert "unable to find PKI issuer" in await kit.refused("issuer/old/issue/web",
                                                            common_name="a.example.com")
    with pytest.raises(Exception, match="used by issuers"):
        await kit.call(Operation.DELETE, "key/" + new["key_id"])


async def test_role_issuer_ref_selects_the_issuer() -> None:
    kit = PkiKit()
    await kit.root("ec", issuer_name="one")
    two = await kit.data("root/generate/internal", common_name="Two", key_type="ec", issuer_name="two")
    await _role(kit, issuer_ref="two")
    leaf = await kit.data("issue/web", common_name="a.example.com")
    assert leaf["issuing_ca"] == two["certificate"]


async def test_intermediate_in_another_mount_and_chains() -> None:
    root_kit, inter_kit = PkiKit(), PkiKit()
    root = await root_kit.root("ec", common_name="Root CA", max_path_length=1)
    csr = (await inter_kit.write("intermediate/generate/internal", common_name="Intermediate",
                                 key_type="ec")).data
    assert csr is not None and "private_key" not in csr and csr["key_id"]
    assert await inter_kit.list("issuers") == []  # no issuer until the signed cert comes back
    signed = (await root_kit.write("root/sign-intermediate", csr=csr["csr"], common_name="Intermediate",
                                   ttl="4000h")).data
    assert signed is not None and signed["ca_chain"] == [root["certificate"]]
    bc = load_pem(signed["certificate"]).extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 0  # one less than the root's
    imported = (await inter_kit.write("intermediate/set-signed",
                                      certificate=signed["certificate"] + root["certificate"])).data
    assert imported is not None and len(imported["imported_issuers"]) == 2
    assert imported["mapping"][imported["imported_issuers"][0]] == csr["key_id"]
    await _role(inter_kit)
    leaf = (await inter_kit.write("issue/web", common_name="a.example.com")).data
    assert leaf["ca_chain"] == [signed["certificate"], root["certificate"]]
    trimmed = await inter_kit.data("issue/web", common_name="a.example.com", remove_roots_from_chain=True)
    assert trimmed["ca_chain"] == [signed["certificate"]]
    again = (await inter_kit.write("intermediate/set-signed", certificate=signed["certificate"])).data
    assert again["imported_issuers"] == [] and len(again["existing_issuers"]) == 1
    # The path length of the intermediate (0) forbids another level.
    sub = await PkiKit().data("intermediate/generate/internal", common_name="Sub", key_type="ec")
    assert "path length constraint of 0" in await inter_kit.refused("root/sign-intermediate", csr=sub["csr"],
                                                                  common_name="Sub")


async def test_set_signed_refuses_certificates_it_holds_no_key_for_and_non_cas() -> None:
    kit, other = PkiKit(), PkiKit()
    await kit.write("intermediate/generate/internal", common_name="Mine", key_type="ec")
    stranger = await other.root("ec", common_name="Stranger")
    assert "matches no key in this mount" in await kit.refused("intermediate/set-signed",
                                                               certificate=stranger["certificate"])
    await _role(other)
    leaf = (await other.write("issue/web", common_name="a.example.com")).data
    assert "is not a CA certificate" in await kit.refused("intermediate/set-signed",
                                                          certificate=leaf["certificate"])
    assert "private keys" in await kit.refused("intermediate/set-signed",
                                               certificate=key_pem(make_key()) + stranger["certificate"])
    assert "no PEM certificate" in await kit.refused("intermediate/set-signed", certificate="garbage")


async def test_bundle_import_keys_and_default_key() -> None:
    kit = PkiKit()
    key = make_key("ec")
    source = PkiKit()
    await source.write("keys/import", pem_bundle=key_pem(key), key_name="k")
    root = (await source.write("root/generate/existing", common_name="Imported", key_ref="k")).data
    imported = await kit.data("config/ca", pem_bundle=key_pem(key) + root["certificate"])
    assert imported is not None and len(imported["imported_keys"]) == 1
    issuer_id = imported["imported_issuers"][0]
    assert imported["mapping"][issuer_id] == imported["imported_keys"][0]
    assert (await kit.read("config/issuers")).data["default"] == issuer_id
    keys = await kit.call(Operation.LIST, "keys")
    assert keys is not None and keys.data["keys"] == imported["imported_keys"]
    key_id = imported["imported_keys"][0]
    renamed = await kit.data(f"key/{key_id}", key_name="root-key")
    assert renamed["key_name"] == "root-key" and "private_key" not in renamed
    assert (await kit.read("config/keys")).data["default"] == key_id
    gen = await kit.data("keys/generate/exported", key_type="rsa", key_name="spare")
    assert gen["private_key"].startswith("-----BEGIN RSA PRIVATE KEY")
    await kit.call(Operation.DELETE, "key/spare")
    assert "private key" in await kit.refused("issuers/import/cert", pem_bundle=key_pem(key))


async def test_a_key_imported_after_its_issuer_is_attached_to_it() -> None:
    source, kit = PkiKit(), PkiKit()
    key = make_key("ec")
    await source.write("keys/import", pem_bundle=key_pem(key), key_name="k")
    root = await source.data("root/generate/existing", common_name="Late Key", key_ref="k")
    first = await kit.data("issuers/import/cert", pem_bundle=root["certificate"])
    issuer_id = first["imported_issuers"][0]
    assert (await kit.get(f"issuer/{issuer_id}"))["key_id"] == ""
    await kit.write("roles/r", allow_any_name=True, key_type="ec")
    assert "no private key" in await kit.refused(f"issuer/{issuer_id}/issue/r", common_name="x")
    second = await kit.data("config/ca", pem_bundle=key_pem(key) + root["certificate"])
    assert second["existing_issuers"] == [issuer_id] and len(second["imported_keys"]) == 1
    assert (await kit.get(f"issuer/{issuer_id}"))["key_id"] == second["imported_keys"][0]
    assert (await kit.data(f"issuer/{issuer_id}/issue/r", common_name="x"))["certificate"]


async def test_sign_self_issued_cross_signs() -> None:
    old, new = PkiKit(), PkiKit()
    old_root = await old.root("ec", common_name="Old Root")
    new_root = await new.root("ec", common_name="New Root")
    cross = (await old.write("root/sign-self-issued", certificate=new_root["certificate"])).data
    cert = load_pem(cross["certificate"])
    assert cert.subject == load_pem(new_root["certificate"]).subject
    assert x509util.issued_by(cert, load_pem(old_root["certificate"]))
    await _role(old)
    leaf = (await old.write("issue/web", common_name="a.example.com")).data
    assert "not marked for CA use" in await old.refused("root/sign-self-issued",
                                                        certificate=leaf["certificate"])


async def test_formats_der_and_pkcs8() -> None:
    kit = PkiKit()
    await kit.root("ec")
    await _role(kit)
    der = await kit.data("issue/web", common_name="a.example.com", format="der",
                           private_key_format="pkcs8")
    assert der is not None
    cert = x509.load_der_x509_certificate(base64.b64decode(der["certificate"]))
    assert x509util.public_key_id(x509util.load_private_key(
        x509util.der_to_pem(base64.b64decode(der["private_key"]), "PRIVATE KEY"))) == \
        x509util.public_key_id(cert.public_key())
    pem = await kit.data("issue/web", common_name="a.example.com", private_key_format="pkcs8")
    assert pem["private_key"].startswith("-----BEGIN PRIVATE KEY")


async def test_fetch_paths() -> None:
    kit = PkiKit()
    root = await kit.root("ec")
    ca_der = await kit.read("ca")
    assert ca_der is not None and ca_der.raw is not None
    assert ca_der.raw.content_type == "application/pkix-cert"
    assert (await kit.read("ca/pem")).raw.body.decode() == root["certificate"]
    assert (await kit.read("ca_chain")).raw.body.decode() == root["certificate"]
    assert (await kit.read("cert/ca")).data["certificate"] == root["certificate"]
    assert (await kit.read(f"issuer/{root['issuer_id']}/json")).data["ca_chain"] == [root["certificate"]]
    serial = root["serial_number"]
    read = await kit.read(f"cert/{serial.replace(':', '-')}")
    assert read is not None and read.data["certificate"] == root["certificate"]
    raw = await kit.read(f"cert/{serial}/raw/pem")
    assert raw is not None and raw.raw is not None and raw.raw.body.decode() == root["certificate"]
    assert await kit.read("cert/00:11") is None
    assert (await kit.read("cert/crl")).data["certificate"].startswith("-----BEGIN X509 CRL")


async def test_audit_facts_leases_and_no_store() -> None:
    kit = PkiKit()
    root = await kit.root("ec")
    await _role(kit, generate_lease=True)
    resp = await kit.write("issue/web", common_name="a.example.com", alt_names="b.example.com",
                           ip_sans="10.0.0.1")
    facts = resp.audit["certificate"]
    assert facts["serial_number"] == resp.data["serial_number"] and facts["role"] == "web"
    assert facts["sans"]["dns"] == ["a.example.com", "b.example.com"] and facts["sans"]["ip"] == ["10.0.0.1"]
    assert facts["issuer_id"] == root["issuer_id"]
    assert facts["accessor"] == "acc-test" and facts["mount"] == "pki/"
    assert "PRIVATE" not in str(resp.audit)
    assert resp.secret is not None and resp.secret.internal_data == {
        "secret_type": "pki", "serial_number": resp.data["serial_number"]}
    assert not resp.secret.renewable and resp.secret.ttl > 0
    # The lease manager's revoke callback revokes the certificate ...
    req = kit.request(Operation.REVOKE, "issue/web")
    await kit.pki.backend.handle_request(
        type(req)(**{**{f: getattr(req, f) for f in req.__dataclass_fields__},
                     "secret": Secret(ttl=10, internal_data=resp.secret.internal_data)}))
    revoked = await kit.call(Operation.LIST, "certs/revoked")
    assert revoked is not None and resp.data["serial_number"] in revoked.data["keys"]
    # ... but a lease that simply ran out does not grow the CRL.
    other = await kit.write("issue/web", common_name="c.example.com")
    await kit.pki.revoke_lease(_with_secret(kit, Secret(ttl=0, internal_data=other.secret.internal_data)))
    assert other.data["serial_number"] not in (await kit.call(Operation.LIST, "certs/revoked")).data["keys"]
    await _role(kit, no_store=True)
    unstored = await kit.write("issue/web", common_name="d.example.com")
    assert unstored.secret is None and unstored.data["serial_number"] not in await kit.list("certs")
    # BYOC: a certificate that was never stored can still be revoked by giving it.
    assert (await kit.write("revoke", certificate=unstored.data["certificate"])).data["revocation_time"]


def _with_secret(kit: PkiKit, secret: Secret):
    from dataclasses import replace

    return replace(kit.request(Operation.REVOKE, "issue/web"), secret=secret)


async def test_delete_root_removes_every_issuer_and_key() -> None:
    kit = PkiKit()
    await kit.root("ec")
    await kit.call(Operation.DELETE, "root")
    assert await kit.list("issuers") == [] and await kit.list("keys") == []
    assert "no default issuer" in await kit.refused("root/sign-intermediate",
                                                    csr=make_csr(make_key(), "x", ca=True), common_name="x")
    assert await kit.read("ca") is None and await kit.read("ca_chain") is None
    with pytest.raises(NotFound):
        await kit.read("crl")


async def test_sign_verbatim_keeps_the_csr_and_refuses_cas() -> None:
    kit = PkiKit()
    await kit.root("ec")
    csr = make_csr(make_key("ed25519"), "odd name with spaces", dns=["whatever.test"], organization="Org")
    signed = await kit.data("sign-verbatim", csr=csr, ttl="1h", ext_key_usage="ClientAuth")
    cert = load_pem(signed["certificate"])
    assert cert.subject.rfc4514_string() == "CN=odd name with spaces,O=Org"
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName) == ["whatever.test"]
    assert "will not sign a CA" in await kit.refused("sign-verbatim", csr=make_csr(make_key(), "ca", ca=True))
