"""What the WardenSecret and WardenCertificate controllers share: the watches (the custom
resource, and the Secrets they own, labelled ``managed-by: warden``, mapped back to their
owner), the per-namespace warden logins, refusals turned into a condition, and removing a
Secret the resource no longer names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lightkube.resources.core_v1 import Secret

from warden.api import ApiError, Forbidden
from warden.api.client import AsyncClient
from warden.controllers import kubeclient
from warden.controllers.context import Context
from warden.controllers.crds import API_VERSION
from warden.controllers.plugin import ObjectKey, PolicyRule, Watch, owner_keys
from warden.controllers.sync.owned import MANAGED_BY, owned_by
from warden.controllers.sync.settings import SyncSettings
from warden.controllers.tenancy import NamespaceLoginFailed, NamespaceSessions

SECRET_RULES: tuple[PolicyRule, ...] = (
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
)


class Refused(Exception):
    """warden (or the namespace's setup) refused: reported as a condition with ``reason``,
    tried again at the next refresh rather than with a tight backoff."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def resource_watches(resource: type[Any], settings: SyncSettings) -> list[Watch]:
    return [Watch(resource, namespace=ns) for ns in settings.namespaces] or [Watch(resource)]


def secret_watches(kind: str, settings: SyncSettings) -> list[Watch]:
    keys = owner_keys(API_VERSION, kind)
    label = (MANAGED_BY,)
    return [Watch(Secret, namespace=ns, labels=label, keys=keys) for ns in settings.namespaces] or [
        Watch(Secret, labels=label, keys=keys)
    ]


def rbac(resource_plural: str, settings: SyncSettings) -> list[PolicyRule]:
    from warden.controllers.events import RBAC as EVENT_RULES

    return [
        {"apiGroups": ["warden.dev"], "resources": [resource_plural], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["warden.dev"],
            "resources": [f"{resource_plural}/status"],
            "verbs": ["get", "update", "patch"],
        },
        *SECRET_RULES,
        *EVENT_RULES,
        *settings.auth.rbac_rules(),
    ]


class SyncBase:
    """The parts of a sync controller that are not about its resource's content."""

    resource: type[Any]
    kind: str

    def __init__(self, settings: SyncSettings, ctx: Context) -> None:
        self.settings = settings
        self.ctx = ctx
        self.workers = settings.workers
        self.resource_watches = resource_watches(self.resource, settings)
        self.secret_watches = secret_watches(self.kind, settings)
        self.watches: Sequence[Watch] = (*self.resource_watches, *self.secret_watches)
        self.sessions: NamespaceSessions = ctx.namespace_sessions(settings.auth)
        self._written: dict[ObjectKey, Any] = {}  # Secrets applied, until the watch has them

    async def prepare(self) -> None:
        await self.sessions.aclose()  # a new term logs in afresh

    def get(self, key: ObjectKey) -> Any | None:
        for watch in self.resource_watches:
            if watch.namespace in (None, key.namespace):
                found = self.ctx.store(watch).get(key)
                if found is not None:
                    return found
        return None

    def secret(self, namespace: str, name: str) -> Any | None:
        """The Secret as last seen: from the watch, or as this controller just wrote it
        (until the watch catches up, so a reconcile never misses its own write)."""
        key = ObjectKey(namespace, name)
        stored = None
        for watch in self.secret_watches:
            if watch.namespace in (None, namespace):
                stored = self.ctx.store(watch).get(key) or stored
        written = self._written.get(key)
        if written is None:
            return stored
        if stored is not None and _version(stored) >= _version(written):
            del self._written[key]
            return stored
        return written

    async def current_secret(self, namespace: str, name: str) -> Any | None:
        """The Secret of that name, also one the watch does not see (not labelled as
        warden's): a Secret someone else made must be found, and left alone."""
        found = self.secret(namespace, name)
        if found is not None:
            return found
        try:
            return await self.ctx.kube.get(Secret, name, namespace=namespace)
        except Exception as exc:
            if kubeclient.is_not_found(exc):
                return None
            raise

    def remember(self, secret: Any) -> None:
        self._written[ObjectKey.of(secret)] = secret

    def owned_secrets(self, obj: Any) -> list[Any]:
        out = []
        for watch in self.secret_watches:
            if watch.namespace in (None, obj.metadata.namespace):
                out += [
                    s
                    for s in self.ctx.store(watch).list()
                    if s.metadata.namespace == obj.metadata.namespace and owned_by(s, obj)
                ]
        return out

    async def warden(self, namespace: str) -> AsyncClient:
        try:
            return await self.sessions.client(namespace)
        except NamespaceLoginFailed as exc:
            raise Refused("LoginFailed", str(exc)) from None

    async def refused(self, namespace: str, exc: ApiError, what: str) -> Refused:
        """A 4xx from warden with the namespace's token, as a condition; a 403 also drops
        the namespace's token (revoked, or its policy changed)."""
        errors = "; ".join(exc.errors) or f"status {exc.status}"
        if isinstance(exc, Forbidden):
            await self.sessions.forget(namespace)
            return Refused("PermissionDenied", f"namespace {namespace} may not {what}: {errors}")
        return Refused("WardenRefused", f"{what}: {errors}")

    async def remove_stale(self, obj: Any, keep: str) -> None:
        """Delete Secrets this resource owns under another name (its secretName changed)."""
        for stale in self.owned_secrets(obj):
            if stale.metadata.name == keep:
                continue
            self.ctx.ensure_leading()
            try:
                await self.ctx.kube.delete(Secret, stale.metadata.name, namespace=stale.metadata.namespace)
            except Exception as exc:
                if not kubeclient.is_not_found(exc):
                    raise
            self._written.pop(ObjectKey.of(stale), None)

    async def aclose(self) -> None:
        await self.sessions.aclose()


def _version(obj: Any) -> int:
    """resourceVersions are etcd revisions in practice; an unreadable one counts as new."""
    try:
        return int(obj.metadata.resourceVersion)
    except (TypeError, ValueError):
        return 1 << 62


def is_refusal(exc: ApiError) -> bool:
    """A 4xx that asking again will not change (not 408/412/429)."""
    return 400 <= exc.status < 500 and exc.status not in (408, 412, 429)
