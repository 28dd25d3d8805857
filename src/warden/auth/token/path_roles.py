"""``roles/<name>``: token roles, as in the seed's ``auth/token/roles/k8s-<cluster>``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warden.auth.token.roles import ROLE_PREFIX, TokenRole, load_role, save_role
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.auth.token.backend import TokenBackend

ROLE_FIELDS: dict[str, Field] = {
    "role_name": Field(FieldType.STRING, "The role's name."),
    "allowed_policies": Field(FieldType.COMMA_STRING_SLICE, "Policies tokens may have."),
    "disallowed_policies": Field(FieldType.COMMA_STRING_SLICE, "Policies tokens may never have."),
    "allowed_policies_glob": Field(FieldType.COMMA_STRING_SLICE, "Glob patterns of allowed policies."),
    "disallowed_policies_glob": Field(FieldType.COMMA_STRING_SLICE, "Glob patterns of refused policies."),
    "orphan": Field(FieldType.BOOL, "Tokens have no parent."),
    "renewable": Field(FieldType.BOOL, "Tokens may be renewed.", default=True),
    "period": Field(FieldType.DURATION, "Tokens are periodic with this period."),
    "token_period": Field(FieldType.DURATION, "Newer name of period."),
    "explicit_max_ttl": Field(FieldType.DURATION, "Hard TTL limit of tokens."),
    "token_explicit_max_ttl": Field(FieldType.DURATION, "Newer name of explicit_max_ttl."),
    "path_suffix": Field(FieldType.STRING, "Appended to the token's path (for revoke-prefix)."),
    "token_type": Field(FieldType.STRING, "Type of tokens: service or batch (forced), or "
                        "default-service / default-batch (the request's type, else that one)."),
    "token_bound_cidrs": Field(FieldType.COMMA_STRING_SLICE, "CIDRs the tokens may be used from."),
    "bound_cidrs": Field(FieldType.COMMA_STRING_SLICE, "Older name of token_bound_cidrs."),
    "token_no_default_policy": Field(FieldType.BOOL, "Do not attach the default policy."),
    "token_ttl": Field(FieldType.DURATION, "Default TTL of tokens."),
    "token_num_uses": Field(FieldType.INT, "Use limit of tokens."),
    "allowed_entity_aliases": Field(FieldType.COMMA_STRING_SLICE, "Accepted for compatibility."),
}


def paths(b: TokenBackend) -> list[Path]:
    return [
        Path("roles/?", operations={Operation.LIST: list_roles},
             help_synopsis="List the token roles."),
        Path("roles/" + generic_name_regex("role_name"), fields=ROLE_FIELDS,
             operations={Operation.READ: read_role, Operation.UPDATE: write_role,
                         Operation.DELETE: delete_role},
             existence_check=role_exists,
             help_synopsis="Create, read, update or delete a token role."),
    ]


async def list_roles(req: Request, data: FieldData) -> Response:
    assert req.storage is not None
    return Response.listing(sorted(await req.storage.list(ROLE_PREFIX)))


async def role_exists(req: Request, data: FieldData) -> bool:
    assert req.storage is not None
    return await load_role(req.storage, data.get("role_name")) is not None


async def read_role(req: Request, data: FieldData) -> Response | None:
    assert req.storage is not None
    role = await load_role(req.storage, data.get("role_name"))
    return None if role is None else Response(data=role_view(role))


async def write_role(req: Request, data: FieldData) -> None:
    assert req.storage is not None
    name = data.get("role_name").lower()
    current = await load_role(req.storage, name) or TokenRole(name=name)
    values: dict[str, Any] = current.to_json()

    def take(field: str, key: str | None = None, conv: Any = None) -> None:
        if data.supplied(field):
            value = data.get(field)
            values[key or field] = conv(value) if conv else value

    for field in ("allowed_policies", "disallowed_policies", "allowed_policies_glob",
                  "disallowed_policies_glob"):
        take(field, conv=lambda v: tuple(p.lower() for p in v))
    for field in ("orphan", "renewable", "path_suffix", "token_ttl", "token_num_uses"):
        take(field)
    take("token_no_default_policy", "no_default_policy")
    take("period")
    take("token_period", "period")
    take("explicit_max_ttl")
    take("token_explicit_max_ttl", "explicit_max_ttl")
    take("bound_cidrs", conv=tuple)
    take("token_bound_cidrs", "bound_cidrs", conv=tuple)
    take("allowed_entity_aliases", conv=tuple)
    if data.supplied("token_type"):
        values["token_type"] = _role_token_type(data.get("token_type"))
    if "/" in values["path_suffix"] or ".." in values["path_suffix"]:
        raise InvalidRequest('path_suffix may not contain "/" or ".."')
    if values["token_num_uses"] < 0:
        raise InvalidRequest("token_num_uses cannot be negative")
    role = TokenRole.from_json(values)
    _check_batch_role(role)
    await save_role(req.storage, role)


def _role_token_type(value: str) -> str:
    value = "default-service" if value in ("", "default") else value
    if value not in ("service", "batch", "default-service", "default-batch"):
        raise InvalidRequest(f"invalid 'token_type' value {value!r}: use service, batch, "
                             "default-service or default-batch")
    return value


def _check_batch_role(role: TokenRole) -> None:
    """Vault's rules: a role that forces batch tokens must not promise what they lack."""
    if role.token_type != "batch":
        return
    if not role.orphan:
        raise InvalidRequest("'token_type' cannot be 'batch' when role is set to generate "
                             "non-orphan tokens")
    if role.period:
        raise InvalidRequest("'token_type' cannot be 'batch' when role is set to generate "
                             "periodic tokens")
    if role.renewable:
        raise InvalidRequest("'token_type' cannot be 'batch' when role is set to generate "
                             "renewable tokens")
    if role.explicit_max_ttl:
        raise InvalidRequest("'token_type' cannot be 'batch' when role is set to generate "
                             "tokens with an explicit max TTL")
    if role.token_num_uses:
        raise InvalidRequest("'token_type' cannot be 'batch' when role is set to generate "
                             "tokens with limited use count")


async def delete_role(req: Request, data: FieldData) -> None:
    assert req.storage is not None
    await req.storage.delete(ROLE_PREFIX + data.get("role_name").lower())


def role_view(role: TokenRole) -> dict[str, Any]:
    return {
        "name": role.name,
        "allowed_policies": list(role.allowed_policies),
        "disallowed_policies": list(role.disallowed_policies),
        "allowed_policies_glob": list(role.allowed_policies_glob),
        "disallowed_policies_glob": list(role.disallowed_policies_glob),
        "orphan": role.orphan,
        "renewable": role.renewable,
        "period": role.period,
        "token_period": role.period,
        "explicit_max_ttl": role.explicit_max_ttl,
        "token_explicit_max_ttl": role.explicit_max_ttl,
        "path_suffix": role.path_suffix,
        "token_type": role.token_type,
        "token_bound_cidrs": list(role.bound_cidrs),
        "token_no_default_policy": role.no_default_policy,
        "token_ttl": role.token_ttl,
        "token_num_uses": role.token_num_uses,
        "allowed_entity_aliases": list(role.allowed_entity_aliases),
    }
