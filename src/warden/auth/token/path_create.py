"""``create``, ``create-orphan`` and ``create/<role>``: minting child tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.auth.token.roles import TokenRole, load_role
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Auth, Response
from warden.logical.tokens import TokenEntry, TokenSpec

if TYPE_CHECKING:
    from warden.auth.token.backend import TokenBackend

CREATE_FIELDS: dict[str, Field] = {
    "id": Field(FieldType.STRING, "A custom token value (root only)."),
    "policies": Field(FieldType.COMMA_STRING_SLICE, "Policies for the token; default: the caller's."),
    "meta": Field(FieldType.KV_PAIRS, "Metadata kept with the token and shown in the audit log."),
    "no_parent": Field(FieldType.BOOL, "Create an orphan (needs root or sudo)."),
    "no_default_policy": Field(FieldType.BOOL, "Do not attach the default policy."),
    "renewable": Field(FieldType.BOOL, "Whether the token may be renewed.", default=True),
    "lease": Field(FieldType.DURATION, "Older name of ttl."),
    "ttl": Field(FieldType.DURATION, "Initial TTL, e.g. 1h."),
    "type": Field(FieldType.STRING, 'Token type: "service" or "batch"; default: the role\'s, '
                  "else service. Batch tokens are not stored: not renewable, not revocable, "
                  "no children, no accessor."),
    "explicit_max_ttl": Field(FieldType.DURATION, "A hard limit the token can never renew past."),
    "display_name": Field(FieldType.STRING, "Shown in lookups and audit records."),
    "num_uses": Field(FieldType.INT, "How many requests the token may make; 0 is unlimited."),
    "period": Field(FieldType.DURATION, "Make a periodic token that renews to this TTL forever."),
    "entity_alias": Field(FieldType.STRING, "Accepted for compatibility; entities are not kept."),
    "role_name": Field(FieldType.STRING, "The token role to create the token under."),
}


def paths(b: TokenBackend) -> list[Path]:
    creator = TokenCreator(b)
    return [
        Path("create-orphan", fields=CREATE_FIELDS,
             operations={Operation.UPDATE: creator.create_orphan},
             help_synopsis="Create an orphan token (no parent)."),
        Path("create/" + generic_name_regex("role_name"), fields=CREATE_FIELDS,
             operations={Operation.UPDATE: creator.create},
             help_synopsis="Create a token under a token role."),
        Path("create", fields=CREATE_FIELDS, operations={Operation.UPDATE: creator.create},
             help_synopsis="Create a child token of the calling token."),
    ]


class TokenCreator:
    def __init__(self, b: TokenBackend) -> None:
        self.b = b

    async def create_orphan(self, req: Request, data: FieldData) -> Response:
        return await self._create(req, data, force_orphan=True)

    async def create(self, req: Request, data: FieldData) -> Response:
        return await self._create(req, data, force_orphan=False)

    async def _create(self, req: Request, data: FieldData, *, force_orphan: bool) -> Response:
        parent = await self.b.caller_entry(req)
        if parent.num_uses:
            # Any child, orphan or not, would escape the parent's use limit (Vault's rule).
            # Non-zero, not positive: the core already spent this request's use, and the
            # last one leaves the entry marked spent (-1).
            raise InvalidRequest("restricted use token cannot generate child tokens")
        if parent.token_type == "batch":
            raise InvalidRequest("batch tokens cannot create more tokens")
        role = await self._role(req, data)
        sudo = parent.is_root or await self.b.system.sudo_privilege(
            req.mount_point + req.path, parent.policies)
        token_type = _token_type(data, role)
        if data.get("id") and not parent.is_root:
            raise PermissionDenied("root or sudo privileges required to specify token id")
        if data.get("no_parent") and not sudo:
            raise PermissionDenied("root or sudo privileges required to create orphan token")
        if data.get("num_uses") < 0:
            raise InvalidRequest("number of uses cannot be negative")
        period = role.period if role else 0
        if data.supplied("period") and data.get("period"):
            if not sudo and not role:
                raise PermissionDenied("root or sudo privileges required to create periodic token")
            period = period or data.get("period")
        policies = self._policies(data, parent, role, sudo)
        warnings: list[str] = []
        if token_type == "batch":
            if "root" in policies:
                raise InvalidRequest("batch tokens cannot be root tokens")
            if data.get("id"):
                warnings.append("id is ignored for batch tokens: their value is their sealed "
                                "contents")
        spec = TokenSpec(
            policies=tuple(policies),
            path=self._path(req, role),
            display_name=_display_name(data.get("display_name")),
            meta=data.get("meta"),
            ttl=data.get("ttl") or data.get("lease") or (role.token_ttl if role else 0),
            explicit_max_ttl=_min_nonzero(
                data.get("explicit_max_ttl"), role.explicit_max_ttl if role else 0),
            period=period,
            num_uses=data.get("num_uses") or (role.token_num_uses if role else 0),
            renewable=(data.get("renewable") and (role.renewable if role else True)
                       and token_type != "batch"),
            orphan=force_orphan or data.get("no_parent") or bool(role and role.orphan),
            role=role.name if role else "",
            token_type=token_type,
            bound_cidrs=role.bound_cidrs if role else (),
            token_id="" if token_type == "batch" else data.get("id"),
            max_ttl=req.mount.max_lease_ttl,
        )
        token, entry = await self.b.store.create(spec, parent=None if spec.orphan else parent)
        return Response(auth=auth_block(token, entry, self.b.system.clock.time()),
                        warnings=warnings)

    async def _role(self, req: Request, data: FieldData) -> TokenRole | None:
        name = data.get("role_name")
        if not name:
            return None
        assert req.storage is not None
        role = await load_role(req.storage, name)
        if role is None:
            raise InvalidRequest(f'unknown role "{name}"')
        return role

    def _policies(
        self, data: FieldData, parent: TokenEntry, role: TokenRole | None, sudo: bool
    ) -> list[str]:
        requested = [p.lower() for p in data.get("policies")]
        no_default = data.get("no_default_policy") or bool(role and role.no_default_policy)
        if not requested:
            if role and role.allowed_policies:
                requested = list(role.allowed_policies)
            else:
                requested = [p for p in parent.policies if not (no_default and p == "default")]
        if "root" in requested and not parent.is_root:
            raise PermissionDenied("root tokens can only be created by root tokens")
        if role is not None:
            role.check_policies(requested)
        elif not sudo:
            extra = sorted(set(requested) - set(parent.policies) - {"default"})
            if extra:
                raise PermissionDenied(
                    "child policies must be subset of parent's policies: " + ", ".join(extra))
        policies = set(requested)
        if not no_default and "root" not in policies:
            policies.add("default")
        if no_default:
            policies.discard("default")
        return sorted(policies)

    def _path(self, req: Request, role: TokenRole | None) -> str:
        path = req.mount_point + req.path
        if role is not None and role.path_suffix:
            path += "/" + role.path_suffix
        return path


def _token_type(data: FieldData, role: TokenRole | None) -> str:
    """Vault's rules: the role may force a type, or default one the request can override."""
    requested = data.get("type")
    if requested not in ("", "service", "batch"):
        raise InvalidRequest("invalid 'token_type' value: use \"service\" or \"batch\"")
    setting = role.token_type if role is not None else "default-service"
    if setting in ("service", "batch"):
        token_type = setting
    elif setting == "default-batch":
        token_type = requested or "batch"
    else:
        token_type = requested or "service"
    if token_type == "batch":
        for name in ("explicit_max_ttl", "num_uses", "period"):
            if data.get(name):
                raise InvalidRequest(f'batch tokens cannot have "{name}" set')
    return token_type


def _display_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name.strip().lower())
    return f"token-{cleaned}" if cleaned else "token"


def _min_nonzero(*values: int) -> int:
    nonzero = [v for v in values if v]
    return min(nonzero) if nonzero else 0


def auth_block(token: str, entry: TokenEntry, now: float) -> Auth:
    return Auth(
        client_token=token,
        accessor=entry.accessor,
        policies=list(entry.policies),
        token_policies=list(entry.policies),
        metadata=dict(entry.meta),
        lease_duration=entry.ttl,
        renewable=entry.renewable,
        orphan=entry.orphan,
        entity_id=entry.entity_id,
        token_type=entry.token_type,
        num_uses=max(entry.num_uses, 0),
        display_name=entry.display_name,
    )


