"""WardenSecret and WardenCertificate: warden's kv secrets and PKI certificates kept in
Kubernetes Secrets (``secret_sync {}`` and ``certificate_sync {}``), each namespace
reaching warden only with its own login (``warden.controllers.tenancy``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from warden.controllers.plugin import ControllerKind, PolicyRule
from warden.controllers.sync.base import rbac
from warden.controllers.sync.certificate import CertificateSyncController
from warden.controllers.sync.secret import SecretSyncController
from warden.controllers.sync.settings import FIELDS, SyncSettings, parse


def _secret_rbac(settings: SyncSettings) -> Sequence[PolicyRule]:
    return rbac("wardensecrets", settings)


def _certificate_rbac(settings: SyncSettings) -> Sequence[PolicyRule]:
    return rbac("wardencertificates", settings)


def _build_secrets(settings: SyncSettings, ctx: Any) -> SecretSyncController:
    return SecretSyncController(settings, ctx)


def _build_certificates(settings: SyncSettings, ctx: Any) -> CertificateSyncController:
    return CertificateSyncController(settings, ctx)


SECRETS: ControllerKind[SyncSettings] = ControllerKind(
    block="secret_sync",
    summary="sync WardenSecrets (kv) into Secrets",
    parse=parse,
    build=_build_secrets,
    rbac=_secret_rbac,
    fields=FIELDS,
)
CERTIFICATES: ControllerKind[SyncSettings] = ControllerKind(
    block="certificate_sync",
    summary="keep WardenCertificates in kubernetes.io/tls Secrets",
    parse=parse,
    build=_build_certificates,
    rbac=_certificate_rbac,
    fields=FIELDS,
)
