"""``warden token create|lookup|renew|revoke|capabilities`` (``auth/token/*``)."""

from __future__ import annotations

import argparse
from typing import Any

from warden.api import Call
from warden.cli.common import (
    EXIT_OK,
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
)
from warden.cli.dispatch import Entry, Group
from warden.cli.emit import print_secret
from warden.cli.mounts import parse_options
from warden.cli.output import render_data

GROUP = Group(
    prog="warden token",
    description="Create, look up, renew and revoke tokens, and check what they may do.",
    entries=(
        Entry("create", "warden.cli.cmd_token:create", "Create a token"),
        Entry("lookup", "warden.cli.cmd_token:lookup", "Show a token's properties"),
        Entry("renew", "warden.cli.cmd_token:renew", "Renew a token"),
        Entry("revoke", "warden.cli.cmd_token:revoke", "Revoke a token and its children"),
        Entry("capabilities", "warden.cli.cmd_token:capabilities",
              "Print a token's capabilities on a path"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


def _output_parser(prog: str, description: str, usage: str, epilog: str | None = None
                   ) -> argparse.ArgumentParser:
    parser = new_parser(prog, description, usage=usage, epilog=epilog)
    add_format_flag(parser)
    add_field_flag(parser)
    return parser


# -- create ---------------------------------------------------------------------------------

CREATE_EPILOG = """\
Examples:
  warden token create -policy=c1/pki/etcd/member -role=k8s-c1
  warden token create -policy=a -policy=b -ttl=1h -renewable=false
  warden token create -orphan -period=720h -display-name=etcd-1 -metadata host=etcd-1"""


def create(argv: list[str], streams: Streams, prog: str = "warden token create") -> int:
    parser = _output_parser(
        prog, "Create a token: a child of the calling token unless -orphan, or from the "
              "token role -role.", f"{prog} [options]", CREATE_EPILOG)
    _add_create_flags(parser)
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    path = ("auth/token/create/" + args.role.strip("/") if args.role
            else "auth/token/create-orphan" if args.orphan else "auth/token/create")
    body = _create_body(args, prog)
    with make_client(args, streams) as client, api_errors("creating token"):
        secret = client.send(Call("PUT", path, body, wrap_ttl=args.wrap_ttl))
    if secret is None:
        raise CommandError("Error creating token: the server returned no token")
    return print_secret(streams, secret, fmt, args.field)


def _add_create_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--policy", action="append", default=[], metavar="NAME",
        help="A policy for the token (repeatable; commas separate several).")
    add("--ttl", default=None, metavar="DURATION", help="Initial TTL, e.g. 1h or 768h.")
    add("--explicit-max-ttl", default=None, metavar="DURATION",
        help="A hard limit the token can never be renewed beyond.")
    add("--period", default=None, metavar="DURATION",
        help="Make a periodic token: every renewal resets its TTL to this.")
    add("--role", default="", metavar="NAME", help="Create the token from this token role.")
    add_bool_flag(parser, "orphan", "Create a token with no parent (needs sudo).")
    add_bool_flag(parser, "no-default-policy", "Do not attach the default policy.")
    add_bool_flag(parser, "renewable", "Whether the token may be renewed.", default=True)
    add("--use-limit", type=int, default=0, metavar="N",
        help="How many requests the token may make (0: unlimited).")
    add("--display-name", default="", metavar="NAME", help="A name shown in lookups and audit.")
    add("--metadata", action="append", default=[], metavar="K=V",
        help="Metadata to keep with the token (repeatable).")
    add("--id", default="", metavar="ID", help="The token's value (root only).")
    add("--type", default="", metavar="TYPE",
        help="Token type: service (the default) or batch (not stored; cannot be renewed).")
    add("--entity-alias", default="", metavar="NAME", help="Accepted for compatibility.")
    add("--wrap-ttl", metavar="DURATION", help="Wrap the token in a single-use token.")


def _create_body(args: argparse.Namespace, prog: str) -> dict[str, Any]:
    policies = [p.strip() for value in args.policy for p in value.split(",") if p.strip()]
    body: dict[str, Any] = {"renewable": args.renewable}
    optional = {
        "policies": policies, "meta": parse_options(args.metadata, prog),
        "no_parent": args.orphan, "no_default_policy": args.no_default_policy,
        "ttl": args.ttl, "explicit_max_ttl": args.explicit_max_ttl, "period": args.period,
        "num_uses": args.use_limit, "display_name": args.display_name, "id": args.id,
        "type": args.type, "entity_alias": args.entity_alias,
    }
    body.update({k: v for k, v in optional.items() if v})
    return body


# -- lookup and renew -----------------------------------------------------------------------


def lookup(argv: list[str], streams: Streams, prog: str = "warden token lookup") -> int:
    parser = _output_parser(
        prog, "Show a token's properties: the calling token, TOKEN, or with -accessor the "
              "token that has the accessor ACCESSOR.", f"{prog} [options] [TOKEN | ACCESSOR]")
    add_bool_flag(parser, "accessor", "The argument is an accessor, not a token.")
    add_args(parser, "TOKEN", "The token (default: the calling token).")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1 if args.accessor else 0, 1)
    fmt = output_format(args, streams)
    if args.accessor:
        call = Call("PUT", "auth/token/lookup-accessor", {"accessor": args.args[0]})
    elif args.args:
        call = Call("PUT", "auth/token/lookup", {"token": args.args[0]})
    else:
        call = Call("GET", "auth/token/lookup-self")
    with make_client(args, streams) as client, api_errors("looking up token"):
        secret = client.send(call)
    return print_secret(streams, secret or {}, fmt, args.field)


def renew(argv: list[str], streams: Streams, prog: str = "warden token renew") -> int:
    parser = _output_parser(
        prog, "Renew a token (the calling one, TOKEN, or by -accessor), extending its TTL by "
              "-increment (default: the token's own TTL), within its limits.",
        f"{prog} [options] [TOKEN | ACCESSOR]")
    parser.add_argument("-i", "--increment", default=None, metavar="DURATION",
                        help="Requested extension, e.g. 1h.")
    add_bool_flag(parser, "accessor", "The argument is an accessor, not a token.")
    add_args(parser, "TOKEN", "The token (default: the calling token).")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1 if args.accessor else 0, 1)
    fmt = output_format(args, streams)
    body: dict[str, Any] = {"increment": args.increment} if args.increment else {}
    if args.accessor:
        path, body["accessor"] = "auth/token/renew-accessor", args.args[0]
    elif args.args:
        path, body["token"] = "auth/token/renew", args.args[0]
    else:
        path = "auth/token/renew-self"
    with make_client(args, streams) as client, api_errors("renewing token"):
        secret = client.write(path, body)
    return print_secret(streams, secret or {}, fmt, args.field)


# -- revoke ---------------------------------------------------------------------------------


def revoke(argv: list[str], streams: Streams, prog: str = "warden token revoke") -> int:
    parser = new_parser(
        prog, "Revoke a token and, unless -mode=orphan, all its children. -mode=path revokes "
              "every token created under the path prefix given as the argument.",
        usage=f"{prog} [options] [TOKEN | ACCESSOR | PATH]")
    add_bool_flag(parser, "self", "Revoke the calling token.")
    add_bool_flag(parser, "accessor", "The argument is an accessor, not a token.")
    parser.add_argument("--mode", default="", choices=("", "orphan", "path"),
                        help="orphan: keep the children (they become orphans); path: revoke by "
                             "creation-path prefix (sudo).")
    add_args(parser, "TOKEN", "The token to revoke.")
    args = parse(parser, argv)
    path, body = _revoke_request(args, prog)
    with make_client(args, streams) as client, api_errors("revoking token"):
        client.write(path, body)
    streams.out("Success! Revoked token (if it existed)")
    return EXIT_OK


def _revoke_request(args: argparse.Namespace, prog: str) -> tuple[str, dict[str, Any]]:
    if args.self:
        if args.accessor or args.mode:
            raise UsageError("-self cannot be combined with -accessor or -mode", prog)
        expect_args(prog, args.args, 0, 0)
        return "auth/token/revoke-self", {}
    expect_args(prog, args.args, 1, 1)
    value = args.args[0]
    if args.accessor:
        if args.mode:
            raise UsageError(f"-accessor cannot be combined with -mode={args.mode}", prog)
        return "auth/token/revoke-accessor", {"accessor": value}
    if args.mode == "orphan":
        return "auth/token/revoke-orphan", {"token": value}
    if args.mode == "path":
        return f"sys/leases/revoke-prefix/{value.strip('/')}", {}
    return "auth/token/revoke", {"token": value}


# -- capabilities -----------------------------------------------------------------------------


def capabilities(argv: list[str], streams: Streams, prog: str = "warden token capabilities"
                 ) -> int:
    parser = new_parser(
        prog, "Print the capabilities of the calling token, of TOKEN, or (-accessor) of the "
              "token with accessor ACCESSOR on PATH.",
        usage=f"{prog} [options] [TOKEN | ACCESSOR] PATH")
    add_format_flag(parser)
    add_bool_flag(parser, "accessor", "The first argument is an accessor, not a token.")
    add_args(parser, "[TOKEN] PATH", "The token (default: the calling token) and the path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 2 if args.accessor else 1, 2)
    fmt = output_format(args, streams)
    path = args.args[-1].strip().lstrip("/")
    if args.accessor:
        api, body = "sys/capabilities-accessor", {"accessor": args.args[0], "paths": [path]}
    elif len(args.args) == 2:
        api, body = "sys/capabilities", {"token": args.args[0], "paths": [path]}
    else:
        api, body = "sys/capabilities-self", {"paths": [path]}
    with make_client(args, streams) as client, api_errors("listing capabilities"):
        secret = client.write(api, body) or {}
    caps = sorted(_capabilities_of(secret, path))
    streams.out(", ".join(caps) if fmt == "table" else render_data(caps, fmt))
    return EXIT_OK


def _capabilities_of(secret: dict[str, Any], path: str) -> list[str]:
    data = secret.get("data") or secret
    for key in (path, "capabilities"):
        if isinstance(data.get(key), list):
            return [str(c) for c in data[key]]
    return []

