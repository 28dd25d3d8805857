"""Token roles: named presets and limits for ``auth/token/create/<role>``."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from warden.logical.errors import InvalidRequest
from warden.logical.storage import Storage, get_json, put_json

ROLE_PREFIX = "roles/"


@dataclass(frozen=True, slots=True)
class TokenRole:
    name: str
    allowed_policies: tuple[str, ...] = ()
    disallowed_policies: tuple[str, ...] = ()
    allowed_policies_glob: tuple[str, ...] = ()
    disallowed_policies_glob: tuple[str, ...] = ()
    orphan: bool = False
    renewable: bool = True
    period: int = 0
    explicit_max_ttl: int = 0
    path_suffix: str = ""
    token_type: str = "default-service"
    bound_cidrs: tuple[str, ...] = ()
    no_default_policy: bool = False
    token_ttl: int = 0
    token_num_uses: int = 0
    allowed_entity_aliases: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenRole:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key, value in values.items():
            if isinstance(value, list):
                values[key] = tuple(value)
        return cls(**values)

    def check_policies(self, requested: Sequence[str]) -> None:
        """Vault's role policy rules: disallowed wins; allowed (if any) must cover every one."""
        for policy in requested:
            if policy in self.disallowed_policies or any(
                fnmatch.fnmatchcase(policy, g) for g in self.disallowed_policies_glob
            ):
                raise InvalidRequest(f'token policy "{policy}" is disallowed by role "{self.name}"')
        if not (self.allowed_policies or self.allowed_policies_glob):
            return
        for policy in requested:
            if policy == "default":
                continue
            if policy not in self.allowed_policies and not any(
                fnmatch.fnmatchcase(policy, g) for g in self.allowed_policies_glob
            ):
                raise InvalidRequest(
                    f'token policies must be a subset of the role\'s allowed policies; '
                    f'"{policy}" is not allowed by role "{self.name}"'
                )


async def load_role(storage: Storage, name: str) -> TokenRole | None:
    data = await get_json(storage, ROLE_PREFIX + name.lower())
    return None if data is None else TokenRole.from_json(data)


async def save_role(storage: Storage, role: TokenRole) -> None:
    await put_json(storage, ROLE_PREFIX + role.name, role.to_json())
