"""Before acting, ask the apiserver whether this process may do what its configuration
says (a SelfSubjectAccessReview per verb), so a missing RBAC rule stops the controller with
a message naming it, instead of certificates signed in warden and refused by Kubernetes."""

from __future__ import annotations

from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview

from warden.controllers.csr.settings import NODE_ADDRESSES, NODE_CLIENT, CsrSettings

GROUP = "certificates.k8s.io"


class MissingPermission(Exception):
    """The controller's Kubernetes identity lacks an RBAC rule it needs."""


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
    missing = []
    for attrs in needed(settings):
        review = await kube.create(SelfSubjectAccessReview(spec=SelfSubjectAccessReviewSpec(
            resourceAttributes=attrs)))
        if review.status is None or not review.status.allowed:
            missing.append(_show(attrs))
    if missing:
        what = "; ".join(dict.fromkeys(missing))
        raise MissingPermission(f"the controller's Kubernetes identity may not {what} "
                                "(apply 'warden k8s controller -config FILE -print-rbac')")


def _show(attrs: ResourceAttributes) -> str:
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    group = f".{attrs.group}" if attrs.group else ""
    named = f" {attrs.name}" if attrs.name else ""
    return f"{attrs.verb} {resource}{group}{named}"
