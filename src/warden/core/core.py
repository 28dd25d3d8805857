"""Core: the one entrance every request passes (seal -> token -> ACL -> route -> tokens)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from warden.audit.record import AuditAuth, AuditRecord, AuditRequest, AuditResponse
from warden.core.audit import AuditBroker
from warden.core.barrier import Barrier
from warden.core.leases import Lease, LeaseManager
from warden.core.metrics import InstrumentedPhysical, Metrics
from warden.core.mounts import (
    AUTH_TABLE_KEY,
    PROTECTED_PREFIXES,
    SECRETS_TABLE_KEY,
    MountConfig,
    MountEntry,
    MountTable,
)
from warden.core.policy_store import PolicyStore
from warden.core.registry import TYPE_ALIASES, Registry
from warden.core.router import PathMatcher, Route, Router
from warden.core.seal import SealStatus, ShamirSeal
from warden.core.tokens import CoreTokenStore, RenewLimits, TtlLimits, random_id
from warden.core.view import StorageView
from warden.core.wrapping import Wrapper
from warden.logical.backend import BackendConfig, LogicalBackend
from warden.logical.clock import Clock, SystemClock, to_rfc3339
from warden.logical.errors import (
    InvalidRequest,
    NotInitialized,
    PermissionDenied,
    Sealed,
    UnsupportedPath,
    WardenError,
)
from warden.logical.operation import Operation
from warden.logical.request import Caller, MountInfo, Request
from warden.logical.response import Auth, Response, Secret
from warden.logical.storage import Storage, clear
from warden.logical.tokens import TokenEntry, TokenSpec, TokenStore
from warden.storage.base import PhysicalBackend

log = logging.getLogger("warden.core")

HOUR = 3600


@dataclass(frozen=True, slots=True)
class CoreConfig:
    default_lease_ttl: int = 768 * HOUR
    max_lease_ttl: int = 768 * HOUR
    periodic_interval: float = 60.0
    storage_type: str = "sqlite"
    cluster_name: str = ""


@dataclass(frozen=True, slots=True)
class InitResult:
    keys: list[bytes]
    root_token: str


class _MountSystemView:
    """The SystemView a mounted backend sees; reads its mount's tuning live."""

    def __init__(self, core: Core, table: MountTable, path: str) -> None:
        self._core = core
        self._table = table
        self._path = path

    @property
    def clock(self) -> Clock:
        return self._core.clock

    def _config(self) -> MountConfig:
        entry = self._table.get(self._path)
        return entry.config if entry else MountConfig()

    def default_lease_ttl(self) -> int:
        return self._config().default_lease_ttl or self._core.config.default_lease_ttl

    def max_lease_ttl(self) -> int:
        return self._config().max_lease_ttl or self._core.config.max_lease_ttl

    def random_bytes(self, n: int) -> bytes:
        return self._core.randbytes(n)

    async def sudo_privilege(self, path: str, policies: tuple[str, ...]) -> bool:
        if "root" in policies:
            return True
        acl = await self._core.policies.acl(policies)
        return "sudo" in acl.capabilities(path)

    @property
    def token_store(self) -> TokenStore | None:
        entry = self._table.get(self._path)
        return self._core.tokens if entry is not None and entry.type == "token" else None


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
    ) -> None:
        self.metrics = Metrics(sealed=lambda: not self._active)
        physical = InstrumentedPhysical(physical, self.metrics)
        self.physical = physical
        self.registry = registry
        self.clock: Clock = clock or SystemClock()
        self.config = config
        self.randbytes = randbytes
        self.barrier = Barrier(physical, randbytes=randbytes)
        self.seal = ShamirSeal(physical, self.barrier, randbytes=randbytes)
        self.router = Router()
        self.secret_mounts = MountTable(self.barrier, SECRETS_TABLE_KEY, "secrets")
        self.auth_mounts = MountTable(self.barrier, AUTH_TABLE_KEY, "auth")
        sys_view = StorageView(self.barrier, "sys/")
        self.sys_storage: Storage = sys_view
        self.policies = PolicyStore(sys_view.sub_view("policy/"))
        self.tokens = CoreTokenStore(
            sys_view.sub_view("token/"),
            clock=self.clock,
            randbytes=randbytes,
            limits=TtlLimits(config.default_lease_ttl, config.max_lease_ttl),
        )
        self.audit = AuditBroker(self.barrier, randbytes=randbytes)
        self.wrapper = Wrapper(self.tokens, sys_view.sub_view("wrapping/"), self.clock)
        self.leases = LeaseManager(sys_view.sub_view("expire/"), clock=self.clock,
                                   randbytes=randbytes, revoke_backend=self._revoke_lease)
        self.tokens.on_revoke(lambda entry: self.leases.revoke_by_token(entry.accessor))
        self.tokens.set_renew_policy(self._login_renew_limits)
        if system_backend_factory is None:
            from warden.core.sys_backend import system_backend

            system_backend_factory = system_backend
        self._system_backend_factory = system_backend_factory
        self._lock = asyncio.Lock()
        self._active = False
        self._background: list[asyncio.Task[None]] = []
        self.cluster_id = ""
        self.cluster_name = config.cluster_name

    @property
    def storage_type(self) -> str:
        return self.config.storage_type

    # -- seal lifecycle -------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        return not self._active

    async def initialized(self) -> bool:
        return await self.barrier.initialized()

    async def seal_status(self) -> SealStatus:
        return await self.seal.status()

    async def initialize(self, secret_shares: int, secret_threshold: int) -> InitResult:
        async with self._lock:
            keys = await self.seal.initialize(secret_shares, secret_threshold)
            for key in keys[:secret_threshold]:
                await self.seal.submit_key(key)
            await self._post_unseal()
            root_token, _ = await self.create_root_token()
            await self._pre_seal()
            self.seal.seal()
        return InitResult(keys=keys, root_token=root_token)

    async def unseal(self, key: bytes) -> SealStatus:
        async with self._lock:
            if not await self.barrier.initialized():
                raise NotInitialized()
            status = await self.seal.submit_key(key)
            if not status.sealed and not self._active:
                await self._post_unseal()
            return status

    async def seal_vault(self) -> None:
        async with self._lock:
            await self._pre_seal()
            self.seal.seal()

    async def _post_unseal(self) -> None:
        await self._load_cluster_identity()
        await self.audit.setup()
        await self.tokens.setup()
        await self.policies.setup()
        await self._setup_mounts()
        await self.leases.load()
        self._active = True
        loop = asyncio.get_running_loop()
        self._background = [loop.create_task(self._periodic_loop()),
                            loop.create_task(self._expiry_loop())]
        log.info("core unsealed; %d mounts active", len(self.router.routes()))

    async def _load_cluster_identity(self) -> None:
        raw = await self.barrier.get("core/cluster")
        if raw is None:
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
        if self._active:
            await self.seal_vault()

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
            mount=self._mount_info(route.mount), secret=lease.secret(self.clock.time()),
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
            mount=self._mount_info(route.mount), auth=auth,
        ))
        renewed = resp.auth if resp is not None else None
        if renewed is None:
            raise InvalidRequest("the auth method refused to renew this token")
        if set(renewed.policies) - {"default"} != set(entry.policies) - {"default"}:
            raise InvalidRequest("policies have changed, not renewing")
        info = self._mount_info(route.mount)
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

    async def _setup_mounts(self) -> None:
        if not await self.secret_mounts.load():
            await self.secret_mounts.save({"sys/": self._new_entry("sys/", "system", "secrets")})
        if not await self.auth_mounts.load():
            await self.auth_mounts.save({"token/": self._new_entry("token/", "token", "auth")})
        for table in (self.secret_mounts, self.auth_mounts):
            for entry in table.entries.values():
                await self._activate(table, entry)

    def _new_entry(
        self,
        path: str,
        mount_type: str,
        table: str,
        *,
        description: str = "",
        config: MountConfig | None = None,
        options: Mapping[str, str] | None = None,
        local: bool = False,
        seal_wrap: bool = False,
    ) -> MountEntry:
        return MountEntry(
            path=path,
            type=mount_type,
            uuid=str(uuid.uuid4()),
            accessor=f"{'auth_' if table == 'auth' else ''}{mount_type}_{self.randbytes(4).hex()}",
            table=table,
            description=description,
            config=config or MountConfig(),
            options=dict(options or {}),
            local=local,
            seal_wrap=seal_wrap,
            created=self.clock.time(),
        )

    def _table(self, table: str) -> MountTable:
        return self.auth_mounts if table == "auth" else self.secret_mounts

    async def _activate(self, table: MountTable, entry: MountEntry) -> None:
        view = StorageView(self.barrier, entry.storage_prefix)
        conf = BackendConfig(
            mount_path=entry.route_prefix,
            mount_type=entry.type,
            mount_accessor=entry.accessor,
            storage=view,
            system=_MountSystemView(self, table, entry.path),
            options=entry.options,
            services=self.registry.services,
        )
        if entry.type == "system":
            backend = self._system_backend_factory(self, conf)
        else:
            factories = self.registry.auth if table.table == "auth" else self.registry.secrets
            factory = factories.get(entry.type)
            if factory is None:
                raise InvalidRequest(f"plugin not found in the catalog: {entry.type}")
            backend = factory(conf)
        await backend.initialize()
        special = backend.special_paths
        self.router.mount(
            Route(
                mount=entry,
                backend=backend,
                storage=view,
                unauthenticated=PathMatcher(special.unauthenticated),
                root=PathMatcher(special.root),
            )
        )

    async def enable_mount(
        self,
        table_name: str,
        path: str,
        mount_type: str,
        *,
        description: str = "",
        config: MountConfig | None = None,
        options: Mapping[str, str] | None = None,
        local: bool = False,
        seal_wrap: bool = False,
    ) -> MountEntry:
        path = normalize_mount_path(path)
        mount_type, options = _resolve_alias(mount_type, options or {})
        if table_name == "secrets" and any(path.startswith(p) for p in PROTECTED_PREFIXES):
            raise InvalidRequest(f'cannot mount at "{path}": that path is reserved')
        if table_name == "auth" and mount_type == "token":
            raise InvalidRequest("token credential backend cannot be instantiated")
        factories = self.registry.auth if table_name == "auth" else self.registry.secrets
        if mount_type not in factories:
            raise InvalidRequest(f"plugin not found in the catalog: {mount_type}")
        async with self._lock:
            self._check_active()
            table = self._table(table_name)
            entry = self._new_entry(
                path, mount_type, table_name, description=description, config=config,
                options=options, local=local, seal_wrap=seal_wrap,
            )
            conflict = self.router.conflict(entry.route_prefix)
            if conflict:
                raise InvalidRequest(f'path is already in use at "{conflict}"')
            await self._activate(table, entry)
            try:
                await table.save({**table.entries, path: entry})
            except Exception:
                self.router.unmount(entry.route_prefix)
                raise
            return entry

    async def disable_mount(self, table_name: str, path: str) -> None:
        path = normalize_mount_path(path)
        async with self._lock:
            self._check_active()
            table = self._table(table_name)
            entry = table.get(path)
            if entry is None:
                return  # as Vault: do not reveal whether something was mounted there
            if entry.type in ("system", "token"):
                raise InvalidRequest(f'cannot disable the "{entry.type}" mount')
            await self.leases.revoke_prefix(entry.route_prefix)
            remaining = {k: v for k, v in table.entries.items() if k != path}
            await table.save(remaining)
            route = self.router.unmount(entry.route_prefix)
            if route is not None:
                with contextlib.suppress(Exception):
                    await route.backend.cleanup()
            await clear(StorageView(self.barrier, entry.storage_prefix))

    async def tune_mount(
        self,
        table_name: str,
        path: str,
        *,
        description: str | None = None,
        options: Mapping[str, str] | None = None,
        **config_changes: Any,
    ) -> MountEntry:
        path = normalize_mount_path(path)
        async with self._lock:
            self._check_active()
            table = self._table(table_name)
            entry = table.get(path)
            if entry is None:
                raise InvalidRequest(f'no mount at "{path}"')
            updated = entry.tuned(**config_changes) if config_changes else entry
            cfg = updated.config
            if cfg.default_lease_ttl and cfg.max_lease_ttl and cfg.default_lease_ttl > cfg.max_lease_ttl:
                raise InvalidRequest("default_lease_ttl cannot be greater than max_lease_ttl")
            if description is not None:
                updated = replace(updated, description=description)
            if options:
                if entry.options.get("version") == "2" and options.get("version") == "1":
                    raise InvalidRequest("cannot downgrade a kv version 2 mount to version 1")
                updated = replace(updated, options={**entry.options, **options})
            await table.save({**table.entries, path: updated})
            if updated.options != entry.options:
                # Options shape the backend itself (kv's version): remount it in place.
                route = self.router.unmount(entry.route_prefix)
                if route is not None:
                    await route.backend.cleanup()
                await self._activate(table, updated)
            else:
                route = self.router.get(entry.route_prefix)
                if route is not None:
                    route.mount, route.info = updated, None
            return updated

    def _check_active(self) -> None:
        if not self._active:
            raise Sealed()

    # -- the request pipeline -----------------------------------------------------------

    async def handle_request(self, req: Request) -> Response | None:
        start = time.perf_counter()
        ctx = _Audit(self, req)
        outcome = "ok"
        try:
            response = await self._handle(req, ctx)
        except WardenError as exc:
            outcome = str(exc.status)
            raise
        except Exception:
            outcome = "500"
            raise
        finally:
            self._observe(req, ctx, outcome, time.perf_counter() - start)
        if response is not None:
            self._count_results(req, ctx, response)
        return response

    def _observe(self, req: Request, ctx: _Audit, outcome: str, seconds: float) -> None:
        self.metrics.observe_request(ctx.route.prefix if ctx.route else "", req.operation,
                                     outcome, seconds)
        route = ctx.route
        if route is not None and route.mount.table == "auth" and route.mount.type != "token":
            if req.path[len(route.prefix):].split("/", 1)[0] == "login":
                self.metrics.logins.labels(route.mount.type,
                                           "ok" if outcome == "ok" else "refused").inc()

    def _count_results(self, req: Request, ctx: _Audit, response: Response) -> None:
        cert = (response.audit or {}).get("certificate")
        if cert is not None and ctx.route is not None:
            self.metrics.certificates.labels(ctx.route.prefix, str(cert.get("role", ""))).inc()
        if response.auth is not None and response.auth.client_token and ctx.route is not None:
            self.metrics.tokens.labels(ctx.route.prefix).inc()

    async def _handle(self, req: Request, ctx: _Audit) -> Response | None:
        if not self._active:
            raise Sealed()
        try:
            route, backend_req, entry = await self._admit(req, ctx)
        except WardenError as exc:
            await ctx.refused(exc)
            raise
        await ctx.log_request()
        last_use = False
        if entry is not None and entry.num_uses:
            used, last_use = await self.tokens.use(req.client_token)
            if used is None:
                raise PermissionDenied()
        try:
            response = await route.backend.handle_request(backend_req)
            if response is not None:
                response = await self._finish(req, route, response, entry)
        except WardenError as exc:
            await ctx.log_response(None, error=exc)
            raise
        finally:
            if last_use:
                await self.tokens.revoke_token(req.client_token)
        await ctx.log_response(response)
        return response

    async def _admit(self, req: Request, ctx: _Audit) -> tuple[Route, Request, TokenEntry | None]:
        """Route, authenticate and authorize: everything that happens before a backend runs."""
        found = self.router.match(req.path)
        if found is None:
            # Authenticate first, as Vault does: an anonymous caller must not
            # learn which mounts exist.
            ctx.entry = await self._authenticate(req)
            await self._check_acl(req, ctx.entry, req.operation)
            raise UnsupportedPath(f'no handler for route "{req.path}". route entry not found.')
        route, relative = found
        ctx.route = route
        mount = self._route_info(route)
        token = req.client_token if route.mount.type in ("token", "system") else ""
        if route.unauthenticated.matches(relative):
            return route, replace(req, path=relative, storage=route.storage, mount=mount,
                                  client_token=token), None
        entry = ctx.entry = await self._authenticate(req)
        op = req.operation
        if op is Operation.UPDATE:
            probe = replace(req, path=relative, storage=route.storage, mount=mount,
                            client_token=token)
            if await route.backend.existence_check(probe) is False:
                op = Operation.CREATE
        await self._check_acl(req, entry, op, needs_sudo=route.root.matches(relative))
        caller = Caller(accessor=entry.accessor, policies=entry.policies,
                        display_name=entry.display_name, metadata=entry.meta,
                        entity_id=entry.entity_id, path=entry.path)
        return route, Request(
            operation=op, path=relative, data=req.data, id=req.id, client_token=token,
            caller=caller, storage=route.storage, mount=mount, connection=req.connection,
            headers=req.headers, wrap_ttl=req.wrap_ttl,
        ), entry

    def _route_info(self, route: Route) -> MountInfo:
        """The route's MountInfo, built once (tuning clears it along with the entry)."""
        if route.info is None:
            route.info = self._mount_info(route.mount)
        return route.info

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
        info = self._mount_info(route.mount)
        await self.leases.register(
            req.path, secret, accessor=entry.accessor if entry else "",
            max_ttl=info.max_lease_ttl,
        )

    async def _authenticate(self, req: Request) -> TokenEntry:
        if not req.client_token:
            raise PermissionDenied("permission denied: no client token was given")
        entry = await self.tokens.lookup(req.client_token)
        if entry is None or entry.num_uses < 0:
            raise PermissionDenied()
        if entry.bound_cidrs and not _addr_in(req.connection.remote_addr, entry.bound_cidrs):
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

    def _mount_info(self, entry: MountEntry) -> MountInfo:
        return MountInfo(
            path=entry.route_prefix,
            type=entry.type,
            accessor=entry.accessor,
            default_lease_ttl=entry.config.default_lease_ttl or self.config.default_lease_ttl,
            max_lease_ttl=entry.config.max_lease_ttl or self.config.max_lease_ttl,
        )

    async def _issue_login_token(self, req: Request, route: Route, auth: Auth) -> None:
        """Turn the Auth a credential backend returned from a login into a real token."""
        if route.mount.table != "auth":
            raise InvalidRequest("only auth methods may return a login")
        policies = sorted({p for p in auth.policies if p})
        if not auth.no_default_policy and "default" not in policies:
            policies = sorted({*policies, "default"})
        if "root" in policies:
            raise PermissionDenied("auth methods cannot create root tokens")
        info = self._mount_info(route.mount)
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
            token_type=auth.token_type,
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

    # -- helpers for the system backend --------------------------------------------------

    async def capabilities(self, entry: TokenEntry, path: str) -> list[str]:
        if entry.is_root:
            return ["root"]
        acl = await self.policies.acl(entry.policies)
        return sorted(acl.capabilities(path))

    def new_request_id(self) -> str:
        return str(uuid.uuid4())

    def random_token_id(self) -> str:
        return random_id(self.randbytes)


def normalize_mount_path(path: str) -> str:
    path = path.strip().strip("/")
    if not path:
        raise InvalidRequest("mount path must not be empty")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise InvalidRequest(f'invalid mount path "{path}"')
    return path + "/"


def _resolve_alias(mount_type: str, options: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    alias = TYPE_ALIASES.get(mount_type)
    if alias is None:
        return mount_type, dict(options)
    real, implied = alias
    return real, {**implied, **options}


def _addr_in(addr: str, cidrs: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cidrs)


class _Audit:
    """Builds the audit records of one request; does nothing when no device is enabled."""

    __slots__ = ("core", "entry", "req", "route")

    def __init__(self, core: Core, req: Request) -> None:
        self.core = core
        self.req = req
        self.route: Route | None = None
        self.entry: TokenEntry | None = None

    def _record(self, kind: str, response: AuditResponse | None, error: str,
                facts: Mapping[str, Any] | None = None) -> AuditRecord:
        req, entry, mount = self.req, self.entry, self.route.mount if self.route else None
        auth = AuditAuth() if entry is None else AuditAuth(
            client_token=req.client_token, accessor=entry.accessor,
            display_name=entry.display_name, policies=entry.policies,
            token_policies=entry.policies, metadata=entry.meta, entity_id=entry.entity_id,
            token_type=entry.token_type, token_ttl=entry.ttl,
            token_issue_time=to_rfc3339(entry.issue_time),
        )
        request = AuditRequest(
            id=req.id, operation=str(req.operation), path=req.path, data=req.data,
            client_token=req.client_token, client_token_accessor=entry.accessor if entry else "",
            mount_type=mount.type if mount else "", mount_accessor=mount.accessor if mount else "",
            remote_address=req.connection.remote_addr, remote_port=req.connection.remote_port,
            wrap_ttl=req.wrap_ttl,
            non_hmac_keys=mount.config.audit_non_hmac_request_keys if mount else (),
        )
        return AuditRecord(type=kind, time=to_rfc3339(self.core.clock.time()), auth=auth,
                           request=request, response=response, error=error, facts=facts)

    async def log_request(self) -> None:
        if self.core.audit.enabled:
            await self.core.audit.log(self._record("request", None, ""))

    async def log_response(self, response: Response | None, *,
                           error: WardenError | None = None) -> None:
        if not self.core.audit.enabled:
            return
        mount = self.route.mount if self.route else None
        summary = _audit_response(response, mount.config.audit_non_hmac_response_keys
                                  if mount else ())
        facts = response.audit if response is not None else None
        await self.core.audit.log(
            self._record("response", summary, str(error) if error else "", facts))

    async def refused(self, exc: WardenError) -> None:
        """A request stopped before any backend ran is still logged, with its error."""
        if self.core.audit.enabled and not isinstance(exc, Sealed):
            await self.core.audit.log(self._record("request", None, str(exc)))
            await self.core.audit.log(self._record("response", AuditResponse(), str(exc)))


def _audit_response(resp: Response | None, non_hmac: tuple[str, ...]) -> AuditResponse:
    if resp is None:
        return AuditResponse()
    wrap, auth = resp.wrap_info, resp.auth
    return AuditResponse(
        data=resp.data if resp.raw is None else None,
        auth=None if auth is None else {
            "client_token": auth.client_token, "accessor": auth.accessor,
            "display_name": auth.display_name, "policies": list(auth.policies),
            "token_policies": list(auth.token_policies), "metadata": dict(auth.metadata),
            "lease_duration": auth.lease_duration, "renewable": auth.renewable,
            "orphan": auth.orphan, "entity_id": auth.entity_id, "token_type": auth.token_type,
            "num_uses": auth.num_uses,
        },
        secret={"lease_id": resp.secret.lease_id} if resp.secret else None,
        wrap_info=({"token": wrap.token, "accessor": wrap.accessor, "ttl": wrap.ttl,
                    "creation_time": wrap.creation_time, "creation_path": wrap.creation_path,
                    "wrapped_accessor": wrap.wrapped_accessor} if wrap else None),
        warnings=tuple(resp.warnings), mount_type=resp.mount_type, non_hmac_keys=non_hmac,
    )
