"""``warden policy write|read|list|delete``: ACL policies (``sys/policies/acl``)."""

from __future__ import annotations

from pathlib import Path

from warden.cli.cmd_read import show_list
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    Streams,
    UsageError,
    add_args,
    add_format_flag,
    api_errors,
    expect_args,
    make_client,
    new_parser,
    output_format,
    parse,
)
from warden.cli.dispatch import Entry, Group
from warden.cli.output import render_data

API = "sys/policies/acl"

GROUP = Group(
    prog="warden policy",
    description="Write, read, list and delete ACL policies.",
    entries=(
        Entry("write", "warden.cli.cmd_policy:write", "Upload a policy"),
        Entry("read", "warden.cli.cmd_policy:read", "Print a policy"),
        Entry("list", "warden.cli.cmd_policy:list_", "List policy names"),
        Entry("delete", "warden.cli.cmd_policy:delete", "Delete a policy"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


def policy_name(raw: str) -> str:
    """Vault lower-cases policy names on the way in."""
    return raw.strip().lower()


def write(argv: list[str], streams: Streams, prog: str = "warden policy write") -> int:
    parser = new_parser(
        prog, "Upload the policy NAME from FILE, or from stdin when FILE is '-'. An existing "
              "policy of that name is replaced.",
        usage=f"{prog} [options] NAME FILE|-",
        epilog="Examples:\n  warden policy write etcd-member etcd-member.hcl\n"
               "  cat <<EOT | warden policy write c1/pki/etcd/member -\n"
               "  path \"c1/pki/etcd/issue/member\" {\n    policy = \"write\"\n  }\n  EOT")
    add_args(parser, "NAME FILE|-", "The policy's name and where to read it from.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 2, 2)
    name, source = policy_name(args.args[0]), args.args[1]
    rules = _read_rules(source, streams, prog)
    with make_client(args, streams) as client, api_errors("uploading policy"):
        client.write(f"{API}/{name}", {"policy": rules})
    streams.out(f"Success! Uploaded policy: {name}")
    return EXIT_OK


def _read_rules(source: str, streams: Streams, prog: str) -> str:
    if source == "-":
        return streams.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Error opening policy file {source!r}: {exc.strerror or exc}",
                         prog) from None
    except UnicodeDecodeError:
        raise UsageError(f"Error opening policy file {source!r}: it is not UTF-8 text", prog) from None


def read(argv: list[str], streams: Streams, prog: str = "warden policy read") -> int:
    parser = new_parser(prog, "Print the policy NAME as it was written.",
                        usage=f"{prog} [options] NAME")
    add_format_flag(parser)
    add_args(parser, "NAME", "The policy's name.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    name = policy_name(args.args[0])
    with make_client(args, streams) as client, api_errors(f"reading policy named {name}"):
        body = client.read(f"{API}/{name}")
    data = (body or {}).get("data") or body or {}
    rules = data.get("policy") or data.get("rules")
    if rules is None:
        raise CommandError(f"No policy named: {name}", EXIT_ERROR)
    if fmt == "table":
        streams.out(str(rules).strip())
    else:
        streams.out(render_data({"name": data.get("name", name), "policy": rules}, fmt))
    return EXIT_OK


def list_(argv: list[str], streams: Streams, prog: str = "warden policy list") -> int:
    parser = new_parser(prog, "List the names of all ACL policies.", usage=f"{prog} [options]")
    add_format_flag(parser)
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client, api_errors("listing policies"):
        body = client.list(API)
    if fmt == "table" and body is not None:
        keys = (body.get("data") or {}).get("keys") or []
        streams.out("\n".join(str(k) for k in keys))
        return EXIT_OK
    return show_list(streams, body, fmt, API)


def delete(argv: list[str], streams: Streams, prog: str = "warden policy delete") -> int:
    parser = new_parser(prog, "Delete the policy NAME. Tokens that have it lose its "
                              "permissions at once.", usage=f"{prog} [options] NAME")
    add_args(parser, "NAME", "The policy's name.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    name = policy_name(args.args[0])
    with make_client(args, streams) as client, api_errors(f"deleting {name}"):
        client.delete(f"{API}/{name}")
    streams.out(f"Success! Deleted policy: {name}")
    return EXIT_OK
