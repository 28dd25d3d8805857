"""The token store as the token auth backend sees it.

The store itself lives in the core; ``auth/token`` reaches it only through this
protocol. Tokens are addressed by accessor here: the backend never handles the
hashed id under which a token is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TokenSpec:
    """Everything needed to mint a token; TTLs in seconds, 0 meaning "default"."""

    policies: tuple[str, ...]
    path: str
    display_name: str = "token"
    meta: Mapping[str, str] = field(default_factory=dict)
    ttl: int = 0
    explicit_max_ttl: int = 0
    period: int = 0
    num_uses: int = 0
    renewable: bool = True
    orphan: bool = False
    role: str = ""
    token_type: str = "service"
    bound_cidrs: tuple[str, ...] = ()
    internal_data: Mapping[str, Any] = field(default_factory=dict)
    entity_id: str = ""
    # A caller-chosen token value (root only, as in Vault); empty means random.
    token_id: str = ""
    # The ceiling that applies on top of explicit_max_ttl (the mount's max TTL).
    max_ttl: int = 0
    # A single-use token that guards a wrapped response.
    wrapping: bool = False


@dataclass(frozen=True, slots=True)
class TokenEntry:
    accessor: str
    policies: tuple[str, ...]
    path: str
    display_name: str
    meta: Mapping[str, str]
    num_uses: int
    creation_time: float
    ttl: int
    expire_time: float  # 0: never expires
    explicit_max_ttl: int
    period: int
    renewable: bool
    orphan: bool
    role: str = ""
    token_type: str = "service"
    bound_cidrs: tuple[str, ...] = ()
    internal_data: Mapping[str, Any] = field(default_factory=dict)
    entity_id: str = ""
    issue_time: float = 0.0
    last_renewal_time: float = 0.0
    # Absolute limit past which the token can never be renewed (0: none).
    max_expire_time: float = 0.0
    parent_accessor: str = ""
    # True for the short-lived single-use tokens that guard a wrapped response.
    wrapping: bool = False

    @property
    def is_root(self) -> bool:
        return "root" in self.policies

    def remaining_ttl(self, now: float) -> int:
        return 0 if self.expire_time == 0 else max(0, int(self.expire_time - now))


class TokenStore(Protocol):
    async def create(self, spec: TokenSpec, parent: TokenEntry | None) -> tuple[str, TokenEntry]:
        """Mint and persist a token; returns the token value (shown once) and its entry."""
        ...

    async def lookup(self, token: str) -> TokenEntry | None:
        """The live entry for a token value; None if unknown, expired or revoked."""
        ...

    async def lookup_accessor(self, accessor: str) -> TokenEntry | None: ...

    async def renew(self, accessor: str, increment: int) -> TokenEntry:
        """Extend a token's lease within its limits; raises InvalidRequest if not renewable."""
        ...

    async def revoke_tree(self, accessor: str) -> None:
        """Revoke a token, every descendant that is not an orphan, and their leases."""
        ...

    async def revoke_orphan(self, accessor: str) -> None:
        """Revoke only this token; its children become orphans."""
        ...

    async def list_accessors(self) -> list[str]: ...

    async def tidy(self) -> int:
        """Remove expired tokens and dangling index entries; returns how many were removed."""
        ...
