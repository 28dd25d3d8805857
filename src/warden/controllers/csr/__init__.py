"""The CertificateSigningRequest signer and approvers: ``signer "<signerName>" {...}``."""

from __future__ import annotations

from collections.abc import Sequence

from warden.controllers.context import Context
from warden.controllers.csr.controller import CsrController
from warden.controllers.csr.settings import CsrSettings, parse
from warden.controllers.plugin import ControllerKind, PolicyRule

CSR_GROUP = "certificates.k8s.io"


def _build(settings: CsrSettings, ctx: Context) -> CsrController:
    return CsrController(settings, ctx)


def rbac(settings: CsrSettings) -> Sequence[PolicyRule]:
    """Watch CSRs, write their status (sign) and approval, as the named signers only; a
    SubjectAccessReview for node-client, reading Nodes for node-addresses."""
    names = sorted(settings.signers)
    approving = sorted(s.signer_name for s in settings.signers.values() if s.approve)
    out: list[PolicyRule] = [
        {"apiGroups": [CSR_GROUP], "resources": ["certificatesigningrequests"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": [CSR_GROUP], "resources": ["certificatesigningrequests/status"], "verbs": ["update"]},
        {"apiGroups": [CSR_GROUP], "resources": ["signers"], "resourceNames": names, "verbs": ["sign"]},
    ]
    if approving:
        out += [{"apiGroups": [CSR_GROUP], "resources": ["certificatesigningrequests/approval"],
                 "verbs": ["update"]},
                {"apiGroups": [CSR_GROUP], "resources": ["signers"], "resourceNames": approving,
                 "verbs": ["approve"]}]
    if any(s.approve == "node-client" for s in settings.signers.values()):
        out.append({"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
                    "verbs": ["create"]})
    if any(s.approve == "node-addresses" for s in settings.signers.values()):
        out.append({"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]})
    return out


KIND: ControllerKind[CsrSettings] = ControllerKind(
    block="signer", summary="sign (and approve) CertificateSigningRequests of a signerName",
    parse=parse, build=_build, rbac=rbac)
