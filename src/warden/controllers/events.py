"""Kubernetes Events (runtime): what ``kubectl describe`` shows under "Events" for an
object a controller acted on (cert-manager's "Issuing", "Issued", "Failed" ...).

Best effort, as client-go's recorder: a failure to record is logged, never raised. The
same (object, type, reason, message) within ``repeat_window`` seconds bumps the count of
the event already recorded instead of creating another. Messages must not carry secrets.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event
from lightkube.types import PatchType

from warden.agent.logs import AgentLog
from warden.controllers import kubeclient
from warden.controllers.plugin import PolicyRule

NORMAL, WARNING = "Normal", "Warning"
COMPONENT = "warden-controller"
RBAC: tuple[PolicyRule, ...] = ({"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},)


@dataclass(slots=True)
class EventRecorder:
    kube: AsyncClient
    log: AgentLog
    now: Callable[[], float]
    repeat_window: float = 600.0
    _recent: dict[tuple[str, str, str, str, str], tuple[Event, float]] = field(default_factory=dict)

    async def record(self, obj: Any, kind_type: str, reason: str, message: str) -> None:
        meta = obj.metadata
        key = (meta.uid or "", meta.namespace or "", kind_type, reason, message)
        stamp = dt.datetime.fromtimestamp(self.now(), dt.UTC).replace(microsecond=0)
        try:
            seen = self._recent.get(key)
            if seen is not None and self.now() - seen[1] < self.repeat_window:
                event = seen[0]
                event.count = (event.count or 1) + 1
                event.lastTimestamp = stamp
                patch = {"count": event.count, "lastTimestamp": stamp.isoformat().replace("+00:00", "Z")}
                await self.kube.patch(
                    Event,
                    str(event.metadata.name),
                    patch,
                    namespace=event.metadata.namespace,
                    patch_type=PatchType.MERGE,
                )
                self._recent[key] = (event, seen[1])
                return
            event = Event(
                metadata=ObjectMeta(
                    name=f"{meta.name}.{secrets.token_hex(8)}", namespace=meta.namespace or "default"
                ),
                involvedObject=ObjectReference(
                    apiVersion=obj.apiVersion,
                    kind=obj.kind,
                    name=meta.name,
                    namespace=meta.namespace,
                    uid=meta.uid,
                    resourceVersion=meta.resourceVersion,
                ),
                reason=reason,
                message=message[:1024],
                type=kind_type,
                count=1,
                firstTimestamp=stamp,
                lastTimestamp=stamp,
                source=EventSource(component=COMPONENT),
                reportingComponent=COMPONENT,
            )
            created = await self.kube.create(event)
            self._recent[key] = (created, self.now())
            self._prune()
        except Exception as exc:
            if not isinstance(exc, httpx2.HTTPError | OSError):
                raise
            self.log.warning(
                "could not record an event",
                object=f"{meta.namespace}/{meta.name}",
                reason=reason,
                error=kubeclient.describe(exc),
            )

    def _prune(self) -> None:
        cutoff = self.now() - self.repeat_window
        for key in [k for k, (_, t) in self._recent.items() if t < cutoff]:
            del self._recent[key]
