"""The request must belong to a live pod: the pod it names exists with that UID, runs as
that service account on that node, and mounts a ``podCertificate`` volume of this signer.

For a kubelet the apiserver's NodeRestriction admission already checks the node and pod;
anyone else allowed to create PodCertificateRequests (an RBAC grant) is checked by nothing
but this, and could otherwise ask for any service account's identity in the namespace.
"""

from __future__ import annotations

from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Pod

from warden.controllers import kubeclient
from warden.controllers.podcert.identity import Refusal
from warden.controllers.podcert.request import PcrFacts

REASON = "PodMismatch"


async def check_pod(kube: AsyncClient, facts: PcrFacts) -> Refusal | None:
    try:
        pod = await kube.get(Pod, facts.pod_name, namespace=facts.namespace)
    except Exception as exc:
        if kubeclient.is_not_found(exc):
            return Refusal(REASON, f"pod {facts.namespace}/{facts.pod_name} does not exist")
        raise
    return pod_mismatch(pod, facts)


def pod_mismatch(pod: Any, facts: PcrFacts) -> Refusal | None:
    where = f"pod {facts.namespace}/{facts.pod_name}"
    spec = pod.spec
    found = {"podUID": pod.metadata.uid or "", "serviceAccountName": spec.serviceAccountName or "default",
             "nodeName": spec.nodeName or ""}
    wanted = {"podUID": facts.pod_uid, "serviceAccountName": facts.service_account,
              "nodeName": facts.node_name}
    for field, value in wanted.items():
        if found[field] != value:
            return Refusal(REASON, f"spec.{field} is {value!r} but {where} has {found[field]!r}")
    if not _mounts_signer(spec, facts.signer):
        return Refusal(REASON, f"{where} has no podCertificate volume for signer {facts.signer}")
    return None


def _mounts_signer(spec: Any, signer: str) -> bool:
    for volume in spec.volumes or ():
        projected = volume.projected
        for source in (projected.sources or ()) if projected is not None else ():
            if source.podCertificate is not None and source.podCertificate.signerName == signer:
                return True
    return False
