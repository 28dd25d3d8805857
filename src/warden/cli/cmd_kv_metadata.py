"""``warden kv metadata get|put|delete``: a kv v2 secret's metadata and all its versions."""

from __future__ import annotations

from typing import Any

from warden.cli.cmd_read import after_delete
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    Streams,
    add_args,
    add_bool_flag,
    api_errors,
    expect_args,
    make_client,
    output_format,
    parse,
)
from warden.cli.dispatch import Entry, Group
from warden.cli.emit import print_secret
from warden.cli.kv_common import kv_parser, print_path_header, require_v2, resolve
from warden.cli.mounts import parse_options
from warden.cli.output import header_for_map, map_table

METADATA = Group(
    prog="warden kv metadata",
    description="Read, write and delete the metadata of kv v2 secrets (all their versions).",
    entries=(
        Entry("get", "warden.cli.cmd_kv_metadata:metadata_get", "Show metadata and versions"),
        Entry("put", "warden.cli.cmd_kv_metadata:metadata_put",
              "Set max versions, CAS, custom metadata"),
        Entry("delete", "warden.cli.cmd_kv_metadata:metadata_delete",
              "Delete a secret and all versions"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return METADATA.run(argv, streams)


def metadata_get(argv: list[str], streams: Streams, prog: str = "warden kv metadata get") -> int:
    parser = kv_parser(prog, "Show a kv v2 secret's metadata and its versions.",
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
    print_path_header(streams, path, "Metadata Path")
    streams.out(header_for_map("Metadata", data))
    streams.out(map_table(data))
    for number in sorted(versions, key=lambda v: int(v)):
        version = versions[number] or {}
        streams.out("\n" + header_for_map(f"Version {number}", version))
        streams.out(map_table(version))


def metadata_put(argv: list[str], streams: Streams, prog: str = "warden kv metadata put") -> int:
    parser = kv_parser(prog, "Set a kv v2 secret's metadata: max versions, CAS requirement, "
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
    parser = kv_parser(prog, "Delete a kv v2 secret with all its versions and metadata.",
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
