"""``warden kv ...``: the key/value store, version 1 or 2, as Vault's ``kv`` commands.

The mount's version is asked of ``sys/internal/ui/mounts/<path>``; for version 2 the API
path gets ``data/``, ``metadata/``, ``delete/``, ``undelete/`` or ``destroy/`` after the
mount, so ``warden kv get secret/foo`` reads ``secret/data/foo``.
"""

from __future__ import annotations

import argparse
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warden.api import Call, Client, ClientError, Forbidden, UnsupportedOperation
from warden.api.client import MERGE_PATCH_TYPE
from warden.cli.cmd_read import after_delete, kv_data, show_list
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Streams,
    UsageError,
    add_args,
    add_bool_flag,
    add_field_flag,
    add_format_flag,
    api_errors,
    expect_args,
    make_client,
    new_parser,
    output_format,
    parse,
    sanitize_path,
)
from warden.cli.dispatch import Entry, Group
from warden.cli.emit import print_field, print_secret
from warden.cli.mounts import parse_options
from warden.cli.output import header_for_map, map_table, padded_header, render_secret

GROUP = Group(
    prog="warden kv",
    description="Read and write the key/value secrets engine (version 1 or 2).",
    entries=(
        Entry("get", "warden.cli.cmd_kv:get", "Read a secret (a version of it, with kv v2)"),
        Entry("put", "warden.cli.cmd_kv:put", "Write a secret (a new version, with kv v2)"),
        Entry("patch", "warden.cli.cmd_kv:patch", "Update some keys of a secret (kv v2)"),
        Entry("delete", "warden.cli.cmd_kv:delete", "Delete a secret (or versions of it)"),
        Entry("undelete", "warden.cli.cmd_kv:undelete", "Restore deleted versions (kv v2)"),
        Entry("destroy", "warden.cli.cmd_kv:destroy", "Destroy versions for good (kv v2)"),
        Entry("list", "warden.cli.cmd_kv:list_", "List secrets under a path"),
        Entry("metadata", "warden.cli.cmd_kv:metadata", "Secret metadata (kv v2)"),
    ),
)

METADATA = Group(
    prog="warden kv metadata",
    description="Read, write and delete the metadata of kv v2 secrets (all their versions).",
    entries=(
        Entry("get", "warden.cli.cmd_kv:metadata_get", "Show metadata and versions"),
        Entry("put", "warden.cli.cmd_kv:metadata_put", "Set max versions, CAS, custom metadata"),
        Entry("delete", "warden.cli.cmd_kv:metadata_delete", "Delete a secret and all versions"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


def metadata(argv: list[str], streams: Streams) -> int:
    return METADATA.run(argv, streams)


# -- paths ------------------------------------------------------------------------------------


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


# -- parsers ----------------------------------------------------------------------------------


def _parser(prog: str, description: str, usage: str, *, field: bool = True,
            epilog: str | None = None) -> argparse.ArgumentParser:
    parser = new_parser(prog, description, usage=usage, epilog=epilog)
    add_format_flag(parser)
    if field:
        add_field_flag(parser)
    parser.add_argument("--mount", default="", metavar="MOUNT",
                        help="The kv mount; PATH is then relative to it (-mount=secret foo).")
    return parser


def _versions(values: list[str], prog: str) -> list[int]:
    try:
        return [int(v) for value in values for v in value.split(",") if v.strip()]
    except ValueError:
        raise UsageError("-versions takes version numbers, e.g. -versions=1,2", prog) from None


def _versions_flag(parser: argparse.ArgumentParser, action: str) -> None:
    parser.add_argument("--versions", action="append", default=[], metavar="N,N",
                        help=f"The versions to {action}, comma separated (repeatable).")


# -- get --------------------------------------------------------------------------------------


def get(argv: list[str], streams: Streams, prog: str = "warden kv get") -> int:
    parser = _parser(prog, "Read a secret; with kv v2 the latest version or -version.",
                     f"{prog} [options] PATH",
                     epilog="Examples:\n  warden kv get secret/foo\n"
                            "  warden kv get -mount=secret -version=2 -field=password foo")
    parser.add_argument("--version", type=int, default=0, metavar="N",
                        help="The version to read (kv v2; default: the latest).")
    add_args(parser, "PATH", "The secret's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    params = {"version": str(args.version)} if args.version > 0 else None
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        path = kv.api("data")
        with api_errors(f"reading {path}"):
            secret = client.read(path, params)
    if secret is None:
        raise CommandError(f"No value found at {path}", EXIT_ERROR)
    if args.field:
        return _get_field(streams, secret, kv, args.field, fmt, path)
    if fmt != "table" or secret.get("wrap_info"):
        return print_secret(streams, secret, fmt)
    _show_get(streams, secret, kv, path)
    return EXIT_OK


def _get_field(streams: Streams, secret: dict[str, Any], kv: KvPath, name: str, fmt: str,
               path: str) -> int:
    if not kv.v2:
        return print_secret(streams, secret, fmt, name)
    data = (secret.get("data") or {}).get("data")
    if not isinstance(data, Mapping):
        raise CommandError(f"No data found at {path}", EXIT_ERROR)
    return print_field(streams, data.get(name), name, fmt)


def _show_get(streams: Streams, secret: dict[str, Any], kv: KvPath, path: str) -> None:
    if not kv.v2:
        streams.out(render_secret(secret, "table"))
        return
    _secret_path(streams, path, "Secret Path")
    body = secret.get("data") or {}
    meta = body.get("metadata")
    if isinstance(meta, Mapping):
        streams.out(header_for_map("Metadata", meta))
        streams.out(map_table(meta))
    data = body.get("data")
    if isinstance(data, Mapping):
        streams.out("\n" + header_for_map("Data", data))
        streams.out(map_table(data))


def _secret_path(streams: Streams, path: str, title: str) -> None:
    """Vault's ``outputPath``."""
    streams.out(padded_header(title, len(path)))
    streams.out(path + "\n")


# -- put and patch ----------------------------------------------------------------------------


def put(argv: list[str], streams: Streams, prog: str = "warden kv put") -> int:
    parser = _parser(prog, "Write a secret; with kv v2 this adds a version.",
                     f"{prog} [options] PATH K=V [K=V ...]",
                     epilog="Examples:\n  warden kv put secret/foo user=a password=@pw.txt\n"
                            "  warden kv put -cas=1 secret/foo user=b\n"
                            "  echo '{\"a\": 1}' | warden kv put secret/foo -")
    parser.add_argument("--cas", type=int, default=-1, metavar="N",
                        help="Check-and-set (kv v2): write only if the current version is N "
                             "(0: only if the secret does not exist).")
    add_args(parser, "PATH K=V", "The secret's path, then its data.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, None)
    fmt = output_format(args, streams)
    data = kv_data(args.args[1:], streams, prog)
    if not data:
        raise UsageError("Must supply data", prog)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        path = kv.api("data")
        body = _v2_body(data, args.cas) if kv.v2 else data
        with api_errors(f"writing data to {path}"):
            secret = client.write(path, body)
    return _show_written(streams, secret, kv, path, fmt, args.field)


def _v2_body(data: dict[str, Any], cas: int) -> dict[str, Any]:
    body: dict[str, Any] = {"data": data}
    if cas >= 0:
        body["options"] = {"cas": cas}
    return body


def _show_written(streams: Streams, secret: dict[str, Any] | None, kv: KvPath, path: str,
                  fmt: str, field: str) -> int:
    if secret is None:
        if fmt == "table":
            streams.out(f"Success! Data written to: {path}")
        return EXIT_OK
    if field:
        return print_secret(streams, secret, fmt, field)
    if fmt == "table" and kv.v2:
        _secret_path(streams, path, "Secret Path")
    return print_secret(streams, secret, fmt)


def patch(argv: list[str], streams: Streams, prog: str = "warden kv patch") -> int:
    parser = _parser(prog, "Update some keys of a kv v2 secret, keeping the others: a new "
                           "version with the keys given changed.",
                     f"{prog} [options] PATH K=V [K=V ...]",
                     epilog="Example:\n  warden kv patch secret/foo password=@new.txt")
    parser.add_argument("--cas", type=int, default=-1, metavar="N",
                        help="Check-and-set: patch only if the current version is N.")
    parser.add_argument("--method", default="", choices=("", "patch", "rw"),
                        help="patch: HTTP PATCH; rw: read, then write. Default: PATCH, "
                             "falling back to read-then-write if the server or policy refuses it.")
    add_args(parser, "PATH K=V", "The secret's path, then the data to change.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, None)
    fmt = output_format(args, streams)
    data = kv_data(args.args[1:], streams, prog)
    if not data:
        raise UsageError("Must supply data", prog)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        if not kv.v2:
            raise CommandError("K/V engine mount must be version 2 for patch support")
        path = kv.api("data")
        secret = _patch(client, streams, path, data, args)
    return _show_written(streams, secret, kv, path, fmt, args.field)


def _patch(client: Client, streams: Streams, path: str, data: dict[str, Any],
           args: argparse.Namespace) -> dict[str, Any] | None:
    if args.method == "rw":
        return _read_then_write(client, path, data, args.cas)
    try:
        return client.send(Call("PATCH", path, _v2_body(data, args.cas),
                                content_type=MERGE_PATCH_TYPE))
    except (UnsupportedOperation, Forbidden) as exc:
        if args.method == "patch":
            raise CommandError(f"Error writing data to {path}: {exc}") from None
        if isinstance(exc, Forbidden):
            streams.err(f'Data is written to {path} by read-then-write; add the "patch" '
                        "capability to the policy to use HTTP PATCH instead.")
        return _read_then_write(client, path, data, args.cas)
    except ClientError as exc:
        raise CommandError(f"Error writing data to {path}: {exc}") from None


def _read_then_write(client: Client, path: str, data: dict[str, Any],
                     cas: int) -> dict[str, Any] | None:
    with api_errors(f"reading {path}"):
        current = client.read(path)
    body = (current or {}).get("data") or {}
    if not isinstance(body.get("data"), Mapping):
        raise CommandError(f"No value found at {path}", EXIT_ERROR)
    version = (body.get("metadata") or {}).get("version", 0)
    merged = {**body["data"], **data}
    with api_errors(f"writing data to {path}"):
        return client.write(path, _v2_body(merged, cas if cas >= 0 else int(version)))


# -- delete, undelete, destroy ----------------------------------------------------------------


def delete(argv: list[str], streams: Streams, prog: str = "warden kv delete") -> int:
    parser = _parser(prog, "Delete a secret: with kv v2 its latest version, or -versions "
                           "(they can be undeleted); with kv v1 the secret itself.",
                     f"{prog} [options] PATH", field=False)
    _versions_flag(parser, "delete")
    add_args(parser, "PATH", "The secret's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    versions = _versions(args.versions, prog)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        path = kv.api("data")
        with api_errors(f"deleting {path}"):
            if kv.v2 and versions:
                secret = client.write(kv.api("delete"), {"versions": versions})
            else:
                secret = client.delete(path)
    return after_delete(streams, secret, fmt, path)


def undelete(argv: list[str], streams: Streams, prog: str = "warden kv undelete") -> int:
    return _versions_action(argv, streams, prog, "undelete", "Undelete")


def destroy(argv: list[str], streams: Streams, prog: str = "warden kv destroy") -> int:
    return _versions_action(argv, streams, prog, "destroy", "Destroy")


def _versions_action(argv: list[str], streams: Streams, prog: str, action: str,
                     title: str) -> int:
    what = ("Restore deleted versions of a kv v2 secret." if action == "undelete" else
            "Destroy versions of a kv v2 secret: their data is removed for good.")
    parser = _parser(prog, what, f"{prog} [options] -versions=N[,N...] PATH", field=False)
    _versions_flag(parser, action)
    add_args(parser, "PATH", "The secret's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    versions = _versions(args.versions, prog)
    if not versions:
        raise UsageError(f'No versions provided, use the "-versions" flag to specify the '
                         f"version to {action}.", prog)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        require_v2(kv, title)
        path = kv.api(action)
        with api_errors(f"writing data to {path}"):
            secret = client.write(path, {"versions": versions})
    return _show_written(streams, secret, kv, path, fmt, "")


# -- list -------------------------------------------------------------------------------------


def list_(argv: list[str], streams: Streams, prog: str = "warden kv list") -> int:
    parser = _parser(prog, "List the secrets under PATH.", f"{prog} [options] PATH",
                     field=False)
    add_args(parser, "PATH", "The path to list.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        path = kv.api("metadata", skip_if_exists=True)
        with api_errors(f"listing {path}"):
            secret = client.list(path)
    return show_list(streams, secret, fmt, path)


# -- metadata ---------------------------------------------------------------------------------


def metadata_get(argv: list[str], streams: Streams, prog: str = "warden kv metadata get") -> int:
    parser = _parser(prog, "Show a kv v2 secret's metadata and its versions.",
                     f"{prog} [options] PATH")
    add_args(parser, "PATH", "The secret's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        require_v2(kv, "Metadata")
        path = kv.api("metadata")
        with api_errors(f"reading {path}"):
            secret = client.read(path)
    if secret is None:
        raise CommandError(f"No value found at {path}", EXIT_ERROR)
    if args.field or fmt != "table":
        return print_secret(streams, secret, fmt, args.field)
    _show_metadata(streams, secret, path)
    return EXIT_OK


def _show_metadata(streams: Streams, secret: dict[str, Any], path: str) -> None:
    data = dict(secret.get("data") or {})
    versions = data.pop("versions", None) or {}
    _secret_path(streams, path, "Metadata Path")
    streams.out(header_for_map("Metadata", data))
    streams.out(map_table(data))
    for number in sorted(versions, key=lambda v: int(v)):
        version = versions[number] or {}
        streams.out("\n" + header_for_map(f"Version {number}", version))
        streams.out(map_table(version))


def metadata_put(argv: list[str], streams: Streams, prog: str = "warden kv metadata put") -> int:
    parser = _parser(prog, "Set a kv v2 secret's metadata: max versions, CAS requirement, "
                           "automatic deletion and custom metadata.",
                     f"{prog} [options] PATH", field=False)
    parser.add_argument("--max-versions", type=int, default=None, metavar="N",
                        help="Versions to keep (0: the mount's setting).")
    add_bool_flag(parser, "cas-required", "Every write must use -cas.", default=None)
    parser.add_argument("--delete-version-after", default=None, metavar="DURATION",
                        help="Delete versions this long after they are written.")
    parser.add_argument("--custom-metadata", action="append", default=[], metavar="K=V",
                        help="A custom metadata key (repeatable).")
    add_args(parser, "PATH", "The secret's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    body: dict[str, Any] = {}
    if args.max_versions is not None:
        body["max_versions"] = args.max_versions
    if args.cas_required is not None:
        body["cas_required"] = args.cas_required
    if args.delete_version_after is not None:
        body["delete_version_after"] = args.delete_version_after
    if args.custom_metadata:
        body["custom_metadata"] = parse_options(args.custom_metadata, prog)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        require_v2(kv, "Metadata")
        path = kv.api("metadata")
        with api_errors(f"writing data to {path}"):
            client.write(path, body)
    streams.out(f"Success! Data written to: {path}")
    return EXIT_OK


def metadata_delete(argv: list[str], streams: Streams,
                    prog: str = "warden kv metadata delete") -> int:
    parser = _parser(prog, "Delete a kv v2 secret with all its versions and metadata.",
                     f"{prog} [options] PATH", field=False)
    add_args(parser, "PATH", "The secret's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        require_v2(kv, "Metadata")
        path = kv.api("metadata")
        with api_errors(f"deleting {path}"):
            secret = client.delete(path)
    return after_delete(streams, secret, fmt, path)
