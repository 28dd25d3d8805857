"""High availability: one active node holds the storage's HA lock, the others stand by.

Modelled on Vault's HA (``vault/ha.go``). After a node is unsealed it runs an election
loop: block on the lock; on acquiring it, reload the keyring (another node may have
rotated it), load everything from storage (mounts, policies, audit devices, leases) and
advertise itself at ``core/leader/<node id>`` inside the barrier: its ``api_addr``,
``cluster_addr``, when it became active, its listener certificate (standbys pin it when
forwarding) and a fresh random forwarding key (only unsealed nodes can read it, so only
they can sign forwarded requests). When the lock is lost the node stops serving as
active at once, tears down what it loaded and stands by again; a manual step-down
releases the lock and waits ``STEP_DOWN_PAUSE_S`` before contending again, as Vault
does, so another node takes over.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final, Protocol

import orjson

from warden.logical.clock import Clock
from warden.logical.errors import WardenError
from warden.logical.storage import Storage
from warden.storage.base import HABackend, Lock, LockLost, StorageError

log = logging.getLogger("warden.core.ha")

LOCK_KEY: Final = "core/lock"
LEADER_PREFIX: Final = "core/leader/"
STEP_DOWN_PAUSE_S: Final = 10.0
_LEADER_CACHE_S: Final = 1.0
_RETRY_S: Final = 1.0


class StandbyNode(WardenError):
    """This node is unsealed but not the active node: the edge forwards or redirects."""

    status = 503

    @classmethod
    def default_message(cls) -> str:
        return "this node is a standby; send the request to the active node"


@dataclass(frozen=True, slots=True)
class HAConfig:
    """This node's advertisement (Vault's ``api_addr``/``cluster_addr``)."""

    api_addr: str
    cluster_addr: str = ""
    forwarding: bool = True  # False: Vault's disable_clustering, standbys answer 307
    tls_certificate: str = ""  # PEM of this node's listener certificate, for pinning


@dataclass(frozen=True, slots=True)
class Leader:
    """What the active node advertised; ``is_self`` when that is this node."""

    node_id: str
    api_addr: str
    cluster_addr: str
    active_time: float
    forward_key: bytes = field(repr=False)
    tls_certificate: str
    is_self: bool = False

    def to_json(self) -> bytes:
        return orjson.dumps({
            "node_id": self.node_id, "api_addr": self.api_addr,
            "cluster_addr": self.cluster_addr, "active_time": self.active_time,
            "forward_key": base64.b64encode(self.forward_key).decode(),
            "tls_certificate": self.tls_certificate,
        })

    @classmethod
    def from_json(cls, raw: bytes, *, is_self: bool) -> Leader:
        doc = orjson.loads(raw)
        return cls(str(doc["node_id"]), str(doc["api_addr"]), str(doc["cluster_addr"]),
                   float(doc["active_time"]), base64.b64decode(doc["forward_key"]),
                   str(doc.get("tls_certificate", "")), is_self)


class Activation(Protocol):
    """What the core does when this node gains or loses the active role."""

    async def activate(self) -> None: ...

    def stop_serving(self) -> None: ...

    async def deactivate(self, *, drain: float) -> None: ...


class HighAvailability:
    """The election loop of one unsealed node, and the leader as others see it."""

    def __init__(self, backend: HABackend, barrier: Storage, core: Activation, config: HAConfig,
                 *, clock: Clock, randbytes: Callable[[int], bytes] = secrets.token_bytes) -> None:
        self.config = config
        self.node_id = str(uuid.uuid4())
        self._backend = backend
        self._barrier = barrier
        self._core = core
        self._clock = clock
        self._randbytes = randbytes
        self._lock: Lock = backend.lock_with(LOCK_KEY, self.node_id)
        self._task: asyncio.Task[None] | None = None
        self._step_down = asyncio.Event()
        self._advertised: Leader | None = None
        self._cached: tuple[float, Leader | None] = (0.0, None)
        self._stop_drain = 0.0
        self.active_since = 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def advertised(self) -> Leader | None:
        """This node's own advertisement while it is active."""
        return self._advertised

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="warden-ha")

    async def stop(self, *, drain: float = 0.0) -> None:
        """Stop contending; if active, stand down (waiting up to ``drain`` seconds for
        requests in flight) and release the lock (sealing, shutdown)."""
        self._stop_drain = drain
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def step_down(self) -> None:
        """Give up the active role (``sys/step-down``); returns at once."""
        self._step_down.set()

    async def leader(self, *, fresh: bool = False) -> Leader | None:
        """The active node's advertisement, or None while no node is active."""
        if self._advertised is not None:
            return self._advertised
        at, cached = self._cached
        if not fresh and cached is not None and time.monotonic() - at < _LEADER_CACHE_S:
            return cached
        held, node_id = await self._lock.value()
        found = None
        if held:
            raw = await self._barrier.get(LEADER_PREFIX + node_id)
            found = None if raw is None else Leader.from_json(raw, is_self=node_id == self.node_id)
        self._cached = (time.monotonic(), found)
        return found

    def forget_leader(self) -> None:
        self._cached = (0.0, None)

    async def _run(self) -> None:
        try:
            while True:
                try:
                    lost = await self._lock.acquire()
                except StorageError as exc:  # no quorum, unreachable: keep trying
                    log.warning("cannot contend for the HA lock (%s); retrying", exc)
                    await asyncio.sleep(_RETRY_S)
                    continue
                manual = await self._serve_while_held(lost)
                if manual:
                    await asyncio.sleep(STEP_DOWN_PAUSE_S)
        finally:
            await self._lock.release()

    async def _serve_while_held(self, lost: LockLost) -> bool:
        """Be the active node until the lock is lost or a step-down; True for a step-down."""
        self._step_down.clear()
        try:
            await self._activate()
        except Exception as exc:  # storage trouble, a keyring this node cannot open, ...
            log.error("could not become the active node (%s); standing by", exc,
                      exc_info=not isinstance(exc, StorageError))
            await self._stand_down(drain=0.0)
            await self._lock.release()
            await asyncio.sleep(_RETRY_S)
            return False
        except asyncio.CancelledError:
            await self._stand_down(drain=0.0)
            raise
        try:
            manual = await _first(lost.wait(), self._step_down.wait()) == 1
        except asyncio.CancelledError:  # sealing or shutting down: stand down gracefully
            self._core.stop_serving()
            await self._stand_down(drain=self._stop_drain)
            raise
        if not manual:
            log.warning("lost the HA lock: this node stops acting as the active node")
        self._core.stop_serving()  # at once: new requests go to the next active node
        await self._stand_down(drain=10.0 if manual else 1.0)
        await self._lock.release()
        log.info("now a standby node%s", " (stepped down)" if manual else "")
        return manual

    async def _activate(self) -> None:
        self.active_since = self._clock.time()
        await self._core.activate()
        leader = Leader(self.node_id, self.config.api_addr, self.config.cluster_addr,
                        self.active_since, self._randbytes(32), self.config.tls_certificate,
                        is_self=True)
        await self._barrier.put(LEADER_PREFIX + self.node_id, leader.to_json())
        for stale in await self._barrier.list(LEADER_PREFIX):
            if stale != self.node_id:
                await self._barrier.delete(LEADER_PREFIX + stale)
        self._advertised = leader
        log.info("this node is now the active node (%s)", self.config.api_addr)

    async def _stand_down(self, *, drain: float) -> None:
        self._advertised = None
        self.forget_leader()
        try:
            await self._core.deactivate(drain=drain)
        except Exception:  # tearing down must finish: the lock is released after this
            log.exception("error while standing down")


async def _first(*waits: Awaitable[object]) -> int:
    """Wait for the first of ``waits``; its index. The others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return next(i for i, t in enumerate(tasks) if t in done)
    finally:
        for t in tasks:
            t.cancel()
