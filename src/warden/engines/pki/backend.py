"""The PKI secrets engine: Vault's PKI API as one table of paths, plus the mount's caches."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from warden.engines.pki import (
    authority,
    certstore,
    crl,
    path_cert_index,
    path_config_urls,
    path_crl,
    path_fetch,
    path_intermediate,
    path_issue_sign,
    path_issuers,
    path_keys,
    path_ocsp,
    path_revoke,
    path_roles,
    path_root,
    path_tidy,
    path_trust,
    store,
    tidy,
)
from warden.engines.pki.authority import CaState
from warden.engines.pki.keypool import KeyPool
from warden.engines.pki.roles import ROLE_PREFIX, RoleEntry
from warden.engines.pki.store import CrlConfig, UrlsConfig
from warden.framework import Backend, SecretType
from warden.logical.backend import BackendConfig, SpecialPaths
from warden.logical.errors import WardenError
from warden.logical.request import Request
from warden.logical.storage import Storage, get_json, put_json

log = logging.getLogger(__name__)
SECRET_TYPE = "pki"
KEYPOOL_SERVICE = "pki.keypool"

UNAUTHENTICATED = (
    "cert/*", "ca/pem", "ca_chain", "ca", "crl", "crl/pem", "crl/delta", "crl/delta/pem",
    "issuer/+/crl/der", "issuer/+/crl/pem", "issuer/+/crl", "issuer/+/pem", "issuer/+/der",
    "issuer/+/crl/delta", "issuer/+/crl/delta/der", "issuer/+/crl/delta/pem",
    "issuer/+/json", "issuers/", "issuers", "ocsp", "ocsp/*", *path_trust.UNAUTHENTICATED,
)
ROOT_ONLY = ("root", "root/sign-self-issued")


CACHED_PREFIXES = (store.ISSUER_PREFIX, store.KEY_PREFIX, "config/", ROLE_PREFIX, store.CRL_PREFIX)


class PkiBackend:
    """One mounted PKI engine. Caches its CA material, roles, config and CRLs; every write
    through this instance updates or drops what it changed, a write by another process of
    the server drops them all (``invalidate``), and a read fills a cache only if no change
    overtook it (``_generation``)."""

    def __init__(self, conf: BackendConfig) -> None:
        self.conf = conf
        self.system = conf.system
        self.started_at = conf.system.clock.time()
        pool = conf.services.get(KEYPOOL_SERVICE)
        self.keypool: KeyPool = pool if isinstance(pool, KeyPool) else KeyPool()
        self._owns_pool = not isinstance(pool, KeyPool)
        self._state: CaState | None = None
        self._roles: dict[str, RoleEntry] = {}
        self._urls: UrlsConfig | None = None
        self._crl_config: CrlConfig | None = None
        self._generation = 0
        self.crls = crl.CrlCache()
        self.tidy_job: asyncio.Task[None] | None = None  # a tidy this process runs (tidy.py)
        self.backend = Backend(
            paths=[
                *path_roles.paths(self),
                *path_root.paths(self),
                *path_intermediate.paths(self),
                *path_issue_sign.paths(self),
                *path_revoke.paths(self),
                *path_crl.paths(self),
                *path_tidy.paths(self),
                *path_config_urls.paths(self),
                *path_issuers.paths(self),
                *path_keys.paths(self),
                *path_trust.paths(self),
                *path_cert_index.paths(self),
                *path_fetch.paths(self),
                *path_ocsp.paths(self),
            ],
            special_paths=SpecialPaths(unauthenticated=UNAUTHENTICATED, root=ROOT_ONLY),
            secrets=[SecretType(SECRET_TYPE, revoke=self.revoke_lease)],
            initialize=self.initialize,
            periodic=self.periodic,
            cleanup=self.cleanup,
            help=BACKEND_HELP,
            cached_prefixes=CACHED_PREFIXES,
            invalidate=self.invalidate,
        )

    # -- lifecycle --------------------------------------------------------------------------

    async def initialize(self) -> None:
        self.keypool.warm()
        moved = await certstore.upgrade_index(self.conf.storage)
        if moved:
            log.info("%s: moved %d certificates to the time-ordered index", self.conf.mount_path, moved)
        try:
            if await crl.reindex_if_stale(self.conf.storage):
                log.info("%s: rebuilt the CRL entries from the revocation records", self.conf.mount_path)
        except (WardenError, RuntimeError) as exc:  # the mount still serves; crl/rotate checks again
            log.warning("%s: could not check the CRL entries against the revocations (%s); CRLs may "
                        "lack revocations written outside this server until crl/rotate succeeds",
                        self.conf.mount_path, exc)

    async def periodic(self) -> None:
        await crl.rebuild_if_due(self, self.conf.storage)
        await path_tidy.auto_tidy_if_due(self, self.conf.storage)

    async def cleanup(self) -> None:
        await tidy.stop_local(self)
        if self._owns_pool:
            self.keypool.close()

    async def revoke_lease(self, req: Request) -> None:
        await path_revoke.revoke_lease(self, req)

    # -- time, ids and limits ---------------------------------------------------------------

    def now(self) -> float:
        return self.system.clock.time()

    def new_serial(self) -> int:
        """20 random bytes with the top bit clear: positive and below 2**159, as Vault does."""
        serial = int.from_bytes(self.system.random_bytes(20), "big") >> 1
        return serial or 1

    def new_id(self) -> str:
        return str(uuid.UUID(bytes=self.system.random_bytes(16), version=4))

    def ttl_limits(self, req: Request) -> tuple[int, int]:
        """(default, max) lease TTL of the mount, read live (tuning applies at once)."""
        default = req.mount.default_lease_ttl or self.system.default_lease_ttl()
        maximum = req.mount.max_lease_ttl or self.system.max_lease_ttl()
        return default, maximum

    # -- cached state -----------------------------------------------------------------------

    def invalidate(self) -> None:
        """Drop every cache: another process of the server changed what they hold."""
        self._generation += 1
        self._state = None
        self._roles.clear()
        self._urls = None
        self._crl_config = None
        self.crls.clear()

    @property
    def generation(self) -> int:
        """Changes when a cache is dropped: a read begun before may not fill one."""
        return self._generation

    async def ca(self, storage: Storage) -> CaState:
        state = self._state
        if state is None:
            generation = self._generation
            state = await authority.load_state(storage)
            if generation == self._generation:
                self._state = state
        return state

    def ca_changed(self) -> None:
        self._generation += 1
        self._state = None

    async def role(self, storage: Storage, name: str) -> RoleEntry | None:
        cached = self._roles.get(name)
        if cached is not None:
            return cached
        generation = self._generation
        data = await get_json(storage, ROLE_PREFIX + name)
        if data is None:
            return None
        role, upgraded = RoleEntry.from_json(data)
        if upgraded:
            await put_json(storage, ROLE_PREFIX + name, role.to_json())
        if generation == self._generation:
            self._roles[name] = role
        return role

    async def save_role(self, storage: Storage, role: RoleEntry) -> None:
        await put_json(storage, ROLE_PREFIX + role.name, role.to_json())
        self._generation += 1
        self._roles[role.name] = role

    async def delete_role(self, storage: Storage, name: str) -> None:
        await storage.delete(ROLE_PREFIX + name)
        self._generation += 1
        self._roles.pop(name, None)

    async def urls(self, storage: Storage) -> UrlsConfig:
        urls = self._urls
        if urls is None:
            generation = self._generation
            urls = await store.load_config(storage, store.CONFIG_URLS, UrlsConfig)
            if generation == self._generation:
                self._urls = urls
        return urls

    async def save_urls(self, storage: Storage, urls: UrlsConfig) -> None:
        await store.save_config(storage, store.CONFIG_URLS, urls)
        self._generation += 1
        self._urls = urls

    async def crl_config(self, storage: Storage) -> CrlConfig:
        config = self._crl_config
        if config is None:
            generation = self._generation
            config = await store.load_config(storage, store.CONFIG_CRL, CrlConfig)
            if generation == self._generation:
                self._crl_config = config
        return config

    async def save_crl_config(self, storage: Storage, config: CrlConfig) -> None:
        await store.save_config(storage, store.CONFIG_CRL, config)
        self._generation += 1
        self._crl_config = config

    def status(self) -> dict[str, Any]:
        return {"keypool": self.keypool.stats()}


def factory(conf: BackendConfig) -> Backend:
    return PkiBackend(conf).backend


BACKEND_HELP = """
The PKI engine issues X.509 certificates: generate or import a CA (root/generate/internal,
or intermediate/generate/internal + intermediate/set-signed for an offline root), define
roles (roles/<name>), then issue (issue/<role>) or sign CSRs (sign/<role>). Revocation is
published in a CRL (crl, crl/pem) and through OCSP (ocsp). trust_bundle (a warden extension)
is what peers should trust: old and new CA while the CA rotates in place.
"""
