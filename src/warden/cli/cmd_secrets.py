"""``warden secrets enable|disable|move|tune|list``: secrets engines (``sys/mounts``)."""

from __future__ import annotations

from warden.cli import mounts
from warden.cli.common import Streams
from warden.cli.dispatch import Entry, Group

GROUP = Group(
    prog="warden secrets",
    description="Enable, tune, list and disable secrets engines (kv, pki, ...).",
    entries=(
        Entry("enable", "warden.cli.cmd_secrets:enable", "Enable a secrets engine"),
        Entry("disable", "warden.cli.cmd_secrets:disable", "Disable a secrets engine"),
        Entry("move", "warden.cli.cmd_secrets:move", "Move a secrets engine to another path"),
        Entry("tune", "warden.cli.cmd_secrets:tune", "Tune a secrets engine's configuration"),
        Entry("list", "warden.cli.cmd_secrets:list_", "List enabled secrets engines"),
    ),
)


def main(argv: list[str], streams: Streams) -> int:
    return GROUP.run(argv, streams)


def enable(argv: list[str], streams: Streams, prog: str = "warden secrets enable") -> int:
    return mounts.enable(argv, streams, prog, mounts.SECRETS)


def disable(argv: list[str], streams: Streams, prog: str = "warden secrets disable") -> int:
    return mounts.disable(argv, streams, prog, mounts.SECRETS)


def tune(argv: list[str], streams: Streams, prog: str = "warden secrets tune") -> int:
    return mounts.tune(argv, streams, prog, mounts.SECRETS)


def list_(argv: list[str], streams: Streams, prog: str = "warden secrets list") -> int:
    return mounts.list_mounts(argv, streams, prog, mounts.SECRETS)


def move(argv: list[str], streams: Streams, prog: str = "warden secrets move") -> int:
    return mounts.move(argv, streams, prog, mounts.SECRETS)
