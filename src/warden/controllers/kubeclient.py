"""The Kubernetes client: lightkube's ``AsyncClient`` from a kubeconfig file or the pod's
service account, and how its errors are told apart.

lightkube re-reads a rotated service-account token file by itself (on a 401), verifies the
apiserver's certificate against the kubeconfig's CA (or the service account's ``ca.crt``),
and raises ``ApiError`` (an ``httpx2.HTTPStatusError`` carrying the apiserver's ``Status``)
for refusals, also for an ``ERROR`` event inside a watch stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from lightkube import AsyncClient, ConfigError, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.core.resource import NamespacedResource, NamespacedSubResource

FIELD_MANAGER = "warden-controller"
ALL_NAMESPACES = "*"


class KubeSetupError(Exception):
    """The Kubernetes connection cannot be set up (no kubeconfig, not in a cluster)."""


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    """``kubernetes {}``: a kubeconfig file (and context), or, when absent, the pod's
    service account (``/var/run/secrets/kubernetes.io/serviceaccount``)."""

    kubeconfig: Path | None = None
    context: str = ""
    timeout: float = 30.0


def make_client(settings: KubernetesSettings) -> AsyncClient:
    try:
        if settings.kubeconfig is not None:
            config = KubeConfig.from_file(settings.kubeconfig)
            single = config.get(context_name=settings.context or None)
        else:
            single = KubeConfig.from_service_account().get()
    except (ConfigError, OSError, KeyError, ValueError) as exc:
        where = settings.kubeconfig or "the in-cluster service account"
        raise KubeSetupError(f"cannot load the Kubernetes configuration from {where}: {exc}") from None
    return AsyncClient(single, timeout=httpx2.Timeout(settings.timeout), field_manager=FIELD_MANAGER,
                       trust_env=False)


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of a refusal by the apiserver (also inside a watch), else None."""
    if isinstance(exc, ApiError) and exc.status is not None and exc.status.code:
        return int(exc.status.code)
    if isinstance(exc, httpx2.HTTPStatusError):
        return exc.response.status_code
    return None


def is_gone(exc: BaseException) -> bool:
    """410 Gone: the resourceVersion is too old (compacted); list again."""
    return status_code(exc) == 410


def is_conflict(exc: BaseException) -> bool:
    """409 Conflict: the object changed since it was read (optimistic concurrency)."""
    return status_code(exc) == 409


def is_not_found(exc: BaseException) -> bool:
    return status_code(exc) == 404


def describe(exc: BaseException) -> str:
    """One line for a log: the apiserver's message, or the transport failure."""
    if isinstance(exc, ApiError) and exc.status is not None:
        return f"{exc.status.code} {exc.status.reason or ''}: {exc.status.message or ''}".strip()
    if isinstance(exc, httpx2.HTTPError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc) or type(exc).__name__


def is_namespaced(resource: type[Any]) -> bool:
    return issubclass(resource, NamespacedResource | NamespacedSubResource)
