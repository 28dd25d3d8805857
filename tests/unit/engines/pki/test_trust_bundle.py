"""The trust bundle (warden extension): old + new while a CA rotates in place, new only after."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509

from support.pki import PkiKit, load_pem
from warden.engines.pki import x509util
from warden.logical.operation import Operation


async def _role(kit: PkiKit) -> None:
    await kit.write("roles/web", allowed_domains="example.com", allow_subdomains=True, key_type="ec")


async def _bundle(kit: PkiKit) -> list[str]:
    return list((await kit.get("cert/trust_bundle"))["trust_bundle"])


async def test_one_issuer_the_bundle_is_its_chain() -> None:
    kit = PkiKit()
    assert await kit.read("trust_bundle") is None and await kit.read("cert/trust_bundle") is None
    root = await kit.root("ec", common_name="Root A")
    view = await kit.get("cert/trust_bundle")
    assert view["trust_bundle"] == [root["certificate"]] and view["certificate"] == root["certificate"]
    assert view["issuer_ids"] == [root["issuer_id"]] and view["default_issuer"] == root["issuer_id"]
    assert [(i["issuer_id"], i["default"], i["issuing"]) for i in view["issuers"]] == [
        (root["issuer_id"], True, True)]
    raw = await kit.read("trust_bundle")
    assert raw is not None and raw.raw is not None and raw.raw.body.decode() == root["certificate"]
    await _role(kit)
    leaf = await kit.data("issue/web", common_name="a.example.com")
    assert leaf["trust_bundle"] == leaf["ca_chain"] == [root["certificate"]]


async def test_rotation_in_place_old_and_new_then_new_only() -> None:
    kit = PkiKit()
    old = await kit.root("ec", common_name="Root", issuer_name="old")
    await _role(kit)
    new = await kit.data("root/rotate/internal", common_name="Root", key_type="ec", issuer_name="new")
    # begin: both trusted, the default (old) first; leaves still come from the old issuer.
    assert await _bundle(kit) == [old["certificate"], new["certificate"]]
    leaf = await kit.data("issue/web", common_name="a.example.com")
    assert leaf["issuing_ca"] == old["certificate"] and leaf["ca_chain"] == [old["certificate"]]
    assert leaf["trust_bundle"] == [old["certificate"], new["certificate"]]
    # switch: the new issuer is the default and comes first; the old one may stop issuing.
    await kit.write("config/issuers", default="new")
    await kit.call(Operation.PATCH, "issuer/old", usage="read-only,crl-signing,ocsp-signing")
    view = await kit.get("cert/trust_bundle")
    assert view["trust_bundle"] == [new["certificate"], old["certificate"]]
    assert {i["issuer_name"]: i["issuing"] for i in view["issuers"]} == {"new": True, "old": False}
    # finish: deleting the old issuer drops it from every bundle.
    await kit.call(Operation.DELETE, "issuer/old")
    assert await _bundle(kit) == [new["certificate"]]
    leaf = await kit.data("issue/web", common_name="a.example.com", format="der")
    der = base64.b64decode(leaf["trust_bundle"][0])
    assert der == x509util.cert_der(load_pem(new["certificate"]))


async def test_revoked_and_keyless_issuers_are_not_anchors() -> None:
    kit = PkiKit()
    root = await kit.root("ec", common_name="Root")
    other = await kit.data("root/generate/internal", common_name="Other", key_type="ec", issuer_name="other")
    foreign = await PkiKit().root("ec", common_name="Foreign")
    await kit.write("issuers/import/cert", pem_bundle=foreign["certificate"])
    assert await _bundle(kit) == [root["certificate"], other["certificate"]]  # the key-less import is not
    await kit.write("issuer/other/revoke")
    assert await _bundle(kit) == [root["certificate"]]


async def test_intermediates_under_one_offline_root_share_it_once() -> None:
    root_kit, kit = PkiKit(), PkiKit()
    root = await root_kit.root("ec", common_name="Offline Root", max_path_length=1)

    async def intermediate(name: str) -> str:
        csr = await kit.data("intermediate/generate/internal", common_name=name, key_type="ec")
        signed = await root_kit.data("root/sign-intermediate", csr=csr["csr"], common_name=name, ttl="4000h")
        await kit.write("intermediate/set-signed", certificate=signed["certificate"] + root["certificate"])
        return str(signed["certificate"])

    first = await intermediate("Intermediate 1")
    assert await _bundle(kit) == [first, root["certificate"]]
    second = await intermediate("Intermediate 2")  # not the default: the first stays default
    assert await _bundle(kit) == [first, root["certificate"], second]
    view = await kit.get("cert/trust_bundle")
    assert [i["ca_chain"] for i in view["issuers"]] == [[first, root["certificate"]],
                                                        [second, root["certificate"]]]


async def test_while_both_are_trusted_each_issuer_keeps_its_own_crl() -> None:
    kit = PkiKit()
    old = await kit.root("ec", common_name="Root", issuer_name="old")
    await _role(kit)
    old_leaf = await kit.data("issue/web", common_name="a.example.com")
    new = await kit.data("root/rotate/internal", common_name="Root", key_type="ec", issuer_name="new")
    await kit.write("config/issuers", default="new")
    await kit.call(Operation.PATCH, "issuer/old", usage="read-only,crl-signing,ocsp-signing")
    new_leaf = await kit.data("issue/web", common_name="b.example.com")
    for leaf in (old_leaf, new_leaf):
        await kit.write("revoke", serial_number=leaf["serial_number"])

    async def revoked_on(ref: str, ca: dict[str, Any]) -> set[int]:
        crl = x509.load_pem_x509_crl((await kit.get(f"issuer/{ref}/crl"))["crl"].encode())
        assert crl.is_signature_valid(load_pem(ca["certificate"]).public_key())  # type: ignore[arg-type]
        return {r.serial_number for r in crl}

    assert await revoked_on("old", old) == {load_pem(old_leaf["certificate"]).serial_number}
    assert await revoked_on("new", new) == {load_pem(new_leaf["certificate"]).serial_number}
