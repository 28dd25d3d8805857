"""The PodCertificateRequest signer and its trust bundles: ``pod_certificate_signer "<signerName>" {...}``.

One block runs two controllers under the process's Lease: the signer of the
PodCertificateRequests, and the publisher of each signer's ClusterTrustBundle.
"""

from __future__ import annotations

from collections.abc import Sequence

from warden.controllers.context import Context
from warden.controllers.plugin import Controller, ControllerKind, PolicyRule
from warden.controllers.podcert.controller import PodCertificateController
from warden.controllers.podcert.rbac import signer_rules
from warden.controllers.podcert.settings import PodCertSettings, parse
from warden.controllers.trustbundle import publisher
from warden.controllers.trustbundle import rbac as bundle_rbac

BUNDLES = "pod-certificate-trust-bundles"


def _build(settings: PodCertSettings, ctx: Context) -> Sequence[Controller]:
    out: list[Controller] = [PodCertificateController(settings, ctx)]
    if settings.bundles:
        out.append(publisher(BUNDLES, settings.bundles, ctx))
    return out


def rbac(settings: PodCertSettings) -> Sequence[PolicyRule]:
    """Watch the requests, write their status as the named signers only, read the pods they
    name; publish the signers' ClusterTrustBundles."""
    return [*signer_rules(settings), *bundle_rbac(settings.bundles)]


KIND: ControllerKind[PodCertSettings] = ControllerKind(
    block="pod_certificate_signer", summary="sign PodCertificateRequests of a signerName",
    parse=parse, build=_build, rbac=rbac)
