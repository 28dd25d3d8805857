"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection.

Writes are optimistic (PUT with the resourceVersion read), so two candidates can never
both take the Lease. Time is measured on this process's monotonic clock, never by
comparing the Lease's timestamps with the local clock (replicas' clocks may differ):

- the leader renews every ``retry_period`` and stops acting once ``renew_deadline`` has
  passed since the start of its last successful renewal (``is_leading`` turns false);
- a candidate dates each new version of the Lease by its previous poll, the last moment
  it saw the older version, and takes the Lease ``lease_duration`` after that, polling
  exactly then. A killed leader is so replaced within about ``lease_duration`` of its last
  renewal. Safety needs ``lease_duration > renew_deadline + retry_period`` (checked when
  the configuration is read) plus a margin for request latency: the old leader has
  stopped before anyone else can take over.

On SIGTERM the leader releases the Lease (empty holder), so a standby takes it at once.
"""

from __future__ import annotations

import datetime as dt
import math
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx2
from lightkube import AsyncClient
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease

from warden.agent.backoff import Uniform
from warden.agent.clock import Clock
from warden.agent.logs import AgentLog
from warden.controllers import kubeclient
from warden.controllers.metrics import RuntimeMetrics

DEFAULT_LEASE_DURATION, DEFAULT_RENEW_DEADLINE, DEFAULT_RETRY_PERIOD = 15.0, 10.0, 2.0


class NotLeading(Exception):
    """This process does not (safely) hold the Lease: do not act."""


@dataclass(frozen=True, slots=True)
class LeaderSettings:
    namespace: str = "kube-system"
    name: str = "warden-controller"
    identity: str = ""  # default: <hostname>_<random>, as client-go
    lease_duration: float = DEFAULT_LEASE_DURATION
    renew_deadline: float = DEFAULT_RENEW_DEADLINE
    retry_period: float = DEFAULT_RETRY_PERIOD


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class LeaderElector:
    kube: AsyncClient
    settings: LeaderSettings
    log: AgentLog
    metrics: RuntimeMetrics
    clock: Clock
    monotonic: Callable[[], float]
    uniform: Uniform
    identity: str = ""
    leading: bool = False
    _renewed_at: float = -math.inf  # monotonic start of the last successful acquire/renew
    _seen_version: str | None = None  # the Lease version seen by the last poll
    _last_poll: float | None = None  # monotonic start of that poll
    _expires: float = -math.inf  # when the holder's lease runs out, by our observation
    _holder: str = ""
    _previous: str = ""  # who held the Lease before this process took it
    _lease: Lease | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.identity = self.identity or self.settings.identity or default_identity()

    # -- what controllers ask -------------------------------------------------------------

    def is_leading(self) -> bool:
        return self.leading and self.monotonic() < self._renewed_at + self.settings.renew_deadline

    def ensure_leading(self) -> None:
        if not self.is_leading():
            raise NotLeading(f"this process does not hold the Lease "
                             f"{self.settings.namespace}/{self.settings.name}")

    # -- candidate ------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this process holds the Lease."""
        s = self.settings
        self.log.info("waiting to lead", lease=f"{s.namespace}/{s.name}", identity=self.identity)
        while True:
            started = self.monotonic()
            try:
                if await self._try_acquire_or_renew(started):
                    self._became_leader()
                    return
            except Exception as exc:
                if not _is_api_failure(exc):
                    raise
                self.log.warning("cannot read or write the Lease", lease=f"{s.namespace}/{s.name}",
                                 error=kubeclient.describe(exc))
            await self.clock.sleep(self._candidate_delay())

    def _candidate_delay(self) -> float:
        poll = self.settings.retry_period * self.uniform(1.0, 1.2)
        until_expiry = self._expires - self.monotonic()
        return max(0.0, min(poll, until_expiry + 0.01)) if until_expiry > 0 else poll

    def _became_leader(self) -> None:
        self.leading = True
        self.metrics.leader.set(1)
        self.metrics.leader_changes.inc()
        self.log.info("became the leader", lease=f"{self.settings.namespace}/{self.settings.name}",
                      identity=self.identity, previous=self._previous or "none")

    # -- leader ---------------------------------------------------------------------------

    async def hold(self) -> None:
        """Renew the Lease until it cannot be renewed in time or another process holds it;
        then return (leadership lost)."""
        s = self.settings
        while True:
            await self.clock.sleep(s.retry_period)
            started = self.monotonic()
            try:
                renewed = await self._try_acquire_or_renew(started)
            except Exception as exc:
                if not _is_api_failure(exc):
                    raise
                renewed = False
                self.log.warning("cannot renew the Lease", lease=f"{s.namespace}/{s.name}",
                                 error=kubeclient.describe(exc))
            if not renewed and (self._holder not in ("", self.identity) or not self.is_leading()):
                self._lost(f"held by {self._holder}" if self._holder not in ("", self.identity)
                           else f"not renewed within {s.renew_deadline:g}s")
                return

    def _lost(self, why: str) -> None:
        self.leading = False
        self.metrics.leader.set(0)
        self.log.error("lost the lease; stopping the controllers", lease=f"{self.settings.namespace}/"
                       f"{self.settings.name}", reason=why)

    async def release(self) -> None:
        """Give the Lease up (if held), so a standby takes over without waiting."""
        if not self.leading or self._lease is None:
            return
        self.leading = False
        self.metrics.leader.set(0)
        lease = self._lease
        assert lease.spec is not None
        lease.spec.holderIdentity = None
        lease.spec.leaseDurationSeconds = 1
        lease.spec.renewTime = _now()
        try:
            await self.kube.replace(lease)
            self.log.info("released the lease", lease=f"{self.settings.namespace}/{self.settings.name}")
        except Exception as exc:
            if not _is_api_failure(exc):
                raise
            self.log.warning("could not release the lease; it expires by itself",
                             error=kubeclient.describe(exc))

    # -- one attempt ----------------------------------------------------------------------

    async def _try_acquire_or_renew(self, started: float) -> bool:
        s = self.settings
        try:
            lease = await self.kube.get(Lease, s.name, namespace=s.namespace)
        except Exception as exc:
            if not kubeclient.is_not_found(exc):
                raise
            return await self._create(started)
        spec = lease.spec or LeaseSpec()
        self._observe(lease, spec, started)
        holder = spec.holderIdentity or ""
        if holder and holder != self.identity and started < self._expires:
            return False
        now = _now()
        lease.spec = LeaseSpec(
            holderIdentity=self.identity, leaseDurationSeconds=math.ceil(s.lease_duration),
            acquireTime=spec.acquireTime if holder == self.identity else now, renewTime=now,
            leaseTransitions=(spec.leaseTransitions or 0) + (0 if holder == self.identity else 1))
        try:
            self._lease = await self.kube.replace(lease)
        except Exception as exc:
            if kubeclient.is_conflict(exc):
                return False
            raise
        self._renewed_at = started
        if holder != self.identity:
            self._previous = holder
        self._holder = self.identity
        return True

    async def _create(self, started: float) -> bool:
        s = self.settings
        now = _now()
        lease = Lease(metadata=ObjectMeta(name=s.name, namespace=s.namespace),
                      spec=LeaseSpec(holderIdentity=self.identity,
                                     leaseDurationSeconds=math.ceil(s.lease_duration),
                                     acquireTime=now, renewTime=now, leaseTransitions=0))
        try:
            self._lease = await self.kube.create(lease)
        except Exception as exc:
            if kubeclient.status_code(exc) == 409:  # someone else created it first
                return False
            raise
        self._renewed_at = started
        self._previous = ""
        self._holder = self.identity
        return True

    def _observe(self, lease: Lease, spec: LeaseSpec, started: float) -> None:
        version = lease.metadata.resourceVersion if lease.metadata is not None else None
        if version != self._seen_version:
            # The change happened after our previous poll read the older version.
            since = self._last_poll if self._seen_version is not None and self._last_poll is not None \
                else started
            duration = float(spec.leaseDurationSeconds or self.settings.lease_duration)
            self._expires = since + duration if spec.holderIdentity else -math.inf
            self._seen_version = version
        self._holder = spec.holderIdentity or ""
        self._last_poll = started


def _is_api_failure(exc: BaseException) -> bool:
    """A refusal or an unreachable apiserver (worth retrying), not a bug."""
    return isinstance(exc, httpx2.HTTPError | OSError)
