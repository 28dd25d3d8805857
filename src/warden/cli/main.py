"""``warden <command>``: the table of commands and the one place errors become exit codes.

Other command groups (``agent``, ``k8s``, ``audit``, ...) are added as one ``Entry`` in
``COMMANDS`` pointing at their module's ``(argv, streams) -> int`` function.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from warden import __version__
from warden.cli.common import EXIT_ERROR, EXIT_OK, EXIT_USAGE, CommandError, Streams, new_parser, parse
from warden.cli.dispatch import Entry, Group

UNEXPECTED = "warden failed unexpectedly"
COMMON, OTHER, LEGACY = "Common commands", "Other commands", "Vault 0.x spellings (deprecated)"

COMMANDS = Group(
    prog="warden",
    description="warden: a certificate authority and secrets service that speaks Vault's API.",
    noun="command",
    entries=(
        Entry("read", "warden.cli.cmd_read:read", "Read data and retrieve secrets", COMMON),
        Entry("write", "warden.cli.cmd_read:write", "Write data, configuration and secrets", COMMON),
        Entry("delete", "warden.cli.cmd_read:delete", "Delete secrets and configuration", COMMON),
        Entry("list", "warden.cli.cmd_read:list_", "List data or secrets", COMMON),
        Entry("login", "warden.cli.cmd_login:login", "Authenticate locally", COMMON),
        Entry("server", "warden.cli.main:server_hint", "Start a warden server", COMMON),
        Entry("status", "warden.cli.cmd_status:status", "Print seal status", COMMON),
        Entry("unwrap", "warden.cli.cmd_read:unwrap", "Unwrap a wrapped secret", COMMON),
        Entry("agent", "warden.cli.cmd_agent:main", "Start a warden agent", OTHER),
        Entry("audit", "warden.cli.cmd_audit:main", "Audit devices; verify logs; issued certs",
              OTHER),
        Entry("auth", "warden.cli.cmd_auth:main", "Interact with auth methods", OTHER),
        Entry("k8s", "warden.cli.cmd_k8s:main", "A Kubernetes cluster's PKI, kubeadm-compatible", OTHER),
        Entry("kv", "warden.cli.cmd_kv:main", "Interact with the key/value store", OTHER),
        Entry("operator", "warden.cli.cmd_operator:main", "Initialise, unseal and seal", OTHER),
        Entry("patch", "warden.cli.cmd_read:patch", "Update data with a JSON merge patch", OTHER),
        Entry("path-help", "warden.cli.cmd_path_help:path_help", "Retrieve API help for paths",
              OTHER),
        Entry("policy", "warden.cli.cmd_policy:main", "Interact with policies", OTHER),
        Entry("secrets", "warden.cli.cmd_secrets:main", "Interact with secrets engines", OTHER),
        Entry("token", "warden.cli.cmd_token:main", "Interact with tokens", OTHER),
        Entry("version", "warden.cli.main:version", "Print the version", OTHER),
        Entry("mount", "warden.cli.cmd_legacy:mount", "= secrets enable", LEGACY),
        Entry("mount-tune", "warden.cli.cmd_legacy:mount_tune", "= secrets tune", LEGACY),
        Entry("unmount", "warden.cli.cmd_legacy:unmount", "= secrets disable", LEGACY),
        Entry("mounts", "warden.cli.cmd_legacy:mounts", "= secrets list", LEGACY),
        Entry("auth-enable", "warden.cli.cmd_legacy:auth_enable", "= auth enable", LEGACY),
        Entry("auth-disable", "warden.cli.cmd_legacy:auth_disable", "= auth disable", LEGACY),
        Entry("policies", "warden.cli.cmd_legacy:policies", "= policy list / policy read",
              LEGACY),
        Entry("policy-write", "warden.cli.cmd_legacy:policy_write", "= policy write", LEGACY),
        Entry("policy-delete", "warden.cli.cmd_legacy:policy_delete", "= policy delete",
              LEGACY),
        Entry("token-create", "warden.cli.cmd_legacy:token_create", "= token create", LEGACY),
        Entry("token-lookup", "warden.cli.cmd_legacy:token_lookup", "= token lookup", LEGACY),
        Entry("token-renew", "warden.cli.cmd_legacy:token_renew", "= token renew", LEGACY),
        Entry("token-revoke", "warden.cli.cmd_legacy:token_revoke", "= token revoke", LEGACY),
    ),
)


def version(argv: list[str], streams: Streams) -> int:
    parse(new_parser("warden version", "Print warden's version.", http=False), argv)
    streams.out(f"warden v{__version__}")
    return EXIT_OK


def server_hint(argv: list[str], streams: Streams) -> int:
    raise CommandError("'warden server' is started through the warden executable", 1)


def run(argv: Sequence[str], streams: Streams) -> int:
    if argv and argv[0] in ("-v", "-version", "--version"):
        return version([], streams)
    try:
        return COMMANDS.run(argv, streams)
    except CommandError as exc:
        streams.err(exc.message)
        return exc.code
    except SystemExit as exc:  # argparse after printing -help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:
        streams.err("Interrupted")
        return 130
    except BrokenPipeError:
        raise  # main() handles it: the reader went away, nothing to report
    except Exception as exc:  # a bug, but the user gets one line, never a traceback
        streams.err(f"Error: {UNEXPECTED} ({type(exc).__name__}: {exc}); please report it")
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(list(sys.argv[1:] if argv is None else argv), Streams())
    except BrokenPipeError:  # e.g. `warden read ... | head -1`: the reader went away
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_USAGE
