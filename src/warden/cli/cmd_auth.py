"""``warden auth enable|disable|move|tune|list``: auth methods (``sys/auth``).

``warden auth TOKEN`` and ``warden auth -method=...`` (Vault 0.x's login) still log in.
"""

from __future__ import annotations

from warden.cli import mounts
from warden.cli.common import Streams
from warden.cli.dispatch import HELP_ARGS, Entry, Group

GROUP = Group(
    prog="warden auth",
    description="Enable, tune, list and disable auth methods (token, approle, kubernetes, ...).",
    entries=(
        Entry("enable", "warden.cli.cmd_auth:enable", "Enable an auth method"),
        Entry("disable", "warden.cli.cmd_auth:disable", "Disable an auth method"),
        Entry("move", "warden.cli.cmd_auth:move", "Move a auth method to another path"),
        Entry("tune", "warden.cli.cmd_auth:tune", "Tune an auth method's configuration"),
        Entry("list", "warden.cli.cmd_auth:list_", "List enabled auth methods"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    if argv and argv[0] not in HELP_ARGS and GROUP.find(argv[0]) is None:
        from warden.cli.cmd_login import login

        return login(argv, streams, prog="warden auth")
    return GROUP.run(argv, streams)


def enable(argv: list[str], streams: Streams, prog: str = "warden auth enable") -> int:
    return mounts.enable(argv, streams, prog, mounts.AUTH)


def disable(argv: list[str], streams: Streams, prog: str = "warden auth disable") -> int:
    return mounts.disable(argv, streams, prog, mounts.AUTH)


def tune(argv: list[str], streams: Streams, prog: str = "warden auth tune") -> int:
    return mounts.tune(argv, streams, prog, mounts.AUTH)


def list_(argv: list[str], streams: Streams, prog: str = "warden auth list") -> int:
    return mounts.list_mounts(argv, streams, prog, mounts.AUTH)


def move(argv: list[str], streams: Streams, prog: str = "warden auth move") -> int:
    return mounts.move(argv, streams, prog, mounts.AUTH)
