"""``role``, ``role/<name>`` and ``role/<name>/role-id``: managing AppRoles."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from warden.auth.approle.roles import (
    RoleEntry,
    delete_role,
    list_roles,
    load_role,
    role_name_for_id,
    save_role,
    storage_of,
)
from warden.auth.approle.secret_ids import SecretIdStore
from warden.auth.tokenutil import TokenParams, check_cidrs, token_fields
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.auth.approle.backend import AppRoleBackend

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST
LEGACY = ("policies", "period")
ROLE_NAME = Field(FieldType.STRING, "Name of the AppRole (letters, digits, '_', '-', '.').")

ROLE_FIELDS: dict[str, Field] = {
    "role_name": ROLE_NAME,
    "role_id": Field(FieldType.STRING, "Identifier of the role; a random UUID when not given."),
    "bind_secret_id": Field(
        FieldType.BOOL, "Require a secret_id to be presented at login.", default=True),
    "secret_id_bound_cidrs": Field(
        FieldType.COMMA_STRING_SLICE,
        "CIDR blocks from which logins with this role's secret IDs may come."),
    "secret_id_num_uses": Field(
        FieldType.INT, "Default number of logins a secret ID allows; 0 is unlimited."),
    "secret_id_ttl": Field(
        FieldType.DURATION, "Default lifetime of a secret ID, e.g. 10m; 0 never expires."),
    **token_fields(LEGACY),
}


def paths(b: AppRoleBackend) -> list[Path]:
    h = RoleHandlers(b)
    name = generic_name_regex("role_name")
    return [
        Path("role/?", operations={L: h.list},
             help_synopsis=LIST_SYN, help_description=LIST_DESC),
        Path(f"role/{name}/role-id",
             fields={"role_name": ROLE_NAME,
                     "role_id": Field(FieldType.STRING, "The new role ID (must be unique).")},
             operations={R: h.read_role_id, U: h.write_role_id},
             help_synopsis=ROLE_ID_SYN, help_description=ROLE_ID_DESC),
        Path(f"role/{name}", fields=ROLE_FIELDS,
             operations={R: h.read, U: h.write, D: h.delete}, existence_check=h.exists,
             help_synopsis=ROLE_SYN, help_description=ROLE_DESC),
    ]


class RoleHandlers:
    def __init__(self, b: AppRoleBackend) -> None:
        self.b = b

    async def list(self, req: Request, data: FieldData) -> Response:
        return Response.listing(await list_roles(storage_of(req)))

    async def exists(self, req: Request, data: FieldData) -> bool:
        return await load_role(storage_of(req), data.get("role_name")) is not None

    async def read(self, req: Request, data: FieldData) -> Response | None:
        role = await load_role(storage_of(req), data.get("role_name"))
        return None if role is None else Response(data=role_view(role))

    async def write(self, req: Request, data: FieldData) -> None:
        storage = storage_of(req)
        name = data.get("role_name").lower()
        async with self.b.index_lock:
            current = await load_role(storage, name)
            role = current or RoleEntry(name=name, role_id=self.b.new_uuid())
            role = _apply(role, data)
            if data.supplied("role_id"):
                role = replace(role, role_id=_role_id(data))
            await self._check_role_id_free(req, role)
            await save_role(storage, await self.b.key(storage), role, current)

    async def delete(self, req: Request, data: FieldData) -> None:
        storage = storage_of(req)
        name = data.get("role_name").lower()
        key = await self.b.key(storage)
        async with self.b.index_lock, self.b.role_lock(name):
            role = await load_role(storage, name)
            if role is None:
                return
            await SecretIdStore(storage, key).destroy_all(name)
            await delete_role(storage, key, role)

    async def read_role_id(self, req: Request, data: FieldData) -> Response | None:
        role = await load_role(storage_of(req), data.get("role_name"))
        return None if role is None else Response(data={"role_id": role.role_id})

    async def write_role_id(self, req: Request, data: FieldData) -> None:
        storage = storage_of(req)
        async with self.b.index_lock:
            current = await load_role(storage, data.get("role_name"))
            if current is None:
                raise InvalidRequest(f'role "{data.get("role_name")}" does not exist')
            role = replace(current, role_id=_role_id(data))
            await self._check_role_id_free(req, role)
            await save_role(storage, await self.b.key(storage), role, current)

    async def _check_role_id_free(self, req: Request, role: RoleEntry) -> None:
        storage = storage_of(req)
        owner = await role_name_for_id(storage, await self.b.key(storage), role.role_id)
        if owner is not None and owner != role.name:
            raise InvalidRequest("role_id already in use by another role")


def _role_id(data: FieldData) -> str:
    role_id = str(data.get("role_id")).strip()
    if not role_id:
        raise InvalidRequest("missing role_id")
    return role_id


def _apply(role: RoleEntry, data: FieldData) -> RoleEntry:
    """The role with every supplied field applied, validated as a whole."""
    values: dict[str, Any] = {}
    for field in ("bind_secret_id", "secret_id_num_uses", "secret_id_ttl"):
        if data.supplied(field):
            values[field] = data.get(field)
    if data.supplied("secret_id_bound_cidrs"):
        values["secret_id_bound_cidrs"] = tuple(
            check_cidrs(data.get("secret_id_bound_cidrs"), "secret_id_bound_cidrs"))
    updated = replace(role, token=role.token.updated(data), **values)
    if updated.secret_id_num_uses < 0:
        raise InvalidRequest("secret_id_num_uses cannot be negative")
    if not (updated.bind_secret_id or updated.secret_id_bound_cidrs or updated.token.bound_cidrs):
        raise InvalidRequest("at least one constraint should be enabled on the role: "
                             "bind_secret_id, secret_id_bound_cidrs or token_bound_cidrs")
    return updated


def role_view(role: RoleEntry) -> dict[str, Any]:
    token: TokenParams = role.token
    return {
        "bind_secret_id": role.bind_secret_id,
        "secret_id_bound_cidrs": list(role.secret_id_bound_cidrs),
        "secret_id_num_uses": role.secret_id_num_uses,
        "secret_id_ttl": role.secret_id_ttl,
        "local_secret_ids": False,
        **token.response_data(LEGACY),
    }


LIST_SYN = "List the AppRoles of this mount."
LIST_DESC = "Returns the names of all roles; use role/<name> to read one."
ROLE_SYN = "Create, read, update or delete an AppRole."
ROLE_DESC = """\
A role binds logins to constraints (a secret ID, source CIDRs) and says what the
issued tokens look like (policies, TTLs, use limits, CIDR binding). At least one
constraint must stay enabled.
"""
ROLE_ID_SYN = "Read the role ID of an AppRole, or set a custom one."
ROLE_ID_DESC = """\
The role ID identifies the role at login. It is not secret on its own but must be
unique across the roles of the mount.
"""
