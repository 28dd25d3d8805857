"""``warden login``: check a token or log in with an auth method, and keep the token.

The token goes to ``~/.warden-token`` (mode 0600), where every later command finds it
unless ``WARDEN_TOKEN``/``VAULT_TOKEN`` or ``-token`` says otherwise.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Mapping
from typing import Any

from warden.api import Client, ClientError, token_file_path, write_token_file
from warden.cli.cmd_read import kv_data
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    CommandError,
    Streams,
    UsageError,
    add_args,
    add_bool_flag,
    add_field_flag,
    add_format_flag,
    api_errors,
    make_client,
    new_parser,
    output_format,
    parse,
)
from warden.cli.emit import print_raw, print_secret

STORED = ("Success! You are now authenticated. The token information displayed below is "
          "already stored in the token helper. You do NOT need to run \"warden login\" "
          "again. Future requests will automatically use this token.")
NOT_STORED = ("Success! You are now authenticated. The token was not stored in the token "
              "helper. Set the WARDEN_TOKEN environment variable or pass the token below "
              "with each request.")
ENV_TOKEN_NAMES = ("WARDEN_TOKEN", "VAULT_TOKEN")

EPILOG = """\
With -method=token (the default) the argument is the token; without it the token is
asked for on a terminal (not echoed) or read from stdin. Any other method posts the
K=V arguments to auth/<path>/login, where <path> is -path or the method's name.

Examples:
  warden login s.abc123
  warden login -method=approle role_id=... secret_id=...
  warden login -method=kubernetes role=app jwt=@/var/run/secrets/kubernetes.io/serviceaccount/token
  warden login -method=approle -path=approle-c1 -token-only role_id=... secret_id=..."""


def login(argv: list[str], streams: Streams, prog: str = "warden login") -> int:
    parser = new_parser(prog, "Authenticate, then keep the token for later commands.",
                        usage=f"{prog} [options] [TOKEN | K=V ...]", epilog=EPILOG)
    add_format_flag(parser)
    add_field_flag(parser)
    parser.add_argument("--method", default="token", metavar="TYPE",
                        help="Auth method: token (default), approle, kubernetes, aws, ...")
    parser.add_argument("--path", default="", metavar="PATH",
                        help="Where the auth method is mounted (default: its type).")
    add_bool_flag(parser, "no-store", "Do not keep the token in ~/.warden-token.")
    add_bool_flag(parser, "token-only", "Print only the token, raw (implies -no-store).")
    add_args(parser, "TOKEN | K=V", "The token, or the login data of other methods.")
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client:
        secret = _authenticate(client, args, streams, prog)
    token = str(secret["auth"]["client_token"])
    store = not (args.no_store or args.token_only)
    if store:
        _store(token, streams)
    return _show(streams, secret, args, fmt, stored=store)


def _authenticate(client: Client, args: argparse.Namespace, streams: Streams,
                  prog: str) -> dict[str, Any]:
    if args.method == "token":
        return token_secret(client, _token_argument(args.args, streams, prog))
    data = kv_data(args.args, streams, prog)
    mount = (args.path or args.method).strip("/")
    client.token = ""  # never send an old token along with a login
    with api_errors("authenticating"):
        secret = client.write(f"auth/{mount}/login", data)
    if not secret or not (secret.get("auth") or {}).get("client_token"):
        raise CommandError("Error authenticating: no token was returned", EXIT_ERROR)
    return secret


def _token_argument(given: list[str], streams: Streams, prog: str) -> str:
    if len(given) > 1:
        raise UsageError(f"Too many arguments (expected 0-1, got {len(given)})", prog)
    if given and given[0].startswith("token="):
        token = given[0][len("token="):]
    elif given and given[0] != "-":
        token = given[0]
    elif given or not streams.stdin_is_tty():
        token = streams.stdin.read()
    else:
        token = streams.read_secret("Token (will be hidden): ")
    token = token.strip()
    if not token:
        raise UsageError("A token is required", prog)
    return token


def token_secret(client: Client, token: str) -> dict[str, Any]:
    """Vault's token auth handler: look the token up and describe it as a login result."""
    client.token = token
    try:
        looked_up = client.read("auth/token/lookup-self")
    except ClientError as exc:
        raise CommandError(f"Error authenticating: error looking up token: {exc}") from None
    data: Mapping[str, Any] = (looked_up or {}).get("data") or {}
    policies = list(data.get("policies") or [])
    return {
        "request_id": (looked_up or {}).get("request_id", ""),
        "lease_id": "",
        "lease_duration": 0,
        "renewable": False,
        "data": None,
        "warnings": None,
        "auth": {
            "client_token": token,
            "accessor": data.get("accessor", ""),
            "policies": policies,
            "token_policies": policies,
            "identity_policies": data.get("identity_policies"),
            "metadata": data.get("meta"),
            "orphan": bool(data.get("orphan")),
            "entity_id": data.get("entity_id", ""),
            "lease_duration": int(data.get("ttl") or 0),
            "renewable": bool(data.get("renewable")),
        },
    }


def _store(token: str, streams: Streams) -> None:
    path = token_file_path(streams.env)
    try:
        write_token_file(path, token)
    except OSError as exc:
        raise CommandError(f"Error storing token in {path}: {exc.strerror or exc}") from None
    for name in ENV_TOKEN_NAMES:
        if streams.env.get(name, "").strip():
            streams.err(_wrap(f"WARNING! The {name} environment variable is set! The value of "
                              "this variable will take precedence; if this is unwanted please "
                              f"unset {name} or update its value accordingly.") + "\n")
            break


def _show(streams: Streams, secret: dict[str, Any], args: argparse.Namespace, fmt: str,
          *, stored: bool) -> int:
    if args.token_only:
        return print_raw(streams, secret["auth"]["client_token"])
    if args.field or fmt != "table":
        return print_secret(streams, secret, fmt, args.field)
    streams.out(_wrap(STORED if stored else NOT_STORED) + "\n")
    print_secret(streams, secret, fmt)
    return EXIT_OK


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=78)
