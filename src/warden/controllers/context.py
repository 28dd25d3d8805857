"""What the runtime hands each controller: its clients, caches, log, metrics and clock;
Events (``events``) and per-namespace warden logins (``namespace_sessions``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lightkube import AsyncClient
from prometheus_client import CollectorRegistry

from warden.agent.backoff import Uniform
from warden.agent.clock import Clock
from warden.agent.logs import AgentLog
from warden.api import AsyncClient as WardenClient
from warden.controllers.events import EventRecorder
from warden.controllers.plugin import Store, Watch
from warden.controllers.tenancy import NamespaceAuth, NamespaceSessions

T = TypeVar("T")


class Decisions:
    """One log line per decision: ``decision: controller=csr-signer csr=x signer=y
    decision=approved reason="..."``; never a credential (the log redacts by field name)."""

    def __init__(self, log: AgentLog, controller: str) -> None:
        self.log = log
        self.controller = controller

    def __call__(self, decision: str, reason: str = "", **fields: Any) -> None:
        self.log.info("decision", controller=self.controller, **fields, decision=decision,
                      **({"reason": reason} if reason else {}))


@dataclass(slots=True)
class Context:
    """``kube``: the lightkube client; ``warden``: the warden client, always carrying the
    current token (call ``report_denied()`` on a 403, the token may have been revoked);
    ``ensure_leading()``: raises ``NotLeading`` unless this process safely holds the Lease,
    call it right before a side effect; ``store(watch)``: the cache of one of the
    controller's watches (valid while the controller runs); ``events``: records Kubernetes
    Events; ``new_warden_client(token)``: a warden client with the process's server
    settings; ``namespace_sessions(auth)``: warden logins per namespace (``tenancy``);
    ``shared(key, make)``: one object per process for ``key``, made on first use, for what
    several controllers of one type share (their metrics: a registry takes each metric name
    once)."""

    kube: AsyncClient
    warden: WardenClient
    report_denied: Callable[[], None]
    ensure_leading: Callable[[], None]
    log: AgentLog
    registry: CollectorRegistry
    clock: Clock
    uniform: Uniform
    new_warden_client: Callable[[str], WardenClient]
    events: EventRecorder
    _stores: dict[Watch, Store] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict)

    def decisions(self, controller: str) -> Decisions:
        return Decisions(self.log, controller)

    def store(self, watch: Watch) -> Store:
        try:
            return self._stores[watch]
        except KeyError:
            raise LookupError(f"no running watch of {watch.describe()}") from None

    def namespace_sessions(self, auth: NamespaceAuth) -> NamespaceSessions:
        """Logins per namespace with ``auth``; one per controller, closed by the caller."""
        return NamespaceSessions(self.kube, auth, self.new_warden_client, self.clock)

    def shared(self, key: str, make: Callable[[], T]) -> T:
        if key not in self._shared:
            self._shared[key] = make()
        found: T = self._shared[key]
        return found

    def attach_stores(self, stores: dict[Watch, Store]) -> None:
        """Set by the runtime when it starts a controller's watches."""
        self._stores.update(stores)
