"""The kv secrets engine: version 1 (one JSON map per path) or version 2 (versioned)."""

from __future__ import annotations

from warden.engines.kv.v1 import kv_v1_backend
from warden.engines.kv.v2 import KvV2Backend
from warden.framework import Backend
from warden.logical.backend import BackendConfig
from warden.logical.errors import InvalidRequest

__all__ = ["factory"]


def factory(conf: BackendConfig) -> Backend:
    """Mount option ``version``: "1" (the default) or "2"."""
    version = (conf.options.get("version") or "1").strip()
    if version == "1":
        return kv_v1_backend(conf)
    if version == "2":
        return KvV2Backend(conf).backend
    raise InvalidRequest(f'unsupported kv version "{version}": the version option is "1" or "2"')
