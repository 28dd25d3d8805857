"""What every command shares: streams, errors and exit codes, parsing, the API client.

Exit codes follow Vault's CLI: 0 success, 1 a usage error (bad flags or arguments, with a
hint of what to run next), 2 an error from the server or the network.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TextIO

from warden.api import Client, ClientError
from warden.cli.flags import long_option_names, vault_style

FORMATS = ("table", "json", "yaml")
EXIT_OK, EXIT_USAGE, EXIT_ERROR = 0, 1, 2


class CommandError(Exception):
    """Ends a command: the message goes to stderr and ``code`` becomes the exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CommandError):
    def __init__(self, message: str, prog: str = "warden") -> None:
        super().__init__(f"{message}\n\nRun '{prog} -help' for usage.", EXIT_USAGE)


@dataclass(frozen=True)
class Streams:
    """The process's streams and environment, passed in so commands stay testable."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def out(self, text: str = "", *, newline: bool = True) -> None:
        self.stdout.write(text + ("\n" if newline else ""))
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def stdin_is_tty(self) -> bool:
        return _isatty(self.stdin)

    def stdout_is_tty(self) -> bool:
        return _isatty(self.stdout)

    def read_secret(self, prompt: str) -> str:
        """Ask on the terminal without echo; read stdin when it is not a terminal."""
        if self.stdin_is_tty():
            return getpass.getpass(prompt, stream=self.stderr)
        return self.stdin.read()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


Command = Callable[[list[str], Streams], int]


# -- parsing ---------------------------------------------------------------------------------


class CommandParser(argparse.ArgumentParser):
    """argparse whose errors end the command with exit code 1 instead of 2."""

    def __init__(self, prog: str, description: str, *, usage: str | None = None,
                 epilog: str | None = None) -> None:
        note = "Flags take one dash or two, as in Vault: -format=json is --format=json."
        epilog = f"{epilog}\n\n{note}" if epilog else note
        super().__init__(prog=prog, description=description, usage=usage, epilog=epilog,
                         formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog)


def new_parser(prog: str, description: str, *, usage: str | None = None,
               epilog: str | None = None, http: bool = True) -> CommandParser:
    parser = CommandParser(prog, description, usage=usage, epilog=epilog)
    if http:
        add_http_flags(parser)
    return parser


def add_http_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("HTTP options")
    group.add_argument("--address", metavar="ADDR",
                       help="Address of the server (default: $WARDEN_ADDR, $VAULT_ADDR, "
                            "https://127.0.0.1:8200).")
    group.add_argument("--token", metavar="TOKEN",
                       help="Token to use (default: $WARDEN_TOKEN, $VAULT_TOKEN, ~/.warden-token).")
    group.add_argument("--ca-cert", metavar="FILE",
                       help="PEM CA certificate(s) to verify the server with ($WARDEN_CACERT).")
    group.add_argument("--ca-path", metavar="DIR",
                       help="Directory of PEM CA certificates ($WARDEN_CAPATH).")
    group.add_argument("--client-cert", metavar="FILE",
                       help="PEM client certificate for TLS authentication ($WARDEN_CLIENT_CERT).")
    group.add_argument("--client-key", metavar="FILE",
                       help="PEM private key of -client-cert ($WARDEN_CLIENT_KEY).")
    add_bool_flag(group, "tls-skip-verify", "Do not verify the server's certificate. Insecure; "
                  "for testing only ($WARDEN_SKIP_VERIFY).", default=None)


def add_format_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", metavar="FORMAT", choices=FORMATS,
                        help="Output format: table, json or yaml (default: $WARDEN_FORMAT, "
                             "$VAULT_FORMAT, table).")


def add_wrap_ttl_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wrap-ttl", metavar="DURATION",
                        help="Wrap the response in a single-use token valid this long.")


def add_field_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--field", metavar="NAME", default="",
                        help="Print only this field, raw (no trailing newline unless the "
                             "output is a terminal).")


class BoolFlag(argparse.Action):
    """``--name`` sets True and ``--no-name`` False (also for names that begin with "no-",
    which argparse's BooleanOptionalAction gets wrong)."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: bool | None = None,
                 help: str | None = None) -> None:
        name = option_strings[0]
        self.negative = "--no-" + name[2:]
        super().__init__([name, self.negative], dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, option_string != self.negative)

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def add_bool_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str,
                  help: str, *, default: bool | None = False) -> None:
    """A Vault boolean flag: ``-name``, ``-name=true|false`` and ``-no-name`` all work."""
    parser.add_argument(f"--{name}", action=BoolFlag, default=default, help=help)


def _bool_option_names(parser: argparse.ArgumentParser) -> set[str]:
    return {
        action.option_strings[0] for action in parser._actions  # no public accessor
        if isinstance(action, BoolFlag)
    }


_TRUE = frozenset({"1", "t", "true", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "no", "off"})


def _bool_spellings(argv: list[str], names: set[str], prog: str) -> list[str]:
    out: list[str] = []
    for arg in argv:
        if arg == "--":
            out.extend(argv[len(out):])
            break
        name, sep, value = arg.partition("=")
        if sep and name in names:
            if value.lower() in _TRUE:
                arg = name
            elif value.lower() in _FALSE:
                arg = "--no-" + name[2:]
            else:
                raise UsageError(f"invalid boolean value {value!r} for -{name[2:]}", prog)
        out.append(arg)
    return out


def parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Vault spelling (``-flag=value``, flags before or after arguments) into argparse."""
    args = vault_style(argv, long_option_names(parser))
    args = _bool_spellings(args, _bool_option_names(parser), parser.prog)
    return parser.parse_intermixed_args(args)


def output_format(args: argparse.Namespace, streams: Streams) -> str:
    chosen = getattr(args, "format", None) or streams.env.get("WARDEN_FORMAT") or streams.env.get(
        "VAULT_FORMAT") or "table"
    chosen = chosen.lower()
    if chosen not in FORMATS:
        raise UsageError(f"Invalid output format: {chosen}")
    return chosen


def add_args(parser: argparse.ArgumentParser, metavar: str, help: str) -> None:
    """Positional arguments, counted by ``expect_args`` for Vault's messages."""
    parser.add_argument("args", nargs="*", metavar=metavar, help=help)


def expect_args(prog: str, args: Sequence[str], minimum: int, maximum: int | None) -> None:
    """Between ``minimum`` and ``maximum`` (None: no limit) positional arguments."""
    expected = (str(minimum) if minimum == maximum else
                f"at least {minimum}" if maximum is None else f"{minimum}-{maximum}")
    if len(args) < minimum:
        raise UsageError(f"Not enough arguments (expected {expected}, got {len(args)})", prog)
    if maximum is not None and len(args) > maximum:
        raise UsageError(f"Too many arguments (expected {expected}, got {len(args)})", prog)


# -- files ------------------------------------------------------------------------------------


def read_text_file(path: str, what: str) -> str:
    """A UTF-8 file the user named, or a CommandError saying why it cannot be used."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Error reading {what} {path!r}: {exc.strerror or exc}", EXIT_USAGE) from None
    except UnicodeDecodeError:
        raise CommandError(f"Error reading {what} {path!r}: it is not UTF-8 text", EXIT_USAGE) from None


# -- paths ------------------------------------------------------------------------------------


def sanitize_path(path: str) -> str:
    """Vault's ``sanitizePath``: no surrounding whitespace, no leading or trailing slash."""
    return path.strip().strip("/")


def mount_path(path: str) -> str:
    """A mount's path as Vault prints it: with exactly one trailing slash."""
    return sanitize_path(path) + "/"


# -- the API client ------------------------------------------------------------------------


def make_client(args: argparse.Namespace, streams: Streams) -> Client:
    overrides = {
        "address": getattr(args, "address", None),
        "token": getattr(args, "token", None),
        "ca_cert": getattr(args, "ca_cert", None),
        "ca_path": getattr(args, "ca_path", None),
        "client_cert": getattr(args, "client_cert", None),
        "client_key": getattr(args, "client_key", None),
        "tls_skip_verify": getattr(args, "tls_skip_verify", None),
    }
    try:
        return Client.from_env(streams.env, **overrides)
    except ClientError as exc:
        raise CommandError(f"Error initializing client: {exc}") from None


@contextlib.contextmanager
def api_errors(doing: str) -> Iterator[None]:
    """Turn client errors into ``Error <doing>: <server's message>`` and exit code 2."""
    try:
        yield
    except ClientError as exc:
        raise CommandError(f"Error {doing}: {exc}") from None
