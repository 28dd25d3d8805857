"""Small helpers shared by kv v1 and v2 handlers."""

from __future__ import annotations

from warden.framework import FieldData
from warden.logical.errors import InvalidRequest
from warden.logical.request import Request
from warden.logical.storage import Storage


def secret_path_regex(name: str) -> str:
    """A non-empty path that does not end in '/' (Vault's matchAllNoTrailingSlashRegex)."""
    return rf"(?P<{name}>.*?[^/])"


def storage_of(req: Request) -> Storage:
    """The mount's storage view, which the core attaches to every routed request."""
    if req.storage is None:
        raise RuntimeError("kv: the request carries no storage view")
    return req.storage


def folder_of(path: str) -> str:
    """The storage prefix to list for ``path``: "" for the root, else the path with one '/'."""
    return path if path == "" or path.endswith("/") else path + "/"


def non_negative(data: FieldData, name: str) -> int:
    value: int = data.get(name)
    if value < 0:
        raise InvalidRequest(f'invalid "{name}": must be a non-negative integer')
    return value
