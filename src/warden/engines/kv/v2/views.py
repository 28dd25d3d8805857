"""kv v2 response shapes, exactly as Vault's API documents them."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import orjson

from warden.engines.kv.v2.store import KeyMetadata, KvConfig, VersionInfo
from warden.framework.durations import format_duration
from warden.logical.request import Request
from warden.logical.response import Response


def rfc3339_nano(ns: int) -> str:
    """Go's RFC3339Nano, as Vault prints times: trailing zeros of the fraction dropped; "" for 0."""
    if ns == 0:
        return ""
    seconds, fraction = divmod(ns, 1_000_000_000)
    base = _dt.datetime.fromtimestamp(seconds, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def custom_metadata_of(meta: KeyMetadata) -> dict[str, str] | None:
    return dict(meta.custom_metadata) if meta.custom_metadata else None


def version_metadata(meta: KeyMetadata, number: int, info: VersionInfo) -> dict[str, Any]:
    """The ``metadata`` of a data read, and the whole ``data`` of a write or patch."""
    return {
        "created_time": rfc3339_nano(info.created_ns),
        "custom_metadata": custom_metadata_of(meta),
        "deletion_time": rfc3339_nano(info.deletion_ns),
        "destroyed": info.destroyed,
        "version": number,
    }


def metadata_view(meta: KeyMetadata) -> dict[str, Any]:
    return {
        "cas_required": meta.cas_required,
        "created_time": rfc3339_nano(meta.created_ns),
        "current_version": meta.current_version,
        "custom_metadata": custom_metadata_of(meta),
        "delete_version_after": format_duration(meta.delete_version_after),
        "max_versions": meta.max_versions,
        "oldest_version": meta.oldest_version,
        "updated_time": rfc3339_nano(meta.updated_ns),
        "versions": {
            str(n): {
                "created_time": rfc3339_nano(info.created_ns),
                "deletion_time": rfc3339_nano(info.deletion_ns),
                "destroyed": info.destroyed,
            }
            for n, info in sorted(meta.versions.items())
        },
    }


def config_view(config: KvConfig) -> dict[str, Any]:
    return {
        "cas_required": config.cas_required,
        "delete_version_after": format_duration(config.delete_version_after),
        "max_versions": config.max_versions,
    }


def not_found_with(req: Request, data: dict[str, Any]) -> Response:
    """A 404 that still carries ``data``, as Vault answers for a deleted or destroyed version.

    Clients such as hvac (``raise_on_deleted_version=False``) read the version's
    metadata from this body; it never holds secret data.
    """
    body = {
        "request_id": req.id, "lease_id": "", "renewable": False, "lease_duration": 0,
        "data": data, "wrap_info": None, "warnings": None, "auth": None,
        "mount_type": req.mount.type,
    }
    return Response.raw_body(orjson.dumps(body), "application/json", status=404)
