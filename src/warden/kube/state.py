"""What warden holds now for a cluster, read over the API (only what the plan compares)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from warden.kube.cluster import ClusterSpec
from warden.kube.desired import Desired
from warden.kube.x509info import describe, load_certs


class Api(Protocol):
    """The part of ``warden.api.Client`` the kube tooling uses."""

    def read(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None: ...

    def list(self, path: str) -> dict[str, Any] | None: ...

    def write(self, path: str, data: Mapping[str, Any] | None = None) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class MountState:
    type: str
    max_lease_ttl: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True, slots=True)
class CaState:
    certificate: str = ""  # the default issuer's certificate, "" if the mount has none
    pending_keys: bool = False  # keys but no issuer: a CSR waits for its signed certificate

    @property
    def common_name(self) -> str:
        """The CA certificate's CN ("" if there is none or it does not parse)."""
        try:
            return describe(load_certs(self.certificate.encode())[0]).common_name
        except (ValueError, IndexError):
            return ""


@dataclass(frozen=True, slots=True)
class CurrentState:
    mounts: Mapping[str, MountState] = field(default_factory=dict)
    cas: Mapping[str, CaState] = field(default_factory=dict)
    roles: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    policies: Mapping[str, str] = field(default_factory=dict)
    token_role: Mapping[str, Any] | None = None
    kv: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # logical path -> data
    csr_files: frozenset[str] = frozenset()
    other_roles: tuple[str, ...] = ()  # roles in the cluster's mounts that bootstrap does not make

    def kv_version(self, mount: str) -> int:
        """1 or 2 for an existing KV mount, 0 if there is none."""
        found = self.mounts.get(mount.strip("/"))
        if found is None or found.type not in ("kv", "generic"):
            return 0
        return 2 if str((found.options or {}).get("version", "1")) == "2" else 1


def data_of(body: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if body is None:
        return None
    data = body.get("data")
    return dict(data) if isinstance(data, Mapping) else None


def read_mounts(api: Api) -> dict[str, MountState]:
    body = api.read("sys/mounts") or {}
    source = data_of(body) or body
    out = {}
    for path, mount in source.items():
        if not path.endswith("/") or not isinstance(mount, Mapping):
            continue
        config = mount.get("config") or {}
        out[path.rstrip("/")] = MountState(str(mount.get("type", "")), int(config.get("max_lease_ttl") or 0),
                                           dict(mount.get("options") or {}),
                                           str(mount.get("description") or ""))
    return out


def read_ca(api: Api, mount: str) -> CaState:
    cert = data_of(api.read(f"{mount}/cert/ca")) or {}
    if cert.get("certificate"):
        return CaState(str(cert["certificate"]))
    keys = (data_of(api.list(f"{mount}/keys")) or {}).get("keys") or []
    return CaState("", bool(keys))


def read_kv(api: Api, desired: Desired, logical: str) -> dict[str, Any] | None:
    data = data_of(api.read(desired.kv_api_path(logical)))
    if data is None:
        return None
    if desired.kv_version == 2:
        inner = data.get("data")
        return dict(inner) if isinstance(inner, Mapping) else None
    return data


def read_state(api: Api, desired: Desired, mounts: Mapping[str, MountState],
               csr_dir: Path | None = None) -> CurrentState:
    """Everything the plan compares, for the names ``desired`` uses."""
    pki = [m.path for m in desired.mounts if m.type == "pki" and m.path in mounts]
    cas = {m: read_ca(api, m) for m in pki}
    roles = {}
    wanted = {(r.mount, r.name) for r in desired.roles}
    other = []
    for mount in pki:
        names = (data_of(api.list(f"{mount}/roles")) or {}).get("keys") or []
        other += [f"{mount}/roles/{n}" for n in names if (mount, n) not in wanted]
    for role in desired.roles:
        if role.mount in mounts:
            found = data_of(api.read(f"{role.mount}/roles/{role.name}"))
            if found is not None:
                roles[(role.mount, role.name)] = found
    pols = {}
    for name in desired.policies:
        found = data_of(api.read(f"sys/policies/acl/{name}"))
        if found is not None:
            pols[name] = str(found.get("policy") or found.get("rules") or "")
    token_role = data_of(api.read(f"auth/token/roles/{desired.token_role}"))
    kv = {}
    if CurrentState(mounts=mounts).kv_version(desired.spec.kv_mount):
        for path in (desired.sa_path, desired.cluster_path):
            found = read_kv(api, desired, path)
            if found is not None:
                kv[path] = found
    files = frozenset(c.csr_file for c in desired.cas if csr_dir and (csr_dir / c.csr_file).is_file())
    return CurrentState(mounts, cas, roles, pols, token_role, kv, files, tuple(sorted(other)))


def read_cluster(api: Api, kv_mount: str, cluster: str) -> ClusterSpec:
    """The settings ``bootstrap`` stored; raises LookupError saying what to do if absent."""
    path = f"{kv_mount}/{cluster}/k8s/cluster"
    info = api.read(f"sys/internal/ui/mounts/{kv_mount}")
    version = 2 if str(((data_of(info) or {}).get("options") or {}).get("version", "1")) == "2" else 1
    api_path = f"{kv_mount}/data/{cluster}/k8s/cluster" if version == 2 else path
    data = data_of(api.read(api_path))
    if version == 2 and data is not None:
        data = data.get("data")
    if not data:
        raise LookupError(f"no settings for cluster {cluster} at {path}: run 'warden k8s bootstrap "
                          f"{cluster} ...' first (or pass -kv-mount if they live elsewhere)")
    return ClusterSpec.from_json(data)
