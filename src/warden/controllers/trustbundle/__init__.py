"""ClusterTrustBundles from warden PKI mounts: ``cluster_trust_bundle "<name>" {...}``."""

from __future__ import annotations

from collections.abc import Sequence

from warden.controllers.context import Context
from warden.controllers.plugin import ControllerKind, PolicyRule
from warden.controllers.trustbundle.controller import TrustBundleController, TrustBundleMetrics, rbac

__all__ = ["KIND", "publisher", "rbac"]
from warden.controllers.trustbundle.settings import BundleSettings, TrustBundleSettings, parse

NAME = "cluster-trust-bundles"


def publisher(name: str, bundles: Sequence[BundleSettings], ctx: Context) -> TrustBundleController:
    """A controller publishing ``bundles``; every publisher in the process shares one set of metrics."""
    metrics = ctx.shared("trust-bundle-metrics", lambda: TrustBundleMetrics(ctx.registry))
    return TrustBundleController(name, bundles, ctx, metrics)


def _build(settings: TrustBundleSettings, ctx: Context) -> TrustBundleController:
    return publisher(NAME, list(settings.bundles.values()), ctx)


def _rbac(settings: TrustBundleSettings) -> Sequence[PolicyRule]:
    return rbac(list(settings.bundles.values()))


KIND: ControllerKind[TrustBundleSettings] = ControllerKind(
    block="cluster_trust_bundle", summary="publish a PKI mount's trust bundle as a ClusterTrustBundle",
    parse=parse, build=_build, rbac=_rbac)
