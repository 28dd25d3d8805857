"""``secret_sync { ... }`` and ``certificate_sync { ... }``: which namespaces to watch, how
each namespace logs in to warden (``namespace_auth``), and how many workers reconcile.

    secret_sync {
      namespaces = ["team-a", "team-b"]   # absent: every namespace
      workers = 2
      namespace_auth {                     # defaults shown (see warden.controllers.tenancy)
        service_account = "warden-sync"  role = "{namespace}"  mount = "auth/kubernetes"
        audiences = []  token_ttl = "10m"
      }
    }
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from warden.agent.config_parse import ConfigError
from warden.controllers.names import single_block
from warden.controllers.plugin import LabeledBlock
from warden.controllers.tenancy import NamespaceAuth, parse_namespace_auth

FIELDS = frozenset({"namespaces", "workers", "namespace_auth"})
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class SyncSettings:
    auth: NamespaceAuth
    namespaces: tuple[str, ...] = ()
    workers: int = 2


def parse(blocks: Sequence[LabeledBlock]) -> SyncSettings:
    b = single_block(blocks, "this controller")
    namespaces = b.strings("namespaces")
    workers = b.raw("workers")
    settings = SyncSettings(parse_namespace_auth(b), namespaces, 2 if workers is None else workers)
    b.finish()
    for namespace in namespaces:
        if not _NAMESPACE.match(namespace):
            raise ConfigError(f"{b.at('namespaces')}: {namespace!r} is not a namespace name")
    if (
        not isinstance(settings.workers, int)
        or isinstance(settings.workers, bool)
        or not 1 <= settings.workers <= 64
    ):
        raise ConfigError(f"{b.at('workers')}: a number from 1 to 64")
    return settings
