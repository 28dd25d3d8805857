"""Secret-ids of a role: generate, push a custom one, list, look up, destroy, tidy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from warden.auth.approle.roles import RoleEntry, list_roles, load_role, storage_of
from warden.auth.approle.secret_ids import SecretIdEntry, SecretIdStore
from warden.auth.tokenutil import check_cidrs, cidrs_subset
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.auth.approle.backend import AppRoleBackend

U, D, L = Operation.UPDATE, Operation.DELETE, Operation.LIST
ROLE_NAME = Field(FieldType.STRING, "Name of the AppRole.")
SECRET_ID = Field(FieldType.STRING, "The secret ID.")
ACCESSOR = Field(FieldType.STRING, "The accessor of a secret ID (safe to log and share).")

ISSUE_FIELDS: dict[str, Field] = {
    "role_name": ROLE_NAME,
    "metadata": Field(
        FieldType.MAP,
        "Key-value pairs (a JSON object, or a string holding one) copied into the metadata of "
        "tokens issued with this secret ID. They appear in audit logs in plain text."),
    "cidr_list": Field(
        FieldType.COMMA_STRING_SLICE,
        "CIDR blocks from which this secret ID may be used; a subset of the role's "
        "secret_id_bound_cidrs when those are set."),
    "token_bound_cidrs": Field(
        FieldType.COMMA_STRING_SLICE,
        "CIDR blocks from which tokens issued with this secret ID may be used; overrides the "
        "role's token_bound_cidrs and must be a subset of them."),
    "num_uses": Field(
        FieldType.INT, "Logins this secret ID allows (0 unlimited); at most the role's limit."),
    "ttl": Field(
        FieldType.DURATION, "Lifetime of this secret ID (0 never expires); at most the role's."),
}
CUSTOM_FIELDS: dict[str, Field] = {**ISSUE_FIELDS, "secret_id": SECRET_ID}


def paths(b: AppRoleBackend) -> list[Path]:
    h = SecretIdHandlers(b)
    role = "role/" + generic_name_regex("role_name")
    by_value = {"role_name": ROLE_NAME, "secret_id": SECRET_ID}
    by_accessor = {"role_name": ROLE_NAME, "secret_id_accessor": ACCESSOR}
    return [
        Path(f"{role}/secret-id/lookup/?", fields=by_value, operations={U: h.lookup},
             help_synopsis="Read the properties of a secret ID (never the secret ID itself)."),
        Path(f"{role}/secret-id/destroy/?", fields=by_value,
             operations={U: h.destroy, D: h.destroy},
             help_synopsis="Destroy a secret ID so it can no longer log in."),
        Path(f"{role}/secret-id-accessor/lookup/?", fields=by_accessor,
             operations={U: h.lookup_accessor},
             help_synopsis="Read the properties of a secret ID by its accessor."),
        Path(f"{role}/secret-id-accessor/destroy/?", fields=by_accessor,
             operations={U: h.destroy_accessor, D: h.destroy_accessor},
             help_synopsis="Destroy a secret ID by its accessor."),
        Path(f"{role}/secret-id/?", fields=ISSUE_FIELDS,
             operations={U: h.generate, L: h.list_accessors},
             help_synopsis=GENERATE_SYN, help_description=GENERATE_DESC),
        Path(f"{role}/custom-secret-id/?", fields=CUSTOM_FIELDS, operations={U: h.custom},
             help_synopsis=CUSTOM_SYN, help_description=CUSTOM_DESC),
        Path("tidy/secret-id/?", operations={U: h.tidy},
             help_synopsis=TIDY_SYN, help_description=TIDY_DESC),
    ]


class SecretIdHandlers:
    def __init__(self, b: AppRoleBackend) -> None:
        self.b = b

    async def _store(self, req: Request) -> SecretIdStore:
        storage = storage_of(req)
        return SecretIdStore(storage, await self.b.key(storage))

    async def _role(self, req: Request, data: FieldData) -> RoleEntry:
        role = await load_role(storage_of(req), data.get("role_name"))
        if role is None:
            raise InvalidRequest(f'role "{data.get("role_name")}" does not exist')
        return role

    async def generate(self, req: Request, data: FieldData) -> Response:
        return await self._issue(req, data, self.b.new_uuid())

    async def custom(self, req: Request, data: FieldData) -> Response:
        secret_id = data.get("secret_id")
        if not secret_id:
            raise InvalidRequest("missing secret_id")
        return await self._issue(req, data, secret_id)

    async def _issue(self, req: Request, data: FieldData, secret_id: str) -> Response:
        store = await self._store(req)
        role = await self._role(req, data)
        if not role.bind_secret_id:
            raise InvalidRequest("bind_secret_id is not set on the role: it takes no secret IDs")
        now = self.b.now()
        ttl, num_uses = _ttl(role, data), _num_uses(role, data)
        entry = SecretIdEntry(
            accessor=self.b.new_uuid(),
            creation_time=now,
            last_updated_time=now,
            metadata=_metadata(data.get("metadata")),
            cidr_list=_bounded_cidrs(data, "cidr_list", role.secret_id_bound_cidrs,
                                     "secret_id_bound_cidrs"),
            token_bound_cidrs=_bounded_cidrs(data, "token_bound_cidrs", role.token.bound_cidrs,
                                             "token_bound_cidrs"),
            num_uses=num_uses,
            ttl=ttl,
            expiration_time=now + ttl if ttl else 0.0,
        )
        async with self.b.role_lock(role.name):
            if await load_role(storage_of(req), role.name) is None:
                raise InvalidRequest(f'role "{role.name}" was deleted')
            if not await store.create(role.name, secret_id, entry):
                raise InvalidRequest("this secret ID is already registered on the role")
        return Response(data={
            "secret_id": secret_id,
            "secret_id_accessor": entry.accessor,
            "secret_id_ttl": ttl,
            "secret_id_num_uses": num_uses,
        })

    async def list_accessors(self, req: Request, data: FieldData) -> Response:
        role = await self._role(req, data)
        store = await self._store(req)
        return Response.listing(sorted(e.accessor for _, e in await store.entries(role.name)))

    async def lookup(self, req: Request, data: FieldData) -> Response | None:
        role, store = await self._role(req, data), await self._store(req)
        entry = await store.get(role.name, store.hmac_of(_required(data, "secret_id")))
        if entry is None or entry.expired(self.b.now()):
            return None
        return Response(data=entry.view())

    async def destroy(self, req: Request, data: FieldData) -> None:
        role, store = await self._role(req, data), await self._store(req)
        sid_hmac = store.hmac_of(_required(data, "secret_id"))
        async with self.b.role_lock(role.name):
            entry = await store.get(role.name, sid_hmac)
            if entry is not None:
                await store.destroy(role.name, sid_hmac, entry)

    async def lookup_accessor(self, req: Request, data: FieldData) -> Response:
        role, store = await self._role(req, data), await self._store(req)
        found = await store.by_accessor(role.name, _required(data, "secret_id_accessor"))
        if found is None:
            raise InvalidRequest(f'no secret ID with this accessor exists on role "{role.name}"')
        return Response(data=found[1].view())

    async def destroy_accessor(self, req: Request, data: FieldData) -> None:
        role, store = await self._role(req, data), await self._store(req)
        async with self.b.role_lock(role.name):
            found = await store.by_accessor(role.name, _required(data, "secret_id_accessor"))
            if found is None:
                raise InvalidRequest(
                    f'no secret ID with this accessor exists on role "{role.name}"')
            await store.destroy(role.name, *found)

    async def tidy(self, req: Request, data: FieldData) -> Response:
        store = await self._store(req)
        counts = await store.tidy(await list_roles(storage_of(req)), self.b.now())
        return Response(data=counts, warnings=[
            "Tidy operation finished: expired secret IDs and dangling entries were removed."])


def _required(data: FieldData, name: str) -> str:
    value = str(data.get(name))
    if not value:
        raise InvalidRequest(f"missing {name}")
    return value


def _ttl(role: RoleEntry, data: FieldData) -> int:
    ttl, supplied = data.get_ok("ttl")
    if not supplied:
        return role.secret_id_ttl
    if role.secret_id_ttl and (ttl == 0 or ttl > role.secret_id_ttl):
        raise InvalidRequest("ttl cannot be longer than the role's secret_id_ttl")
    return int(ttl)


def _num_uses(role: RoleEntry, data: FieldData) -> int:
    uses, supplied = data.get_ok("num_uses")
    if not supplied:
        return role.secret_id_num_uses
    if uses < 0:
        raise InvalidRequest("num_uses cannot be negative")
    if role.secret_id_num_uses and (uses == 0 or uses > role.secret_id_num_uses):
        raise InvalidRequest("num_uses cannot be higher than the role's secret_id_num_uses")
    return int(uses)


def _bounded_cidrs(data: FieldData, field: str, role_cidrs: tuple[str, ...],
                   role_field: str) -> tuple[str, ...]:
    cidrs = tuple(check_cidrs(data.get(field), field))
    if cidrs and role_cidrs and not cidrs_subset(cidrs, role_cidrs):
        raise InvalidRequest(f"{field} must be a subset of the role's {role_field}")
    return cidrs


def _metadata(raw: Mapping[str, Any]) -> dict[str, str]:
    for key, value in raw.items():
        if not isinstance(value, str):
            raise InvalidRequest(f'metadata values must be strings; the value of "{key}" is not')
    return dict(raw)


GENERATE_SYN = "Generate a secret ID for the role, or list the accessors of its secret IDs."
GENERATE_DESC = """\
A new secret ID is random, is shown only in this response (ask for it response-wrapped
with X-Vault-Wrap-TTL), and is stored only as an HMAC. Its accessor can be used to
look it up or destroy it later. ttl and num_uses default to the role's
secret_id_ttl and secret_id_num_uses and may not exceed them.
"""
CUSTOM_SYN = "Register a secret ID chosen by the caller (the push model)."
CUSTOM_DESC = """\
Like generating a secret ID, but with the value supplied in secret_id. Values must be
unique per role; the same rules for metadata, CIDRs, ttl and num_uses apply.
"""
TIDY_SYN = "Remove expired secret IDs and index entries left dangling."
TIDY_DESC = """\
Runs at once and reports how many entries it removed: expired secret IDs, secret IDs of
deleted roles, and accessor entries whose secret ID is gone.
"""
