"""Core: the one entrance every request passes (seal -> token -> ACL -> route -> tokens)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

import orjson

from warden.core.audit import AuditBroker
from warden.core.audit_trail import AuditTrail
from warden.core.barrier import Barrier
from warden.core.batch_tokens import BatchTokenCodec
from warden.core.ha import HAConfig, HighAvailability, StandbyNode
from warden.core.leases import Lease, LeaseManager
from warden.core.metrics import InstrumentedPhysical, Metrics
from warden.core.mounting import MountDefaults, Mounts
from warden.core.mounts import login_token_type
from warden.core.policy_store import PolicyStore
from warden.core.registry import Registry
from warden.core.router import Route, Router
from warden.core.seal import SealStatus, ShamirSeal
from warden.core.shared import EPOCH_BYTES, Changes, Epochs, Family, SharedMemory, SharedSeal
from warden.core.tokens import CoreTokenStore, RenewLimits, TtlLimits
from warden.core.view import StorageView
from warden.core.wrapping import Wrapper
from warden.framework.net import addr_in_cidrs
from warden.logical.backend import BackendConfig, LogicalBackend
from warden.logical.clock import Clock, SystemClock
from warden.logical.errors import (
    InvalidRequest,
    NotInitialized,
    PermissionDenied,
    Sealed,
    UnsupportedPath,
    WardenError,
)
from warden.logical.operation import Operation
from warden.logical.request import Caller, Request
from warden.logical.response import Auth, Response, Secret
from warden.logical.tokens import TokenEntry, TokenSpec
from warden.storage.base import HABackend, PhysicalBackend

log = logging.getLogger("warden.core")

HOUR = 3600
_HELP_KEYS = frozenset({"help", "openapi", "see_also"})


@dataclass(frozen=True, slots=True)
class CoreConfig:
    default_lease_ttl: int = 768 * HOUR
    max_lease_ttl: int = 768 * HOUR
    periodic_interval: float = 60.0
    storage_type: str = "sqlite"
    cluster_name: str = ""


@dataclass(frozen=True, slots=True)
class WorkerSet:
    """This process's place among the worker processes of one server (``core.shared``)."""

    worker: int = 0
    workers: int = 1
    memory: SharedMemory | None = None  # None: a server of one process

    @property
    def primary(self) -> bool:
        """Only one worker runs the background jobs (lease expiry, periodic upkeep)."""
        return self.worker == 0


WATCH_INTERVAL_S = 0.2  # how often an idle worker looks for changes (seal, mounts...)


@dataclass(frozen=True, slots=True)
class InitResult:
    keys: list[bytes]
    root_token: str


class Core:
    def __init__(
        self,
        physical: PhysicalBackend,
        registry: Registry,
        *,
        clock: Clock | None = None,
        config: CoreConfig = CoreConfig(),
        randbytes: Callable[[int], bytes] = secrets.token_bytes,
        system_backend_factory: Callable[[Core, BackendConfig], LogicalBackend] | None = None,
        ha_backend: HABackend | None = None,
        ha_config: HAConfig | None = None,
        workers: WorkerSet = WorkerSet(),
    ) -> None:
        self.workers = workers
        memory = workers.memory
        self.epochs = Epochs(memory.buffer if memory else bytearray(EPOCH_BYTES),
                             workers.worker, workers.workers)
        self.metrics = Metrics(sealed=lambda: not self._active)
        physical = InstrumentedPhysical(physical, self.metrics)
        self.physical = physical
        self.registry = registry
        self.clock: Clock = clock or SystemClock()
        self.config = config
        self.randbytes = randbytes
        self.barrier = Barrier(physical, randbytes=randbytes)
        self.seal = ShamirSeal(physical, self.barrier, randbytes=randbytes,
                               shared=SharedSeal(memory) if memory else None)
        self.router = Router()
        sys_view = StorageView(self.barrier, "sys/")
        self.policies = PolicyStore(sys_view.sub_view("policy/"))
        self.tokens = CoreTokenStore(
            sys_view.sub_view("token/"),
            clock=self.clock,
            randbytes=randbytes,
            limits=TtlLimits(config.default_lease_ttl, config.max_lease_ttl),
            batch=BatchTokenCodec(self.barrier),
        )
        self.audit = AuditBroker(self.barrier, randbytes=randbytes)
        self.wrapper = Wrapper(self.tokens, sys_view.sub_view("wrapping/"), self.clock)
        self.leases = LeaseManager(sys_view.sub_view("expire/"), clock=self.clock,
                                   randbytes=randbytes, revoke_backend=self._revoke_lease)
        self.tokens.on_revoke(lambda entry: self.leases.revoke_by_token(entry.accessor))
        self.tokens.set_renew_policy(self._login_renew_limits)
        self.tokens.on_change(functools.partial(self.epochs.bump, Family.TOKENS))
        self.policies.on_change(functools.partial(self.epochs.bump, Family.POLICIES))
        self.audit.on_change(functools.partial(self.epochs.bump, Family.AUDIT))
        self.leases.on_change(functools.partial(self.epochs.bump, Family.LEASES))
        self.barrier.on_keyring_change(functools.partial(self.epochs.bump, Family.KEYRING))
        if system_backend_factory is None:
            from warden.core.sys_backend import system_backend

            system_backend_factory = system_backend
        self._lock = asyncio.Lock()
        self._active = False
        self.mounts = Mounts(
            self.barrier, registry=registry, router=self.router, leases=self.leases,
            clock=self.clock, randbytes=randbytes, lock=self._lock,
            defaults=MountDefaults(config.default_lease_ttl, config.max_lease_ttl),
            is_active=lambda: self._active, policies=self.policies, tokens=self.tokens,
            system_backend=functools.partial(system_backend_factory, self),
        )
        self.mounts.on_change(functools.partial(self.epochs.bump, Family.MOUNTS),
                              self.epochs.bump_mount)
        self._sync_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self.cluster_id = ""
        self.cluster_name = config.cluster_name
        self._inflight = 0
        self._drained = asyncio.Event()
        self._drained.set()
        self.ha: HighAvailability | None = None
        if ha_backend is not None and ha_backend.ha_enabled:
            if ha_config is None:
                raise ValueError("an HA storage backend needs an HAConfig (api_addr)")
            self.ha = HighAvailability(ha_backend, self.barrier, self, ha_config,
                                       clock=self.clock, randbytes=randbytes)

    @property
    def storage_type(self) -> str:
        return self.config.storage_type

    # -- seal lifecycle -------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        if self.ha is not None:
            return self.barrier.sealed
        return not self._active

    @property
    def active(self) -> bool:
        return self._active

    @property
    def standby(self) -> bool:
        """Unsealed, but another node is (or will be) the active one."""
        return self.ha is not None and not self.barrier.sealed and not self._active

    async def initialized(self) -> bool:
        return await self.barrier.initialized()

    async def seal_status(self) -> SealStatus:
        return await self.seal.status()

    async def initialize(self, secret_shares: int, secret_threshold: int) -> InitResult:
        async with self._lock:
            keys = await self.seal.initialize(secret_shares, secret_threshold)
            for key in keys[:secret_threshold]:
                await self.seal.submit_key(key, publish=False)
            await self._post_unseal(announce=False)  # only to make the root token; sealed again below
            root_token, _ = await self.create_root_token()
            await self._pre_seal()
            self.seal.seal(publish=False)
        return InitResult(keys=keys, root_token=root_token)

    async def unseal(self, key: bytes) -> SealStatus:
        await self.sync()  # another worker may have unsealed already
        async with self._lock:
            if not await self.barrier.initialized():
                raise NotInitialized()
            was_sealed = self.barrier.sealed
            status = await self.seal.submit_key(key)
            if not status.sealed and not self._active:
                if self.ha is not None:
                    await self._load_cluster_identity(create=False)
                    self.ha.start()  # standby until this node wins the lock
                else:
                    await self._post_unseal()
            if was_sealed and not status.sealed:
                self.epochs.bump(Family.SEAL)  # the other workers unseal with the shared key
        await self.sync()  # ... or it was another worker's key that completed the threshold
        return await self.seal.status() if status.sealed else status

    async def seal_vault(self, *, drain: float = 0.0, publish: bool = True) -> None:
        """Seal; with ``publish`` (sys/seal) every worker of the server seals too, without
        it (this process shuts down) only this one."""
        if self.ha is not None:
            await self.ha.stop(drain=drain)  # stands down first if this node is the active one
        async with self._lock:
            await self._pre_seal()
            self.seal.seal(publish=publish)
        if publish:
            self.epochs.bump(Family.SEAL)

    # -- the worker processes of one server ------------------------------------------------

    def start(self) -> None:
        """Watch for changes made by the server's other workers while idle (seal, unseal,
        mounts), so background state follows even when no request arrives."""
        if self.workers.workers > 1 and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            try:
                await self.sync()
            except Exception:
                log.exception("applying another worker's changes failed")

    async def sync(self) -> None:
        """Apply what the server's other workers changed (see ``core.shared``). Called at
        the start of every request; a request that finds changes waits until they are
        applied, so every change made before it started holds for it."""
        if not self.epochs.pending() and not self._sync_lock.locked():
            return  # (while another request applies changes, this one waits for them too)
        async with self._sync_lock:
            changes = self.epochs.changed()
            if not changes:
                return
            try:
                await self._apply(changes)
            except BaseException:
                self.epochs.unapplied()  # the next request applies them again
                raise

    async def join(self) -> None:
        """A worker starting (or restarting) beside running ones: take the shared seal as
        it stands. Its change counters start from now, so an unseal that happened before
        this process counted is not a change ``sync`` would see."""
        if self.workers.workers > 1:
            async with self._sync_lock:
                await self._adopt_seal()

    async def _apply(self, changes: Changes) -> None:
        if Family.SEAL in changes.families:
            await self._adopt_seal()
        if not self._active:
            return
        if Family.KEYRING in changes.families:
            await self.barrier.reload_keyring()
        if Family.TOKENS in changes.families:
            self.tokens.forget_cache()
        if Family.POLICIES in changes.families:
            self.policies.forget_cache()
        if Family.MOUNTS in changes.families:
            await self.mounts.reload()
        if Family.AUDIT in changes.families:
            await self.audit.reload()
        if changes.mount_slots:
            self.mounts.invalidate_backends(changes.mount_slots)
        if Family.LEASES in changes.families and self.workers.primary:
            await self.leases.load()

    async def _adopt_seal(self) -> None:
        """Unseal with the root key another worker left, or seal because one sealed."""
        root_key = self.seal.published_root_key()
        async with self._lock:
            if root_key is not None and self.barrier.sealed:
                await self.barrier.unseal(root_key)
                await self._post_unseal()
            elif root_key is None and self._active:
                await self._pre_seal()
                self.seal.seal(publish=False)

    # -- HA: gaining and losing the active role ----------------------------------------------

    async def activate(self) -> None:
        """This node won the HA lock: load everything from storage and serve."""
        async with self._lock:
            if self.barrier.sealed:
                raise Sealed()
            await self.barrier.reload_keyring()  # the previous active node may have rotated
            await self._post_unseal()

    def stop_serving(self) -> None:
        """Refuse new requests at once (they are forwarded to the next active node)."""
        self._active = False

    async def deactivate(self, *, drain: float) -> None:
        """Wait up to ``drain`` seconds for requests in flight, then drop what was loaded."""
        self._active = False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), drain)
        async with self._lock:
            await self._pre_seal()
            self.tokens.forget_cache()
            self.policies.forget_cache()

    def step_down(self) -> None:
        if self.ha is not None:
            self.ha.step_down()

    async def _post_unseal(self, *, announce: bool = True) -> None:
        await self._load_cluster_identity()
        await self.audit.setup()
        await self.tokens.setup()
        await self.policies.setup()
        await self.mounts.setup()
        await self.leases.load()
        self._active = True
        loop = asyncio.get_running_loop()
        if self.workers.primary:
            self._background = [loop.create_task(self._periodic_loop()),
                                loop.create_task(self._expiry_loop())]
        if announce:
            log.info("core unsealed; %d mounts active", len(self.router.routes()))

    async def _load_cluster_identity(self, *, create: bool = True) -> None:
        raw = await self.barrier.get("core/cluster")
        if raw is None:
            if not create:
                return
            ident = {"id": str(uuid.uuid4()),
                     "name": self.config.cluster_name or f"warden-cluster-{self.randbytes(4).hex()}"}
            await self.barrier.put("core/cluster", orjson.dumps(ident))
        else:
            ident = orjson.loads(raw)
        self.cluster_id = ident["id"]
        self.cluster_name = self.config.cluster_name or ident["name"]

    async def _pre_seal(self) -> None:
        self._active = False
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []
        for route in self.router.clear():
            with contextlib.suppress(Exception):
                await route.backend.cleanup()
        with contextlib.suppress(Exception):
            await self.audit.close()

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._active or self.ha is not None:
            await self.seal_vault(drain=5.0, publish=False)

    async def create_root_token(self, token_id: str = "") -> tuple[str, TokenEntry]:
        spec = TokenSpec(
            policies=("root",), path="auth/token/root", display_name="root", token_id=token_id
        )
        return await self.tokens.create(spec, parent=None)

    async def _expiry_loop(self) -> None:
        while True:
            due = self.leases.next_due()
            wait = 1.0 if due is None else min(1.0, max(0.0, due - self.clock.time()))
            await asyncio.sleep(wait)
            try:
                await self.leases.expire_due()
            except Exception:
                log.exception("lease expiry sweep failed")

    async def _revoke_lease(self, lease: Lease) -> None:
        """Ask the backend that issued a lease to revoke what it stands for."""
        found = self.router.match(lease.path)
        if found is None:
            return  # its mount is gone, and with it whatever the lease stood for
        route, relative = found
        await route.backend.handle_request(Request(
            operation=Operation.REVOKE, path=relative, storage=route.storage,
            mount=self.mounts.info(route.mount), secret=lease.secret(self.clock.time()),
        ))

    async def _login_renew_limits(self, entry: TokenEntry) -> RenewLimits | None:
        """Let the auth method that issued a login token decide how far it may renew."""
        if not entry.path.startswith("auth/") or entry.path.startswith("auth/token/"):
            return None
        found = self.router.match(entry.path)
        if found is None:
            raise InvalidRequest("the auth method that issued this token is no longer enabled")
        route, relative = found
        auth = Auth(policies=list(entry.policies), metadata=dict(entry.meta),
                    internal_data=dict(entry.internal_data), display_name=entry.display_name,
                    ttl=entry.ttl, period=entry.period)
        resp = await route.backend.handle_request(Request(
            operation=Operation.RENEW, path=relative, storage=route.storage,
            mount=self.mounts.info(route.mount), auth=auth,
        ))
        renewed = resp.auth if resp is not None else None
        if renewed is None:
            raise InvalidRequest("the auth method refused to renew this token")
        if set(renewed.policies) - {"default"} != set(entry.policies) - {"default"}:
            raise InvalidRequest("policies have changed, not renewing")
        info = self.mounts.info(route.mount)
        return RenewLimits(ttl=renewed.ttl or info.default_lease_ttl,
                           max_ttl=min(renewed.max_ttl or info.max_lease_ttl, info.max_lease_ttl),
                           period=renewed.period)

    async def _periodic_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(self.config.periodic_interval)
            ticks += 1
            for route in self.router.routes():
                try:
                    await route.backend.periodic()
                except Exception:
                    log.exception("periodic function of %s failed", route.prefix)
            if ticks % 60 == 0:
                with contextlib.suppress(Exception):
                    await self.tokens.tidy()

    # -- mounts ------------------------------------------------------------------------

    # -- the request pipeline -----------------------------------------------------------

    async def handle_request(self, req: Request) -> Response | None:
        await self.sync()
        start = time.perf_counter()
        ctx = AuditTrail(self, req)
        outcome = "ok"
        self._inflight += 1
        self._drained.clear()
        try:
            response = await self._handle(req, ctx)
        except WardenError as exc:
            outcome = str(exc.status)
            raise
        except Exception:
            outcome = "500"
            raise
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._drained.set()
            self._observe(req, ctx, outcome, time.perf_counter() - start)
        if response is not None:
            self._count_results(req, ctx, response)
        return response

    def _observe(self, req: Request, ctx: AuditTrail, outcome: str, seconds: float) -> None:
        self.metrics.observe_request(ctx.route.prefix if ctx.route else "", req.operation,
                                     outcome, seconds)
        route = ctx.route
        if route is not None and route.mount.table == "auth" and route.mount.type != "token":
            if req.path[len(route.prefix):].split("/", 1)[0] == "login":
                self.metrics.logins.labels(route.mount.type,
                                           "ok" if outcome == "ok" else "refused").inc()

    def _count_results(self, req: Request, ctx: AuditTrail, response: Response) -> None:
        cert = (response.audit or {}).get("certificate")
        if cert is not None and ctx.route is not None:
            self.metrics.certificates.labels(ctx.route.prefix, str(cert.get("role", ""))).inc()
        if response.auth is not None and response.auth.client_token and ctx.route is not None:
            self.metrics.tokens.labels(ctx.route.prefix).inc()

    async def _handle(self, req: Request, ctx: AuditTrail) -> Response | None:
        if not self._active:
            raise StandbyNode() if self.standby else Sealed()
        try:
            route, backend_req, entry, last_use = await self._admit(req, ctx)
        except WardenError as exc:
            await ctx.refused(exc)
            raise
        await ctx.log_request()
        try:
            response = await route.backend.handle_request(backend_req)
            if response is not None and backend_req.operation is Operation.HELP:
                # Help describes a path and nothing more: whatever came back is reduced to
                # the help itself, never a token, lease or wrapped response.
                response = Response(data={k: v for k, v in (response.data or {}).items()
                                          if k in _HELP_KEYS})
            elif response is not None:
                response = await self._finish(req, route, response, entry)
        except WardenError as exc:
            await ctx.log_response(None, error=exc)
            raise
        finally:
            if last_use:
                await self.tokens.revoke_token(req.client_token)
        await ctx.log_response(response)
        return response

    async def _admit(
        self, req: Request, ctx: AuditTrail
    ) -> tuple[Route, Request, TokenEntry | None, bool]:
        """Route, authenticate, authorize and spend a use of a limited-use token: everything
        that happens before a backend runs. The bool says whether that was the token's last
        use (the caller revokes it once the request is done)."""
        found = self.router.match(req.path)
        if found is None or found[0].tainted:
            # Authenticate first, as Vault does: an anonymous caller must not
            # learn which mounts exist.
            ctx.entry = await self._authenticate(req)
            await self._check_acl(req, ctx.entry, req.operation)
            raise UnsupportedPath(f'no handler for route "{req.path}". route entry not found.')
        route, relative = found
        ctx.route = route
        mount = self.mounts.route_info(route)
        token = req.client_token if route.mount.type in ("token", "system") else ""
        if route.unauthenticated.matches(relative):
            return route, replace(req, path=relative, storage=route.storage, mount=mount,
                                  client_token=token), None, False
        entry = ctx.entry = await self._authenticate(req)
        op = req.operation
        if op is Operation.HELP:
            # Vault's ACL: help is always allowed to a valid token (and never needs sudo).
            return route, replace(req, path=relative, storage=route.storage, mount=mount,
                                  client_token=token, data={}), entry, False
        if op is Operation.UPDATE:
            probe = replace(req, path=relative, storage=route.storage, mount=mount,
                            client_token=token)
            if await route.backend.existence_check(probe) is False:
                op = Operation.CREATE
        await self._check_acl(req, entry, op, needs_sudo=route.root.matches(relative))
        last_use = False
        if entry.num_uses:
            used, last_use = await self.tokens.use(req.client_token)
            if used is None:
                raise PermissionDenied()  # a concurrent request took the last use
        caller = Caller(accessor=entry.accessor, policies=entry.policies,
                        display_name=entry.display_name, metadata=entry.meta,
                        entity_id=entry.entity_id, path=entry.path)
        return route, Request(
            operation=op, path=relative, data=req.data, id=req.id, client_token=token,
            caller=caller, storage=route.storage, mount=mount, connection=req.connection,
            headers=req.headers, wrap_ttl=req.wrap_ttl,
        ), entry, last_use

    async def _finish(
        self, req: Request, route: Route, response: Response, entry: TokenEntry | None
    ) -> Response:
        """Tokens for logins, leases for leased secrets, then wrapping if asked."""
        response.mount_type = route.mount.type
        if response.auth is not None and not response.auth.client_token:
            await self._issue_login_token(req, route, response.auth)
        secret = response.secret
        if secret is not None and secret.internal_data.get("secret_type") and not secret.lease_id:
            await self._register_lease(req, route, secret, entry)
        wrap_ttl = req.wrap_ttl or response.wrap_ttl
        if wrap_ttl and response.raw is None and response.wrap_info is None:
            response = await self.wrapper.wrap(response, ttl=wrap_ttl, path=req.path)
        return response

    async def _register_lease(
        self, req: Request, route: Route, secret: Secret, entry: TokenEntry | None
    ) -> None:
        info = self.mounts.info(route.mount)
        accessor, max_ttl = (entry.accessor if entry else ""), info.max_lease_ttl
        if entry is not None and entry.token_type == "batch":
            # Vault: a batch token's leases end with it (its remaining TTL) and, if it has a
            # parent, are tracked by the parent, which revokes them when it goes.
            accessor = entry.parent_accessor
            max_ttl = min(max_ttl, max(1, entry.remaining_ttl(self.clock.time())))
        await self.leases.register(req.path, secret, accessor=accessor, max_ttl=max_ttl)

    async def _authenticate(self, req: Request) -> TokenEntry:
        if not req.client_token:
            raise PermissionDenied("permission denied: no client token was given")
        entry = await self.tokens.lookup(req.client_token)
        if entry is None or entry.num_uses < 0:
            raise PermissionDenied()
        if entry.bound_cidrs and not addr_in_cidrs(req.connection.remote_addr, entry.bound_cidrs):
            raise PermissionDenied()
        return entry

    async def _check_acl(
        self, req: Request, entry: TokenEntry, op: Operation, *, needs_sudo: bool = False
    ) -> None:
        if entry.is_root:
            return
        acl = await self.policies.acl(entry.policies)
        result = acl.allowed(op, req.path, req.data, wrap_ttl=req.wrap_ttl or None)
        if not result.allowed or (needs_sudo and not result.sudo):
            raise PermissionDenied()

    async def _issue_login_token(self, req: Request, route: Route, auth: Auth) -> None:
        """Turn the Auth a credential backend returned from a login into a real token."""
        if route.mount.table != "auth":
            raise InvalidRequest("only auth methods may return a login")
        policies = sorted({p for p in auth.policies if p})
        if not auth.no_default_policy and "default" not in policies:
            policies = sorted({*policies, "default"})
        if "root" in policies:
            raise PermissionDenied("auth methods cannot create root tokens")
        info = self.mounts.info(route.mount)
        prefix = route.mount.type if route.mount.type != "token" else "token"
        display = f"{prefix}-{auth.display_name}" if auth.display_name else prefix
        spec = TokenSpec(
            policies=tuple(policies),
            path=req.path,
            display_name=display,
            meta=auth.metadata,
            ttl=auth.ttl or info.default_lease_ttl,
            explicit_max_ttl=auth.explicit_max_ttl,
            max_ttl=min(auth.max_ttl or info.max_lease_ttl, info.max_lease_ttl),
            period=auth.period,
            num_uses=auth.num_uses,
            renewable=auth.renewable,
            orphan=True,
            token_type=login_token_type(route.mount.config.token_type, auth.token_type),
            bound_cidrs=tuple(auth.bound_cidrs),
            internal_data=auth.internal_data,
            entity_id=auth.entity_id,
        )
        token, entry = await self.tokens.create(spec, parent=None)
        auth.client_token = token
        auth.accessor = entry.accessor
        auth.policies = list(entry.policies)
        auth.token_policies = list(entry.policies)
        auth.lease_duration = entry.ttl
        auth.renewable = entry.renewable
        auth.orphan = True
        auth.token_type = entry.token_type

    # -- helpers for the system backend --------------------------------------------------

    async def capabilities(self, entry: TokenEntry, path: str) -> list[str]:
        if entry.is_root:
            return ["root"]
        acl = await self.policies.acl(entry.policies)
        return sorted(acl.capabilities(path))


