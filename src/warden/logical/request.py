"""A request as the core and the backends see it, after HTTP is gone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warden.logical.operation import Operation

if TYPE_CHECKING:
    from warden.logical.response import Auth, Secret
    from warden.logical.storage import Storage


@dataclass(frozen=True, slots=True)
class Connection:
    remote_addr: str = ""
    remote_port: int = 0
    tls: bool = False


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: the facts of the token that authenticated the request.

    Never holds the token itself, only its accessor.
    """

    accessor: str = ""
    policies: tuple[str, ...] = ()
    display_name: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    entity_id: str = ""
    path: str = ""

    @property
    def is_root(self) -> bool:
        return "root" in self.policies


@dataclass(frozen=True, slots=True)
class MountInfo:
    """The mount a request was routed to, with its live (tuned) TTL limits in seconds."""

    path: str = ""
    type: str = ""
    accessor: str = ""
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0


@dataclass(frozen=True, slots=True)
class Request:
    operation: Operation
    path: str
    data: Mapping[str, Any] = field(default_factory=dict)
    id: str = ""
    client_token: str = ""
    caller: Caller | None = None
    storage: Storage | None = None
    mount: MountInfo = field(default_factory=MountInfo)
    connection: Connection = field(default_factory=Connection)
    headers: Mapping[str, str] = field(default_factory=dict)
    wrap_ttl: int = 0
    # Set by the core when it asks a backend to renew a login token or a lease.
    auth: Auth | None = None
    secret: Secret | None = None

    @property
    def mount_point(self) -> str:
        return self.mount.path

    @property
    def accessor(self) -> str:
        return self.caller.accessor if self.caller else ""
