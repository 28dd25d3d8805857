"""Publishing warden PKI mounts' trust bundles as ``ClusterTrustBundle`` objects, kept current.

What a bundle holds lives in warden, not in the cluster: a CA rotation there (issue 10's
``begin``/``switch``/``finish``) changes ``<mount>/cert/trust_bundle`` and no watch tells
the cluster. So each configured bundle is an ``initial_key`` reconciled every ``refresh``
seconds: read the mount's bundle from warden, compare with the object (from the watch's
cache), and create the object or update it in place (PUT with its resourceVersion; never
deleted and recreated, so its uid and anything that watches it stay). A change made to the
object in the cluster comes back through the watch and is undone at once.

Each controller owns the objects labelled ``warden.dev/published-by=<its name>`` and
touches no other; objects of bundles removed from the configuration are left in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube.models.certificates_v1beta1 import ClusterTrustBundleSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.certificates_v1beta1 import ClusterTrustBundle
from prometheus_client import CollectorRegistry, Counter, Gauge

from warden.api import AsyncClient as WardenClient
from warden.api import JsonDict
from warden.controllers import kubeclient
from warden.controllers.context import Context
from warden.controllers.metrics import PREFIX
from warden.controllers.permissions import check_rules
from warden.controllers.plugin import ObjectKey, PolicyRule, Result, Watch
from warden.controllers.trustbundle.settings import (
    ISSUERS_ANNOTATION,
    MANAGED_BY,
    MOUNT_ANNOTATION,
    PUBLISHER_LABEL,
    BundleSettings,
)

CERTIFICATES_API = "certificates.k8s.io"
CONFLICT_RETRY = 0.2


@dataclass(frozen=True, slots=True)
class MountBundle:
    """A mount's trust bundle as warden answers ``cert/trust_bundle``."""

    pems: tuple[str, ...]
    issuer_ids: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(pem.strip() + "\n" for pem in self.pems)


async def read_mount_bundle(api: WardenClient, mount: str) -> MountBundle | None:
    """None while the mount has no CA (404)."""
    body = await api.read(f"{mount}/cert/trust_bundle")
    data: JsonDict = (body or {}).get("data") or {}
    pems = tuple(str(p) for p in data.get("trust_bundle") or () if str(p).strip())
    if not pems:
        return None
    return MountBundle(pems, tuple(str(i) for i in data.get("issuer_ids") or ()))


def rbac(bundles: Sequence[BundleSettings]) -> list[PolicyRule]:
    """Read, create and update ClusterTrustBundles; ``attest`` for the signerNames set."""
    out: list[PolicyRule] = [
        {"apiGroups": [CERTIFICATES_API], "resources": ["clustertrustbundles"],
         "verbs": ["get", "list", "watch", "create", "update"]}]
    signers = sorted({b.signer_name for b in bundles if b.signer_name})
    if signers:
        out.append({"apiGroups": [CERTIFICATES_API], "resources": ["signers"], "resourceNames": signers,
                    "verbs": ["attest"]})
    return out


class TrustBundleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.updates = Counter(f"{PREFIX}_trust_bundle_writes", "ClusterTrustBundle objects created or "
                               "updated (change: created, updated).", ["bundle", "change"], registry=registry)
        self.certificates = Gauge(f"{PREFIX}_trust_bundle_certificates",
                                  "Certificates in each published ClusterTrustBundle.", ["bundle"],
                                  registry=registry)


class TrustBundleController:
    def __init__(self, name: str, bundles: Sequence[BundleSettings], ctx: Context,
                 metrics: TrustBundleMetrics) -> None:
        self.name: str = name
        self.ctx = ctx
        self.bundles: Mapping[str, BundleSettings] = {b.name: b for b in bundles}
        self.watch = Watch(ClusterTrustBundle, labels=(MANAGED_BY, (PUBLISHER_LABEL, name)))
        self.watches: Sequence[Watch] = (self.watch,)
        self.workers: int = 1
        self.initial_keys: Sequence[ObjectKey] = tuple(ObjectKey("", n) for n in sorted(self.bundles))
        self.metrics = metrics
        self.decide = ctx.decisions(name)

    async def prepare(self) -> None:
        await check_rules(self.ctx.kube, rbac(list(self.bundles.values())))

    async def reconcile(self, key: ObjectKey) -> Result:
        bundle = self.bundles.get(key.name)
        if bundle is None:
            return Result()  # labelled as ours but no longer configured: left as it is
        wanted = await read_mount_bundle(self.ctx.warden, bundle.mount)
        if wanted is None:
            self.ctx.log.warning("the mount has no CA yet; nothing to publish", bundle=bundle.name,
                                 mount=bundle.mount, retry_in=bundle.refresh)
            return Result(requeue_after=bundle.refresh)
        current = self.ctx.store(self.watch).get(key)
        desired = self._desired(bundle, wanted, current)
        if current is not None and _same(current, desired):
            return Result(requeue_after=bundle.refresh)
        self.ctx.ensure_leading()
        try:
            change = await self._write(desired, current)
        except Exception as exc:
            if kubeclient.is_conflict(exc):
                return Result(requeue_after=CONFLICT_RETRY)  # changed meanwhile; the watch has it
            raise
        self.metrics.updates.labels(bundle=bundle.name, change=change).inc()
        self.metrics.certificates.labels(bundle=bundle.name).set(len(wanted.pems))
        self.decide(change, "", bundle=bundle.name, mount=bundle.mount, signer=bundle.signer_name or "none",
                    certificates=len(wanted.pems), issuers=",".join(wanted.issuer_ids))
        return Result(requeue_after=bundle.refresh)

    def _desired(self, bundle: BundleSettings, wanted: MountBundle, current: Any) -> ClusterTrustBundle:
        meta = current.metadata if current is not None else None
        labels = {**(meta.labels or {} if meta is not None else {}), **dict(bundle.labels),
                  MANAGED_BY[0]: MANAGED_BY[1], PUBLISHER_LABEL: self.name}
        annotations = {**(meta.annotations or {} if meta is not None else {}), MOUNT_ANNOTATION: bundle.mount,
                       ISSUERS_ANNOTATION: ",".join(wanted.issuer_ids)}
        return ClusterTrustBundle(
            metadata=ObjectMeta(name=bundle.name, labels=labels, annotations=annotations,
                                resourceVersion=meta.resourceVersion if meta is not None else None),
            spec=ClusterTrustBundleSpec(trustBundle=wanted.text, signerName=bundle.signer_name or None))

    async def _write(self, desired: ClusterTrustBundle, current: Any) -> str:
        kube = self.ctx.kube
        if current is None:
            try:
                await kube.create(desired)
                return "created"
            except Exception as exc:
                if kubeclient.status_code(exc) != 409:
                    raise
            # it exists without our labels (the watch does not see it): take it over in place
            assert desired.metadata is not None and desired.metadata.name is not None
            found = await kube.get(ClusterTrustBundle, desired.metadata.name)
            assert found.metadata is not None
            desired.metadata.resourceVersion = found.metadata.resourceVersion
            desired.metadata.labels = {**(found.metadata.labels or {}), **(desired.metadata.labels or {})}
        await kube.replace(desired)
        return "updated"


def _same(current: Any, desired: ClusterTrustBundle) -> bool:
    assert desired.metadata is not None and desired.spec is not None
    meta, spec = current.metadata, current.spec
    return (spec.trustBundle == desired.spec.trustBundle
            and (spec.signerName or None) == desired.spec.signerName
            and (meta.labels or {}) == desired.metadata.labels
            and (meta.annotations or {}) == desired.metadata.annotations)
