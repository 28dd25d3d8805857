"""The role rules as a table: each request is allowed, or refused with a 400 naming the reason."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from support.pki import PkiKit, load_pem, make_csr, make_key
from warden.engines.pki.keypool import KeyPool

ROLES: dict[str, dict[str, Any]] = {
    # seed 000's two roles, exactly (plus key_type=ec to keep the table fast)
    "member": {"allow_any_name": True, "max_ttl": "720h"},
    "kubelet": {"allowed_domains": "kubelet", "allow_bare_domains": True, "allow_subdomains": False,
                "max_ttl": "720h"},
    "web": {"allowed_domains": "example.com", "allow_subdomains": True,
            "allowed_uri_sans": "spiffe://cluster.local/*",
            "allowed_other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:*@example.com"},
    "glob": {"allowed_domains": "ftp*.example.com", "allow_glob_domains": True},
    "scheduler": {"allowed_domains": "system:kube-scheduler", "allow_bare_domains": True,
                  "enforce_hostnames": False, "allow_localhost": False},
    "node": {"allowed_domains": "system:node:worker-1", "allow_bare_domains": True,
             "enforce_hostnames": False, "organization": "system:nodes", "allow_localhost": False},
    "noip": {"allow_any_name": True, "allow_ip_sans": False},
    "cidr": {"allow_any_name": True, "allowed_ip_sans_cidr": "10.0.0.0/8"},
    "nowild": {"allowed_domains": "example.com", "allow_subdomains": True,
               "allow_wildcard_certificates": False},
    "nolocal": {"allowed_domains": "example.com", "allow_bare_domains": True, "allow_localhost": False},
    "nocn": {"allowed_domains": "example.com", "allow_subdomains": True, "require_cn": False},
    "serials": {"allow_any_name": True, "allowed_serial_numbers": "node-*"},
    "emailonly": {"allow_any_name": True, "cn_validations": "email"},
    "uids": {"allow_any_name": True, "allowed_user_ids": "alice,svc-*"},
}

OK = None
# (role, request fields, None if allowed / a substring of the refusal's message)
TABLE: list[tuple[str, dict[str, Any], str | None]] = [
    ("member", {"common_name": "etcd-1.c1.example.com"}, OK),
    ("member", {"common_name": "anything.at.all"}, OK),
    ("member", {"common_name": "*.wild.example"}, OK),
    ("member", {"common_name": "not a hostname"}, "not a valid hostname"),
    ("member", {"common_name": "tab\there"}, "control characters"),
    ("member", {"common_name": "x", "ip_sans": "10.1.2.3,::1"}, OK),
    ("member", {"common_name": "x", "ip_sans": "10.1.2.300"}, "not a valid IP address"),
    ("member", {"common_name": "x", "uri_sans": "spiffe://a/b"}, "allowed_uri_sans is empty"),
    ("member", {"common_name": "bücher.example"}, OK),
    ("member", {"common_name": "a" * 65}, "longer than 64"),
    ("member", {"common_name": "x", "alt_names": "in valid"}, "not a valid DNS name"),
    ("kubelet", {"common_name": "kubelet"}, OK),
    ("kubelet", {"common_name": "KUBELET"}, OK),
    ("kubelet", {"common_name": "x.kubelet"}, "allow_subdomains=false"),
    ("kubelet", {"common_name": "kubelet.evil"}, "matches none of allowed_domains"),
    ("kubelet", {"common_name": "kubelet\x00"}, "control characters"),
    ("kubelet", {"common_name": "*.kubelet"}, "wildcards under"),
    ("kubelet", {"common_name": "kubelet."}, "trailing dot"),
    ("kubelet", {"common_name": "kubelet", "alt_names": "evil.com"}, 'subject alternate name "evil.com"'),
    ("kubelet", {"common_name": "kubelet", "alt_names": "kubelet,x.kubelet"}, "allow_subdomains=false"),
    ("kubelet", {"common_name": "kubelet", "alt_names": "admin@evil.com"}, "email address"),
    ("kubelet", {"common_name": "evil.com", "exclude_cn_from_sans": True}, "common name"),
    ("kubelet", {"common_name": "kubelet,evil.com"}, "not a valid hostname"),
    ("kubelet", {"common_name": "localhost"}, OK),
    ("kubelet", {}, "common_name field is required"),
    ("web", {"common_name": "api.example.com", "alt_names": "b.example.com,*.example.com"}, OK),
    ("web", {"common_name": "example.com"}, "allow_bare_domains=false"),
    ("web", {"common_name": "api.example.com.evil.net"}, "matches none"),
    ("web", {"common_name": "Api.Example.COM"}, OK),
    ("web", {"common_name": "a.example.com", "uri_sans": "spiffe://cluster.local/ns/x"}, OK),
    ("web", {"common_name": "a.example.com", "uri_sans": "spiffe://other/ns/x"},
     "matches none of allowed_uri"),
    ("web", {"common_name": "a.example.com", "uri_sans": "not a uri"}, "not a valid URI"),
    ("web", {"common_name": "a.example.com",
             "other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:dev@example.com"}, OK),
    ("web", {"common_name": "a.example.com",
             "other_sans": "1.3.6.1.4.1.311.20.2.3;UTF8:dev@evil.com"}, "other SAN"),
    ("web", {"common_name": "a.example.com", "other_sans": "1.2.3.4;UTF8:x"}, "OID 1.2.3.4 not allowed"),
    ("web", {"common_name": "a.example.com", "other_sans": "1.2.3.4;IA5:x"}, "only UTF8"),
    ("web", {"common_name": "foo.*.example.com"}, "left-most label"),
    ("web", {"common_name": "xn--bcher-kva.example.com"}, OK),
    ("web", {"common_name": "bücher.example.com"}, OK),
    ("web", {"common_name": "Bücher.example.com"}, OK),
    ("web", {"common_name": "a\u200b.example.com"}, "canonical IDNA form"),
    ("web", {"common_name": "a.example.com", "alt_names": "b\u00ad.example.com"}, "canonical IDNA form"),
    ("web", {"common_name": "api\u3002example.com"}, "ideographic dot"),
    ("glob", {"common_name": "ftp1.example.com"}, OK),
    ("glob", {"common_name": "ftp.a.example.com"}, OK),
    ("glob", {"common_name": "www.example.com"}, "matches none"),
    ("scheduler", {"common_name": "system:kube-scheduler"}, OK),
    ("scheduler", {"common_name": "system:kube-scheduler-evil"}, "matches none"),
    ("scheduler", {"common_name": "localhost"}, "allow_localhost=false"),
    ("node", {"common_name": "system:node:worker-1"}, OK),
    ("node", {"common_name": "system:node:worker-2"}, "matches none"),
    ("noip", {"common_name": "x.example", "ip_sans": "10.0.0.1"}, "allow_ip_sans=false"),
    ("cidr", {"common_name": "x", "ip_sans": "10.9.9.9"}, OK),
    ("cidr", {"common_name": "x", "ip_sans": "192.168.0.1"}, "allowed_ip_sans_cidr"),
    ("nowild", {"common_name": "a.example.com"}, OK),
    ("nowild", {"common_name": "*.example.com"}, "allow_wildcard_certificates=false"),
    ("nolocal", {"common_name": "example.com"}, OK),
    ("nolocal", {"common_name": "localhost"}, "allow_localhost=false"),
    ("nolocal", {"common_name": "localdomain"}, "allow_localhost=false"),
    ("nocn", {"alt_names": "a.example.com"}, OK),
    ("nocn", {"alt_names": "a.evil.com"}, "not allowed"),
    ("serials", {"common_name": "x", "serial_number": "node-7"}, OK),
    ("serials", {"common_name": "x", "serial_number": "admin"}, "allowed_serial_numbers"),
    ("uids", {"common_name": "x", "user_ids": "Alice,svc-ci"}, OK),
    ("uids", {"common_name": "x", "user_ids": "mallory"}, "allowed_user_ids"),
    ("member", {"common_name": "x", "user_ids": "alice"}, "allowed_user_ids"),
    ("emailonly", {"common_name": "ops@example.com"}, OK),
    ("emailonly", {"common_name": "host.example.com"}, "cn_validations"),
    ("member", {"common_name": "x", "ttl": "1h", "not_after": "2031-01-01T00:00:00Z"}, "not both"),
    ("nosuchrole", {"common_name": "x"}, "unknown role"),
]


@pytest.fixture(scope="module")
def kit_cache() -> dict[str, PkiKit]:
    return {}


async def _kit(cache: dict[str, PkiKit]) -> PkiKit:
    if "kit" not in cache:
        kit = PkiKit(pool=KeyPool(capacity=lambda spec: 0, warm=()))
        await kit.root("ec")
        for name, fields in ROLES.items():
            await kit.write(f"roles/{name}", key_type="ec", **fields)
        cache["kit"] = kit
    return cache["kit"]


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 40
    assert sum(1 for *_, why in TABLE if why) >= 20 and sum(1 for *_, why in TABLE if not why) >= 20


@pytest.mark.parametrize(("role", "fields", "refusal"), TABLE,
                         ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(TABLE)])
async def test_issue(kit_cache: dict[str, PkiKit], role: str, fields: dict[str, Any],
                     refusal: str | None) -> None:
    kit = await _kit(kit_cache)
    if refusal is None:
        resp = await kit.write(f"issue/{role}", **fields)
        assert resp.data is not None and resp.data["certificate"].startswith("-----BEGIN CERTIFICATE")
    else:
        message = await kit.refused(f"issue/{role}", **fields)
        assert refusal in message, message


async def test_kubernetes_identity_gets_cn_and_groups_and_no_dns_san(kit_cache: dict[str, PkiKit]) -> None:
    kit = await _kit(kit_cache)
    resp = await kit.write("issue/node", common_name="system:node:worker-1")
    cert = load_pem(resp.data["certificate"])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:worker-1"
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:nodes"]
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)


async def test_user_ids_become_uid_attributes(kit_cache: dict[str, PkiKit]) -> None:
    kit = await _kit(kit_cache)
    resp = await kit.write("issue/uids", common_name="x", user_ids="alice")
    cert = load_pem(resp.data["certificate"])
    assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.USER_ID)] == ["alice"]


# -- sign/: the same rules apply to names that arrive inside a CSR ------------------------------

SIGN_TABLE: list[tuple[str, dict[str, Any], str | None]] = [
    ("kubelet", {"cn": "kubelet"}, OK),
    ("kubelet", {"cn": "kubelet", "dns": ["evil.com"]}, 'subject alternate name "evil.com"'),
    ("kubelet", {"cn": "x.kubelet"}, "allow_subdomains=false"),
    ("kubelet", {"cn": "kubelet", "ips": ["10.0.0.1"]}, OK),
    ("noip", {"cn": "x.example", "ips": ["10.0.0.1"]}, "via the CSR"),
    ("web", {"cn": "a.example.com", "uris": ["spiffe://evil/x"]}, "matches none of allowed_uri"),
    ("kubelet", {"cn": "kubelet", "organization": "system:masters"}, OK),
]


@pytest.mark.parametrize(("role", "csr", "refusal"), SIGN_TABLE,
                         ids=[f"sign-{r}-{i}" for i, (r, _, _) in enumerate(SIGN_TABLE)])
async def test_sign(kit_cache: dict[str, PkiKit], role: str, csr: dict[str, Any],
                    refusal: str | None) -> None:
    kit = await _kit(kit_cache)
    pem = make_csr(make_key("ec"), csr["cn"], dns=csr.get("dns", ()), ips=csr.get("ips", ()),
                   uris=csr.get("uris", ()), organization=csr.get("organization", ""))
    if refusal is not None:
        assert refusal in await kit.refused(f"sign/{role}", csr=pem)
        return
    resp = await kit.write(f"sign/{role}", csr=pem)
    cert = load_pem(resp.data["certificate"])
    # The subject's O never comes from the CSR: a kubelet cannot ask for system:masters.
    assert not cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)


async def test_sign_refuses_a_csr_whose_signature_does_not_verify(kit_cache: dict[str, PkiKit]) -> None:
    kit = await _kit(kit_cache)
    good = make_csr(make_key("ec"), "kubelet")
    other = make_csr(make_key("ec"), "kubelet")
    from cryptography.hazmat.primitives import serialization

    a = x509.load_pem_x509_csr(good.encode())
    b = x509.load_pem_x509_csr(other.encode())
    # Graft b's public key into a's request body: the signature no longer verifies.
    der_a = a.public_bytes(serialization.Encoding.DER)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    spki_a, spki_b = a.public_key().public_bytes(*spki), b.public_key().public_bytes(*spki)
    forged = x509.load_der_x509_csr(der_a.replace(spki_a, spki_b)).public_bytes(serialization.Encoding.PEM)
    assert "proof of possession" in await kit.refused("sign/kubelet", csr=forged.decode())


async def test_sign_checks_key_type_and_size(kit_cache: dict[str, PkiKit]) -> None:
    kit = await _kit(kit_cache)
    await kit.write("roles/rsa-only", allow_any_name=True, key_type="rsa", key_bits=3072)
    ec_csr = make_csr(make_key("ec"), "x")
    assert "role requires keys of type rsa" in await kit.refused("sign/rsa-only", csr=ec_csr)
    small = make_csr(make_key("rsa"), "x")  # 2048 bits
    assert "minimum of a 3072-bit key" in await kit.refused("sign/rsa-only", csr=small)
    await kit.write("roles/any", allow_any_name=True, key_type="any")
    for key_type in ("rsa", "ec", "ed25519"):
        assert (await kit.write("sign/any", csr=make_csr(make_key(key_type), "x"))).data
    assert 'give key_type' in await kit.refused("issue/any", common_name="x")
    issued = await kit.write("issue/any", common_name="x", key_type="ed25519")
    assert issued.data["private_key_type"] == "ed25519"
