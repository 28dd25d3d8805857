"""The Shamir seal: splits the root key into unseal keys and puts it back together.

The seal configuration is stored in plaintext at ``core/seal-config`` (it must be
readable while sealed). With one share the unseal key IS the 32-byte root key;
otherwise each unseal key is a 33-byte Shamir share (``warden.core.shamir``).
Unseal keys are collected one request at a time until the threshold is reached,
as with Vault's ``sys/unseal``; progress lives in memory only, so each node of an
HA cluster is unsealed on its own. The worker processes of one server share theirs
(``core.shared.SharedSeal``): a key given to any of them counts for all, and the root key
the last one recovers is left there for the others to unseal with.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson

from warden.core import shamir
from warden.core.barrier import KEY_SIZE, SEAL_CONFIG_PATH, Barrier, InvalidKey
from warden.core.shared import SealState, SharedSeal
from warden.logical.errors import InvalidRequest, NotInitialized, WardenError
from warden.logical.storage import Put
from warden.storage.base import PhysicalBackend

SEAL_TYPE: Final = "shamir"
MAX_SHARES: Final = 255


@dataclass(frozen=True, slots=True)
class SealConfig:
    secret_shares: int
    secret_threshold: int
    type: str = SEAL_TYPE

    @property
    def key_length(self) -> int:
        """How long each unseal key is: the bare root key, or a share with its x byte."""
        return KEY_SIZE if self.secret_shares == 1 else KEY_SIZE + 1

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "type": self.type,
                "secret_shares": self.secret_shares,
                "secret_threshold": self.secret_threshold,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> SealConfig:
        try:
            doc = orjson.loads(raw)
            config = cls(
                secret_shares=int(doc["secret_shares"]),
                secret_threshold=int(doc["secret_threshold"]),
                type=str(doc["type"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WardenError("seal configuration is malformed") from exc
        if config.type != SEAL_TYPE:
            raise WardenError(f"unsupported seal type {config.type!r}")
        return config


@dataclass(frozen=True, slots=True)
class SealStatus:
    initialized: bool
    sealed: bool
    t: int
    n: int
    progress: int
    nonce: str


class ShamirSeal:
    """Initialization and unsealing of a barrier with Shamir-split unseal keys."""

    def __init__(
        self,
        physical: PhysicalBackend,
        barrier: Barrier,
        *,
        randbytes: Callable[[int], bytes] = secrets.token_bytes,
        shared: SharedSeal | None = None,
    ) -> None:
        self._physical = physical
        self._barrier = barrier
        self._randbytes = randbytes
        self._config: SealConfig | None = None
        self._keys: list[bytes] = []
        self._nonce = ""
        self._lock = asyncio.Lock()
        self._shared = shared

    async def initialize(self, secret_shares: int, secret_threshold: int) -> list[bytes]:
        """Create the root key and the barrier's keyring; return the unseal keys (shown once).

        The barrier is left sealed, as after Vault's ``sys/init``.
        """
        config = SealConfig(secret_shares=secret_shares, secret_threshold=secret_threshold)
        validate_config(config)
        async with self._lock:
            if await self._barrier.initialized():
                raise InvalidRequest("Vault is already initialized")
            root_key = self._randbytes(KEY_SIZE)
            if len(root_key) != KEY_SIZE:
                raise ValueError("random source returned the wrong number of bytes")
            unseal_keys = self._split(root_key, config)
            # One transaction: of two nodes initialising a shared store, exactly one wins.
            await self._barrier.initialize(
                root_key, with_entries=[Put(SEAL_CONFIG_PATH, config.to_json())])
            self._config = config
            self._reset_progress()
            return unseal_keys

    async def status(self) -> SealStatus:
        config = await self._load_config()
        initialized = config is not None and await self._barrier.initialized()
        keys, nonce = self._progress()
        return SealStatus(
            initialized=initialized,
            sealed=self._barrier.sealed,
            t=config.secret_threshold if config else 0,
            n=config.secret_shares if config else 0,
            progress=len(keys),
            nonce=nonce,
        )

    async def submit_key(self, key: bytes, *, publish: bool = True) -> SealStatus:
        """Add one unseal key; at the threshold, recover the root key and unseal (and, with
        ``publish``, leave the root key for the server's other processes)."""
        async with self._lock:
            if self._shared is None:
                await self._submit(key)
            else:
                with self._shared.locked():  # held briefly: a key check, maybe a keyring read
                    if self._shared.read().unsealed:
                        return await self.status()  # another process unsealed: the core adopts it
                    self._keys, self._nonce = self._progress()
                    try:
                        root_key = await self._submit(key)
                    finally:
                        self._store_progress()
                    if root_key is not None and publish:
                        self._shared.write(SealState(True, root_key, "", ()))
        return await self.status()

    def reset_progress(self) -> None:
        """Forget the unseal keys submitted so far."""
        self._reset_progress()
        if self._shared is not None:
            with self._shared.locked():
                self._store_progress()

    def seal(self, *, publish: bool = True) -> None:
        """Forget the keys; with ``publish``, every process of the server seals too."""
        self._barrier.seal()
        self._reset_progress()
        if self._shared is not None and publish:
            with self._shared.locked():
                self._shared.write(SealState(False, b"", "", ()))

    def published_root_key(self) -> bytes | None:
        """The root key another process of this server unsealed with (None: sealed)."""
        if self._shared is None:
            return None
        state = self._shared.read()
        return state.root_key if state.unsealed else None

    def _progress(self) -> tuple[list[bytes], str]:
        if self._shared is None:
            return self._keys, self._nonce
        state = self._shared.read()
        return list(state.shares), state.nonce

    def _store_progress(self) -> None:
        assert self._shared is not None
        current = self._shared.read()
        if current.unsealed:
            return  # unsealed (by this process or another): no progress to keep
        self._shared.write(SealState(False, b"", self._nonce, tuple(self._keys)))

    async def _submit(self, key: bytes) -> bytes | None:
        """The root key if this key completed the threshold (and it unsealed), else None."""
        config = await self._load_config()
        if config is None or not await self._barrier.initialized():
            raise NotInitialized()
        if not self._barrier.sealed:
            return None
        if not isinstance(key, bytes | bytearray) or len(key) != config.key_length:
            raise InvalidRequest(f"unseal key must be {config.key_length} bytes")
        if _already_submitted(self._keys, key):
            return None
        if not self._keys:
            self._nonce = str(uuid.UUID(bytes=self._randbytes(16), version=4))
        self._keys.append(bytes(key))
        if len(self._keys) < config.secret_threshold:
            return None
        keys = self._keys
        self._reset_progress()  # success or not, the next attempt starts from scratch
        return await self._unseal_with(keys)

    async def _unseal_with(self, keys: list[bytes]) -> bytes:
        try:
            root_key = keys[0] if len(keys) == 1 else shamir.combine(keys)
            await self._barrier.unseal(root_key)
        except (ValueError, InvalidKey):
            raise InvalidRequest(
                "unseal failed: invalid key; progress was reset, submit the unseal keys again"
            ) from None
        return root_key

    def _split(self, root_key: bytes, config: SealConfig) -> list[bytes]:
        if config.secret_shares == 1:
            return [root_key]
        return shamir.split(
            root_key,
            config.secret_shares,
            config.secret_threshold,
            randbytes=self._randbytes,
        )

    async def _load_config(self) -> SealConfig | None:
        if self._config is None:
            raw = await self._physical.get(SEAL_CONFIG_PATH)
            self._config = None if raw is None else SealConfig.from_json(raw)
        return self._config

    def _reset_progress(self) -> None:
        self._keys = []
        self._nonce = ""


def validate_config(config: SealConfig) -> None:
    """Vault's ``SealConfig.Validate``; each error names the parameter at fault."""
    shares, threshold = config.secret_shares, config.secret_threshold
    _require_int("secret_shares", shares)
    _require_int("secret_threshold", threshold)
    if shares < 1:
        raise InvalidRequest("secret_shares must be at least one")
    if threshold < 1:
        raise InvalidRequest("secret_threshold must be at least one")
    if shares > MAX_SHARES:
        raise InvalidRequest(f"secret_shares must be at most {MAX_SHARES}")
    if threshold > shares:
        raise InvalidRequest("secret_threshold cannot be larger than secret_shares")
    if shares > 1 and threshold == 1:
        raise InvalidRequest("secret_threshold must be greater than one for multiple shares")


def _require_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest(f"{name} must be an integer")


def _already_submitted(submitted: list[bytes], key: bytes) -> bool:
    """Compare against every submitted key in constant time (no early exit)."""
    found = False
    for existing in submitted:
        found |= hmac.compare_digest(existing, key)
    return found
