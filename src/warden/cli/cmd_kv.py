"""``warden kv ...``: the key/value store, version 1 or 2, as Vault's ``kv`` commands
(path rewriting for version 2 is in ``kv_common``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from warden.api import Call, Client, ClientError, Forbidden, UnsupportedOperation
from warden.api.client import MERGE_PATCH_TYPE
from warden.cli.cmd_read import after_delete, kv_data, show_list
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    Streams,
    UsageError,
    add_args,
    add_wrap_ttl_flag,
    api_errors,
    expect_args,
    make_client,
    output_format,
    parse,
)
from warden.cli.dispatch import Entry, Group
from warden.cli.emit import print_field, print_secret
from warden.cli.kv_common import KvPath, kv_parser, print_path_header, require_v2, resolve
from warden.cli.output import header_for_map, map_table, render_secret

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
        Entry("metadata", "warden.cli.cmd_kv_metadata:main", "Secret metadata (kv v2)"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


# -- flags ------------------------------------------------------------------------------------


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
    parser = kv_parser(prog, "Read a secret; with kv v2 the latest version or -version.",
                     f"{prog} [options] PATH",
                     epilog="Examples:\n  warden kv get secret/foo\n"
                            "  warden kv get -mount=secret -version=2 -field=password foo")
    parser.add_argument("--version", type=int, default=0, metavar="N",
                        help="The version to read (kv v2; default: the latest).")
    add_wrap_ttl_flag(parser)
    add_args(parser, "PATH", "The secret's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    params = {"version": str(args.version)} if args.version > 0 else None
    with make_client(args, streams) as client:
        kv = resolve(client, args, args.args[0])
        path = kv.api("data")
        with api_errors(f"reading {path}"):
            secret = client.send(Call("GET", path, params=params, wrap_ttl=args.wrap_ttl, none_on_404=True))
    if secret is None:
        raise CommandError(f"No value found at {path}", EXIT_ERROR)
    if secret.get("wrap_info"):  # the secret itself stays wrapped: print the wrapping token
        return print_secret(streams, secret, fmt, args.field)
    if args.field:
        return _get_field(streams, secret, kv, args.field, fmt, path)
    if fmt != "table":
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
    print_path_header(streams, path, "Secret Path")
    body = secret.get("data") or {}
    meta = body.get("metadata")
    if isinstance(meta, Mapping):
        streams.out(header_for_map("Metadata", meta))
        streams.out(map_table(meta))
    data = body.get("data")
    if isinstance(data, Mapping):
        streams.out("\n" + header_for_map("Data", data))
        streams.out(map_table(data))


# -- put and patch ----------------------------------------------------------------------------


def put(argv: list[str], streams: Streams, prog: str = "warden kv put") -> int:
    parser = kv_parser(prog, "Write a secret; with kv v2 this adds a version.",
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
        print_path_header(streams, path, "Secret Path")
    return print_secret(streams, secret, fmt)


def patch(argv: list[str], streams: Streams, prog: str = "warden kv patch") -> int:
    parser = kv_parser(prog, "Update some keys of a kv v2 secret, keeping the others: a new "
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
    parser = kv_parser(prog, "Delete a secret: with kv v2 its latest version, or -versions "
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
    parser = kv_parser(prog, what, f"{prog} [options] -versions=N[,N...] PATH", field=False)
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
    parser = kv_parser(prog, "List the secrets under PATH.", f"{prog} [options] PATH",
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
