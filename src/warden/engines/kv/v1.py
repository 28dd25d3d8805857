"""kv version 1: one unversioned JSON map per path (Vault's passthrough backend).

The request body *is* the secret: a write stores it whole at the path's storage
key, a read returns it with a ``ttl`` (or ``lease``) key shown as the advisory
lease duration. No lease is created.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from warden.engines.kv.common import folder_of, storage_of
from warden.engines.kv.v2.store import V2_ROOT
from warden.framework import Backend, Field, FieldData, FieldType, Path, match_all_regex
from warden.framework.durations import parse_duration
from warden.logical.backend import BackendConfig
from warden.logical.errors import InvalidRequest, WardenError
from warden.logical.operation import Operation
from warden.logical.request import MountInfo, Request
from warden.logical.response import Response, Secret


class ArbitraryInput(Mapping[str, Field]):
    """A field schema under which every input key counts as recognised.

    Vault's ``TakesArbitraryInput``: only the declared fields are parsed and shown
    in help, but no body key draws an "unrecognized parameters" warning, because
    the body is the secret itself.
    """

    def __init__(self, declared: Mapping[str, Field]) -> None:
        self._declared = dict(declared)

    def __getitem__(self, name: str) -> Field:
        return self._declared[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._declared)

    def __len__(self) -> int:
        return len(self._declared)

    def __contains__(self, name: object) -> bool:
        return True


SECRET_FIELDS = ArbitraryInput({
    "path": Field(FieldType.STRING, "Location of the secret. On a write, every key of the body "
                  'is stored as part of the secret; a "ttl" key sets the advisory lease duration.'),
})


def kv_v1_backend(conf: BackendConfig) -> Backend:
    return Backend(
        paths=[
            Path(match_all_regex("path"), fields=SECRET_FIELDS,
                 operations={Operation.READ: read_secret, Operation.UPDATE: write_secret,
                             Operation.DELETE: delete_secret, Operation.LIST: list_secrets},
                 existence_check=secret_exists,
                 help_synopsis=SECRET_HELP_SYN, help_description=SECRET_HELP_DESC),
        ],
        help=SECRET_HELP_DESC,
    )


async def secret_exists(req: Request, data: FieldData) -> bool:
    return await storage_of(req).get(data.get("path")) is not None


async def read_secret(req: Request, data: FieldData) -> Response | None:
    raw = await storage_of(req).get(data.get("path"))
    if raw is None:
        return None
    secret = decode_secret(raw)
    return Response(data=secret, secret=Secret(ttl=advisory_ttl(secret, req.mount)))


async def write_secret(req: Request, data: FieldData) -> None:
    path = writable_path(data.get("path"))
    if not req.data:
        raise InvalidRequest("no data provided: the body must hold at least one key")
    secret = dict(req.data)
    if "ttl" in secret:
        _parse_ttl(secret["ttl"])
    await storage_of(req).put(path, orjson.dumps(secret))


async def delete_secret(req: Request, data: FieldData) -> None:
    await storage_of(req).delete(data.get("path"))


async def list_secrets(req: Request, data: FieldData) -> Response | None:
    keys = await storage_of(req).list(folder_of(data.get("path")))
    return Response.listing(keys) if keys else None


def writable_path(path: str) -> str:
    if not path or path.endswith("/"):
        raise InvalidRequest('invalid "path": a secret\'s path must be non-empty and not end in "/"')
    if path.startswith(V2_ROOT):
        raise InvalidRequest(f'invalid "path": paths under "{V2_ROOT}" are reserved for the '
                             "data of kv version 2")
    return path


def decode_secret(raw: bytes) -> dict[str, Any]:
    try:
        secret = orjson.loads(raw)
    except orjson.JSONDecodeError:
        secret = None
    if not isinstance(secret, dict):
        raise WardenError("kv: a stored secret is unreadable")
    return secret


def advisory_ttl(secret: Mapping[str, Any], mount: MountInfo) -> int:
    """The secret's ``ttl`` (or older ``lease``) in seconds, capped by the mount; else its default."""
    raw = secret.get("ttl", secret.get("lease"))
    try:
        ttl = parse_duration(raw) if raw is not None else 0
    except ValueError:
        ttl = 0
    if ttl <= 0:
        return mount.default_lease_ttl
    return min(ttl, mount.max_lease_ttl) if mount.max_lease_ttl else ttl


def _parse_ttl(raw: Any) -> int:
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise InvalidRequest(f'invalid "ttl": {exc}') from None


SECRET_HELP_SYN = "Read, write, delete or list secrets; each path holds one unversioned map."
SECRET_HELP_DESC = """\
kv version 1 stores the body of a write, as given, at the path: a later write
replaces the whole map. A read returns it; if it has a "ttl" key (a duration such
as "1h"), that is reported as the lease duration, a hint of how often to re-read.
No lease is created. LIST returns the keys below a folder; folders end in "/".
"""
