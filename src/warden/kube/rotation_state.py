"""Where a rotation's progress lives: a KV v2 secret per CA, written only with check-and-set.

``<kv_mount>/<cluster>/k8s/rotation/<ca>`` (``ca``: k8s, etcd, front-proxy, kubelet or sa)
holds a ``RotationState``. Every write names the version it read (kv v2 ``cas``), so of two
operators racing, one write wins and the other is refused; a crashed run leaves a state that
the next run of the same phase, from any machine, continues. A KV mount of version 1 has no
check-and-set, so rotation refuses it and says how to upgrade it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warden.api import InvalidRequest
from warden.kube.cluster import ClusterSpec
from warden.kube.state import Api, data_of

BEGUN, SWITCHED, FINISHED = "begun", "switched", "finished"
PHASES = ("", BEGUN, SWITCHED, FINISHED)
PENDING_BEGIN = "begin"  # a begin is running (or crashed): its new issuer is named new_issuer_name
PENDING_SIGNED = "signed-certificate"  # begin -csr: waiting for the offline root's signature
STATE_VERSION = 1


class RotationError(RuntimeError):
    """A phase cannot run; the message says why and which command comes next."""


class Conflict(RotationError):
    """Another operator changed the rotation between our read and our write."""


@dataclass(frozen=True, slots=True)
class RotationState:
    """One CA's (or the service-account key pair's) rotation. Times are RFC 3339 (UTC).

    ``old_issuer``/``new_issuer`` are PKI issuer ids; for ``sa`` they are the key pairs'
    fingerprints (``sha256:`` + hex of the SubjectPublicKeyInfo's SHA-256)."""

    ca: str
    mount: str = ""
    phase: str = ""
    old_issuer: str = ""
    new_issuer: str = ""
    begun_at: str = ""
    switched_at: str = ""
    finished_at: str = ""
    begun_by: str = ""
    switched_by: str = ""
    finished_by: str = ""
    pending: str = ""
    pending_since: str = ""
    pending_by: str = ""
    new_issuer_name: str = ""
    new_key: str = ""  # begin -csr: the key made for the CSR
    csr: str = ""  # begin -csr: the CSR, until -import
    forced: str = ""  # finish -force: what it broke
    token_lifetime: str = ""  # sa: how long tokens signed with the old key may live
    finish_after: str = ""  # sa: switched_at + token_lifetime
    v: int = STATE_VERSION
    version: int = 0  # the KV version this was read at (not stored)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        del out["version"]
        return out

    @classmethod
    def from_json(cls, ca: str, data: Mapping[str, Any], version: int) -> RotationState:
        known = {f.name for f in dataclasses.fields(cls)} - {"version", "ca", "v"}
        values: dict[str, Any] = {k: str(v) for k, v in data.items() if k in known and v is not None}
        return cls(ca=ca, version=version, **values)

    def replace(self, **changes: Any) -> RotationState:
        return dataclasses.replace(self, **changes)


def _kv_version(api: Api, mount: str) -> int:
    info = data_of(api.read(f"sys/internal/ui/mounts/{mount}")) or {}
    return 2 if str((info.get("options") or {}).get("version", "1")) == "2" else 1


@dataclass(frozen=True, slots=True)
class RotationStore:
    api: Api
    spec: ClusterSpec

    def logical_path(self, ca: str) -> str:
        return f"{self.spec.kv_mount}/{self.spec.kv_base}/rotation/{ca}"

    def _api_path(self, ca: str) -> str:
        return f"{self.spec.kv_mount}/data/{self.spec.kv_base}/rotation/{ca}"

    def check_mount(self) -> None:
        mount = self.spec.kv_mount
        if _kv_version(self.api, mount) != 2:
            raise RotationError(
                f"the KV mount {mount}/ is version 1, which has no check-and-set, so two operators "
                f"could run one rotation twice; upgrade it with 'warden secrets tune -options=version=2 "
                f"{mount}' (existing secrets are kept) and re-run 'warden k8s bootstrap {self.spec.name}' "
                "so the policies name the new paths")

    def read(self, ca: str) -> RotationState:
        body = data_of(self.api.read(self._api_path(ca)))
        if body is None:
            return RotationState(ca)
        meta = body.get("metadata") or {}
        data = body.get("data")
        return RotationState.from_json(ca, data if isinstance(data, Mapping) else {},
                                       int(meta.get("version") or 0))

    def write(self, state: RotationState) -> RotationState:
        """Store ``state`` if the secret is still at ``state.version``; the stored state (with
        its new version), or Conflict."""
        try:
            body = self.api.write(self._api_path(state.ca),
                                  {"data": state.to_json(), "options": {"cas": state.version}})
        except InvalidRequest as exc:
            if "check-and-set" in str(exc):
                raise Conflict(f"the rotation of {state.ca} changed while this command ran") from None
            raise
        version = int((data_of(body) or {}).get("version") or state.version + 1)
        return dataclasses.replace(state, version=version)
