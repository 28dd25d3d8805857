"""The rules of versioned secrets, as pure functions over KeyMetadata (no storage, no clock)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from warden.engines.kv.v2.store import DEFAULT_MAX_VERSIONS, KeyMetadata, KvConfig, VersionInfo
from warden.logical.errors import InvalidRequest

NS = 1_000_000_000


def new_metadata(path: str, now_ns: int) -> KeyMetadata:
    return KeyMetadata(path=path, created_ns=now_ns, updated_ns=now_ns)


def max_versions_of(meta: KeyMetadata, config: KvConfig) -> int:
    """The key's own limit, else the mount's, else 10."""
    return meta.max_versions or config.max_versions or DEFAULT_MAX_VERSIONS


def deletion_deadline(created_ns: int, config: KvConfig, meta: KeyMetadata) -> int:
    """When a new version deletes itself (0: never). The shorter of the two settings wins."""
    limits = [d for d in (config.delete_version_after, meta.delete_version_after) if d > 0]
    return created_ns + min(limits) * NS if limits else 0


def check_cas(cas: int | None, config: KvConfig, meta: KeyMetadata) -> None:
    """Check-and-set: cas 0 writes only a new secret, n only over current version n."""
    if cas is None:
        if config.cas_required or meta.cas_required:
            raise InvalidRequest("check-and-set parameter required for this call")
        return
    if cas != meta.current_version:
        raise InvalidRequest("check-and-set parameter did not match the current version")


def add_version(
    meta: KeyMetadata, created_ns: int, deletion_ns: int, config: KvConfig
) -> tuple[KeyMetadata, list[int]]:
    """The metadata with a new current version, and the old versions that fell out of it."""
    number = meta.current_version + 1
    versions = {**meta.versions, number: VersionInfo(created_ns, deletion_ns)}
    keep = max_versions_of(meta, config)
    dropped = sorted(n for n in versions if n <= number - keep) if len(versions) > keep else []
    for n in dropped:
        del versions[n]
    updated = replace(
        meta, versions=versions, current_version=number, updated_ns=created_ns,
        oldest_version=number - keep + 1 if dropped else meta.oldest_version,
    )
    return updated, dropped


def soft_delete(meta: KeyMetadata, numbers: Iterable[int], now_ns: int) -> KeyMetadata:
    """Mark live versions deleted now; unknown, destroyed or already deleted ones are skipped."""
    versions = dict(meta.versions)
    for n in numbers:
        info = versions.get(n)
        if info is not None and info.readable(now_ns):
            versions[n] = replace(info, deletion_ns=now_ns)
    return replace(meta, versions=versions)


def undelete(meta: KeyMetadata, numbers: Iterable[int]) -> KeyMetadata:
    """Clear the deletion time of versions that still have their data."""
    versions = dict(meta.versions)
    for n in numbers:
        info = versions.get(n)
        if info is not None and not info.destroyed:
            versions[n] = replace(info, deletion_ns=0)
    return replace(meta, versions=versions)


def destroy(meta: KeyMetadata, numbers: Iterable[int]) -> tuple[KeyMetadata, list[int]]:
    """Mark versions destroyed; returns the versions whose data must now be removed."""
    versions = dict(meta.versions)
    destroyed: list[int] = []
    for n in sorted(set(numbers)):
        info = versions.get(n)
        if info is not None and not info.destroyed:
            versions[n] = replace(info, destroyed=True)
            destroyed.append(n)
    return replace(meta, versions=versions), destroyed
