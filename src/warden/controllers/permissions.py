"""Before acting, ask the apiserver whether this process may do what a controller's RBAC
rules say (one SelfSubjectAccessReview per verb and resource name), so a missing rule stops
the controller with a message naming it, instead of certificates issued in warden and then
refused by Kubernetes. Any kind can check its own ``rbac(settings)`` rules this way."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from lightkube import AsyncClient
from lightkube.models.authorization_v1 import ResourceAttributes, SelfSubjectAccessReviewSpec
from lightkube.resources.authorization_v1 import SelfSubjectAccessReview

from warden.controllers.plugin import PolicyRule


class MissingPermission(Exception):
    """The controller's Kubernetes identity lacks an RBAC rule it needs."""


def attributes(rules: Sequence[PolicyRule]) -> Iterator[ResourceAttributes]:
    """Every (group, resource[/subresource], name, verb) the rules grant."""
    for rule in rules:
        for group in rule.get("apiGroups") or [""]:
            for resource in rule.get("resources") or ():
                name, _, sub = str(resource).partition("/")
                for verb in rule.get("verbs") or ():
                    for named in rule.get("resourceNames") or [None]:
                        yield ResourceAttributes(group=group, resource=name, subresource=sub or None,
                                                 name=named, verb=verb)


async def check_rules(kube: AsyncClient, rules: Sequence[PolicyRule]) -> None:
    await check_attributes(kube, attributes(rules))


async def check_attributes(kube: AsyncClient, wanted: Iterable[ResourceAttributes]) -> None:
    """Raise MissingPermission naming every attribute set the apiserver does not allow."""
    missing = []
    for attrs in wanted:
        review = await kube.create(SelfSubjectAccessReview(spec=SelfSubjectAccessReviewSpec(
            resourceAttributes=attrs)))
        if review.status is None or not review.status.allowed:
            missing.append(describe(attrs))
    if missing:
        what = "; ".join(dict.fromkeys(missing))
        raise MissingPermission(f"the controller's Kubernetes identity may not {what} "
                                "(apply 'warden k8s controller -config FILE -print-rbac')")


def describe(attrs: ResourceAttributes) -> str:
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    group = f".{attrs.group}" if attrs.group else ""
    named = f" {attrs.name}" if attrs.name else ""
    return f"{attrs.verb} {resource}{group}{named}"
