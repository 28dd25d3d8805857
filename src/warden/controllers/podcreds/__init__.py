"""Pod credentials (seed 003): ``pod_credentials { roles = [...] ... }``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warden.controllers.events import RBAC as EVENT_RULES
from warden.controllers.plugin import ControllerKind, PolicyRule
from warden.controllers.podcreds.controller import PodCredentialsController
from warden.controllers.podcreds.settings import FIELDS, PodCredentialSettings, parse, policy


def _build(settings: PodCredentialSettings, ctx: Any) -> PodCredentialsController:
    return PodCredentialsController(settings, ctx)


def rbac(_settings: PodCredentialSettings) -> Sequence[PolicyRule]:
    """Watch pods, annotate the ones served (secret-id-delivered), record events."""
    return [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "patch"]},
        *EVENT_RULES,
    ]


KIND: ControllerKind[PodCredentialSettings] = ControllerKind(
    block="pod_credentials",
    summary="push wrapped AppRole secret-ids to pods' init containers",
    parse=parse,
    build=_build,
    rbac=rbac,
    policy=policy,
    fields=FIELDS,
)
