"""AWS ec2 login: PKCS#7 verification and tampering, every bound field, the describer."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from asn1crypto import algos, cms

from support.aws_identity import AwsSigner, identity_document, tamper_content, wrap_der
from unit.auth.aws.aws_kit import AwsAuth, FakeDescriber
from warden.auth.aws import InstanceDetails
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.operation import Operation

DOC = identity_document()


async def _setup(aws: AwsAuth, signer: AwsSigner, **role: Any) -> None:
    await aws.write("config/certificate/aws", aws_public_cert=signer.cert_pem)
    await aws.write("role/web", **(role or {"bound_account_id": "123456789012"}))


@pytest.mark.parametrize(("kind", "attributes", "digest"), [
    ("rsa", True, "sha256"), ("rsa", False, "sha256"), ("ec", True, "sha256"),
    ("ec", False, "sha256"), ("dsa", True, "sha1"), ("dsa", True, "sha256"),
    ("dsa", False, "sha1"),
])
async def test_login_with_each_signer_type(aws: AwsAuth, signers: dict[str, AwsSigner],
                                           kind: str, attributes: bool, digest: str) -> None:
    await _setup(aws, signers[kind], bound_ami_id="ami-5fb8c835", token_policies="web",
                 token_ttl="10m", token_max_ttl="1h")
    auth = await aws.login(signers[kind].sign(DOC, attributes=attributes, digest=digest), "web")
    nonce = auth.metadata.pop("nonce")
    assert len(nonce) == 36
    assert auth.metadata == {"instance_id": "i-1234567890abcdef0", "region": "us-east-1",
                             "account_id": "123456789012", "ami_id": "ami-5fb8c835",
                             "role": "web", "role_tag": ""}
    assert auth.policies == ["web"] and (auth.ttl, auth.max_ttl) == (600, 3600)


async def test_role_defaults_to_the_ami_id(aws: AwsAuth, signers: dict[str, AwsSigner]) -> None:
    await aws.write("config/certificate/aws", aws_public_cert=signers["rsa"].cert_pem)
    await aws.write("role/ami-5fb8c835", bound_ami_id="ami-5fb8c835")
    assert (await aws.login(signers["rsa"].sign(DOC))).metadata["role"] == "ami-5fb8c835"
    with pytest.raises(InvalidRequest, match='entry for role "nope" not found'):
        await aws.login(signers["rsa"].sign(DOC), "nope")


async def test_pem_armored_pkcs7_is_accepted(aws: AwsAuth, signers: dict[str, AwsSigner]) -> None:
    await _setup(aws, signers["rsa"])
    armored = "-----BEGIN PKCS7-----\n" + signers["rsa"].sign(DOC) + "\n-----END PKCS7-----\n"
    await aws.login(armored, "web")


async def test_changed_document_byte_is_refused(aws: AwsAuth,
                                               signers: dict[str, AwsSigner]) -> None:
    for kind in ("rsa", "dsa"):
        aws = AwsAuth()
        await _setup(aws, signers[kind])
        for attributes in (True, False):
            der = signers[kind].sign_der(DOC, attributes=attributes)
            forged = tamper_content(der, b"i-1234567890abcdef0", b"i-1234567890abcdef9")
            with pytest.raises(InvalidRequest, match="does not verify"):
                await aws.login(wrap_der(forged), "web")


async def test_changed_signature_byte_is_refused(aws: AwsAuth,
                                                signers: dict[str, AwsSigner]) -> None:
    await _setup(aws, signers["rsa"])
    der = bytearray(signers["rsa"].sign_der(DOC))
    der[-5] ^= 0x01  # the signature is the last field of the message
    with pytest.raises(InvalidRequest, match="does not verify"):
        await aws.login(wrap_der(bytes(der)), "web")


async def test_signature_by_another_certificate_is_refused(
        aws: AwsAuth, signers: dict[str, AwsSigner]) -> None:
    await _setup(aws, signers["dsa"])
    impostor = AwsSigner("dsa")
    with pytest.raises(InvalidRequest, match="any configured AWS certificate"):
        await aws.login(impostor.sign(DOC), "web")


async def test_signer_type_must_fit_the_certificate(aws: AwsAuth,
                                                   signers: dict[str, AwsSigner]) -> None:
    """A DSA signature relabelled as RSA is not checked with the DSA key (nor accepted)."""
    await _setup(aws, signers["dsa"])

    def relabelled(algorithm: str) -> str:
        info = cms.ContentInfo.load(signers["dsa"].sign_der(DOC))
        signer = info["content"]["signer_infos"][0]
        signer["signature_algorithm"] = algos.SignedDigestAlgorithm({"algorithm": algorithm})
        return wrap_der(info.dump(force=True))

    await aws.login(relabelled("sha256_dsa"), "web", nonce="n")  # control: re-encoding is harmless
    with pytest.raises(InvalidRequest, match="does not verify"):
        await aws.login(relabelled("sha256_rsa"), "web", nonce="n")


async def test_only_pkcs7_type_certificates_verify(aws: AwsAuth,
                                                  signers: dict[str, AwsSigner]) -> None:
    await aws.write("role/web", bound_account_id="123456789012")
    await aws.write("config/certificate/id", aws_public_cert=signers["rsa"].cert_pem,
                    type="identity")
    with pytest.raises(InvalidRequest, match="no AWS public certificate of type pkcs7"):
        await aws.login(signers["rsa"].sign(DOC), "web")


@pytest.mark.parametrize(("pkcs7", "message"), [
    ("", "missing pkcs7"),
    ("%%%not base64%%%", "not valid base64"),
    (base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), "not a well-formed PKCS#7"),
])
async def test_malformed_pkcs7(aws: AwsAuth, signers: dict[str, AwsSigner], pkcs7: str,
                               message: str) -> None:
    await _setup(aws, signers["rsa"])
    with pytest.raises(InvalidRequest, match=message):
        await aws.login(pkcs7, "web")


@pytest.mark.parametrize(("doc", "message"), [
    (b"not json", "not a JSON identity document"),
    (b"[1, 2]", "not a JSON identity document"),
    ({**DOC, "instanceId": ""}, 'no "instanceId"'),
    ({k: v for k, v in DOC.items() if k != "pendingTime"}, 'no "pendingTime"'),
    ({**DOC, "pendingTime": "yesterday"}, "is not a time"),
])
async def test_signed_content_must_be_an_identity_document(
        aws: AwsAuth, signers: dict[str, AwsSigner], doc: Any, message: str) -> None:
    await _setup(aws, signers["rsa"])
    with pytest.raises(InvalidRequest, match=message):
        await aws.login(signers["rsa"].sign(doc), "web")


async def test_identity_signature_login_is_refused(aws: AwsAuth) -> None:
    with pytest.raises(InvalidRequest, match="identity\\+signature login is not supported"):
        await aws.write("login", identity="e30=", signature="c2ln")


@pytest.mark.parametrize(("field", "good", "bad", "label"), [
    ("bound_ami_id", "ami-0,ami-5fb8c835", "ami-0,ami-1", "AMI ID"),
    ("bound_account_id", "123456789012", "999999999999", "account ID"),
    ("bound_region", "eu-west-1,us-east-1", "eu-west-1", "region"),
    ("bound_ec2_instance_id", "i-1234567890abcdef0", "i-0000", "instance ID"),
])
async def test_each_document_binding(aws: AwsAuth, signers: dict[str, AwsSigner], field: str,
                                     good: str, bad: str, label: str) -> None:
    await _setup(aws, signers["rsa"], **{field: good})
    await aws.login(signers["rsa"].sign(DOC), "web")
    await aws.write("role/web", **{field: bad})
    await aws.call(Operation.DELETE, "identity-accesslist/i-1234567890abcdef0")
    with pytest.raises(InvalidRequest, match=f"Error validating instance: {label} .* does not"):
        await aws.login(signers["rsa"].sign(DOC), "web")


async def test_token_bound_cidrs_are_checked_at_login(aws: AwsAuth,
                                                     signers: dict[str, AwsSigner]) -> None:
    await _setup(aws, signers["rsa"], bound_region="us-east-1", token_bound_cidrs="10.0.0.0/8")
    with pytest.raises(PermissionDenied, match="token_bound_cidrs"):
        await aws.login(signers["rsa"].sign(DOC), "web", addr="172.16.0.1")
    assert (await aws.login(signers["rsa"].sign(DOC), "web")).bound_cidrs == ["10.0.0.0/8"]


RUNNING = InstanceDetails(instance_id="i-1234567890abcdef0", state="running", vpc_id="vpc-1",
                          subnet_id="subnet-1",
                          iam_instance_profile_arn="arn:aws:iam::123456789012:instance-profile/web")


@pytest.mark.parametrize(("role", "details", "message"), [
    ({"bound_vpc_id": "vpc-1"}, RUNNING, ""),
    ({"bound_subnet_id": "subnet-0,subnet-1"}, RUNNING, ""),
    ({"bound_iam_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/*"},
     RUNNING, ""),
    ({"bound_iam_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/web"},
     RUNNING, ""),
    ({"bound_vpc_id": "vpc-2"}, RUNNING, 'VPC ID "vpc-1" does not satisfy'),
    ({"bound_subnet_id": "subnet-2"}, RUNNING, 'subnet ID "subnet-1" does not satisfy'),
    ({"bound_iam_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/db*"},
     RUNNING, "IAM instance profile ARN .* does not satisfy"),
    ({"bound_vpc_id": "vpc-1"}, None, "was not found in EC2"),
    ({"bound_vpc_id": "vpc-1"}, InstanceDetails("i-1234567890abcdef0", "stopped", "vpc-1"),
     'not running \\(state "stopped"\\)'),
])
async def test_described_bindings(signers: dict[str, AwsSigner], role: dict[str, str],
                                  details: InstanceDetails | None, message: str) -> None:
    describer = FakeDescriber({d.instance_id: d for d in [details] if d is not None})
    aws = AwsAuth(describer=describer)
    await _setup(aws, signers["rsa"], **role)
    if message:
        with pytest.raises(InvalidRequest, match=message):
            await aws.login(signers["rsa"].sign(DOC), "web")
    else:
        await aws.login(signers["rsa"].sign(DOC), "web")
    assert describer.calls == ["i-1234567890abcdef0"]


async def test_no_describer_call_when_the_role_binds_only_document_fields(
        signers: dict[str, AwsSigner]) -> None:
    describer = FakeDescriber()
    aws = AwsAuth(describer=describer)
    await _setup(aws, signers["rsa"])
    await aws.login(signers["rsa"].sign(DOC), "web")
    assert describer.calls == []


async def test_a_role_bound_to_a_vpc_fails_closed_once_the_describer_is_gone(
        signers: dict[str, AwsSigner]) -> None:
    with_describer = AwsAuth(describer=FakeDescriber({RUNNING.instance_id: RUNNING}))
    await _setup(with_describer, signers["rsa"], bound_vpc_id="vpc-1")
    aws = AwsAuth(storage=with_describer.storage)
    with pytest.raises(InvalidRequest, match="no EC2 instance describer"):
        await aws.login(signers["rsa"].sign(DOC), "web")
