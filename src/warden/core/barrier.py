"""The security barrier: AES-256-GCM between the logical storage and the physical one.

Modelled on Vault's ``AESGCMBarrier``. The keyring (one 32-byte key per term,
plus the root key) is stored at ``core/keyring``, encrypted under the root key.
Every other value is stored as::

    term (4 bytes, big-endian) | version (1 byte, = 2) | nonce (12 bytes) | GCM ciphertext + tag

with the storage key as associated data, so a ciphertext moved to another key
fails to decrypt. Reads pick the key by the value's term; writes use the newest.
The barrier never touches ``core/seal-config`` (the seal's plaintext entry).
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Final

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from warden.logical.clock import Clock, SystemClock
from warden.logical.errors import (
    InvalidRequest,
    NotInitialized,
    PermissionDenied,
    Sealed,
    WardenError,
)
from warden.logical.storage import BatchOp, Delete, Put
from warden.storage.base import PhysicalBackend

KEYRING_PATH: Final = "core/keyring"
SEAL_CONFIG_PATH: Final = "core/seal-config"
RESERVED_PATHS: Final = frozenset({KEYRING_PATH, SEAL_CONFIG_PATH})
KEY_SIZE: Final = 32

_VERSION: Final = 2
_ROOT_TERM: Final = 0  # the keyring itself is sealed with the root key under "term 0"
_NONCE_SIZE: Final = 12
_HEADER_SIZE: Final = 5
_TAG_SIZE: Final = 16
_MIN_SEALED_SIZE: Final = _HEADER_SIZE + _NONCE_SIZE + _TAG_SIZE
_KEYRING_FORMAT: Final = 1


class InvalidKey(WardenError):
    """The root key offered to unseal or initialize is wrong."""

    status = 400

    @classmethod
    def default_message(cls) -> str:
        return "invalid root key"


class BarrierCorrupt(WardenError):
    """A stored value does not decrypt: tampered with, moved, or from an unknown term."""

    @classmethod
    def default_message(cls) -> str:
        return "barrier: stored value is corrupt"


class AlreadyInitialized(InvalidRequest):
    @classmethod
    def default_message(cls) -> str:
        return "Vault is already initialized"


class ReservedKey(PermissionDenied):
    """The core tried to reach the keyring or seal config through the barrier."""

    @classmethod
    def default_message(cls) -> str:
        return "this storage key is reserved for the barrier"


@dataclass(frozen=True, slots=True)
class TermKey:
    term: int
    key: bytes = field(repr=False)
    install_time: float = 0.0


@dataclass(frozen=True, slots=True)
class KeyStatus:
    term: int
    install_time: float


@dataclass(frozen=True, slots=True)
class Keyring:
    root_key: bytes = field(repr=False)
    keys: tuple[TermKey, ...]

    @property
    def active(self) -> TermKey:
        return self.keys[-1]

    def with_key(self, key: TermKey) -> Keyring:
        return Keyring(root_key=self.root_key, keys=(*self.keys, key))

    def with_root_key(self, root_key: bytes) -> Keyring:
        return Keyring(root_key=root_key, keys=self.keys)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "format": _KEYRING_FORMAT,
                "root_key": _b64(self.root_key),
                "keys": [
                    {"term": k.term, "key": _b64(k.key), "install_time": k.install_time} for k in self.keys
                ],
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> Keyring:
        try:
            doc = orjson.loads(raw)
            if doc.get("format") != _KEYRING_FORMAT:
                raise BarrierCorrupt("barrier: unsupported keyring format")
            keys = sorted((_term_key(k) for k in doc["keys"]), key=attrgetter("term"))
            keyring = cls(root_key=_unb64(doc["root_key"]), keys=tuple(keys))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BarrierCorrupt("barrier: keyring is malformed") from exc
        if not keyring.keys:
            raise BarrierCorrupt("barrier: keyring holds no keys")
        return keyring


def _term_key(doc: dict[str, object]) -> TermKey:
    return TermKey(
        term=int(str(doc["term"])),
        key=_unb64(str(doc["key"])),
        install_time=float(str(doc["install_time"])),
    )


@dataclass(frozen=True, slots=True)
class _Unsealed:
    """Everything the hot path needs, swapped as one object on unseal, rotate and rekey."""

    keyring: Keyring
    ciphers: dict[int, AESGCM]
    active_term: int
    active_header: bytes
    active_cipher: AESGCM

    @classmethod
    def of(cls, keyring: Keyring) -> _Unsealed:
        ciphers = {k.term: AESGCM(k.key) for k in keyring.keys}
        active = keyring.active.term
        return cls(keyring, ciphers, active, _header(active), ciphers[active])


class Barrier:
    """``logical.Storage`` over a physical backend, encrypting every value.

    Starts sealed: ``initialize`` creates the keyring, ``unseal`` loads it. While
    sealed every Storage operation raises ``Sealed``.
    """

    def __init__(
        self,
        physical: PhysicalBackend,
        *,
        randbytes: Callable[[int], bytes] = secrets.token_bytes,
        clock: Clock | None = None,
    ) -> None:
        self._physical = physical
        self._randbytes = randbytes
        self._clock: Clock = clock or SystemClock()
        self._state: _Unsealed | None = None
        self._known_initialized = False
        self._keyring_lock = asyncio.Lock()

    @property
    def sealed(self) -> bool:
        return self._state is None

    async def initialized(self) -> bool:
        if not self._known_initialized:
            self._known_initialized = await self._physical.get(KEYRING_PATH) is not None
        return self._known_initialized

    async def initialize(self, root_key: bytes) -> None:
        """Create the keyring (term 1) under ``root_key``; the barrier stays sealed."""
        _check_root_key(root_key)
        async with self._keyring_lock:
            if await self.initialized():
                raise AlreadyInitialized()
            first = TermKey(term=1, key=self._new_key(), install_time=self._clock.time())
            await self._store_keyring(Keyring(root_key=bytes(root_key), keys=(first,)))
            self._known_initialized = True

    async def unseal(self, root_key: bytes) -> None:
        """Load the keyring with ``root_key``; a wrong key raises InvalidKey and changes nothing."""
        _check_root_key(root_key)
        async with self._keyring_lock:
            if self._state is not None:
                return
            sealed = await self._physical.get(KEYRING_PATH)
            if sealed is None:
                raise NotInitialized()
            self._known_initialized = True
            self._state = _Unsealed.of(_open_keyring(sealed, root_key))

    def seal(self) -> None:
        """Forget every key held in memory."""
        self._state = None

    async def rotate(self) -> int:
        """Add term N+1; new writes use it, values of older terms still decrypt."""
        async with self._keyring_lock:
            keyring = self._unsealed().keyring
            new = TermKey(keyring.active.term + 1, self._new_key(), self._clock.time())
            updated = keyring.with_key(new)
            await self._store_keyring(updated)
            self._state = _Unsealed.of(updated)
            return new.term

    async def rekey(self, new_root_key: bytes) -> None:
        """Re-encrypt the keyring under ``new_root_key``; data keys are unchanged."""
        _check_root_key(new_root_key)
        async with self._keyring_lock:
            updated = self._unsealed().keyring.with_root_key(bytes(new_root_key))
            await self._store_keyring(updated)
            self._state = _Unsealed.of(updated)

    def key_status(self) -> KeyStatus:
        active = self._unsealed().keyring.active
        return KeyStatus(term=active.term, install_time=active.install_time)

    async def get(self, key: str) -> bytes | None:
        _check_not_reserved(key)
        self._unsealed()
        stored = await self._physical.get(key)
        if stored is None:
            return None
        return _decrypt(self._unsealed(), key, stored)  # sealed meanwhile: Sealed, not plaintext

    async def put(self, key: str, value: bytes) -> None:
        _check_not_reserved(key)
        await self._physical.put(key, self._encrypt(key, value))

    async def delete(self, key: str) -> None:
        _check_not_reserved(key)
        self._unsealed()
        await self._physical.delete(key)

    async def list(self, prefix: str) -> list[str]:
        self._unsealed()
        return await self._physical.list(prefix)

    async def list_page(self, prefix: str, after: str, limit: int) -> builtins.list[str]:
        self._unsealed()
        return await self._physical.list_page(prefix, after, limit)

    async def count(self, prefix: str, start: str = "", end: str = "") -> int:
        self._unsealed()
        return await self._physical.count(prefix, start, end)

    async def batch(self, ops: Sequence[BatchOp]) -> None:
        self._unsealed()
        await self._physical.batch([self._seal_op(op) for op in ops])

    def _seal_op(self, op: BatchOp) -> BatchOp:
        _check_not_reserved(op.key)
        if isinstance(op, Put):
            return Put(op.key, self._encrypt(op.key, op.value))
        if isinstance(op, Delete):
            self._unsealed()
            return op
        raise TypeError(f"batch operations must be Put or Delete, not {type(op).__name__}")

    def _encrypt(self, key: str, value: bytes) -> bytes:
        state = self._unsealed()
        nonce = self._randbytes(_NONCE_SIZE)
        sealed = state.active_cipher.encrypt(nonce, value, key.encode())
        return state.active_header + nonce + sealed

    def _unsealed(self) -> _Unsealed:
        state = self._state
        if state is None:
            raise Sealed()
        return state

    def _new_key(self) -> bytes:
        key = self._randbytes(KEY_SIZE)
        if len(key) != KEY_SIZE:
            raise ValueError("random source returned the wrong number of bytes")
        return key

    async def _store_keyring(self, keyring: Keyring) -> None:
        nonce = self._randbytes(_NONCE_SIZE)
        body = AESGCM(keyring.root_key).encrypt(nonce, keyring.to_json(), KEYRING_PATH.encode())
        await self._physical.put(KEYRING_PATH, _header(_ROOT_TERM) + nonce + body)


def _open_keyring(sealed: bytes, root_key: bytes) -> Keyring:
    term, nonce, body = _split_envelope(KEYRING_PATH, sealed)
    if term != _ROOT_TERM:
        raise BarrierCorrupt("barrier: keyring is not sealed by the root key")
    try:
        plain = AESGCM(root_key).decrypt(nonce, body, KEYRING_PATH.encode())
    except InvalidTag:
        raise InvalidKey() from None
    return Keyring.from_json(plain)


def _decrypt(state: _Unsealed, key: str, stored: bytes) -> bytes:
    term, nonce, body = _split_envelope(key, stored)
    cipher = state.ciphers.get(term)
    if cipher is None:
        raise BarrierCorrupt(f"barrier: value at {key!r} uses unknown key term {term}")
    try:
        return cipher.decrypt(nonce, body, key.encode())
    except InvalidTag:
        raise BarrierCorrupt(f"barrier: value at {key!r} failed authentication") from None


def _split_envelope(key: str, stored: bytes) -> tuple[int, bytes, bytes]:
    if len(stored) < _MIN_SEALED_SIZE or stored[4] != _VERSION:
        raise BarrierCorrupt(f"barrier: value at {key!r} is not a barrier ciphertext")
    term = int.from_bytes(stored[:4], "big")
    return (
        term,
        stored[_HEADER_SIZE : _HEADER_SIZE + _NONCE_SIZE],
        stored[_HEADER_SIZE + _NONCE_SIZE :],
    )


def _header(term: int) -> bytes:
    return term.to_bytes(4, "big") + bytes((_VERSION,))


def _check_root_key(root_key: bytes) -> None:
    if not isinstance(root_key, bytes | bytearray) or len(root_key) != KEY_SIZE:
        raise InvalidKey(f"root key must be {KEY_SIZE} bytes")


def _check_not_reserved(key: str) -> None:
    if key in RESERVED_PATHS:
        raise ReservedKey()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
