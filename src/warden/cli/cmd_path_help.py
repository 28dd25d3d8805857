"""``warden path-help PATH``: what a path does and takes, from the server (``?help=1``)."""

from __future__ import annotations

import orjson

from warden.api import Call
from warden.cli.common import (
    EXIT_OK,
    Streams,
    add_args,
    add_format_flag,
    api_errors,
    expect_args,
    make_client,
    new_parser,
    output_format,
    parse,
)


def path_help(argv: list[str], streams: Streams, prog: str = "warden path-help") -> int:
    parser = new_parser(
        prog, "Print the help of an API path: what it does and the parameters it takes. "
              "The request is never run, whatever the path does.",
        usage=f"{prog} [options] PATH",
        epilog="Examples:\n  warden path-help sys/mounts\n  warden path-help secret/\n"
               "  warden path-help -format=json sfo1/pki/etcd/issue/member   # with OpenAPI")
    add_format_flag(parser)
    add_args(parser, "PATH", "The API path, e.g. pki/issue/web (a mount's own path for all "
                             "of its paths).")
    args = parse(parser, argv)
    expect_args(prog, args.args, 1, 1)
    fmt = output_format(args, streams)
    path = args.args[0].strip().lstrip("/")
    with make_client(args, streams) as client, api_errors(f"reading the help of {path}"):
        answer = client.send(Call("GET", path, params={"help": "1"})) or {}
    if fmt == "json":
        streams.out(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
    else:
        streams.out(str(answer.get("help") or f"No help for {path}"))
    return EXIT_OK
