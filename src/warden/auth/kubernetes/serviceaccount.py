"""Who a service-account token speaks for, and whether a role's bindings admit it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

USERNAME_PREFIX = "system:serviceaccount:"
# Claims of the legacy (Secret-based) tokens, which carry no nested "kubernetes.io".
LEGACY_NAMESPACE = "kubernetes.io/serviceaccount/namespace"
LEGACY_NAME = "kubernetes.io/serviceaccount/service-account.name"
LEGACY_UID = "kubernetes.io/serviceaccount/service-account.uid"
LEGACY_SECRET = "kubernetes.io/serviceaccount/secret.name"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    namespace: str
    name: str
    uid: str = ""
    secret_name: str = ""

    @property
    def username(self) -> str:
        return f"{USERNAME_PREFIX}{self.namespace}:{self.name}"


def from_username(username: str, uid: str = "") -> ServiceAccount | None:
    """``system:serviceaccount:<ns>:<name>`` as TokenReview reports it; None for other users."""
    if not username.startswith(USERNAME_PREFIX):
        return None
    namespace, sep, name = username[len(USERNAME_PREFIX):].partition(":")
    if not (sep and namespace and name) or ":" in name:
        return None
    return ServiceAccount(namespace=namespace, name=name, uid=uid)


def from_claims(claims: Mapping[str, Any]) -> ServiceAccount | None:
    """The identity in a token's claims (projected or legacy); None if it names none.

    A projected token's ``sub`` must agree with its ``kubernetes.io`` claims.
    """
    nested = claims.get("kubernetes.io")
    if isinstance(nested, Mapping):
        sa = nested.get("serviceaccount") or {}
        secret = nested.get("secret") or {}
        found = ServiceAccount(
            namespace=str(nested.get("namespace") or ""),
            name=str(sa.get("name") or "") if isinstance(sa, Mapping) else "",
            uid=str(sa.get("uid") or "") if isinstance(sa, Mapping) else "",
            secret_name=str(secret.get("name") or "") if isinstance(secret, Mapping) else "",
        )
    else:
        found = ServiceAccount(
            namespace=str(claims.get(LEGACY_NAMESPACE) or ""),
            name=str(claims.get(LEGACY_NAME) or ""),
            uid=str(claims.get(LEGACY_UID) or ""),
            secret_name=str(claims.get(LEGACY_SECRET) or ""),
        )
    if not (found.namespace and found.name):
        return None
    sub = claims.get("sub")
    if sub is not None and sub != found.username:
        return None
    return found


def glob_match(pattern: str, value: str) -> bool:
    """Vault's glob: ``*`` matches any run of characters (none included); nothing else is special."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value) is not None


def matches_any(patterns: Iterable[str], value: str) -> bool:
    return any(glob_match(p, value) for p in patterns)
