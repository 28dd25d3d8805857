"""Writing results to the terminal: secrets, single fields, data and lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from warden.cli.common import EXIT_OK, EXIT_USAGE, CommandError, Streams
from warden.cli.output import render_data, render_field, render_list, render_secret, secret_field


def print_raw(streams: Streams, text: str) -> int:
    """Like Vault: a trailing newline only on a terminal, so ``> file`` keeps exact bytes."""
    streams.out(text, newline=streams.stdout_is_tty())
    return EXIT_OK


def print_field(streams: Streams, value: Any, name: str, fmt: str) -> int:
    if value is None:
        raise CommandError(f'Field "{name}" not present in secret', EXIT_USAGE)
    return print_raw(streams, render_field(value, fmt))


def print_secret(streams: Streams, secret: Mapping[str, Any], fmt: str, field: str = "") -> int:
    if field:
        return print_field(streams, secret_field(secret, field), field, fmt)
    text = render_secret(secret, fmt)
    if text:
        streams.out(text)
    return EXIT_OK


def print_data(streams: Streams, data: Any, fmt: str) -> int:
    streams.out(render_data(data, fmt))
    return EXIT_OK


def print_list(streams: Streams, keys: Sequence[Any], fmt: str) -> int:
    streams.out(render_list(keys, fmt))
    return EXIT_OK


def list_keys(secret: Mapping[str, Any] | None) -> list[Any] | None:
    data = (secret or {}).get("data")
    keys = data.get("keys") if isinstance(data, Mapping) else None
    return list(keys) if isinstance(keys, list) else None
