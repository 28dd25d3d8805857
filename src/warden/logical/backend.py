"""The seam between the core and a mounted backend (secrets engine or auth method)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden.logical.clock import Clock
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage
from warden.logical.tokens import TokenStore


class BackendType(enum.StrEnum):
    LOGICAL = "logical"
    CREDENTIAL = "credential"


@dataclass(frozen=True, slots=True)
class SpecialPaths:
    """Paths (relative to the mount) that skip token checks or need sudo.

    A trailing ``*`` makes an entry a prefix match, as in Vault.
    """

    unauthenticated: tuple[str, ...] = ()
    root: tuple[str, ...] = ()


class SystemView(Protocol):
    """What the core offers a mounted backend, read live (tuning applies at once)."""

    @property
    def clock(self) -> Clock: ...

    def default_lease_ttl(self) -> int: ...

    def max_lease_ttl(self) -> int: ...

    def random_bytes(self, n: int) -> bytes: ...

    async def sudo_privilege(self, path: str, policies: tuple[str, ...]) -> bool:
        """Whether these policies grant ``sudo`` on a full request path."""
        ...

    @property
    def token_store(self) -> TokenStore | None:
        """Only the token auth backend gets one; None for every other mount."""
        ...


class LogicalBackend(Protocol):
    backend_type: BackendType
    special_paths: SpecialPaths
    # The storage prefixes (in the mount's view) whose contents the backend caches.
    cached_prefixes: tuple[str, ...]

    def invalidate(self) -> None:
        """Drop what it caches: another process of the server wrote to ``cached_prefixes``."""
        ...

    async def initialize(self) -> None: ...

    async def handle_request(self, req: Request) -> Response | None: ...

    async def existence_check(self, req: Request) -> bool | None:
        """Whether the resource at ``req.path`` exists; None if the path declares no check."""
        ...

    async def periodic(self) -> None:
        """Background upkeep, called about once a minute by the core."""
        ...

    async def cleanup(self) -> None: ...


@dataclass(frozen=True, slots=True)
class BackendConfig:
    mount_path: str
    mount_type: str
    mount_accessor: str
    storage: Storage
    system: SystemView
    options: Mapping[str, str] = field(default_factory=dict)
    # Outside services injected by the composition root (HTTP clients, reviewers,
    # key pools); keyed by name so a backend asks only for what it needs.
    services: Mapping[str, Any] = field(default_factory=dict)


BackendFactory = Callable[[BackendConfig], LogicalBackend]
