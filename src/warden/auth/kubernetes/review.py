"""The TokenReview seam: how the Kubernetes auth method asks an API server about a JWT.

The backend never speaks HTTP. The composition root hands it an implementation as
``services["kubernetes.token_reviewer"]`` (``warden.outbound.kube`` in production, a
fake in unit tests), which POSTs an ``authentication.k8s.io/v1`` TokenReview and
returns its ``status`` object exactly as Kubernetes documents it. Nothing but plain
values crosses the seam, so neither side imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

SERVICE_NAME = "kubernetes.token_reviewer"


class TokenReviewer(Protocol):
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
        """The TokenReview ``status`` for ``token``.

        ``host`` is the API server's https base URL. ``ca_pem`` is the bundle its
        certificate must chain to ("" means the pod-local CA when
        ``use_local_defaults``, else the system trust store; never no check).
        ``reviewer_jwt`` is the bearer credential ("" means the pod-local token
        when allowed, else ``token`` itself). A 401 from the API server comes back
        as ``{"authenticated": False, "error": ...}``; failing to get an answer
        (network, TLS verification, other statuses) raises a
        ``warden.logical.errors`` error whose message holds no credential.
        """
        ...


@dataclass(frozen=True, slots=True)
class ReviewResult:
    """The parts of a TokenReview ``status`` that a login uses."""

    authenticated: bool
    username: str = ""
    uid: str = ""
    groups: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    error: str = ""

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> ReviewResult:
        user = status.get("user") or {}
        return cls(
            authenticated=status.get("authenticated") is True,
            username=str(user.get("username") or ""),
            uid=str(user.get("uid") or ""),
            groups=tuple(str(g) for g in user.get("groups") or ()),
            audiences=tuple(str(a) for a in status.get("audiences") or ()),
            error=str(status.get("error") or ""),
        )
