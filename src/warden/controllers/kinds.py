"""Every controller kind the process knows, by configuration block. Adding a controller
is one module exporting a ``ControllerKind`` and one line here."""

from __future__ import annotations

from typing import Any

from warden.controllers.csr import KIND as CSR_SIGNER
from warden.controllers.plugin import ControllerKind
from warden.controllers.podcert import KIND as POD_CERTIFICATE_SIGNER
from warden.controllers.podcreds import KIND as POD_CREDENTIALS
from warden.controllers.sync import CERTIFICATES as CERTIFICATE_SYNC
from warden.controllers.sync import SECRETS as SECRET_SYNC
from warden.controllers.trustbundle import KIND as CLUSTER_TRUST_BUNDLE

KINDS: tuple[ControllerKind[Any], ...] = (
    CSR_SIGNER,
    POD_CERTIFICATE_SIGNER,
    CLUSTER_TRUST_BUNDLE,
    SECRET_SYNC,
    CERTIFICATE_SYNC,
    POD_CREDENTIALS,
)
