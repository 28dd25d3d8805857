"""``warden operator init|unseal|seal|step-down|migrate``: bringing servers up and down."""

from __future__ import annotations

from typing import Any

from warden.cli.cmd_status import show_status
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    Streams,
    UsageError,
    add_bool_flag,
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

GROUP = Group(
    prog="warden operator",
    description="Operate the server: initialise it, unseal it with key shares, seal it, hand "
                "the active role to a standby, migrate its store to another backend.",
    entries=(
        Entry("init", "warden.cli.cmd_operator:init", "Initialise a new server"),
        Entry("unseal", "warden.cli.cmd_operator:unseal", "Provide one unseal key share"),
        Entry("seal", "warden.cli.cmd_operator:seal", "Seal the server"),
        Entry("step-down", "warden.cli.cmd_operator:step_down",
              "Make the active node hand its role to a standby (HA)"),
        # Runs without a server: it reads and writes storage directly.
        Entry("migrate", "warden.migrate:migrate", "Copy a (stopped) store to another backend"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


# -- init -------------------------------------------------------------------------------------


def init(argv: list[str], streams: Streams, prog: str = "warden operator init") -> int:
    parser = new_parser(
        prog, "Initialise a new server: generate the root key, split it into key shares "
              "(Shamir) and create the initial root token. Runs once per storage.",
        usage=f"{prog} [options]",
        epilog="Examples:\n  warden operator init\n"
               "  warden operator init -key-shares=5 -key-threshold=3 -format=json")
    add_format_flag(parser)
    parser.add_argument("-n", "--key-shares", type=int, default=5, metavar="N",
                        help="Number of key shares to split the root key into (default 5).")
    parser.add_argument("-t", "--key-threshold", type=int, default=3, metavar="N",
                        help="Number of key shares needed to unseal (default 3).")
    add_bool_flag(parser, "status", "Only report whether the server is initialised: exit "
                                     "code 0 if it is, 2 if not.")
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client:
        if args.status:
            with api_errors("checking init status"):
                initialized = bool((client.read("sys/init") or {}).get("initialized"))
            streams.out(f"Vault is {'' if initialized else 'not '}initialized")
            return EXIT_OK if initialized else EXIT_ERROR
        if args.key_threshold > args.key_shares or args.key_threshold < 1:
            raise UsageError("-key-threshold must be between 1 and -key-shares", prog)
        with api_errors("initializing"):
            result = client.write("sys/init", {"secret_shares": args.key_shares,
                                               "secret_threshold": args.key_threshold}) or {}
    _show_init(streams, result, args.key_threshold, fmt)
    return EXIT_OK


def _show_init(streams: Streams, result: dict[str, Any], threshold: int, fmt: str) -> None:
    keys_b64 = list(result.get("keys_base64") or [])
    keys_hex = list(result.get("keys") or [])
    if fmt != "table":
        streams.out(render_data({
            "unseal_keys_b64": keys_b64,
            "unseal_keys_hex": keys_hex,
            "unseal_shares": len(keys_hex),
            "unseal_threshold": threshold,
            "recovery_keys_b64": [],
            "recovery_keys_hex": [],
            "recovery_keys_shares": 0,
            "recovery_keys_threshold": 0,
            "root_token": result.get("root_token", ""),
        }, fmt))
        return
    for i, key in enumerate(keys_b64 or keys_hex, start=1):
        streams.out(f"Unseal Key {i}: {key}")
    streams.out(f"\nInitial Root Token: {result.get('root_token', '')}\n")
    streams.out(
        f"warden initialized with {len(keys_hex)} key shares and a key threshold of "
        f"{threshold}. Please securely\ndistribute the key shares printed above. When the "
        f"server is re-sealed,\nrestarted, or stopped, you must supply at least {threshold} "
        "of these keys to unseal it\nbefore it can start servicing requests.\n\n"
        f"warden does not store the generated root key. Without at least {threshold} keys "
        "to\nreconstruct the root key, warden will remain permanently sealed!")


# -- unseal and seal --------------------------------------------------------------------------


def unseal(argv: list[str], streams: Streams, prog: str = "warden operator unseal") -> int:
    parser = new_parser(
        prog, "Provide one key share towards unsealing. Without KEY it is asked for "
              "(not echoed) on a terminal, or read from stdin. Repeat with different "
              "shares until the threshold is reached.",
        usage=f"{prog} [options] [KEY]",
        epilog="Examples:\n  warden operator unseal\n  warden operator unseal KEY\n"
               "  echo KEY | warden operator unseal -")
    add_format_flag(parser)
    add_bool_flag(parser, "reset", "Discard the key shares given so far.")
    parser.add_argument("key", nargs="*", metavar="KEY", help="A key share (hex or base64).")
    args = parse(parser, argv)
    expect_args(prog, args.key, 0, 1)
    fmt = output_format(args, streams)
    body: dict[str, Any] = {"reset": True} if args.reset else {"key": _key(args.key, streams, prog)}
    with make_client(args, streams) as client, api_errors("unsealing"):
        state = client.write("sys/unseal", body) or {}
    show_status(streams, state, fmt)
    return EXIT_OK


def _key(given: list[str], streams: Streams, prog: str) -> str:
    if given and given[0] != "-":
        key = given[0]
    elif given or not streams.stdin_is_tty():
        key = streams.stdin.read()
    else:
        key = streams.read_secret("Unseal Key (will be hidden): ")
    key = key.strip()
    if not key:
        raise UsageError("An unseal key is required", prog)
    return key


def seal(argv: list[str], streams: Streams, prog: str = "warden operator seal") -> int:
    parser = new_parser(
        prog, "Seal the server: it forgets its root key and answers nothing but status "
              "until unsealed again. Needs a root (or sudo) token.",
        usage=f"{prog} [options]")
    args = parse(parser, argv)
    with make_client(args, streams) as client, api_errors("sealing"):
        client.write("sys/seal")
    streams.out("Success! Vault is sealed.")
    return EXIT_OK


def step_down(argv: list[str], streams: Streams, prog: str = "warden operator step-down") -> int:
    parser = new_parser(
        prog, "Make the active node of an HA cluster give up its role: it finishes the requests "
              "in flight and stands by, another node becomes active. Sent to a standby it is "
              "forwarded to the active node. Needs a root (or sudo) token.",
        usage=f"{prog} [options]")
    args = parse(parser, argv)
    with make_client(args, streams) as client, api_errors("stepping down"):
        client.write("sys/step-down")
    streams.out("Success! Stepped down: another node will become the active node.")
    return EXIT_OK
