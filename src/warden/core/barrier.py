"""The security barrier: AES-256-GCM between the logical storage and the physical one.

Modelled on Vault's ``AESGCMBarrier``. The keyring (one 32-byte key per term,
plus the root key) is stored at ``core/keyring``, encrypted under the root key.
Every other value is stored as::

    term (4 bytes, big-endian) | version (1 byte, = 2) | nonce (12 bytes) | GCM ciphertext + tag

with the storage key as associated data, so a ciphertext moved to another key
fails to decrypt. Reads pick the key by the value's term; writes use the newest.
The barrier never touches ``core/seal-config`` (the seal's plaintext entry) except
to create it together with the keyring, in one transaction, at initialisation.

Values that are never stored but must only be readable by this barrier (batch tokens) are
sealed "detached": the same envelope with version 3, under a key derived (HKDF) from the term
key for the value's purpose, with the purpose as associated data. So such a blob cannot be
mistaken for a stored value or for another purpose's blob, it outlives a rotation (older
terms stay in the keyring) and a rekey (term keys do not change), and no one holding another
keyring can make or read one.

The keyring is changed only by check-and-set on its stored version, so two nodes
sharing a store can never both add "term N+1" (one would lose its key, and with it
every value written under it). A node that meets a term it does not know (another
node rotated) reloads the keyring and tries again.
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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from warden.logical.clock import Clock, SystemClock
from warden.logical.errors import (
    InvalidRequest,
    NotInitialized,
    PermissionDenied,
    Sealed,
    WardenError,
)
from warden.logical.storage import BatchOp, Check, Delete, Put, Versioned
from warden.storage.base import PhysicalBackend

KEYRING_PATH: Final = "core/keyring"
SEAL_CONFIG_PATH: Final = "core/seal-config"
RESERVED_PATHS: Final = frozenset({KEYRING_PATH, SEAL_CONFIG_PATH})
KEY_SIZE: Final = 32

_VERSION: Final = 2
_DETACHED_VERSION: Final = 3
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


class UnknownTerm(BarrierCorrupt):
    """A value is encrypted under a key term this node has not loaded (yet)."""


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

    def key_of(self, term: int) -> bytes:
        for key in self.keys:
            if key.term == term:
                return key.key
        raise UnknownTerm(f"barrier: unknown key term {term}")

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
    version: int  # the stored keyring's version: the check of the next change
    ciphers: dict[int, AESGCM]
    active_term: int
    active_header: bytes
    active_cipher: AESGCM
    # Ciphers for detached blobs, derived per (term, purpose) on first use.
    detached: dict[tuple[int, bytes], AESGCM] = field(default_factory=dict)

    def detached_cipher(self, term: int, purpose: bytes) -> AESGCM:
        cipher = self.detached.get((term, purpose))
        if cipher is None:
            derived = HKDF(algorithm=hashes.SHA256(), length=KEY_SIZE, salt=None,
                           info=b"warden barrier detached/" + purpose
                           ).derive(self.keyring.key_of(term))
            cipher = self.detached[(term, purpose)] = AESGCM(derived)
        return cipher

    @classmethod
    def of(cls, keyring: Keyring, version: int) -> _Unsealed:
        ciphers = {k.term: AESGCM(k.key) for k in keyring.keys}
        active = keyring.active.term
        return cls(keyring, version, ciphers, active, _header(active), ciphers[active])


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
        self._on_keyring_change: Callable[[], None] = lambda: None

    def on_keyring_change(self, announce: Callable[[], None]) -> None:
        """Called after a rotate or rekey is stored (other processes reload the keyring)."""
        self._on_keyring_change = announce

    @property
    def sealed(self) -> bool:
        return self._state is None

    async def initialized(self) -> bool:
        if not self._known_initialized:
            self._known_initialized = await self._physical.get(KEYRING_PATH) is not None
        return self._known_initialized

    async def initialize(self, root_key: bytes, *, with_entries: Sequence[Put] = ()) -> None:
        """Create the keyring (term 1) under ``root_key``; the barrier stays sealed.

        ``with_entries`` (the seal's plaintext configuration) are created in the same
        transaction, so of two nodes initialising one store at once exactly one wins.
        """
        _check_root_key(root_key)
        async with self._keyring_lock:
            if await self.initialized():
                raise AlreadyInitialized()
            first = TermKey(term=1, key=self._new_key(), install_time=self._clock.time())
            keyring = Keyring(root_key=bytes(root_key), keys=(first,))
            entries = [*with_entries, Put(KEYRING_PATH, self._seal_keyring(keyring))]
            created = await self._physical.transaction(
                [Check(e.key, 0) for e in entries], entries)
            if not created:
                raise AlreadyInitialized()
            self._known_initialized = True

    async def unseal(self, root_key: bytes) -> None:
        """Load the keyring with ``root_key``; a wrong key raises InvalidKey and changes nothing."""
        _check_root_key(root_key)
        async with self._keyring_lock:
            if self._state is not None:
                return
            self._state = await self._load_state(root_key)

    async def reload_keyring(self) -> None:
        """Load the stored keyring again (another node may have rotated it)."""
        async with self._keyring_lock:
            self._state = await self._load_state(self._unsealed().keyring.root_key)

    async def _load_state(self, root_key: bytes) -> _Unsealed:
        stored = await self._physical.get_versioned(KEYRING_PATH)
        if stored.value is None:
            raise NotInitialized()
        self._known_initialized = True
        return _Unsealed.of(_open_keyring(stored.value, root_key), stored.version)

    def seal(self) -> None:
        """Forget every key held in memory."""
        self._state = None

    async def rotate(self) -> int:
        """Add term N+1; new writes use it, values of older terms still decrypt."""
        async with self._keyring_lock:
            while True:
                state = self._unsealed()
                keyring = state.keyring
                new = TermKey(keyring.active.term + 1, self._new_key(), self._clock.time())
                if await self._replace_keyring(state, keyring.with_key(new)):
                    return new.term

    async def rekey(self, new_root_key: bytes) -> None:
        """Re-encrypt the keyring under ``new_root_key``; data keys are unchanged."""
        _check_root_key(new_root_key)
        async with self._keyring_lock:
            while True:
                state = self._unsealed()
                if await self._replace_keyring(state, state.keyring.with_root_key(bytes(new_root_key))):
                    return

    async def _replace_keyring(self, state: _Unsealed, updated: Keyring) -> bool:
        """Store ``updated`` if the stored keyring is still ``state``'s; else reload, False."""
        sealed = self._seal_keyring(updated)
        if await self._physical.transaction([Check(KEYRING_PATH, state.version)],
                                            [Put(KEYRING_PATH, sealed)]):
            self._state = await self._load_state(updated.root_key)  # ours, or newer
            self._on_keyring_change()
            return True
        self._state = await self._load_state(state.keyring.root_key)
        return False

    def key_status(self) -> KeyStatus:
        active = self._unsealed().keyring.active
        return KeyStatus(term=active.term, install_time=active.install_time)

    async def get(self, key: str) -> bytes | None:
        _check_not_reserved(key)
        self._unsealed()
        stored = await self._physical.get(key)
        if stored is None:
            return None
        return await self._open(key, stored)

    async def get_versioned(self, key: str) -> Versioned:
        _check_not_reserved(key)
        self._unsealed()
        stored = await self._physical.get_versioned(key)
        if stored.value is None:
            return stored
        return Versioned(await self._open(key, stored.value), stored.version)

    async def transaction(self, checks: Sequence[Check], ops: Sequence[BatchOp]) -> bool:
        self._unsealed()
        for check in checks:
            _check_not_reserved(check.key)
        return await self._physical.transaction(checks, [self._seal_op(op) for op in ops])

    async def _open(self, key: str, stored: bytes) -> bytes:
        try:
            return _decrypt(self._unsealed(), key, stored)  # sealed meanwhile: Sealed
        except UnknownTerm:
            await self.reload_keyring()  # another node rotated the keyring
            return _decrypt(self._unsealed(), key, stored)

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

    def seal_detached(self, purpose: bytes, value: bytes) -> bytes:
        """Encrypt a value that is handed out instead of stored (see the module docstring)."""
        state = self._unsealed()
        nonce = self._randbytes(_NONCE_SIZE)
        body = state.detached_cipher(state.active_term, purpose).encrypt(nonce, value, purpose)
        return _header(state.active_term, _DETACHED_VERSION) + nonce + body

    async def open_detached(self, purpose: bytes, blob: bytes) -> bytes | None:
        """The value sealed by ``seal_detached`` for ``purpose``; None if ``blob`` is not one
        (forged, altered, another purpose's, another keyring's). Raises Sealed when sealed."""
        state = self._unsealed()
        if len(blob) < _MIN_SEALED_SIZE or blob[4] != _DETACHED_VERSION:
            return None
        term = int.from_bytes(blob[:4], "big")
        if term not in state.ciphers:
            if term <= state.active_term:
                return None  # no term below the active one is ever dropped: a forgery
            await self.reload_keyring()  # another node or process rotated the keyring
            state = self._unsealed()
            if term not in state.ciphers:
                return None
        nonce, body = blob[_HEADER_SIZE:_HEADER_SIZE + _NONCE_SIZE], blob[_HEADER_SIZE + _NONCE_SIZE:]
        try:
            return state.detached_cipher(term, purpose).decrypt(nonce, body, purpose)
        except InvalidTag:
            return None

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

    def _seal_keyring(self, keyring: Keyring) -> bytes:
        nonce = self._randbytes(_NONCE_SIZE)
        body = AESGCM(keyring.root_key).encrypt(nonce, keyring.to_json(), KEYRING_PATH.encode())
        return _header(_ROOT_TERM) + nonce + body


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
        raise UnknownTerm(f"barrier: value at {key!r} uses unknown key term {term}")
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


def _header(term: int, version: int = _VERSION) -> bytes:
    return term.to_bytes(4, "big") + bytes((version,))


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
