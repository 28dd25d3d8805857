"""Every controller kind the process knows, by configuration block. Adding a controller
is one module exporting a ``ControllerKind`` and one line here."""

from __future__ import annotations

from typing import Any

from warden.controllers.csr import KIND as CSR_SIGNER
from warden.controllers.plugin import ControllerKind

KINDS: tuple[ControllerKind[Any], ...] = (
    CSR_SIGNER,
)
