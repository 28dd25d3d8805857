"""``role`` and ``role/<name>``: which EC2 instances may log in, and their tokens."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from warden.auth.aws.describer import InstanceDetails
from warden.auth.aws.identity import IdentityDocument
from warden.auth.tokenutil import TokenParams, role_from_json, role_to_json, token_fields
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage, get_json, put_json

if TYPE_CHECKING:
    from warden.auth.aws.backend import AwsBackend

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST
ROLE_PREFIX = "role/"
SCHEMA_VERSION = 1
LEGACY = ("policies", "ttl", "max_ttl", "period")
CSV = FieldType.COMMA_STRING_SLICE
DOCUMENT_BINDINGS = ("bound_ami_id", "bound_account_id", "bound_region", "bound_ec2_instance_id")
DESCRIBED_BINDINGS = ("bound_vpc_id", "bound_subnet_id", "bound_iam_instance_profile_arn")
# Vault fields for the iam method and role tags: refused, never silently ignored.
UNSUPPORTED = ("bound_iam_role_arn", "bound_iam_principal_arn", "role_tag",
               "inferred_entity_type", "inferred_aws_region")

ROLE_FIELDS: dict[str, Field] = {
    "role": Field(FieldType.STRING, "Name of the role."),
    "auth_type": Field(
        FieldType.STRING, 'The login method: "ec2" (the only one warden implements).',
        default="ec2"),
    "bound_ami_id": Field(CSV, "AMI IDs an instance may run (any one matches)."),
    "bound_account_id": Field(CSV, "AWS account IDs the instance must belong to."),
    "bound_region": Field(CSV, "Regions the instance must run in."),
    "bound_ec2_instance_id": Field(CSV, "Exact instance IDs that may log in."),
    "bound_vpc_id": Field(
        CSV, "VPC IDs the instance must be in; needs an instance describer (see help)."),
    "bound_subnet_id": Field(
        CSV, "Subnet IDs the instance must be in; needs an instance describer (see help)."),
    "bound_iam_instance_profile_arn": Field(
        CSV, "Instance profile ARNs (a trailing * matches a prefix); needs an instance "
        "describer (see help)."),
    "allow_instance_migration": Field(
        FieldType.BOOL, "Accept a new nonce when the identity document's pendingTime is newer "
        "(the instance was stopped and started, e.g. moved to other hardware)."),
    "disallow_reauthentication": Field(
        FieldType.BOOL, "Allow only one login per instance ID until its access-list entry is "
        "removed."),
    **{name: Field(FieldType.STRING, "Not supported by warden (iam method and role tags); "
                   "refused when set.") for name in UNSUPPORTED},
    "resolve_aws_unique_ids": Field(
        FieldType.BOOL, "Accepted for compatibility; it only affects the iam method."),
    **token_fields(LEGACY),
}


@dataclass(frozen=True, slots=True)
class AwsRole:
    name: str
    auth_type: str = "ec2"
    bound_ami_id: tuple[str, ...] = ()
    bound_account_id: tuple[str, ...] = ()
    bound_region: tuple[str, ...] = ()
    bound_ec2_instance_id: tuple[str, ...] = ()
    bound_vpc_id: tuple[str, ...] = ()
    bound_subnet_id: tuple[str, ...] = ()
    bound_iam_instance_profile_arn: tuple[str, ...] = ()
    allow_instance_migration: bool = False
    disallow_reauthentication: bool = False
    token: TokenParams = field(default_factory=TokenParams)
    schema_version: int = SCHEMA_VERSION

    @property
    def needs_describer(self) -> bool:
        return any(getattr(self, name) for name in DESCRIBED_BINDINGS)

    def document_refusal(self, doc: IdentityDocument) -> str:
        """Why the identity document does not satisfy the role; "" when it does."""
        checks = (("AMI ID", doc.ami_id, self.bound_ami_id),
                  ("account ID", doc.account_id, self.bound_account_id),
                  ("region", doc.region, self.bound_region),
                  ("instance ID", doc.instance_id, self.bound_ec2_instance_id))
        for label, value, bound in checks:
            if bound and value not in bound:
                return f'{label} "{value}" does not belong to role "{self.name}"'
        return ""

    def details_refusal(self, details: InstanceDetails) -> str:
        if details.state != "running":
            return f'the instance is not running (state "{details.state}")'
        if self.bound_vpc_id and details.vpc_id not in self.bound_vpc_id:
            return f'VPC ID "{details.vpc_id}" does not satisfy the constraint on role "{self.name}"'
        if self.bound_subnet_id and details.subnet_id not in self.bound_subnet_id:
            return (f'subnet ID "{details.subnet_id}" does not satisfy the constraint on role '
                    f'"{self.name}"')
        profiles = self.bound_iam_instance_profile_arn
        if profiles and not any(_arn_matches(p, details.iam_instance_profile_arn) for p in profiles):
            return (f'IAM instance profile ARN "{details.iam_instance_profile_arn}" does not '
                    f'satisfy the constraint on role "{self.name}"')
        return ""

    def to_json(self) -> dict[str, Any]:
        return role_to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AwsRole:
        return role_from_json(
            cls, data, schema_version=SCHEMA_VERSION,
            tuples=(*DOCUMENT_BINDINGS, *DESCRIBED_BINDINGS))


def _arn_matches(pattern: str, arn: str) -> bool:
    if pattern.endswith("*"):
        return bool(arn) and arn.startswith(pattern[:-1])
    return fnmatch.fnmatchcase(arn, pattern) if "*" in pattern else arn == pattern


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the aws backend without its mount storage")
    return req.storage


async def load_role(storage: Storage, name: str) -> AwsRole | None:
    data = await get_json(storage, ROLE_PREFIX + name.lower())
    return None if data is None else AwsRole.from_json(data)


def paths(b: AwsBackend) -> list[Path]:
    h = RoleHandlers(b)
    return [
        Path("roles?/?", operations={L: h.list}, help_synopsis="List the roles of this mount."),
        Path("role/" + generic_name_regex("role"), fields=ROLE_FIELDS,
             operations={R: h.read, U: h.write, D: h.delete}, existence_check=h.exists,
             help_synopsis=ROLE_SYN, help_description=ROLE_DESC),
    ]


class RoleHandlers:
    def __init__(self, b: AwsBackend) -> None:
        self.b = b

    async def list(self, req: Request, data: FieldData) -> Response:
        names = [k for k in await _storage(req).list(ROLE_PREFIX) if not k.endswith("/")]
        return Response.listing(sorted(names))

    async def exists(self, req: Request, data: FieldData) -> bool:
        return await load_role(_storage(req), data.get("role")) is not None

    async def read(self, req: Request, data: FieldData) -> Response | None:
        role = await load_role(_storage(req), data.get("role"))
        return None if role is None else Response(data=role_view(role))

    async def delete(self, req: Request, data: FieldData) -> None:
        await _storage(req).delete(ROLE_PREFIX + data.get("role").lower())

    async def write(self, req: Request, data: FieldData) -> None:
        storage = _storage(req)
        name = data.get("role").lower()
        role = await load_role(storage, name) or AwsRole(name=name)
        _refuse_unsupported(data)
        values: dict[str, Any] = {}
        if data.supplied("auth_type"):
            values["auth_type"] = _auth_type(data.get("auth_type"))
        for key in (*DOCUMENT_BINDINGS, *DESCRIBED_BINDINGS):
            if data.supplied(key):
                values[key] = tuple(data.get(key))
        for key in ("allow_instance_migration", "disallow_reauthentication"):
            if data.supplied(key):
                values[key] = data.get(key)
        role = replace(role, token=role.token.updated(data), **values)
        self._validate(role)
        await put_json(storage, ROLE_PREFIX + name, role.to_json())

    def _validate(self, role: AwsRole) -> None:
        if not any(getattr(role, n) for n in (*DOCUMENT_BINDINGS, *DESCRIBED_BINDINGS)):
            raise InvalidRequest("at least one bound parameter should be specified on the role")
        if role.allow_instance_migration and role.disallow_reauthentication:
            raise InvalidRequest("cannot specify both disallow_reauthentication=true and "
                                 "allow_instance_migration=true")
        if role.needs_describer and self.b.describer is None:
            bound = ", ".join(n for n in DESCRIBED_BINDINGS if getattr(role, n))
            raise InvalidRequest(
                f"{bound} cannot be checked: a VPC, subnet or instance profile is not in the "
                "signed identity document, and this server has no EC2 instance describer "
                "(warden never calls AWS APIs). Bind bound_account_id, bound_region, "
                "bound_ami_id or bound_ec2_instance_id instead.")


def _auth_type(value: str) -> str:
    if value == "iam":
        raise InvalidRequest('auth_type "iam" is not supported: warden implements only the ec2 '
                             "method (identity documents signed by AWS)")
    if value != "ec2":
        raise InvalidRequest('auth_type must be "ec2"')
    return value


def _refuse_unsupported(data: FieldData) -> None:
    for name in UNSUPPORTED:
        if data.supplied(name) and str(data.get(name)).strip():
            raise InvalidRequest(f"{name} is not supported by warden: it belongs to the iam "
                                 "method or to role tags, which warden does not implement")


def role_view(role: AwsRole) -> dict[str, Any]:
    view: dict[str, Any] = {"auth_type": role.auth_type, "role_tag": ""}
    for name in (*DOCUMENT_BINDINGS, *DESCRIBED_BINDINGS):
        view[name] = list(getattr(role, name))
    view["allow_instance_migration"] = role.allow_instance_migration
    view["disallow_reauthentication"] = role.disallow_reauthentication
    return {**view, **role.token.response_data(LEGACY)}


ROLE_SYN = "Create, read, update or delete a role for EC2 instances."
ROLE_DESC = """\
An instance logs in with its PKCS#7-signed identity document. The role binds what
the document says (bound_account_id, bound_region, bound_ami_id,
bound_ec2_instance_id); at least one binding is required. bound_vpc_id,
bound_subnet_id and bound_iam_instance_profile_arn are not in the document and
need an EC2 instance describer; without one (the default: warden never calls AWS
APIs) a role binding them is refused. Only auth_type=ec2 is supported.
"""
