"""warden's custom resources (group ``warden.dev``, version ``v1alpha1``): the CRD manifests
shipped with the package (also in the repository's ``deploy/crds/``), the lightkube classes
the controllers use, and ``install`` (server-side apply, what ``warden k8s install-crds``
runs)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]
from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition

GROUP, VERSION = "warden.dev", "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FIELD_MANAGER = "warden-install-crds"
FILES = ("wardensecrets.warden.dev.yaml", "wardencertificates.warden.dev.yaml")

WardenSecret = create_namespaced_resource(GROUP, VERSION, "WardenSecret", "wardensecrets")
WardenCertificate = create_namespaced_resource(GROUP, VERSION, "WardenCertificate", "wardencertificates")


def manifests() -> list[dict[str, Any]]:
    """The CRD manifests, as shipped."""
    folder = resources.files(__package__)
    return [yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8")) for name in FILES]


def manifests_text() -> str:
    folder = resources.files(__package__)
    return "---\n".join(folder.joinpath(name).read_text(encoding="utf-8") for name in FILES)


@dataclass(frozen=True, slots=True)
class Installed:
    name: str
    established: bool


async def install(kube: AsyncClient, *, wait: float = 30.0, dry_run: bool = False) -> list[Installed]:
    """Server-side apply every CRD (taking over the fields this manager owns), then wait
    up to ``wait`` seconds for each to be Established (served)."""
    applied = []
    for manifest in manifests():
        crd: Any = CustomResourceDefinition.from_dict(manifest)
        applied.append(await kube.apply(crd, field_manager=FIELD_MANAGER, force=True, dry_run=dry_run))
    if dry_run:
        return [Installed(c.metadata.name, False) for c in applied]
    return [Installed(c.metadata.name, await _established(kube, c.metadata.name, wait)) for c in applied]


async def _established(kube: AsyncClient, name: str, wait: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        crd = await kube.get(CustomResourceDefinition, name)
        conditions = (crd.status.conditions if crd.status is not None else None) or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.2)
