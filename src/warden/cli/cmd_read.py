"""The generic verbs: ``read``, ``write``, ``list``, ``delete`` and ``patch`` on any path."""

from __future__ import annotations

import argparse
from typing import Any

from warden.api import Call
from warden.api.client import MERGE_PATCH_TYPE
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    Streams,
    UsageError,
    add_args,
    add_field_flag,
    add_format_flag,
    add_wrap_ttl_flag,
    api_errors,
    expect_args,
    make_client,
    new_parser,
    output_format,
    parse,
    sanitize_path,
)
from warden.cli.emit import list_keys, print_data, print_list, print_secret
from warden.cli.kvargs import KvArgsError, parse_kv_args

KV_HELP = """\
Data arguments are K=V pairs: K=value, K=@file (the file's contents), K=- (stdin);
a lone "-" reads a JSON object from stdin, "@file" one from a file. A repeated key
becomes a list."""


def _data_parser(prog: str, description: str, usage: str, epilog: str) -> argparse.ArgumentParser:
    parser = new_parser(prog, description, usage=usage, epilog=epilog)
    add_format_flag(parser)
    add_field_flag(parser)
    add_args(parser, "PATH [K=V ...]", "The path (e.g. secret/foo), then data (see below).")
    return parser


def path_and_data(args: argparse.Namespace, streams: Streams, prog: str) -> tuple[str, dict[str, Any]]:
    expect_args(prog, args.args, 1, None)
    return sanitize_path(args.args[0]), kv_data(args.args[1:], streams, prog)


def kv_data(args: list[str], streams: Streams, prog: str) -> dict[str, Any]:
    try:
        return parse_kv_args(args, stdin=streams.stdin)
    except KvArgsError as exc:
        raise UsageError(f"Failed to parse K=V data: {exc}", prog) from None


# -- read -----------------------------------------------------------------------------------


def read(argv: list[str], streams: Streams, prog: str = "warden read") -> int:
    parser = _data_parser(
        prog, "Read data from PATH and print it. K=V pairs are sent as query parameters.",
        f"{prog} [options] PATH [K=V ...]",
        "Examples:\n  warden read secret/foo\n  warden read -field=key secret/c1/k8s/token\n"
        "  warden read -format=json sys/mounts")
    add_wrap_ttl_flag(parser)
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    path, params = path_and_data(args, streams, prog)
    with make_client(args, streams) as client, api_errors(f"reading {path}"):
        secret = client.send(Call("GET", path, params=params or None, wrap_ttl=args.wrap_ttl,
                                  none_on_404=True))
    if secret is None:
        raise CommandError(f"No value found at {path}", EXIT_ERROR)
    return print_secret(streams, secret, fmt, args.field)


# -- write and patch ----------------------------------------------------------------------


def write(argv: list[str], streams: Streams, prog: str = "warden write") -> int:
    parser = _data_parser(
        prog, "Write data to PATH: secrets, configuration, or an action such as "
              "issuing a certificate.",
        f"{prog} [options] PATH [K=V ...]",
        KV_HELP + "\n\nExamples:\n  warden write secret/foo value=bar\n"
        "  warden write secret/c1/k8s/token key=@token-key\n"
        "  echo '{\"a\": 1}' | warden write secret/foo -\n"
        "  warden write auth/token/roles/k8s-c1 period=720h orphan=true")
    parser.add_argument("-f", "--force", action="store_true",
                        help="Write even without data (for endpoints that need none).")
    add_wrap_ttl_flag(parser)
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    path, data = path_and_data(args, streams, prog)
    if not data and not args.force:
        raise UsageError("Must supply data or use -force", prog)
    with make_client(args, streams) as client, api_errors(f"writing data to {path}"):
        secret = client.send(Call("PUT", path, data, wrap_ttl=args.wrap_ttl))
    return _after_write(streams, secret, fmt, args.field, path)


def patch(argv: list[str], streams: Streams, prog: str = "warden patch") -> int:
    parser = _data_parser(
        prog, "Update data at PATH with a JSON merge patch: given keys are set, keys with "
              "null are removed, others stay as they are.",
        f"{prog} [options] PATH [K=V ...]",
        KV_HELP + "\n\nExample:\n  warden patch pki/roles/member max_ttl=720h")
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    path, data = path_and_data(args, streams, prog)
    if not data:
        raise UsageError("Must supply data", prog)
    with make_client(args, streams) as client, api_errors(f"writing data to {path}"):
        secret = client.send(Call("PATCH", path, data, content_type=MERGE_PATCH_TYPE))
    return _after_write(streams, secret, fmt, args.field, path)


def _after_write(streams: Streams, secret: dict[str, Any] | None, fmt: str, field: str,
                 path: str) -> int:
    if secret is None:
        if fmt == "table":
            streams.out(f"Success! Data written to: {path}")
        return EXIT_OK
    return print_secret(streams, secret, fmt, field)


# -- list -------------------------------------------------------------------------------------


def list_(argv: list[str], streams: Streams, prog: str = "warden list") -> int:
    parser = new_parser(
        prog, "List the keys under PATH. Keys ending in / have keys below them.",
        usage=f"{prog} [options] PATH",
        epilog="Examples:\n  warden list secret/\n  warden list auth/token/roles")
    add_format_flag(parser)
    add_args(parser, "PATH", "The path to list.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    path = sanitize_path(args.args[0]) + "/"
    with make_client(args, streams) as client, api_errors(f"listing {path}"):
        secret = client.list(path)
    return show_list(streams, secret, fmt, path)


def show_list(streams: Streams, secret: dict[str, Any] | None, fmt: str, path: str) -> int:
    """Vault's ``list`` output and exit codes, shared with ``kv list`` and ``policy list``."""
    keys = list_keys(secret)
    if keys is None:
        if fmt != "table":
            print_data(streams, {}, fmt)
            return EXIT_ERROR
        if secret is not None and secret.get("warnings"):
            return print_secret(streams, secret, fmt)
        raise CommandError(f"No value found at {path}", EXIT_ERROR)
    return print_list(streams, keys, fmt)


# -- delete -----------------------------------------------------------------------------------


def delete(argv: list[str], streams: Streams, prog: str = "warden delete") -> int:
    parser = new_parser(
        prog, "Delete the data at PATH (succeeds also if there was none). K=V pairs are "
              "sent as query parameters.",
        usage=f"{prog} [options] PATH [K=V ...]",
        epilog="Example:\n  warden delete secret/foo")
    add_format_flag(parser)
    add_args(parser, "PATH [K=V ...]", "The path, then query parameters.")
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    path, params = path_and_data(args, streams, prog)
    with make_client(args, streams) as client, api_errors(f"deleting {path}"):
        secret = client.delete(path, params or None)
    return after_delete(streams, secret, fmt, path)


def after_delete(streams: Streams, secret: dict[str, Any] | None, fmt: str, path: str) -> int:
    if secret is None:
        if fmt == "table":
            streams.out(f"Success! Data deleted (if it existed) at: {path}")
        return EXIT_OK
    return print_secret(streams, secret, fmt)


# -- unwrap -----------------------------------------------------------------------------------


def unwrap(argv: list[str], streams: Streams, prog: str = "warden unwrap") -> int:
    parser = new_parser(
        prog, "Unwrap a response-wrapped secret: TOKEN is the wrapping token (default: the "
              "token the command runs with). A wrapping token works once.",
        usage=f"{prog} [options] [TOKEN]",
        epilog="Examples:\n  warden unwrap ws.abc123\n"
               "  WARDEN_TOKEN=ws.abc123 warden unwrap -field=secret_id")
    add_format_flag(parser)
    add_field_flag(parser)
    add_args(parser, "TOKEN", "The wrapping token.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 0, 1)
    fmt = output_format(args, streams)
    wrapping = args.args[0].strip() if args.args else ""
    with make_client(args, streams) as client, api_errors("unwrapping token"):
        body: dict[str, Any] = {}
        if wrapping and not client.token:
            client.token = wrapping
        elif wrapping and wrapping != client.token:
            body["token"] = wrapping
        secret = client.write("sys/wrapping/unwrap", body)
    if secret is None:
        raise CommandError("Could not find wrapped response", EXIT_ERROR)
    return print_secret(streams, secret, fmt, args.field)
