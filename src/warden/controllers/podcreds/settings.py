"""``pod_credentials { ... }``: which AppRole roles pods may ask for, and how to reach them.

pod_credentials {
  roles = ["web", "worker"]          # required: the only roles handed out
  approle_mount = "auth/approle"
  wrap_ttl = "60s"                   # the wrapping token's lifetime
  ca_file = "/etc/warden/pod-ca.pem" # or ca_mount = "c1/pki/pods": the CA of the
                                     #   init containers' listening certificates
  port = 8201                        # default; a pod may say warden.dev/receive-port
  init_container = "warden-init"     # default; a pod may say warden.dev/init-container
  namespaces = []                    # absent: every namespace
  push_timeout = "10s"
  workers = 4
}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from warden.agent.config_parse import ConfigError
from warden.controllers.names import is_role_name, single_block
from warden.controllers.plugin import LabeledBlock

_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
FIELDS = frozenset(
    {
        "roles",
        "approle_mount",
        "wrap_ttl",
        "ca_file",
        "ca_mount",
        "port",
        "init_container",
        "namespaces",
        "push_timeout",
        "workers",
    }
)
MIN_WRAP_TTL, MAX_WRAP_TTL = 5.0, 3600.0


@dataclass(frozen=True, slots=True)
class PodCredentialSettings:
    roles: frozenset[str]
    approle_mount: str = "auth/approle"
    wrap_ttl: float = 60.0
    ca_file: Path | None = None
    ca_mount: str = ""
    port: int = 8201
    init_container: str = "warden-init"
    namespaces: tuple[str, ...] = ()
    push_timeout: float = 10.0
    workers: int = 4

    def secret_id_path(self, role: str) -> str:
        return f"{self.approle_mount}/role/{role}/secret-id"

    def role_id_path(self, role: str) -> str:
        return f"{self.approle_mount}/role/{role}/role-id"


def parse(blocks: Sequence[LabeledBlock]) -> PodCredentialSettings:
    b = single_block(blocks, "pod_credentials")
    roles = b.strings("roles")
    ca_file = b.string("ca_file")
    workers, port = b.raw("workers"), b.raw("port")
    settings = PodCredentialSettings(
        roles=frozenset(roles),
        approle_mount=b.string("approle_mount", "auth/approle").strip("/"),
        wrap_ttl=b.duration("wrap_ttl", 60.0),
        ca_file=Path(ca_file) if ca_file else None,
        ca_mount=b.string("ca_mount").strip("/"),
        port=8201 if port is None else port,
        init_container=b.string("init_container", "warden-init"),
        namespaces=b.strings("namespaces"),
        push_timeout=b.duration("push_timeout", 10.0),
        workers=4 if workers is None else workers,
    )
    b.finish()
    if not roles:
        raise ConfigError(f"{b.where}: roles is required: the AppRole roles pods may be given")
    for role in roles:
        if not is_role_name(role):
            raise ConfigError(f"{b.at('roles')}: {role!r} is not a role name")
    for namespace in settings.namespaces:
        if not _NAMESPACE.match(namespace):
            raise ConfigError(f"{b.at('namespaces')}: {namespace!r} is not a namespace name")
    if (settings.ca_file is None) == (not settings.ca_mount):
        raise ConfigError(
            f"{b.where}: give ca_file or ca_mount (the CA that signs the init containers' "
            "listening certificates), not both"
        )
    if not MIN_WRAP_TTL <= settings.wrap_ttl <= MAX_WRAP_TTL:
        raise ConfigError(f"{b.at('wrap_ttl')}: between 5s and 1h (seed 003: 60s)")
    if (
        not isinstance(settings.port, int)
        or isinstance(settings.port, bool)
        or not 1 <= settings.port <= 65535
    ):
        raise ConfigError(f"{b.at('port')}: a port number")
    if (
        not isinstance(settings.workers, int)
        or isinstance(settings.workers, bool)
        or not 1 <= settings.workers <= 64
    ):
        raise ConfigError(f"{b.at('workers')}: a number from 1 to 64")
    if settings.push_timeout <= 0:
        raise ConfigError(f"{b.at('push_timeout')}: must be positive")
    return settings


def policy(settings: PodCredentialSettings) -> str:
    """What the controller's token needs: secret-ids (and role-ids) of these roles only."""
    rules = []
    for role in sorted(settings.roles):
        rules.append(f'path "{settings.secret_id_path(role)}" {{\n  capabilities = ["update"]\n}}\n')
        rules.append(f'path "{settings.role_id_path(role)}" {{\n  capabilities = ["read"]\n}}\n')
    return "# warden k8s controller: pod_credentials\n" + "".join(rules)
