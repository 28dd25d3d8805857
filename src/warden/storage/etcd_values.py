"""How values sit in etcd: a tagged head under the data prefix, large ones in chunks.

A key's head is stored at ``<path><key>`` and starts with one tag byte: ``INLINE`` and
the value, or ``CHUNKED`` and a manifest naming the chunks. Chunks live outside the data
prefix, at ``<path>.chunks/<sha256(key)>/<write id>/<index>``, so listings and prefix
scans never see them. A large value is written in two steps: its chunks under a fresh
random write id (invisible: no head points at them yet), then one small transaction that
switches the head to the new manifest. Readers read the head, then the chunks at the
head's revision (etcd's MVCC snapshot), so they never see half a value or a mix of two.
Chunks of a replaced or deleted value are removed after the switch; a crash in between
leaves unreferenced chunks that the key's next large write removes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

import orjson

from warden.storage.base import StorageError

INLINE: Final = b"\x00"
CHUNKED: Final = b"\x01"


@dataclass(frozen=True, slots=True)
class Manifest:
    """Which chunks make up a value, and how to check them."""

    write_id: str
    count: int
    size: int
    sha256: str

    def encode(self) -> bytes:
        return CHUNKED + orjson.dumps({"id": self.write_id, "n": self.count, "size": self.size,
                                       "sha256": self.sha256})

    @classmethod
    def decode(cls, head: bytes) -> Manifest:
        try:
            doc = orjson.loads(head[1:])
            return cls(str(doc["id"]), int(doc["n"]), int(doc["size"]), str(doc["sha256"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise StorageError("etcd: a chunked value's manifest is unreadable") from None


@dataclass(frozen=True, slots=True)
class Layout:
    """The etcd keys of one warden store (``path``, Vault's ``path`` setting)."""

    path: str

    @property
    def data(self) -> bytes:
        return self.path.encode()

    @property
    def chunk_root(self) -> bytes:
        return self.path.rstrip("/").encode() + b".chunks/"

    @property
    def lock_root(self) -> bytes:
        return self.path.rstrip("/").encode() + b".locks/"

    def key(self, key: str) -> bytes:
        return self.data + key.encode()

    def name(self, etcd_key: bytes) -> str:
        return etcd_key[len(self.data):].decode()

    def chunks_of(self, key: str) -> bytes:
        """The prefix of every chunk of ``key``, of any write."""
        return self.chunk_root + hashlib.sha256(key.encode()).hexdigest().encode() + b"/"

    def chunks_of_write(self, key: str, write_id: str) -> bytes:
        return self.chunks_of(key) + write_id.encode() + b"/"

    def chunk(self, key: str, write_id: str, index: int) -> bytes:
        return self.chunks_of_write(key, write_id) + b"%06d" % index


def new_write_id() -> str:
    return secrets.token_hex(8)


def split(value: bytes, chunk_size: int) -> list[bytes]:
    return [value[i:i + chunk_size] for i in range(0, len(value), chunk_size)] or [b""]


def manifest_for(value: bytes, chunks: int) -> Manifest:
    return Manifest(new_write_id(), chunks, len(value), hashlib.sha256(value).hexdigest())


def joined(manifest: Manifest, chunks: list[bytes]) -> bytes | None:
    """The value if ``chunks`` are exactly the manifest's, else None."""
    if len(chunks) != manifest.count:
        return None
    value = b"".join(chunks)
    if len(value) != manifest.size or hashlib.sha256(value).hexdigest() != manifest.sha256:
        return None
    return value


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix`` (etcd's range_end)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return b"\x00"  # every key: etcd's "range to the end"
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))
