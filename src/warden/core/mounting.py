"""The mounts: both mount tables, the backends they activate, enable/disable/tune.

The Core owns one ``Mounts``; the system backend's ``sys/mounts`` and ``sys/auth``
paths, and the dev bootstrap, change mounts only through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from warden.core.leases import LeaseManager
from warden.core.mounts import (
    AUTH_TABLE_KEY,
    PROTECTED_PREFIXES,
    SECRETS_TABLE_KEY,
    MountConfig,
    MountEntry,
    MountTable,
    check_mount_token_type,
)
from warden.core.policy_store import PolicyStore
from warden.core.registry import TYPE_ALIASES, Registry
from warden.core.router import PathMatcher, Route, Router
from warden.core.shared import mount_slot
from warden.core.tokens import CoreTokenStore
from warden.core.view import StorageView, WatchedView
from warden.logical.backend import BackendConfig, LogicalBackend
from warden.logical.clock import Clock
from warden.logical.errors import InvalidRequest, Sealed
from warden.logical.request import MountInfo
from warden.logical.storage import Storage, clear
from warden.logical.tokens import TokenStore

SystemBackendFactory = Callable[[BackendConfig], LogicalBackend]


@dataclass(frozen=True, slots=True)
class MountDefaults:
    """The server-wide TTLs that apply where a mount sets none (Vault: 768h each)."""

    default_lease_ttl: int
    max_lease_ttl: int


class MountSystemView:
    """The SystemView a mounted backend sees; reads its mount's tuning live."""

    def __init__(self, table: MountTable, path: str, *, clock: Clock, defaults: MountDefaults,
                 randbytes: Callable[[int], bytes], policies: PolicyStore,
                 tokens: CoreTokenStore) -> None:
        self._table = table
        self._path = path
        self._clock = clock
        self._defaults = defaults
        self._randbytes = randbytes
        self._policies = policies
        self._tokens = tokens

    @property
    def clock(self) -> Clock:
        return self._clock

    def _config(self) -> MountConfig:
        entry = self._table.get(self._path)
        return entry.config if entry else MountConfig()

    def default_lease_ttl(self) -> int:
        return self._config().default_lease_ttl or self._defaults.default_lease_ttl

    def max_lease_ttl(self) -> int:
        return self._config().max_lease_ttl or self._defaults.max_lease_ttl

    def random_bytes(self, n: int) -> bytes:
        return self._randbytes(n)

    async def sudo_privilege(self, path: str, policies: tuple[str, ...]) -> bool:
        if "root" in policies:
            return True
        acl = await self._policies.acl(policies)
        return "sudo" in acl.capabilities(path)

    @property
    def token_store(self) -> TokenStore | None:
        """Only the token auth method gets the core's token store."""
        entry = self._table.get(self._path)
        return self._tokens if entry is not None and entry.type == "token" else None


class Mounts:
    def __init__(
        self,
        storage: Storage,
        *,
        registry: Registry,
        router: Router,
        leases: LeaseManager,
        clock: Clock,
        randbytes: Callable[[int], bytes],
        defaults: MountDefaults,
        lock: asyncio.Lock,
        is_active: Callable[[], bool],
        policies: PolicyStore,
        tokens: CoreTokenStore,
        system_backend: SystemBackendFactory,
    ) -> None:
        self._storage = storage
        self._registry = registry
        self._router = router
        self._leases = leases
        self._clock = clock
        self._randbytes = randbytes
        self._defaults = defaults
        self._lock = lock
        self._is_active = is_active
        self._policies = policies
        self._tokens = tokens
        self._system_backend = system_backend
        self.secrets = MountTable(storage, SECRETS_TABLE_KEY, "secrets")
        self.auth = MountTable(storage, AUTH_TABLE_KEY, "auth")
        self._on_change: Callable[[], None] = lambda: None
        self._on_backend_change: Callable[[str], None] = lambda uuid: None

    def on_change(self, tables: Callable[[], None], backend: Callable[[str], None]) -> None:
        """Announce committed changes: of a mount table (enable, disable, tune), and of what
        a mounted backend caches (by the mount's uuid)."""
        self._on_change, self._on_backend_change = tables, backend

    def table(self, name: str) -> MountTable:
        return self.auth if name == "auth" else self.secrets

    def info(self, entry: MountEntry) -> MountInfo:
        return MountInfo(
            path=entry.route_prefix,
            type=entry.type,
            accessor=entry.accessor,
            default_lease_ttl=entry.config.default_lease_ttl or self._defaults.default_lease_ttl,
            max_lease_ttl=entry.config.max_lease_ttl or self._defaults.max_lease_ttl,
        )

    def route_info(self, route: Route) -> MountInfo:
        """The route's MountInfo, built once (tuning clears it along with the entry)."""
        if route.info is None:
            route.info = self.info(route.mount)
        return route.info

    async def setup(self) -> None:
        """Load both tables (creating sys/ and auth/token/ the first time) and mount them."""
        if not await self.secrets.load():
            await self.secrets.save({"sys/": self._new_entry("sys/", "system", "secrets")})
        if not await self.auth.load():
            await self.auth.save({"token/": self._new_entry("token/", "token", "auth")})
        for table in (self.secrets, self.auth):
            for entry in table.entries.values():
                await self._activate(table, entry)

    def _new_entry(self, path: str, mount_type: str, table: str, **fields: Any) -> MountEntry:
        return MountEntry(
            path=path,
            type=mount_type,
            uuid=str(uuid.uuid4()),
            accessor=f"{'auth_' if table == 'auth' else ''}{mount_type}_{self._randbytes(4).hex()}",
            table=table,
            created=self._clock.time(),
            **fields,
        )

    async def reload(self) -> None:
        """Match the mounted backends to the stored tables (another process changed them)."""
        async with self._lock:
            for table in (self.secrets, self.auth):
                # What is mounted, not what the table said last: a reload cut short by an
                # error is completed by the next one.
                before = {r.mount.path: r.mount for r in self._router.routes()
                          if r.mount.table == table.table}
                await table.load()
                after = table.entries
                for path, entry in before.items():
                    now = after.get(path)
                    if now is None or now.uuid != entry.uuid or now.options != entry.options:
                        route = self._router.unmount(entry.route_prefix)
                        if route is not None:
                            with contextlib.suppress(Exception):
                                await route.backend.cleanup()
                for path, entry in after.items():
                    old = before.get(path)
                    if old is None or old.uuid != entry.uuid or old.options != entry.options:
                        await self._activate(table, entry)
                    elif old != entry and (route := self._router.get(entry.route_prefix)):
                        route.mount, route.info = entry, None

    def invalidate_backends(self, slots: frozenset[int]) -> None:
        """Another process wrote what these mounts' backends cache."""
        for route in self._router.routes():
            if mount_slot(route.mount.uuid) in slots:
                route.backend.invalidate()

    async def _activate(self, table: MountTable, entry: MountEntry) -> None:
        view = WatchedView(self._storage, entry.storage_prefix)
        conf = BackendConfig(
            mount_path=entry.route_prefix,
            mount_type=entry.type,
            mount_accessor=entry.accessor,
            storage=view,
            system=MountSystemView(table, entry.path, clock=self._clock, defaults=self._defaults,
                                   randbytes=self._randbytes, policies=self._policies,
                                   tokens=self._tokens),
            options=entry.options,
            services=self._registry.services,
        )
        if entry.type == "system":
            backend = self._system_backend(conf)
        else:
            factories = self._registry.auth if table.table == "auth" else self._registry.secrets
            factory = factories.get(entry.type)
            if factory is None:
                raise InvalidRequest(f"plugin not found in the catalog: {entry.type}")
            backend = factory(conf)
        view.watch(getattr(backend, "cached_prefixes", ()),
                   functools.partial(self._on_backend_change, entry.uuid))
        await backend.initialize()
        special = backend.special_paths
        self._router.mount(Route(
            mount=entry, backend=backend, storage=view,
            unauthenticated=PathMatcher(special.unauthenticated), root=PathMatcher(special.root),
        ))

    async def enable(
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
        mount_type, resolved = _resolve_alias(mount_type, options or {})
        if table_name == "secrets" and any(path.startswith(p) for p in PROTECTED_PREFIXES):
            raise InvalidRequest(f'cannot mount at "{path}": that path is reserved')
        if table_name == "auth" and mount_type == "token":
            raise InvalidRequest("token credential backend cannot be instantiated")
        factories = self._registry.auth if table_name == "auth" else self._registry.secrets
        if mount_type not in factories:
            raise InvalidRequest(f"plugin not found in the catalog: {mount_type}")
        config = config or MountConfig()
        if config.token_type:
            config = replace(config, token_type=check_mount_token_type(
                config.token_type, table=table_name, mount_type=mount_type))
        async with self._lock:
            self._check_active()
            table = self.table(table_name)
            entry = self._new_entry(
                path, mount_type, table_name, description=description,
                config=config, options=resolved, local=local, seal_wrap=seal_wrap,
            )
            conflict = self._router.conflict(entry.route_prefix)
            if conflict:
                raise InvalidRequest(f'path is already in use at "{conflict}"')
            await self._activate(table, entry)
            try:
                await table.save({**table.entries, path: entry})
            except Exception:
                self._router.unmount(entry.route_prefix)
                raise
            self._on_change()
            return entry

    async def disable(self, table_name: str, path: str) -> None:
        path = normalize_mount_path(path)
        async with self._lock:
            self._check_active()
            table = self.table(table_name)
            entry = table.get(path)
            if entry is None:
                return  # as Vault: do not reveal whether something was mounted there
            if entry.type in ("system", "token"):
                raise InvalidRequest(f'cannot disable the "{entry.type}" mount')
            await self._leases.revoke_prefix(entry.route_prefix)
            if table_name == "auth":  # Vault: the tokens its logins issued go with it
                await self._tokens.revoke_by_path_prefix(entry.route_prefix)
            await table.save({k: v for k, v in table.entries.items() if k != path})
            self._on_change()
            route = self._router.unmount(entry.route_prefix)
            if route is not None:
                with contextlib.suppress(Exception):
                    await route.backend.cleanup()
            await clear(StorageView(self._storage, entry.storage_prefix))

    async def remount(self, source: str, target: str) -> tuple[str, str]:
        """Move the mount at ``source`` to ``target`` (full paths: ``auth/x`` for an auth
        method); returns both as route prefixes. Its data stays where it is (the view is
        keyed by the mount's UUID), so only the table changes; as in Vault, what was leased
        under the old path is revoked first (for an auth method: the tokens its logins
        issued), while the mount is tainted so no client reaches it meanwhile."""
        table_name, src_path = _table_and_path(source)
        target_table, dst_path = _table_and_path(target)
        src_route, dst_route = _route_of(table_name, src_path), _route_of(target_table, dst_path)
        _check_remount(table_name, target_table, src_route, dst_route)
        async with self._lock:
            self._check_active()
            table = self.table(table_name)
            entry = table.get(src_path)
            route = self._router.get(src_route)
            if entry is None or route is None:
                raise InvalidRequest(f'no matching mount at "{src_route}"')
            conflict = self._router.conflict(dst_route)
            if conflict:
                raise InvalidRequest(f'path already in use at "{conflict}"')
            route.tainted = True
            try:
                await self._leases.revoke_prefix(src_route)
                if table_name == "auth":
                    await self._tokens.revoke_by_path_prefix(src_route)
                moved = replace(entry, path=dst_path)
                await table.save({(dst_path if k == src_path else k): (moved if k == src_path else v)
                                  for k, v in table.entries.items()})
            except BaseException:
                route.tainted = False
                raise
            self._router.unmount(src_route)
            with contextlib.suppress(Exception):
                await route.backend.cleanup()
            await self._activate(table, moved)
            return src_route, dst_route

    async def tune(
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
            table = self.table(table_name)
            entry = table.get(path)
            if entry is None:
                raise InvalidRequest(f'no mount at "{path}"')
            if "token_type" in config_changes:
                config_changes = {**config_changes, "token_type": check_mount_token_type(
                    config_changes["token_type"], table=table_name, mount_type=entry.type)}
            updated = _tuned(entry, description, options, config_changes)
            await table.save({**table.entries, path: updated})
            self._on_change()
            if updated.options != entry.options:
                # Options shape the backend itself (kv's version): remount it in place.
                route = self._router.unmount(entry.route_prefix)
                if route is not None:
                    await route.backend.cleanup()
                await self._activate(table, updated)
            else:
                route = self._router.get(entry.route_prefix)
                if route is not None:
                    route.mount, route.info = updated, None
            return updated

    def _check_active(self) -> None:
        if not self._is_active():
            raise Sealed()


def _tuned(entry: MountEntry, description: str | None, options: Mapping[str, str] | None,
           config_changes: Mapping[str, Any]) -> MountEntry:
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
    return updated


def _table_and_path(full: str) -> tuple[str, str]:
    """A full mount path (``auth/approle``, ``secret``) as (table, path within the table)."""
    if not full.strip().strip("/"):
        raise InvalidRequest("both 'from' and 'to' path must be specified as a string")
    path = normalize_mount_path(full)
    if path.startswith("auth/") and path != "auth/":
        return "auth", path[len("auth/"):]
    return "secrets", path


def _route_of(table: str, path: str) -> str:
    return ("auth/" + path) if table == "auth" else path


def _check_remount(source_table: str, target_table: str, source: str, target: str) -> None:
    """Vault's rules: auth stays auth, and neither end may touch a protected path."""
    if source_table == "auth":
        if target_table != "auth":
            raise InvalidRequest(f'cannot remount auth mount to non-auth mount "{target}"')
        if source.startswith("auth/token/"):
            raise InvalidRequest(f'cannot remount "{source}"')
        if target.startswith("auth/token/"):
            raise InvalidRequest(f'cannot remount to destination "{target}"')
        return
    if any(source.startswith(p) for p in PROTECTED_PREFIXES):
        raise InvalidRequest(f'cannot remount "{source}"')
    if target_table == "auth" or any(target.startswith(p) for p in PROTECTED_PREFIXES):
        raise InvalidRequest(f'cannot remount to destination "{target}"')


def normalize_mount_path(path: str) -> str:
    path = path.strip().strip("/")
    if not path:
        raise InvalidRequest("mount path must not be empty")
    if any(p in ("", ".", "..") for p in path.split("/")):
        raise InvalidRequest(f'invalid mount path "{path}"')
    return path + "/"


def _resolve_alias(mount_type: str, options: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    alias = TYPE_ALIASES.get(mount_type)
    if alias is None:
        return mount_type, dict(options)
    real, implied = alias
    return real, {**implied, **options}
