"""AWS auth: certificate configuration and role validation (ec2 only, describer-bound fields)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from support.aws_identity import AwsSigner
from unit.auth.aws.aws_kit import AwsAuth, FakeDescriber
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation


@pytest.mark.parametrize("form", ["pem", "der_b64", "pem_b64"])
async def test_certificate_forms(aws: AwsAuth, signers: dict[str, AwsSigner], form: str) -> None:
    signer = signers["dsa"]
    value = {"pem": signer.cert_pem, "der_b64": signer.cert_der_b64,
             "pem_b64": base64.b64encode(signer.cert_pem.encode()).decode()}[form]
    await aws.write("config/certificate/aws-dsa", aws_public_cert=value)
    data = await aws.read("config/certificate/aws-dsa")
    assert data == {"aws_public_cert": signer.cert_pem, "type": "pkcs7"}


async def test_certificate_list_update_and_delete(aws: AwsAuth,
                                                  signers: dict[str, AwsSigner]) -> None:
    await aws.write("config/certificate/b", aws_public_cert=signers["rsa"].cert_pem)
    await aws.write("config/certificate/a", aws_public_cert=signers["ec"].cert_pem,
                    type="identity")
    listing = await aws.call(Operation.LIST, "config/certificates")
    assert listing is not None and listing.data == {"keys": ["a", "b"]}
    await aws.write("config/certificate/a", document_type="pkcs7")
    assert await aws.read("config/certificate/a") == {
        "aws_public_cert": signers["ec"].cert_pem, "type": "pkcs7"}
    await aws.call(Operation.DELETE, "config/certificate/a")
    assert await aws.call(Operation.READ, "config/certificate/a") is None


@pytest.mark.parametrize(("fields", "message"), [
    ({}, "missing aws_public_cert"),
    ({"aws_public_cert": "not base64 at all!"}, "not a PEM or base64 DER certificate"),
    ({"aws_public_cert": base64.b64encode(b"garbage").decode()}, "not a PEM or base64 DER"),
    ({"aws_public_cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"},
     "not a PEM or base64 DER"),
    ({"aws_public_cert": "x", "type": "x509"}, '"type": must be one of'),
])
async def test_certificate_validation(aws: AwsAuth, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await aws.write("config/certificate/c", **fields)


async def test_role_defaults_and_read_shape(aws: AwsAuth) -> None:
    await aws.write("role/Master", bound_ec2_instance_id="i-1", policies="kubernetes-master",
                    max_ttl="1h", ttl="10m")
    data = await aws.read("role/master")
    assert data["auth_type"] == "ec2" and data["bound_ec2_instance_id"] == ["i-1"]
    assert data["token_policies"] == data["policies"] == ["kubernetes-master"]
    assert (data["token_ttl"], data["token_max_ttl"], data["max_ttl"]) == (600, 3600, 3600)
    assert data["role_tag"] == "" and data["bound_vpc_id"] == []
    assert (data["allow_instance_migration"], data["disallow_reauthentication"]) == (False, False)
    for path in ("role", "roles"):
        listing = await aws.call(Operation.LIST, path)
        assert listing is not None and listing.data == {"keys": ["master"]}


BOUND = {"bound_account_id": "123456789012"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"auth_type": "iam"}, 'auth_type "iam" is not supported'),
    ({"auth_type": "gce"}, 'auth_type must be "ec2"'),
    ({"bound_account_id": ""}, "at least one bound parameter"),
    ({"allow_instance_migration": True, "disallow_reauthentication": True}, "cannot specify both"),
    ({"bound_vpc_id": "vpc-1"}, "bound_vpc_id cannot be checked"),
    ({"bound_subnet_id": "subnet-1", "bound_iam_instance_profile_arn": "arn:aws:iam::1:x/*"},
     "bound_subnet_id, bound_iam_instance_profile_arn cannot be checked"),
    ({"bound_iam_role_arn": "arn:aws:iam::1:role/x"}, "bound_iam_role_arn is not supported"),
    ({"bound_iam_principal_arn": "arn:aws:iam::1:user/x"}, "bound_iam_principal_arn is not"),
    ({"role_tag": "tag"}, "role_tag is not supported"),
    ({"ttl": "2h", "max_ttl": "1h"}, '"token_ttl" cannot be greater'),
    ({"token_type": "batch", "period": "1h"}, "cannot be 'batch'.*periodic"),
    ({"period": "often"}, '"period"'),
    ({"disallow_reauthentication": "nah"}, '"disallow_reauthentication"'),
])
async def test_role_validation(aws: AwsAuth, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        await aws.write("role/r", **{**BOUND, **fields})
    assert await aws.call(Operation.READ, "role/r") is None


async def test_describer_bound_fields_are_accepted_when_a_describer_exists() -> None:
    aws = AwsAuth(describer=FakeDescriber())
    await aws.write("role/r", bound_vpc_id="vpc-1", bound_subnet_id="subnet-1",
                    bound_iam_instance_profile_arn="arn:aws:iam::123456789012:instance-profile/*")
    assert (await aws.read("role/r"))["bound_vpc_id"] == ["vpc-1"]


async def test_role_update_keeps_bindings_and_delete(aws: AwsAuth) -> None:
    await aws.write("role/r", bound_ami_id="ami-1,ami-2", bound_region="eu-west-1")
    await aws.write("role/r", disallow_reauthentication=True, resolve_aws_unique_ids=True)
    data = await aws.read("role/r")
    assert data["bound_ami_id"] == ["ami-1", "ami-2"] and data["disallow_reauthentication"]
    await aws.call(Operation.DELETE, "role/r")
    assert await aws.call(Operation.READ, "role/r") is None


def test_every_field_and_path_is_documented(aws: AwsAuth) -> None:
    for path in aws.backend.paths:
        assert path.help_synopsis, path.pattern
        for name, field in path.fields.items():
            assert field.description, f"{path.pattern}: {name}"
