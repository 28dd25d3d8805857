"""Which backend type names the core can mount; filled by the composition root."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warden.logical.backend import BackendFactory

# Vault's type aliases: "generic" was kv's old name, "kv-v2" is kv with version=2.
TYPE_ALIASES: Mapping[str, tuple[str, Mapping[str, str]]] = {
    "generic": ("kv", {"version": "1"}),
    "kv-v1": ("kv", {"version": "1"}),
    "kv-v2": ("kv", {"version": "2"}),
}


@dataclass(frozen=True, slots=True)
class Registry:
    secrets: Mapping[str, BackendFactory] = field(default_factory=dict)
    auth: Mapping[str, BackendFactory] = field(default_factory=dict)
    # Outside services handed to every backend (HTTP clients, key pools, ...).
    services: Mapping[str, Any] = field(default_factory=dict)
