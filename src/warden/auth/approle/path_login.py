"""``login``: exchange a role ID and secret ID for a token; and renewal of such tokens."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warden.auth.approle.roles import RoleEntry, load_role, role_name_for_id, storage_of
from warden.auth.approle.secret_ids import SecretIdEntry, SecretIdStore, Spend
from warden.auth.tokenutil import cidrs_subset
from warden.framework import Field, FieldData, FieldType, Path
from warden.framework.net import addr_in_cidrs
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Auth, Response

if TYPE_CHECKING:
    from warden.auth.approle.backend import AppRoleBackend

INVALID = "invalid role or secret ID"

LOGIN_FIELDS: dict[str, Field] = {
    "role_id": Field(FieldType.STRING, "The role ID of the AppRole."),
    "secret_id": Field(FieldType.STRING, "A secret ID of the AppRole (if it binds secret IDs)."),
}


def paths(b: AppRoleBackend) -> list[Path]:
    return [Path("login/?", fields=LOGIN_FIELDS, operations={Operation.UPDATE: Login(b).login},
                 help_synopsis=LOGIN_SYN, help_description=LOGIN_DESC)]


@dataclass(frozen=True, slots=True)
class _Redeemed:
    """What a valid secret ID contributes to the token."""

    accessor: str = ""
    metadata: dict[str, str] | None = None
    token_bound_cidrs: tuple[str, ...] = ()


class Login:
    def __init__(self, b: AppRoleBackend) -> None:
        self.b = b

    async def login(self, req: Request, data: FieldData) -> Response:
        storage = storage_of(req)
        role_id = data.get("role_id")
        if not role_id:
            raise InvalidRequest("missing role_id")
        key = await self.b.key(storage)
        name = await role_name_for_id(storage, key, role_id)
        role = await load_role(storage, name) if name else None
        if role is None or not hmac.compare_digest(role.role_id.encode(), role_id.encode()):
            raise InvalidRequest(INVALID)
        addr = req.connection.remote_addr
        if role.secret_id_bound_cidrs and not addr_in_cidrs(addr, role.secret_id_bound_cidrs):
            raise InvalidRequest(
                f'source address "{addr}" unauthorized through CIDR restrictions on the role')
        redeemed = _Redeemed()
        if role.bind_secret_id:
            secret_id = data.get("secret_id")
            if not secret_id:
                raise InvalidRequest("missing secret_id")
            redeemed = await self._redeem(req, role, SecretIdStore(storage, key), secret_id)
        auth = role.token.to_auth(
            display_name="",
            metadata={**(redeemed.metadata or {}), "role_name": role.name},
            internal_data={"role_name": role.name,
                           "role_id_hmac": key.digest("role_id", role.role_id),
                           "secret_id_accessor": redeemed.accessor},
            bound_cidrs=redeemed.token_bound_cidrs or role.token.bound_cidrs,
        )
        return Response(auth=auth)

    async def _redeem(self, req: Request, role: RoleEntry, store: SecretIdStore,
                      secret_id: str) -> _Redeemed:
        """Check a secret ID and spend one of its uses, atomically in the store."""
        sid_hmac = store.hmac_of(secret_id)
        now = self.b.now()
        addr = req.connection.remote_addr

        def spend(entry: SecretIdEntry | None) -> Spend:
            if entry is None:
                return Spend.refuse()
            if entry.expired(now):
                return Spend.destroy_and_refuse(entry)
            _check_source(entry, role, addr)
            return Spend.use(entry, now)

        # The role lock only queues this process's logins; the store's check-and-set
        # makes the use count hold across processes and nodes.
        async with self.b.role_lock(role.name):
            entry = await store.spend(role.name, sid_hmac, spend)
        if entry is None:
            raise InvalidRequest(INVALID)
        return _Redeemed(entry.accessor, dict(entry.metadata), entry.token_bound_cidrs)


def _check_source(entry: SecretIdEntry, role: RoleEntry, addr: str) -> None:
    """Checked before a use is spent, so a caller from the wrong network burns nothing."""
    if not entry.cidr_list:
        return
    if role.secret_id_bound_cidrs and not cidrs_subset(entry.cidr_list, role.secret_id_bound_cidrs):
        raise InvalidRequest("the secret ID's CIDR blocks are no longer a subset of the role's "
                             "secret_id_bound_cidrs")
    if not addr_in_cidrs(addr, entry.cidr_list):
        raise InvalidRequest(
            f'source address "{addr}" unauthorized through CIDR restrictions on the secret ID')


def renewer(b: AppRoleBackend) -> Callable[[Request], Awaitable[Auth]]:
    async def renew(req: Request) -> Auth:
        """The role must still exist with the same role ID; its current TTLs apply."""
        if req.auth is None:
            raise InvalidRequest("renewal needs the token's login data")
        storage = storage_of(req)
        name = str(req.auth.internal_data.get("role_name", ""))
        role = await load_role(storage, name) if name else None
        if role is None:
            raise InvalidRequest(f'role "{name}" no longer exists; not renewing')
        digest = (await b.key(storage)).digest("role_id", role.role_id)
        issued = str(req.auth.internal_data.get("role_id_hmac", ""))
        if not hmac.compare_digest(digest.encode(), issued.encode()):
            raise InvalidRequest(f'the role ID of role "{name}" changed since login; not renewing')
        return role.token.renewal(req.auth)

    return renew


LOGIN_SYN = "Log in with a role ID and a secret ID."
LOGIN_DESC = """\
Issues a token with the role's token settings. role_id is always required; secret_id
is required when the role binds secret IDs (the default). Each login spends one use of
a limited secret ID; the source address must match any CIDR restrictions. Failed logins
say only "invalid role or secret ID".
"""
