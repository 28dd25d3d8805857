"""The Secrets warden's custom resources write: labelled ``app.kubernetes.io/managed-by:
warden`` (the controllers watch only those), owned by their resource with a controller
owner reference (deleting the resource deletes the Secret through Kubernetes' garbage
collector), and applied server-side with the controller's field manager.

A Secret of that name that exists but is not owned by the resource is never overwritten:
the resource reports it (another tool, or a person, owns it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.core_v1 import Secret

from warden.controllers.kubeclient import FIELD_MANAGER

MANAGED_BY = ("app.kubernetes.io/managed-by", "warden")


class NotOwned(Exception):
    """The Secret exists and belongs to something else."""


def owner_reference(obj: Any) -> OwnerReference:
    return OwnerReference(
        apiVersion=obj.apiVersion,
        kind=obj.kind,
        name=obj.metadata.name,
        uid=obj.metadata.uid,
        controller=True,
        blockOwnerDeletion=True,
    )


def owned_by(secret: Any, obj: Any) -> bool:
    refs = secret.metadata.ownerReferences or []
    return any(r.uid == obj.metadata.uid and r.controller for r in refs)


def check_owner(secret: Any | None, obj: Any) -> None:
    if secret is not None and not owned_by(secret, obj):
        raise NotOwned(
            f"Secret {secret.metadata.name} exists and is not owned by this "
            f"{obj.kind}: delete it or choose another secretName"
        )


def desired_secret(
    obj: Any, name: str, secret_type: str, data: Mapping[str, str], annotations: Mapping[str, str]
) -> Secret:
    """``data`` holds base64 values (as the Secret API)."""
    return Secret(
        metadata=ObjectMeta(
            name=name,
            namespace=obj.metadata.namespace,
            labels=dict([MANAGED_BY]),
            annotations=dict(annotations),
            ownerReferences=[owner_reference(obj)],
        ),
        type=secret_type,
        data=dict(data),
    )


def same_content(current: Any | None, wanted: Secret) -> bool:
    if current is None:
        return False
    meta = current.metadata
    annotations = meta.annotations or {}
    return (
        dict(current.data or {}) == dict(wanted.data or {})
        and current.type == wanted.type
        and all(annotations.get(k) == v for k, v in _annotations(wanted).items())
        and (meta.labels or {}).get(MANAGED_BY[0]) == MANAGED_BY[1]
    )


async def apply_secret(kube: AsyncClient, secret: Secret) -> Any:
    return await kube.apply(secret, field_manager=FIELD_MANAGER, force=True)


def _annotations(secret: Secret) -> dict[str, str]:
    return dict((secret.metadata.annotations if secret.metadata is not None else None) or {})
