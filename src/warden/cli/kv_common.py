"""What the ``kv`` commands share: finding the mount and its version, and path rewriting.

The mount's version is asked of ``sys/internal/ui/mounts/<path>``; for version 2 the API
path gets ``data/``, ``metadata/``, ``delete/``, ``undelete/`` or ``destroy/`` after the
mount, so ``warden kv get secret/foo`` reads ``secret/data/foo``.
"""

from __future__ import annotations

import argparse
import posixpath
from dataclasses import dataclass

from warden.api import Client, ClientError, Forbidden
from warden.cli.common import (
    EXIT_USAGE,
    CommandError,
    Streams,
    add_field_flag,
    add_format_flag,
    new_parser,
    sanitize_path,
)
from warden.cli.output import padded_header


def join(*parts: str) -> str:
    """Go's ``path.Join``: non-empty parts joined by "/", cleaned, no trailing slash."""
    joined = "/".join(p for p in parts if p)
    return posixpath.normpath(joined).lstrip("/") if joined else ""


def add_prefix(path: str, mount: str, api_prefix: str, *, skip_if_exists: bool = False) -> str:
    """Vault's ``addPrefixToKVPath``: ``secret/foo`` -> ``secret/data/foo``."""
    if path in (mount, mount.rstrip("/")):
        return join(mount, api_prefix)
    suffix = path.removeprefix(mount)
    while suffix == path and mount:
        mount = mount.partition("/")[2]
        suffix = path.removeprefix(mount)
    if skip_if_exists and suffix.lstrip("/").startswith(api_prefix):
        return join(mount, suffix)
    return join(mount, api_prefix, suffix)


@dataclass(frozen=True, slots=True)
class KvPath:
    """A secret's path as given, and what the mount it lives in said about itself."""

    given: str  # PATH as typed (sanitized); relative to the mount with -mount
    mount: str  # the mount's path with a trailing slash, or "" if unknown
    version: int
    mount_flag: bool

    @property
    def v2(self) -> bool:
        return self.version == 2

    def api(self, prefix: str, *, skip_if_exists: bool = False) -> str:
        """The API path: with ``prefix`` inserted after the mount for kv v2."""
        if self.mount_flag:
            return join(self.mount, prefix if self.v2 else "", self.given)
        if not self.v2:
            return self.given
        return add_prefix(self.given, self.mount, prefix, skip_if_exists=skip_if_exists)


def preflight(client: Client, path: str) -> tuple[str, int]:
    """Vault's ``kvPreflightVersionRequest``: (mount path, kv version)."""
    try:
        body = client.read(f"sys/internal/ui/mounts/{path}")
    except Forbidden:
        raise CommandError("preflight capability check returned 403, please ensure client's "
                           f'policies grant access to path "{path}/"') from None
    except ClientError as exc:
        raise CommandError(f"Error determining the kv version of {path}: {exc}") from None
    if body is None:  # an older server without the endpoint: kv v1
        return "", 1
    data = body.get("data") or {}
    options = data.get("options") or {}
    version = str(options.get("version") or "1")
    return str(data.get("path") or ""), 2 if version == "2" else 1


def resolve(client: Client, args: argparse.Namespace, given: str) -> KvPath:
    partial = sanitize_path(given)
    if args.mount:
        mount_given = sanitize_path(args.mount)
        mount, version = preflight(client, mount_given)
        return KvPath(partial, mount or mount_given + "/", version, True)
    mount, version = preflight(client, partial)
    return KvPath(partial, mount, version, False)


def require_v2(kv: KvPath, what: str) -> None:
    if not kv.v2:
        raise CommandError(f"{what} not supported on KV Version 1", EXIT_USAGE)



def kv_parser(prog: str, description: str, usage: str, *, field: bool = True,
            epilog: str | None = None) -> argparse.ArgumentParser:
    parser = new_parser(prog, description, usage=usage, epilog=epilog)
    add_format_flag(parser)
    if field:
        add_field_flag(parser)
    parser.add_argument("--mount", default="", metavar="MOUNT",
                        help="The kv mount; PATH is then relative to it (-mount=secret foo).")
    return parser


def print_path_header(streams: Streams, path: str, title: str) -> None:
    """Vault's ``outputPath``."""
    streams.out(padded_header(title, len(path)))
    streams.out(path + "\n")
