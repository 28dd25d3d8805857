"""``warden status``: the seal status; the exit code says it (0 unsealed, 2 sealed, 1 error)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warden.api import ApiError, Call, Client, ClientError
from warden.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    Streams,
    add_format_flag,
    make_client,
    new_parser,
    output_format,
    parse,
)
from warden.cli.output import format_value, key_value_table, render_data


def status(argv: list[str], streams: Streams, prog: str = "warden status") -> int:
    parser = new_parser(
        prog, "Print the server's seal status. The exit code is 0 when unsealed, 2 when "
              "sealed and 1 on error.", usage=f"{prog} [options]")
    add_format_flag(parser)
    args = parse(parser, argv)
    fmt = output_format(args, streams)
    with make_client(args, streams) as client:
        try:
            state = fetch_status(client)
        except ClientError as exc:
            raise CommandError(f"Error checking seal status: {exc}", EXIT_USAGE) from None
    show_status(streams, state, fmt)
    return EXIT_ERROR if state.get("sealed") else EXIT_OK


class NotVault(ClientError):
    """The server answered, but not as Vault (or warden) does."""


def fetch_status(client: Client) -> dict[str, Any]:
    where = f"the server at {client.address}"
    try:
        state = client.send(Call("GET", "sys/seal-status"))
    except ApiError as exc:
        if exc.raw_body is None:
            raise
        raise NotVault(f"{where} did not give a Vault-shaped answer (GET /v1/sys/seal-status: HTTP "
                       f"{exc.status}, not Vault's JSON); is WARDEN_ADDR the address of a warden or "
                       "Vault server?") from None
    if not (isinstance(state, dict) and isinstance(state.get("sealed"), bool)
            and isinstance(state.get("initialized"), bool)):
        raise NotVault(f"{where} did not give a Vault-shaped answer (GET /v1/sys/seal-status has no "
                       "'sealed' and 'initialized'); is WARDEN_ADDR the address of a warden or Vault "
                       "server?")
    try:
        leader = client.read("sys/leader") or {}
    except ClientError:
        leader = {}
    state["ha_enabled"] = bool(leader.get("ha_enabled"))
    if state["ha_enabled"] and not state.get("sealed"):
        for key in ("is_self", "active_time", "leader_address", "leader_cluster_address"):
            state[key] = leader.get(key)
    return state


def show_status(streams: Streams, state: Mapping[str, Any], fmt: str) -> None:
    if fmt == "table":
        streams.out(key_value_table(status_rows(state)))
    else:
        streams.out(render_data(dict(state), fmt))


def status_rows(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Vault's ``OutputSealStatus``."""
    sealed = bool(state.get("sealed"))
    rows = [
        ("Seal Type", str(state.get("type", "shamir"))),
        ("Initialized", format_value(bool(state.get("initialized")))),
        ("Sealed", format_value(sealed)),
        ("Total Shares", format_value(state.get("n", 0))),
        ("Threshold", format_value(state.get("t", 0))),
    ]
    if sealed:
        rows += [("Unseal Progress", f"{state.get('progress', 0)}/{state.get('t', 0)}"),
                 ("Unseal Nonce", str(state.get("nonce") or ""))]
    rows += [("Version", str(state.get("version") or "")),
             ("Build Date", str(state.get("build_date") or "")),
             ("Storage Type", str(state.get("storage_type") or ""))]
    if state.get("cluster_name") and state.get("cluster_id"):
        rows += [("Cluster Name", str(state["cluster_name"])),
                 ("Cluster ID", str(state["cluster_id"]))]
    rows.append(("HA Enabled", format_value(bool(state.get("ha_enabled")))))
    if state.get("ha_enabled") and not sealed and "is_self" in state:
        rows += [("HA Cluster", str(state.get("leader_cluster_address") or "n/a")),
                 ("HA Mode", "active" if state.get("is_self") else "standby")]
        if state.get("is_self"):
            rows.append(("Active Since", str(state.get("active_time") or "")))
        else:
            rows.append(("Active Node Address", str(state.get("leader_address") or "<none>")))
    return rows
