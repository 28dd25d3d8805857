"""``warden operator migrate -config FILE``: copy a sealed store to another backend.

Vault's verb and file: ``storage_source "TYPE" {...}`` and ``storage_destination "TYPE"
{...}`` blocks, with the same settings as a server's ``storage`` block. Every key is
copied as the stored bytes (ciphertext and the seal's plaintext configuration): nothing is
decrypted and no key is needed, and the copy unseals with the same unseal keys. Afterwards
every key is read back from the destination and compared with the source.

All servers using the source must be stopped. The destination must be empty. The HA
leader advertisements (``core/leader/``) are not copied: they describe nodes of the old
store.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from warden.cli.common import EXIT_OK, CommandError, Streams, new_parser, parse
from warden.composition import open_storage
from warden.core.barrier import KEYRING_PATH
from warden.core.ha import LEADER_PREFIX, LOCK_KEY
from warden.logical.storage import scan
from warden.server.config import ConfigError, MigrationConfig, load_migration_config
from warden.storage.base import PhysicalBackend, StorageError

PARALLEL: Final = 16
SKIPPED_PREFIXES: Final = (LEADER_PREFIX,)


@dataclass(frozen=True, slots=True)
class MigrationResult:
    copied: int
    bytes: int


class MigrationError(Exception):
    """The migration cannot start or did not verify; the message says what to do."""


def migrate(argv: list[str], streams: Streams, prog: str = "warden operator migrate") -> int:
    parser = new_parser(
        prog, "Copy all data of a warden store to another storage backend, e.g. from SQLite "
              "to etcd and back. Stop every server of the source first. The data stays sealed: "
              "the copy unseals with the same unseal keys. Every key is verified after copying.",
        usage=f"{prog} -config=FILE",
        epilog='The file holds two blocks, as Vault\'s:\n'
               '  storage_source "sqlite" { path = "/var/lib/warden/warden.db" }\n'
               '  storage_destination "etcd" { address = "https://10.0.0.1:2379" ... }',
        http=False)
    parser.add_argument("-config", "--config", required=True, metavar="FILE",
                        help="The migration file (HCL, YAML or JSON).")
    parser.add_argument("-max-parallel", "--max-parallel", type=int, default=PARALLEL, metavar="N",
                        help=f"How many keys to copy at once (default {PARALLEL}).")
    args = parse(parser, argv)
    if args.max_parallel < 1:
        raise CommandError("-max-parallel must be at least 1", 1)
    try:
        config = load_migration_config(args.config)
        result = asyncio.run(run_migration(config, parallel=args.max_parallel,
                                           progress=streams.err))
    except (ConfigError, MigrationError, StorageError) as exc:
        raise CommandError(f"Error migrating: {exc}") from None
    streams.out(f"Success! All of the keys have been migrated: {result.copied} keys "
                f"({result.bytes} bytes) copied and verified.")
    return EXIT_OK


async def run_migration(config: MigrationConfig, *, parallel: int = PARALLEL,
                        progress: Callable[[str], None] = lambda _: None) -> MigrationResult:
    source = open_storage(config.source_type, config.source)
    try:
        destination = open_storage(config.destination_type, config.destination)
    except BaseException:
        await source.close()
        raise
    try:
        await _check_can_start(source, destination)
        keys = [k for k in await scan(source) if not k.startswith(SKIPPED_PREFIXES)]
        progress(f"copying {len(keys)} keys from {config.source_type} to "
                 f"{config.destination_type}")
        copied = await _each(keys, parallel, lambda k: _copy(source, destination, k))
        progress("verifying the copy")
        await _verify(source, destination, keys, parallel)
        return MigrationResult(len(keys), sum(copied))
    finally:
        await destination.close()
        await source.close()


async def _check_can_start(source: PhysicalBackend, destination: PhysicalBackend) -> None:
    if await source.get(KEYRING_PATH) is None:
        raise MigrationError("the source holds no warden store (no core/keyring): check "
                             "storage_source")
    lock_with = getattr(source, "lock_with", None)
    if lock_with is not None and (await lock_with(LOCK_KEY, "migration").value())[0]:
        raise MigrationError("a warden node is active on the source: stop every server "
                             "that uses it, then run the migration again")
    if await destination.list(""):
        raise MigrationError("the destination is not empty: migrate only into an empty "
                             "store (a fresh SQLite file, or an unused etcd path)")


async def _copy(source: PhysicalBackend, destination: PhysicalBackend, key: str) -> int:
    value = await source.get(key)
    if value is None:
        raise MigrationError(f"{key!r} disappeared from the source during the migration: "
                             "is a server still running on it?")
    await destination.put(key, value)
    return len(value)


async def _verify(source: PhysicalBackend, destination: PhysicalBackend, keys: Sequence[str],
                  parallel: int) -> None:
    stored = [k for k in await scan(destination) if not k.startswith(SKIPPED_PREFIXES)]
    if sorted(stored) != sorted(keys):
        extra, missing = set(stored) - set(keys), set(keys) - set(stored)
        raise MigrationError(f"verification failed: the destination has {len(missing)} keys "
                             f"missing and {len(extra)} unexpected keys")

    async def same(key: str) -> int:
        a, b = await source.get(key), await destination.get(key)
        if a is None or b is None or hashlib.sha256(a).digest() != hashlib.sha256(b).digest():
            raise MigrationError(f"verification failed: {key!r} differs between source and "
                                 "destination")
        return 0

    await _each(keys, parallel, same)


async def _each(keys: Sequence[str], parallel: int,
                fn: Callable[[str], Awaitable[int]]) -> list[int]:
    limit = asyncio.Semaphore(parallel)

    async def one(key: str) -> int:
        async with limit:
            return await fn(key)

    return list(await asyncio.gather(*(one(k) for k in keys)))
