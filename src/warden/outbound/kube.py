"""TokenReview over HTTPS with httpx: the production TokenReviewer of the Kubernetes auth method.

TLS is always verified: against the configured CA bundle, else the pod's own
service-account CA (when allowed), else the system trust store.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from warden.logical.errors import CodedError

TOKENREVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
LOCAL_SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
BAD_GATEWAY = 502


class HttpTokenReviewer:
    """Stateless: a new client per review, since each mount has its own CA and credential."""

    def __init__(self, *, timeout: float = 10.0, local_sa_dir: Path = LOCAL_SA_DIR) -> None:
        self._timeout = timeout
        self._local_sa_dir = local_sa_dir

    async def review(
        self,
        *,
        host: str,
        token: str,
        ca_pem: str,
        reviewer_jwt: str,
        audiences: Sequence[str],
        use_local_defaults: bool,
    ) -> Mapping[str, Any]:
        ca = ca_pem or (self._local("ca.crt") if use_local_defaults else "")
        bearer = reviewer_jwt or (self._local("token") if use_local_defaults else "") or token
        spec: dict[str, Any] = {"token": token}
        if audiences:
            spec["audiences"] = list(audiences)
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        try:
            async with httpx.AsyncClient(verify=_tls_context(ca), timeout=self._timeout,
                                         follow_redirects=False) as client:
                resp = await client.post(
                    host.rstrip("/") + TOKENREVIEW_PATH, json=body,
                    headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise CodedError(BAD_GATEWAY, f"TokenReview request to {host} failed: "
                             f"{type(exc).__name__}: {_reason(exc)}") from None
        return _status_of(resp, host)

    def _local(self, name: str) -> str:
        try:
            return (self._local_sa_dir / name).read_text().strip()
        except OSError:
            return ""


def _tls_context(ca_pem: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    except ssl.SSLError:
        raise CodedError(BAD_GATEWAY, "the configured kubernetes_ca_cert could not be loaded") from None


def _reason(exc: Exception) -> str:
    """The innermost cause (e.g. certificate verify failed), short; never request headers."""
    cause: BaseException = exc
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    return (str(cause) or str(exc) or "no detail")[:300]


def _status_of(resp: httpx.Response, host: str) -> Mapping[str, Any]:
    if resp.status_code == 401:
        return {"authenticated": False,
                "error": "the Kubernetes API refused the reviewer's credentials (HTTP 401)"}
    if resp.status_code not in (200, 201):
        raise CodedError(BAD_GATEWAY, f"TokenReview at {host} failed: HTTP {resp.status_code}"
                         f"{_api_message(resp)}")
    try:
        review = resp.json()
    except ValueError:
        raise CodedError(BAD_GATEWAY, f"TokenReview at {host} answered with invalid JSON") from None
    status = review.get("status") if isinstance(review, dict) else None
    if not isinstance(status, dict):
        raise CodedError(BAD_GATEWAY, f"TokenReview at {host} answered without a status")
    return status


def _api_message(resp: httpx.Response) -> str:
    """The API server's own explanation (e.g. RBAC forbids creating tokenreviews)."""
    try:
        message = resp.json().get("message", "")
    except (ValueError, AttributeError):
        return ""
    return f": {str(message)[:300]}" if message else ""
