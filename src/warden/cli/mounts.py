"""What ``secrets`` and ``auth`` share: enabling, disabling, tuning and listing mounts."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warden.cli.common import (
    EXIT_OK,
    Streams,
    UsageError,
    add_args,
    add_bool_flag,
    add_format_flag,
    api_errors,
    expect_args,
    make_client,
    mount_path,
    new_parser,
    output_format,
    parse,
)
from warden.cli.output import format_duration, format_value, render_data, table


@dataclass(frozen=True, slots=True)
class MountKind:
    api: str  # sys/mounts or sys/auth
    noun: str  # "secrets engine" or "auth method"
    enabled: str  # message with {type} and {path}
    disabled: str
    tuned: str


SECRETS = MountKind(
    api="sys/mounts", noun="secrets engine",
    enabled="Success! Enabled the {type} secrets engine at: {path}",
    disabled="Success! Disabled the secrets engine (if it existed) at: {path}",
    tuned="Success! Tuned the secrets engine at: {path}",
)
AUTH = MountKind(
    api="sys/auth", noun="auth method",
    enabled="Success! Enabled {type} auth method at: {path}",
    disabled="Success! Disabled the auth method (if it existed) at: {path}",
    tuned="Success! Tuned the auth method at: {path}",
)


# -- flags ------------------------------------------------------------------------------------


def add_config_flags(parser: argparse.ArgumentParser, kind: MountKind) -> None:
    parser.add_argument("--description", default=None, metavar="TEXT",
                        help=f"A human-friendly description of the {kind.noun}.")
    parser.add_argument("--default-lease-ttl", default=None, metavar="DURATION",
                        help="Default TTL of leases and tokens (e.g. 768h); 'system' for the "
                             "server's default.")
    parser.add_argument("--max-lease-ttl", default=None, metavar="DURATION",
                        help="Maximum TTL of leases and tokens (e.g. 87600h).")
    parser.add_argument("--options", action="append", default=[], metavar="K=V",
                        help="An option for the backend (repeatable), e.g. -options version=2.")
    parser.add_argument("--audit-non-hmac-request-keys", action="append", default=[],
                        metavar="KEY", help="A request key not to hash in audit logs (repeatable).")
    parser.add_argument("--audit-non-hmac-response-keys", action="append", default=[],
                        metavar="KEY", help="A response key not to hash in audit logs (repeatable).")
    parser.add_argument("--listing-visibility", default=None, metavar="unauth|hidden",
                        help="Whether the UI lists the mount to unauthenticated users.")
    parser.add_argument("--passthrough-request-headers", action="append", default=[],
                        metavar="HEADER", help="A request header passed to the backend (repeatable).")
    if kind is SECRETS:
        parser.add_argument("--version", type=int, default=0, metavar="N",
                            help="Shorthand for -options version=N (kv: 1 or 2).")
    else:
        parser.add_argument("--token-type", default=None, metavar="TYPE",
                            help="Type of tokens logins get: default-service, default-batch, "
                                 "service or batch.")


def parse_options(values: list[str], prog: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"Invalid -options value {value!r}: expected K=V", prog)
        options[key] = val
    return options


def _options(args: argparse.Namespace, prog: str) -> dict[str, str]:
    options = parse_options(args.options, prog)
    if getattr(args, "version", 0):
        options["version"] = str(args.version)
    return options


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key in ("default_lease_ttl", "max_lease_ttl", "listing_visibility", "token_type"):
        if getattr(args, key, None) is not None:
            config[key] = getattr(args, key)
    for key in ("audit_non_hmac_request_keys", "audit_non_hmac_response_keys",
                "passthrough_request_headers"):
        if getattr(args, key):
            config[key] = getattr(args, key)
    return config


# -- enable / disable / tune ------------------------------------------------------------------


def enable(argv: list[str], streams: Streams, prog: str, kind: MountKind) -> int:
    what = "a secrets engine" if kind is SECRETS else "an auth method"
    parser = new_parser(
        prog, f"Enable {what} of type TYPE at -path (default: the type's name).",
        usage=f"{prog} [options] TYPE",
        epilog=_enable_examples(prog, kind))
    parser.add_argument("--path", default="", metavar="PATH", help="Where to mount it.")
    add_config_flags(parser, kind)
    add_bool_flag(parser, "local", "Do not replicate the mount (accepted for compatibility).")
    add_bool_flag(parser, "seal-wrap", "Seal-wrap the mount (accepted for compatibility).")
    parser.add_argument("--plugin-name", default="", metavar="NAME",
                        help="The plugin's name when TYPE is 'plugin'.")
    add_args(parser, "TYPE", "The backend type, e.g. kv, pki, approle, kubernetes.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    mount_type = args.args[0].strip()
    if mount_type == "plugin":
        mount_type = args.plugin_name
    path = mount_path(args.path or mount_type)
    options = _options(args, prog)
    if mount_type == "kv-v2":
        mount_type, options["version"] = "kv", "2"
    body: dict[str, Any] = {"type": mount_type, "description": args.description or "",
                            "config": _config(args), "local": args.local,
                            "seal_wrap": args.seal_wrap}
    if options:
        body["options"] = options
    with make_client(args, streams) as client, api_errors("enabling"):
        client.write(f"{kind.api}/{path.rstrip('/')}", body)
    streams.out(kind.enabled.format(type=mount_type, path=path))
    return EXIT_OK


def _enable_examples(prog: str, kind: MountKind) -> str:
    if kind is SECRETS:
        return (f"Examples:\n  {prog} -path=c1/pki/etcd pki\n  {prog} -version=2 kv\n"
                f"  {prog} -path=secret -options version=2 -max-lease-ttl=87600h kv")
    return f"Examples:\n  {prog} approle\n  {prog} -path=k8s-c1 kubernetes"


def disable(argv: list[str], streams: Streams, prog: str, kind: MountKind) -> int:
    parser = new_parser(prog, f"Disable the {kind.noun} at PATH. Everything stored under it "
                              "is deleted and its leases and tokens are revoked.",
                        usage=f"{prog} [options] PATH")
    add_args(parser, "PATH", "The mount's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    path = mount_path(args.args[0])
    with make_client(args, streams) as client, api_errors(f"disabling {kind.noun} at {path}"):
        client.delete(f"{kind.api}/{path.rstrip('/')}")
    streams.out(kind.disabled.format(path=path))
    return EXIT_OK


def tune(argv: list[str], streams: Streams, prog: str, kind: MountKind) -> int:
    parser = new_parser(prog, f"Change the configuration of the {kind.noun} at PATH.",
                        usage=f"{prog} [options] PATH",
                        epilog=f"Example:\n  {prog} -max-lease-ttl=87600h c1/pki/etcd")
    add_config_flags(parser, kind)
    add_args(parser, "PATH", "The mount's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    path = mount_path(args.args[0])
    body: dict[str, Any] = _config(args)
    options = _options(args, prog)
    if options:
        body["options"] = options
    if args.description is not None:
        body["description"] = args.description
    with make_client(args, streams) as client, api_errors(f"tuning {kind.noun} {path}"):
        client.write(f"{kind.api}/{path.rstrip('/')}/tune", body)
    streams.out(kind.tuned.format(path=path))
    return EXIT_OK


def move(argv: list[str], streams: Streams, prog: str, kind: MountKind) -> int:
    parser = new_parser(
        prog, f"Move the {kind.noun} at SOURCE to DESTINATION, with its configuration and "
              "data (sys/remount). Leases issued under the old path are revoked"
              + (", and so are the tokens its logins issued." if kind is AUTH else "."),
        usage=f"{prog} [options] SOURCE DESTINATION",
        epilog=(f"Example:\n  {prog} approle approle-c1" if kind is AUTH
                else f"Example:\n  {prog} secret/ c1/secret/"))
    add_args(parser, "SOURCE DESTINATION", "The mount's path now, and where it moves.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 2, 2)
    source, target = (_full_mount_path(p, kind) for p in args.args)
    with make_client(args, streams) as client, api_errors(
            f"moving {kind.noun} {source} to {target}"):
        answer = client.write("sys/remount", {"from": source, "to": target})
    migration = (answer or {}).get("data", {}).get("migration_id", "")
    streams.out(f"Success! Finished moving {kind.noun} {source} to {target}, with migration "
                f"ID {migration}")
    return EXIT_OK


def _full_mount_path(path: str, kind: MountKind) -> str:
    """What sys/remount takes: auth methods under auth/ (given with or without it)."""
    path = mount_path(path)
    if kind is AUTH and not path.startswith("auth/"):
        path = "auth/" + path
    return path


# -- list -------------------------------------------------------------------------------------


def list_mounts(argv: list[str], streams: Streams, prog: str, kind: MountKind) -> int:
    parser = new_parser(prog, f"List the enabled {kind.noun}s.", usage=f"{prog} [options]")
    add_format_flag(parser)
    add_bool_flag(parser, "detailed", "Show TTLs, options, replication and more.")
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client, api_errors(f"listing {kind.noun}s"):
        body = client.read(kind.api) or {}
    mounts = mounts_of(body)
    if fmt != "table":
        streams.out(render_data(mounts, fmt))
    else:
        streams.out(mounts_table(mounts, detailed=args.detailed))
    return EXIT_OK


def mounts_of(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    source = data if isinstance(data, Mapping) else body
    return {k: v for k, v in source.items() if k.endswith("/") and isinstance(v, Mapping)}


def mounts_table(mounts: Mapping[str, Any], *, detailed: bool) -> str:
    if not detailed:
        if not any(_kv_version(m) for m in mounts.values()):
            return table(("Path", "Type", "Accessor", "Description"), [
                [path, m.get("type", ""), m.get("accessor", ""), m.get("description", "")]
                for path, m in sorted(mounts.items())])
        return table(("Path", "Type", "Version", "Accessor", "Description"), [
            [path, m.get("type", ""), _kv_version(m) or "n/a", m.get("accessor", ""),
             m.get("description", "")] for path, m in sorted(mounts.items())])
    header = ("Path", "Plugin", "Accessor", "Default TTL", "Max TTL", "Force No Cache",
              "Replication", "Seal Wrap", "External Entropy Access", "Options", "Description",
              "UUID")
    return table(header, [_detailed_row(path, m) for path, m in sorted(mounts.items())])


def _kv_version(mount: Mapping[str, Any]) -> str:
    """"1" or "2" for a kv mount (version 1 when its options say nothing), else ""."""
    if mount.get("type") not in ("kv", "generic"):
        return ""
    options = mount.get("options") or {}
    return str(options.get("version") or "1") if isinstance(options, Mapping) else "1"


def _detailed_row(path: str, mount: Mapping[str, Any]) -> list[str]:
    config = mount.get("config") or {}
    return [
        path, mount.get("type", ""), mount.get("accessor", ""),
        _ttl(config.get("default_lease_ttl")), _ttl(config.get("max_lease_ttl")),
        format_value(bool(config.get("force_no_cache"))),
        "local" if mount.get("local") else "replicated",
        format_value(bool(mount.get("seal_wrap"))),
        format_value(bool(mount.get("external_entropy_access"))),
        format_value(mount.get("options") or {}), mount.get("description", ""),
        mount.get("uuid", ""),
    ]


def _ttl(value: Any) -> str:
    return format_duration(int(value)) if value else "system"
