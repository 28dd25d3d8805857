"""Status of warden's custom resources: conditions as Kubernetes API conventions and
cert-manager have them (type, status, reason, message, observedGeneration,
lastTransitionTime that moves only when the status changes), written through the
``/status`` subresource with a merge patch."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from lightkube import AsyncClient
from lightkube.types import PatchType

from warden.controllers import kubeclient

READY, ISSUING = "Ready", "Issuing"
TRUE, FALSE = "True", "False"


def timestamp(seconds: float) -> str:
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def parse_timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def conditions_of(obj: Any) -> list[dict[str, Any]]:
    return [dict(c) for c in ((obj.status or {}).get("conditions") or [])]


def condition(obj: Any, kind: str) -> dict[str, Any] | None:
    return next((c for c in conditions_of(obj) if c.get("type") == kind), None)


def with_condition(
    conditions: Sequence[Mapping[str, Any]],
    kind: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: float,
) -> list[dict[str, Any]]:
    """``conditions`` with ``kind`` set; its transition time kept when the status did not change."""
    out = [dict(c) for c in conditions if c.get("type") != kind]
    before = next((c for c in conditions if c.get("type") == kind), None)
    since = before.get("lastTransitionTime") if before and before.get("status") == status else None
    out.append(
        {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": since or timestamp(now),
        }
    )
    return sorted(out, key=lambda c: str(c["type"]))


def without_condition(conditions: Sequence[Mapping[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [dict(c) for c in conditions if c.get("type") != kind]


async def patch_status(kube: AsyncClient, resource: type[Any], obj: Any, status: Mapping[str, Any]) -> bool:
    """Merge ``status`` into the object's status; False when the object is gone."""
    meta = obj.metadata
    try:
        await kube.patch(
            resource.Status,
            meta.name,
            {"status": dict(status)},
            namespace=meta.namespace,
            patch_type=PatchType.MERGE,
        )
    except Exception as exc:
        if kubeclient.is_not_found(exc):
            return False
        raise
    return True
