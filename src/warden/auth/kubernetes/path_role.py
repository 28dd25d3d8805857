"""``role`` and ``role/<name>``: which service accounts may log in, and their tokens."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from warden.auth.kubernetes.serviceaccount import ServiceAccount, matches_any
from warden.auth.tokenutil import TokenParams, role_from_json, role_to_json, token_fields
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage, get_json, put_json

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST
ROLE_PREFIX = "role/"
SCHEMA_VERSION = 1
LEGACY = ("policies", "ttl", "max_ttl", "period", "num_uses", "bound_cidrs")
ALIAS_SOURCES = ("serviceaccount_uid", "serviceaccount_name")
# Kubernetes object names (DNS subdomains), plus "*" for globs.
_BINDING = re.compile(r"^[a-z0-9*]([a-z0-9.*-]{0,251}[a-z0-9*])?$")

ROLE_FIELDS: dict[str, Field] = {
    "name": Field(FieldType.STRING, "Name of the role."),
    "bound_service_account_names": Field(
        FieldType.COMMA_STRING_SLICE,
        'Service account names that may log in; "*" for any, or globs such as "app-*".'),
    "bound_service_account_namespaces": Field(
        FieldType.COMMA_STRING_SLICE,
        'Namespaces whose service accounts may log in; "*" for any, or globs such as "dev-*".'),
    "audience": Field(
        FieldType.STRING, "An audience the JWT must carry (checked by TokenReview or locally)."),
    "bound_service_account_namespace_selector": Field(
        FieldType.STRING, "Not supported (it needs namespace reads from the API server); "
        "refused when set. List namespaces or globs instead."),
    "alias_name_source": Field(
        FieldType.STRING, "How an identity alias would be named: serviceaccount_uid (default) "
        "or serviceaccount_name.", allowed_values=ALIAS_SOURCES),
    **token_fields(LEGACY),
}


@dataclass(frozen=True, slots=True)
class KubeRole:
    name: str
    bound_service_account_names: tuple[str, ...] = ()
    bound_service_account_namespaces: tuple[str, ...] = ()
    audience: str = ""
    alias_name_source: str = "serviceaccount_uid"
    token: TokenParams = field(default_factory=TokenParams)
    schema_version: int = SCHEMA_VERSION

    def refusal(self, sa: ServiceAccount) -> str:
        """Why this role does not admit ``sa``; "" when it does."""
        if not matches_any(self.bound_service_account_names, sa.name):
            return f'service account name "{sa.name}" is not authorized by role "{self.name}"'
        if not matches_any(self.bound_service_account_namespaces, sa.namespace):
            return f'namespace "{sa.namespace}" is not authorized by role "{self.name}"'
        return ""

    def to_json(self) -> dict[str, Any]:
        return role_to_json(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KubeRole:
        return role_from_json(
            cls, data, schema_version=SCHEMA_VERSION,
            tuples=("bound_service_account_names", "bound_service_account_namespaces"))


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the kubernetes backend without its mount storage")
    return req.storage


async def load_role(storage: Storage, name: str) -> KubeRole | None:
    data = await get_json(storage, ROLE_PREFIX + name.lower())
    return None if data is None else KubeRole.from_json(data)


def paths() -> list[Path]:
    return [
        Path("role/?", operations={L: list_roles}, help_synopsis="List the roles of this mount."),
        Path("role/" + generic_name_regex("name"), fields=ROLE_FIELDS,
             operations={R: read_role, U: write_role, D: delete_role}, existence_check=role_exists,
             help_synopsis=ROLE_SYN, help_description=ROLE_DESC),
    ]


async def list_roles(req: Request, data: FieldData) -> Response:
    names = [k for k in await _storage(req).list(ROLE_PREFIX) if not k.endswith("/")]
    return Response.listing(sorted(names))


async def role_exists(req: Request, data: FieldData) -> bool:
    return await load_role(_storage(req), data.get("name")) is not None


async def read_role(req: Request, data: FieldData) -> Response | None:
    role = await load_role(_storage(req), data.get("name"))
    return None if role is None else Response(data=role_view(role))


async def delete_role(req: Request, data: FieldData) -> None:
    await _storage(req).delete(ROLE_PREFIX + data.get("name").lower())


async def write_role(req: Request, data: FieldData) -> Response | None:
    storage = _storage(req)
    name = data.get("name").lower()
    role = await load_role(storage, name) or KubeRole(name=name)
    if data.get("bound_service_account_namespace_selector").strip():
        raise InvalidRequest("bound_service_account_namespace_selector is not supported by warden; "
                             "use bound_service_account_namespaces (globs like \"dev-*\" work)")
    values: dict[str, Any] = {}
    for key in ("bound_service_account_names", "bound_service_account_namespaces"):
        if data.supplied(key):
            values[key] = tuple(_bindings(data.get(key), key))
    for key in ("audience", "alias_name_source"):
        if data.supplied(key):
            values[key] = data.get(key).strip()
    role = replace(role, token=role.token.updated(data), **values)
    _check_bindings(role)
    await put_json(storage, ROLE_PREFIX + name, role.to_json())
    if role.bound_service_account_names == ("*",) and role.bound_service_account_namespaces == ("*",):
        # Vault accepts it (hvac's suite expects that); say what it means.
        return Response(warnings=[
            f'role "{name}" lets any service account in any namespace of the cluster log in; '
            "narrow bound_service_account_names or bound_service_account_namespaces unless "
            "that is intended"])
    return None


def _bindings(values: list[str], field: str) -> list[str]:
    for value in values:
        if not _BINDING.match(value):
            raise InvalidRequest(f'{field}: "{value}" is not a Kubernetes name or a glob of one')
    if len(values) > 1 and "*" in values:
        raise InvalidRequest(f'{field}: can not mix "*" with values')
    return values


def _check_bindings(role: KubeRole) -> None:
    if not role.bound_service_account_names:
        raise InvalidRequest('"bound_service_account_names" can not be empty')
    if not role.bound_service_account_namespaces:
        raise InvalidRequest('"bound_service_account_namespaces" can not be empty')


def role_view(role: KubeRole) -> dict[str, Any]:
    return {
        "bound_service_account_names": list(role.bound_service_account_names),
        "bound_service_account_namespaces": list(role.bound_service_account_namespaces),
        "audience": role.audience,
        "alias_name_source": role.alias_name_source,
        **role.token.response_data(LEGACY),
    }


ROLE_SYN = "Create, read, update or delete a role binding service accounts to token settings."
ROLE_DESC = """\
A login names a role; the JWT's service account must match one of
bound_service_account_names and its namespace one of
bound_service_account_namespaces ("*" alone, or globs like "dev-*"). Both "*" is
allowed, with a warning: any service account of the cluster may then log in.
When audience is set, the JWT must carry it.
"""
