"""AWS ec2 auth against a real server: hvac and raw HTTP, as seed 001 uses it."""

from __future__ import annotations

import base64

import httpx
import hvac
import pytest

from support.aws_identity import AwsSigner, identity_document, tamper_content, wrap_der
from support.server import ServerProcess

MASTER = "i-0a1b2c3d4e5f60718"


@pytest.fixture(scope="module")
def signer() -> AwsSigner:
    return AwsSigner("dsa")  # AWS's classic identity-document certificate is DSA


@pytest.fixture(scope="module")
def client(dev_server: ServerProcess, signer: AwsSigner) -> hvac.Client:
    c = dev_server.client()
    c.sys.enable_auth_method("aws")
    c.sys.create_or_update_policy("kubernetes-master",
                                  'path "pki/issue/master" { capabilities = ["update"] }')
    c.auth.aws.create_certificate_configuration("aws-dsa", signer.cert_pem, document_type="pkcs7")
    # The seed's role: bound to one instance, the policy, a max TTL.
    c.auth.aws.create_role("kubernetes-master", auth_type="ec2", bound_ec2_instance_id=MASTER,
                           policies="kubernetes-master", max_ttl="1h")
    return c


def _pkcs7(signer: AwsSigner, **doc: str) -> str:
    return signer.sign(identity_document(instanceId=MASTER, **doc))


def test_ec2_login_and_nonce_reauthentication(client: hvac.Client, signer: AwsSigner,
                                              dev_server: ServerProcess) -> None:
    anonymous = dev_server.client(token="")
    auth = anonymous.auth.aws.ec2_login(_pkcs7(signer), role="kubernetes-master",
                                        use_token=False)["auth"]
    assert auth["policies"] == ["default", "kubernetes-master"]
    assert auth["lease_duration"] == 3600
    nonce = auth["metadata"].pop("nonce")
    assert auth["metadata"] == {"instance_id": MASTER, "region": "us-east-1",
                                "account_id": "123456789012", "ami_id": "ami-5fb8c835",
                                "role": "kubernetes-master", "role_tag": ""}
    again = anonymous.auth.aws.ec2_login(_pkcs7(signer), nonce=nonce, role="kubernetes-master",
                                         use_token=False)["auth"]
    assert "nonce" not in again["metadata"]
    with pytest.raises(hvac.exceptions.InvalidRequest, match="client nonce mismatch"):
        anonymous.auth.aws.ec2_login(_pkcs7(signer), role="kubernetes-master", use_token=False)
    entry = client.auth.aws.read_identity_whitelist(MASTER)
    assert entry["role"] == "kubernetes-master" and "client_nonce" not in entry
    client.auth.aws.delete_identity_whitelist_entries(MASTER)


def test_tampered_or_foreign_pkcs7_is_refused(client: hvac.Client, signer: AwsSigner,
                                              dev_server: ServerProcess) -> None:
    der = signer.sign_der(identity_document(instanceId=MASTER))
    forged = wrap_der(tamper_content(der, b"123456789012", b"123456789013"))
    for bad in (forged, AwsSigner("dsa").sign(identity_document(instanceId=MASTER)),
                base64.b64encode(b"junk").decode()):
        resp = httpx.post(f"{dev_server.url}/v1/auth/aws/login",
                          json={"role": "kubernetes-master", "pkcs7": bad})
        assert resp.status_code == 400, resp.text
        assert "failed to verify the instance identity document" in resp.json()["errors"][0]


def test_wrong_instance_is_refused(client: hvac.Client, signer: AwsSigner,
                                   dev_server: ServerProcess) -> None:
    pkcs7 = signer.sign(identity_document(instanceId="i-someone-else"))
    with pytest.raises(hvac.exceptions.InvalidRequest, match=r"instance ID .* does not belong"):
        dev_server.client(token="").auth.aws.ec2_login(pkcs7, role="kubernetes-master")


def test_short_non_renewable_token_ended_with_revoke_self(
        client: hvac.Client, signer: AwsSigner, dev_server: ServerProcess) -> None:
    """Seed 001: no renewal, no regeneration, a short TTL, revoked once the work is done."""
    client.write("auth/aws/role/bootstrap", auth_type="ec2", bound_region="us-east-1",
                 token_policies="kubernetes-master", token_ttl="2m", token_max_ttl="2m",
                 token_renewable=False, disallow_reauthentication=True)
    pkcs7 = signer.sign(identity_document(instanceId="i-bootstrap"))
    resp = httpx.post(f"{dev_server.url}/v1/auth/aws/login",
                      json={"role": "bootstrap", "pkcs7": pkcs7})
    assert resp.status_code == 200, resp.text
    auth = resp.json()["auth"]
    assert auth["renewable"] is False and 0 < auth["lease_duration"] <= 120
    assert "nonce" not in auth["metadata"]
    token = auth["client_token"]
    with httpx.Client(base_url=dev_server.url, headers={"X-Vault-Token": token}) as http:
        assert http.get("/v1/auth/token/lookup-self").json()["data"]["renewable"] is False
        assert http.post("/v1/auth/token/renew-self").status_code == 400
        assert http.post("/v1/auth/token/revoke-self").status_code == 204
        assert http.get("/v1/auth/token/lookup-self").status_code == 403
    again = httpx.post(f"{dev_server.url}/v1/auth/aws/login",
                       json={"role": "bootstrap", "pkcs7": pkcs7})
    assert again.status_code == 400 and "reauthentication is disabled" in again.text


@pytest.mark.parametrize(("fields", "message"), [
    ({"auth_type": "iam", "bound_iam_principal_arn": "arn:aws:iam::1:role/x"},
     "not supported"),
    ({"auth_type": "ec2", "bound_vpc_id": "vpc-1"}, "no EC2 instance describer"),
])
def test_unsupported_role_settings_are_refused_at_write(client: hvac.Client,
                                                        fields: dict[str, str],
                                                        message: str) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest, match=message):
        client.auth.aws.create_role("refused", **fields)  # type: ignore[arg-type]


def test_a_role_may_issue_batch_tokens(client: hvac.Client, signer: AwsSigner,
                                       dev_server: ServerProcess) -> None:
    node = "i-0fedcba9876543210"
    client.write("auth/aws/role/batch-node", auth_type="ec2", bound_ec2_instance_id=node,
                 token_policies="kubernetes-master", token_ttl="30m", token_type="batch")
    doc = signer.sign(identity_document(instanceId=node))
    auth = dev_server.client(token="").auth.aws.ec2_login(doc, role="batch-node",
                                                          use_token=False)["auth"]
    assert (auth["token_type"], auth["accessor"], auth["renewable"]) == ("batch", "", False)
    assert auth["client_token"].startswith("wb.") and auth["lease_duration"] == 1800
    me = dev_server.client(token=auth["client_token"]).auth.token.lookup_self()["data"]
    assert me["type"] == "batch" and me["path"] == "auth/aws/login"
    assert me["policies"] == ["default", "kubernetes-master"]
    client.auth.aws.delete_identity_whitelist_entries(node)
