"""Reading a kv secret without knowing the mount's version: the mount and its version come
from ``sys/internal/ui/mounts/<path>`` (as Vault's own kv commands do), then kv v2 is read
at ``<mount>/data/<rest>`` (optionally a ``version``), kv v1 at the path itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from warden.api.client import AsyncClient


@dataclass(frozen=True, slots=True)
class KvSecret:
    data: dict[str, Any] = field(repr=False)
    mount: str = ""
    kv_version: int = 1
    version: int | None = None  # kv v2: the version read


async def kv_mount(api: AsyncClient, path: str) -> tuple[str, int]:
    """The mount serving ``path`` (with its trailing "/") and its kv version (1 or 2)."""
    body = await api.read(f"sys/internal/ui/mounts/{path.strip('/')}") or {}
    data = body.get("data") or {}
    version = str((data.get("options") or {}).get("version") or "1")
    return str(data.get("path") or ""), 2 if version == "2" else 1


async def read_kv(api: AsyncClient, path: str, version: int | None = None) -> KvSecret | None:
    """The secret at ``path``; None when there is none (or its version was deleted)."""
    path = path.strip("/")
    mount, kv_version = await kv_mount(api, path)
    if kv_version == 2:
        params = {"version": str(version)} if version is not None else None
        body = await api.read(mount + "data/" + path[len(mount) :], params)
        inner = (body or {}).get("data") or {}
        values = inner.get("data")
        if values is None:
            return None
        meta = inner.get("metadata") or {}
        return KvSecret(dict(values), mount, 2, int(meta["version"]) if meta.get("version") else None)
    body = await api.read(path)
    if body is None:
        return None
    return KvSecret(dict(body.get("data") or {}), mount, 1)
