"""Vault API details that client libraries' own test suites depend on (issue 15), driven by
hvac where hvac has the call, by plain HTTP where it does not."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from support.server import ServerProcess

POLICY = 'path "secret/data/compat" { capabilities = ["read"] }'


def test_legacy_policy_endpoint_answers_rules_and_the_acl_one_policy(
        dev_server: ServerProcess) -> None:
    client = dev_server.client()
    client.sys.create_or_update_policy("compat", POLICY)
    legacy = client.sys.read_policy("compat")
    assert legacy["data"] == {"name": "compat", "rules": POLICY}  # Vault: rules, not policy
    assert legacy["rules"] == POLICY  # and repeated at the top level, as hvac's suite reads it
    assert client.get_policy("compat") == POLICY
    acl = client.sys.read_acl_policy("compat")
    assert acl["data"] == {"name": "compat", "policy": POLICY}


def test_wrap_an_empty_body(dev_server: ServerProcess) -> None:
    client = dev_server.client()
    wrapped = client.sys.wrap()  # hvac sends {} with X-Vault-Wrap-TTL
    token = wrapped["wrap_info"]["token"]
    assert wrapped["data"] is None
    assert client.sys.unwrap(token)["data"] == {}
    resp = dev_server.http().post("/v1/sys/wrapping/wrap")  # no body at all
    assert resp.status_code == 200, resp.text
    assert resp.json()["wrap_info"]["ttl"] == 300


def test_token_lookup_of_an_unknown_token_is_403_bad_token(dev_server: ServerProcess) -> None:
    client = dev_server.client()
    with pytest.raises(hvac.exceptions.Forbidden, match="bad token"):
        client.auth.token.lookup("ws.not-a-real-token")
    token = client.auth.token.create(policies=["default"])["auth"]["client_token"]
    client.auth.token.revoke(token)
    with pytest.raises(hvac.exceptions.Forbidden, match="bad token"):
        client.auth.token.lookup(token)
    # Vault: no token in the body looks up the calling token.
    resp = dev_server.http().post("/v1/auth/token/lookup", json={})
    assert resp.status_code == 200 and resp.json()["data"]["id"] == dev_server.root_token


def test_revoking_an_unknown_token_or_accessor_is_not_an_error(dev_server: ServerProcess) -> None:
    client = dev_server.client()
    http = dev_server.http()
    resp = http.post("/v1/auth/token/revoke", json={"token": "ws.not-a-real-token"})
    assert resp.status_code == 204, resp.text
    client.auth.token.revoke("ws.not-a-real-token")
    answer = client.auth.token.revoke_accessor("no-such-accessor")
    assert answer["warnings"] == ["No token found with this accessor"]
    resp = http.post("/v1/auth/token/revoke-accessor", json={"accessor": "no-such-accessor"})
    assert resp.status_code == 200 and resp.json()["warnings"], resp.text
    # the known cases are unchanged
    created = client.auth.token.create(policies=["default"])["auth"]
    assert http.post("/v1/auth/token/revoke-accessor",
                     json={"accessor": created["accessor"]}).status_code == 204
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup(created["client_token"])
    resp = http.post("/v1/auth/token/revoke", json={})
    assert resp.status_code == 400 and "missing token" in resp.json()["errors"][0]


def test_kv2_check_and_set_mismatch_says_so_as_vault_does(dev_server: ServerProcess) -> None:
    client = dev_server.client()
    client.secrets.kv.v2.create_or_update_secret("compat-cas", {"v": 1}, cas=0)
    for cas in (0, 5):
        with pytest.raises(hvac.exceptions.InvalidRequest,
                           match="check-and-set parameter did not match the current version"):
            client.secrets.kv.v2.create_or_update_secret("compat-cas", {"v": 2}, cas=cas)
    assert client.secrets.kv.v2.read_secret_version("compat-cas",
                                                   raise_on_deleted_version=True)["data"]["data"] == {"v": 1}


def test_audit_hash_of_a_missing_device_names_an_unknown_audit_backend(
        dev_server: ServerProcess) -> None:
    resp = dev_server.http().post("/v1/sys/audit-hash/nowhere", json={"input": "x"})
    assert resp.status_code == 400
    message = resp.json()["errors"][0]
    assert 'unknown audit backend "nowhere"' in message
    assert "no audit device is enabled" in message  # warden's clearer wording stays


def test_revoke_force_revokes_leases_under_a_prefix_and_needs_sudo(
        dev_server: ServerProcess) -> None:
    client = dev_server.client()
    client.sys.enable_secrets_engine("pki", path="compat-pki")
    client.write("compat-pki/root/generate/internal", common_name="compat.example", ttl="24h")
    client.write("compat-pki/roles/web", allow_any_name=True, generate_lease=True, max_ttl="1h")
    lease_ids = [client.write("compat-pki/issue/web", common_name=f"h{i}.example")["lease_id"]
                 for i in range(3)]
    assert all(lease_ids)
    listed = client.sys.list_leases("compat-pki/issue/web")["data"]["keys"]
    assert len(listed) == 3
    token = client.auth.token.create(policies=["default"])["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.Forbidden):
        hvac.Client(url=dev_server.url, token=token).sys.revoke_force("compat-pki/issue")
    client.sys.revoke_force("compat-pki/issue")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.list_leases("compat-pki/issue/web")
    for lease_id in lease_ids:
        with pytest.raises(hvac.exceptions.InvalidRequest):
            client.sys.read_lease(lease_id)
    serials = client.list("compat-pki/certs")["data"]["keys"]
    revoked = [s for s in serials
               if client.read(f"compat-pki/cert/{s}")["data"].get("revocation_time")]
    assert len(revoked) >= 3  # the backend was asked to revoke what the leases stood for


def test_sign_intermediate_takes_the_common_name_from_the_csr(dev_server: ServerProcess) -> None:
    """HashiCorp's "build your own CA" tutorial signs the intermediate's CSR without a
    common_name: the certificate's CN comes from the CSR."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    client = dev_server.client()
    for mount in ("tut-root", "tut-int"):
        client.sys.enable_secrets_engine("pki", path=mount,
                                         config={"max_lease_ttl": "87600h"})
    client.write("tut-root/root/generate/internal", common_name="example.com", ttl="87600h")
    csr = client.write("tut-int/intermediate/generate/internal",
                       common_name="example.com Intermediate Authority")["data"]["csr"]
    signed = client.write("tut-root/root/sign-intermediate", csr=csr, format="pem_bundle",
                          ttl="43800h")["data"]["certificate"]
    cert = x509.load_pem_x509_certificate(signed.encode())
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "example.com Intermediate Authority"
    # an explicit common_name still wins, and a CSR without one still needs it
    other = client.write("tut-root/root/sign-intermediate", csr=csr, common_name="Other CA",
                         ttl="1h")["data"]["certificate"]
    other_cert = x509.load_pem_x509_certificate(other.encode())
    assert other_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Other CA"
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding

    nameless = (x509.CertificateSigningRequestBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Org")]))
                .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    with pytest.raises(hvac.exceptions.InvalidRequest, match="common_name"):
        client.write("tut-root/root/sign-intermediate",
                     csr=nameless.public_bytes(Encoding.PEM).decode(), ttl="1h")


PLACEHOLDER_CA = "-----BEGIN CERTIFICATE-----\\n.....\\n-----END CERTIFICATE-----"  # hvac's own


def _sa_jwt(namespace: str, name: str) -> str:
    """A well-formed service-account JWT (signed by a throwaway key: never verified here)."""
    import time

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    now = int(time.time())
    claims = {"iss": "https://kubernetes.default.svc", "sub": f"system:serviceaccount:{namespace}:{name}",
              "aud": ["https://kubernetes.default.svc"], "iat": now, "nbf": now, "exp": now + 600,
              "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": "u-1"}}}
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def test_kubernetes_config_takes_a_placeholder_ca_with_a_warning_and_logins_name_it(
        dev_server: ServerProcess) -> None:
    client = dev_server.client()
    client.sys.enable_auth_method("kubernetes", path="kcompat")
    resp = dev_server.http().post("/v1/auth/kcompat/config", json={
        "kubernetes_host": "https://192.168.99.100:8443", "kubernetes_ca_cert": PLACEHOLDER_CA,
        "issuer": "bob"})
    assert resp.status_code == 200, resp.text
    (warning,) = resp.json()["warnings"]
    assert "kubernetes_ca_cert" in warning and "certificate" in warning
    assert client.auth.kubernetes.configure(  # hvac's suite: a truthy answer
        "https://192.168.99.100:8443", kubernetes_ca_cert=PLACEHOLDER_CA, mount_point="kcompat")
    config = client.auth.kubernetes.read_config(mount_point="kcompat")
    assert config["kubernetes_ca_cert"] == PLACEHOLDER_CA  # kept exactly as written
    client.auth.kubernetes.create_role("app", bound_service_account_names=["app"],
                                       bound_service_account_namespaces=["default"],
                                       mount_point="kcompat")
    with pytest.raises(hvac.exceptions.InvalidRequest,
                       match=r"kubernetes_ca_cert.*auth/kcompat/config"):
        dev_server.client(token="").auth.kubernetes.login(
            "app", _sa_jwt("default", "app"), mount_point="kcompat")
    # not PEM at all is still refused, and nothing is overwritten
    resp = dev_server.http().post("/v1/auth/kcompat/config", json={
        "kubernetes_host": "https://10.0.0.1", "kubernetes_ca_cert": "ca_cert"})
    assert resp.status_code == 400 and "kubernetes_ca_cert" in resp.json()["errors"][0]
    assert client.auth.kubernetes.read_config(mount_point="kcompat")[
        "kubernetes_host"] == "https://192.168.99.100:8443"


def test_kubernetes_config_without_local_ca_needs_a_ca_or_keys(dev_server: ServerProcess) -> None:
    client = dev_server.client()
    client.sys.enable_auth_method("kubernetes", path="kstrict")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="kubernetes_ca_cert must be given"):
        client.auth.kubernetes.configure("https://192.168.99.100:8443", disable_local_ca_jwt=True,
                                         mount_point="kstrict")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.auth.kubernetes.read_config(mount_point="kstrict")
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    resp = dev_server.http().post("/v1/auth/kstrict/config", json={  # keys: no API calls
        "kubernetes_host": "https://192.168.99.100:8443", "disable_local_ca_jwt": True,
        "pem_keys": [key]})
    assert resp.status_code == 204, resp.text


def test_kubernetes_role_for_any_account_anywhere_is_accepted_with_a_warning(
        dev_server: ServerProcess) -> None:
    client = dev_server.client()
    client.sys.enable_auth_method("kubernetes", path="kwild")
    resp = dev_server.http().post("/v1/auth/kwild/role/everyone", json={
        "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"]})
    assert resp.status_code == 200, resp.text
    assert any("any service account" in w for w in resp.json()["warnings"])
    role = client.auth.kubernetes.read_role("everyone", mount_point="kwild")
    assert role["bound_service_account_names"] == ["*"]
    assert role["bound_service_account_namespaces"] == ["*"]
    resp = dev_server.http().post("/v1/auth/kwild/role/some", json={
        "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["default"]})
    assert resp.status_code == 204, resp.text


def test_disabling_an_auth_method_revokes_the_tokens_its_logins_issued(
        dev_server: ServerProcess) -> None:
    """Vault's disable revokes everything leased under the mount, login tokens included."""
    client = dev_server.client()
    client.sys.enable_auth_method("approle", path="gone-approle")
    client.write("auth/gone-approle/role/app", token_policies="default", token_ttl="1h")
    role_id = client.read("auth/gone-approle/role/app/role-id")["data"]["role_id"]
    secret_id = client.write("auth/gone-approle/role/app/secret-id")["data"]["secret_id"]
    token = dev_server.client(token="").auth.approle.login(
        role_id, secret_id, mount_point="gone-approle")["auth"]["client_token"]
    assert dev_server.client(token=token).auth.token.lookup_self()
    client.sys.disable_auth_method("gone-approle")
    with pytest.raises(hvac.exceptions.Forbidden):
        dev_server.client(token=token).auth.token.lookup_self()
