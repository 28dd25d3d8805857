"""``warden audit enable|disable|list`` (sys/audit) and the offline ``verify`` and ``certs``."""

from __future__ import annotations

from typing import Any

from warden.audit.certs import issued_certificates
from warden.audit.verify import verify_file
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    Streams,
    UsageError,
    add_args,
    add_bool_flag,
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
from warden.cli.kvargs import KvArgsError, parse_kv_args
from warden.cli.output import render_data, table

GROUP = Group(
    prog="warden audit",
    description="Enable, list and disable audit devices; verify a log's hash chain; list the "
                "certificates a log records.",
    entries=(
        Entry("enable", "warden.cli.cmd_audit:enable", "Enable an audit device"),
        Entry("disable", "warden.cli.cmd_audit:disable", "Disable an audit device"),
        Entry("list", "warden.cli.cmd_audit:list_", "List enabled audit devices"),
        Entry("verify", "warden.cli.cmd_audit:verify", "Check a log file's hash chain"),
        Entry("certs", "warden.cli.cmd_audit:certs", "List certificates issued, from a log"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


def enable(argv: list[str], streams: Streams, prog: str = "warden audit enable") -> int:
    parser = new_parser(
        prog, "Enable an audit device of TYPE (file or socket) with its options as K=V.",
        usage=f"{prog} [options] TYPE [K=V...]",
        epilog="Examples:\n  warden audit enable file file_path=/var/log/warden/audit.log\n"
               "  warden audit enable -path=siem socket address=10.0.0.5:9090")
    parser.add_argument("--path", default="", help="Where to enable it (default: TYPE).")
    parser.add_argument("--description", default="", help="A human-friendly description.")
    add_bool_flag(parser, "local", "Accepted for compatibility.", default=False)
    add_args(parser, "TYPE [K=V...]", "The device type and its options.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, None)
    kind = args.args[0]
    try:
        options = parse_kv_args(args.args[1:], stdin=streams.stdin)
    except KvArgsError as exc:
        raise UsageError(str(exc), prog) from None
    path = sanitize_path(args.path or kind)
    with make_client(args, streams) as client, api_errors("enabling audit device"):
        client.write(f"sys/audit/{path}", {
            "type": kind, "description": args.description, "local": bool(args.local),
            "options": {k: str(v) for k, v in options.items()}})
    streams.out(f"Success! Enabled the {kind} audit device at: {path}/")
    return EXIT_OK


def disable(argv: list[str], streams: Streams, prog: str = "warden audit disable") -> int:
    parser = new_parser(prog, "Disable the audit device at PATH. Its log file is kept.",
                        usage=f"{prog} [options] PATH")
    add_args(parser, "PATH", "The device's path.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    path = sanitize_path(args.args[0])
    with make_client(args, streams) as client, api_errors("disabling audit device"):
        client.delete(f"sys/audit/{path}")
    streams.out(f"Success! Disabled audit device (if it was enabled) at: {path}/")
    return EXIT_OK


def list_(argv: list[str], streams: Streams, prog: str = "warden audit list") -> int:
    parser = new_parser(prog, "List the enabled audit devices.", usage=f"{prog} [options]")
    add_bool_flag(parser, "detailed", "Also print each device's options.", default=False)
    add_format_flag(parser)
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client, api_errors("listing audit devices"):
        body = client.read("sys/audit") or {}
    devices = {k: v for k, v in (body.get("data") or {}).items() if isinstance(v, dict)}
    if fmt != "table":
        streams.out(render_data(devices, fmt))
        return EXIT_OK
    if not devices:
        streams.out("No audit devices are enabled.")
        return EXIT_OK
    header = ["Path", "Type", "Description"] + (["Options"] if args.detailed else [])
    rows = [[p, d.get("type", ""), d.get("description", "")]
            + ([" ".join(f"{k}={v}" for k, v in sorted((d.get("options") or {}).items()))]
               if args.detailed else []) for p, d in sorted(devices.items())]
    streams.out(table(header, rows))
    return EXIT_OK


def verify(argv: list[str], streams: Streams, prog: str = "warden audit verify") -> int:
    parser = new_parser(
        prog, "Check the hash chain of an audit log FILE (offline). Each line records the "
              "SHA-256 of the line before it and a sequence number, so an edited, deleted, "
              "inserted or reordered line breaks the chain; the first broken line is reported "
              "and the exit code is 2. Editing or truncating the newest lines cannot be seen "
              "by a chain alone: compare the last sequence number with the server's.",
        usage=f"{prog} [options] FILE", http=False)
    parser.add_argument("--prefix", default="", help="The device's `prefix` option, if set.")
    add_bool_flag(parser, "continued", "The file continues an older (rotated) file: accept "
                  "a first line that does not start the chain.", default=False)
    add_format_flag(parser)
    add_args(parser, "FILE", "The audit log file.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    try:
        result = verify_file(args.args[0], prefix=args.prefix, continued=bool(args.continued))
    except OSError as exc:
        raise CommandError(f"Error reading {args.args[0]}: {exc.strerror or exc}") from None
    report: dict[str, Any] = {
        "ok": result.ok, "lines": result.lines, "first_seq": result.first_seq,
        "last_seq": result.last_seq, "first_bad_line": result.first_bad_line or None,
        "reason": result.reason or None}
    if output_format(args, streams) != "table":
        streams.out(render_data(report, output_format(args, streams)))
    elif result.ok:
        streams.out(f"OK: {result.lines} lines, sequence {result.first_seq}..{result.last_seq}, "
                    "chain intact.")
    else:
        streams.err(f"BROKEN at line {result.first_bad_line}: {result.reason}")
    return EXIT_OK if result.ok else EXIT_ERROR


def certs(argv: list[str], streams: Streams, prog: str = "warden audit certs") -> int:
    parser = new_parser(
        prog, "List every certificate an audit log FILE records as issued or signed: serial, "
              "subject, SANs, role, mount and the accessor of the token that asked.",
        usage=f"{prog} [options] FILE", http=False)
    parser.add_argument("--prefix", default="", help="The device's `prefix` option, if set.")
    parser.add_argument("--role", default="", help="Only certificates from this role.")
    parser.add_argument("--mount", default="", help="Only certificates from this mount.")
    add_format_flag(parser)
    add_args(parser, "FILE", "The audit log file.")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    mount = sanitize_path(args.mount) + "/" if args.mount else ""
    try:
        found = [c for c in issued_certificates(args.args[0], prefix=args.prefix)
                 if (not args.role or c.role == args.role) and (not mount or c.mount == mount)]
    except OSError as exc:
        raise CommandError(f"Error reading {args.args[0]}: {exc.strerror or exc}") from None
    fmt = output_format(args, streams)
    if fmt != "table":
        streams.out(render_data([c.to_json() for c in found], fmt))
        return EXIT_OK
    if not found:
        streams.out("No certificates are recorded in this log.")
        return EXIT_OK
    rows = [[c.time, c.mount, c.role, c.serial_number, c.subject,
             ",".join(v for values in c.sans.values() for v in values), c.not_after]
            for c in found]
    streams.out(table(["Time", "Mount", "Role", "Serial", "Subject", "SANs", "Not after"], rows))
    return EXIT_OK


