"""Vault 0.x spellings, as in scripts of that era (``vault mount``, ``vault token-create``).

Each is the modern command under its old name; flags and output are the modern ones.
"""

from __future__ import annotations

from warden.cli import cmd_auth, cmd_policy, cmd_secrets, cmd_token
from warden.cli.common import Streams, add_args, add_format_flag, new_parser, parse


def mount(argv: list[str], streams: Streams) -> int:
    return cmd_secrets.enable(argv, streams, prog="warden mount")


def mount_tune(argv: list[str], streams: Streams) -> int:
    return cmd_secrets.tune(argv, streams, prog="warden mount-tune")


def unmount(argv: list[str], streams: Streams) -> int:
    return cmd_secrets.disable(argv, streams, prog="warden unmount")


def mounts(argv: list[str], streams: Streams) -> int:
    return cmd_secrets.list_(argv, streams, prog="warden mounts")


def auth_enable(argv: list[str], streams: Streams) -> int:
    return cmd_auth.enable(argv, streams, prog="warden auth-enable")


def auth_disable(argv: list[str], streams: Streams) -> int:
    return cmd_auth.disable(argv, streams, prog="warden auth-disable")


def policy_write(argv: list[str], streams: Streams) -> int:
    return cmd_policy.write(argv, streams, prog="warden policy-write")


def policy_delete(argv: list[str], streams: Streams) -> int:
    return cmd_policy.delete(argv, streams, prog="warden policy-delete")


def policies(argv: list[str], streams: Streams) -> int:
    """``policies`` lists; ``policies NAME`` prints that policy."""
    parser = new_parser("warden policies", "List policies, or print the policy NAME.",
                        usage="warden policies [options] [NAME]")
    add_format_flag(parser)
    add_args(parser, "NAME", "A policy to print.")
    if parse(parser, argv).args:
        return cmd_policy.read(argv, streams, prog="warden policies")
    return cmd_policy.list_(argv, streams, prog="warden policies")


def token_create(argv: list[str], streams: Streams) -> int:
    return cmd_token.create(argv, streams, prog="warden token-create")


def token_lookup(argv: list[str], streams: Streams) -> int:
    return cmd_token.lookup(argv, streams, prog="warden token-lookup")


def token_renew(argv: list[str], streams: Streams) -> int:
    return cmd_token.renew(argv, streams, prog="warden token-renew")


def token_revoke(argv: list[str], streams: Streams) -> int:
    return cmd_token.revoke(argv, streams, prog="warden token-revoke")
