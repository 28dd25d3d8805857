"""Before acting, ask the apiserver whether this process may do what its configuration
says (a SelfSubjectAccessReview per verb), so a missing RBAC rule stops the controller with
a message naming it, instead of certificates signed in warden and refused by Kubernetes."""

from __future__ import annotations

from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes

from warden.controllers.csr.settings import NODE_ADDRESSES, NODE_CLIENT, CsrSettings
from warden.controllers.permissions import MissingPermission, check_attributes

GROUP = "certificates.k8s.io"

__all__ = ["GROUP", "MissingPermission", "check_permissions", "needed"]


def needed(settings: CsrSettings) -> list[ResourceAttributes]:
    wanted = [ResourceAttributes(group=GROUP, resource="certificatesigningrequests", verb=v)
              for v in ("list", "watch", "get")]
    wanted.append(ResourceAttributes(group=GROUP, resource="certificatesigningrequests", subresource="status",
                                     verb="update"))
    for signer in settings.signers.values():
        wanted.append(ResourceAttributes(group=GROUP, resource="signers", name=signer.signer_name,
                                         verb="sign"))
        if signer.approve:
            wanted.append(ResourceAttributes(group=GROUP, resource="signers", name=signer.signer_name,
                                             verb="approve"))
            wanted.append(ResourceAttributes(group=GROUP, resource="certificatesigningrequests",
                                             subresource="approval", verb="update"))
        if signer.approve == NODE_CLIENT:
            wanted.append(ResourceAttributes(group="authorization.k8s.io", resource="subjectaccessreviews",
                                             verb="create"))
        if signer.approve == NODE_ADDRESSES:
            wanted.append(ResourceAttributes(group="", resource="nodes", verb="get"))
    return wanted


async def check_permissions(kube: AsyncClient, settings: CsrSettings) -> None:
    await check_attributes(kube, needed(settings))
