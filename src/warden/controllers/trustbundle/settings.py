"""``cluster_trust_bundle "<name>" { mount = ...  signer_name = ...  labels = {...} }``: which
warden PKI mounts are published as ``ClusterTrustBundle`` objects, and how they are named.

The object holds the mount's trust bundle as warden defines it (``<mount>/cert/trust_bundle``:
old + new CA while the mount's CA rotates, then new only). With ``signer_name`` the object
is named ``<signerName with / as :>:<name>`` (the apiserver's rule) and pods select it by
signer (``clusterTrustBundle: {signerName: ..., labelSelector: ...}``); without, it is
named ``<name>`` and pods select it by name. The signers of ``pod_certificate_signer``
blocks publish their own bundle (see ``warden.controllers.podcert``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from warden.agent.config_parse import Block, ConfigError
from warden.controllers.names import is_signer_name
from warden.controllers.plugin import LabeledBlock

MANAGED_BY = ("app.kubernetes.io/managed-by", "warden")
PUBLISHER_LABEL = "warden.dev/published-by"
MOUNT_ANNOTATION = "warden.dev/mount"
ISSUERS_ANNOTATION = "warden.dev/issuer-ids"
DEFAULT_REFRESH = 30.0
MIN_REFRESH = 1.0
SIGNER_SUFFIX = "trust-bundle"  # <signer>:trust-bundle for the bundle a signer publishes

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                         r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@dataclass(frozen=True, slots=True)
class BundleSettings:
    """One ClusterTrustBundle: its object name, the mount it mirrors, its signerName (or ""),
    extra labels, and how often warden is asked for the mount's current bundle."""

    name: str
    mount: str
    signer_name: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    refresh: float = DEFAULT_REFRESH


@dataclass(frozen=True, slots=True)
class TrustBundleSettings:
    bundles: Mapping[str, BundleSettings]  # by object name


def object_name(name: str, signer_name: str) -> str:
    """The object name the apiserver demands: ``<signer with / as :>:<name>`` with a signer."""
    return f"{signer_name.replace('/', ':')}:{name}" if signer_name else name


def check_labels(labels: Mapping[str, object], where: str) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in labels.items():
        if not isinstance(value, str) or not _LABEL_NAME.match(key) or len(key.rpartition("/")[2]) > 63:
            raise ConfigError(f"{where}: {key!r} = {value!r} is not a Kubernetes label")
        if not _LABEL_VALUE.match(value):
            raise ConfigError(f"{where}: {value!r} is not a label value (at most 63 letters, digits, "
                              "'-', '_', '.')")
        if key in (MANAGED_BY[0], PUBLISHER_LABEL):
            raise ConfigError(f"{where}: {key} is set by the controller")
        out.append((key, value))
    return tuple(sorted(out))


def parse_refresh(b: Block, key: str) -> float:
    refresh = b.duration(key, DEFAULT_REFRESH)
    if refresh < MIN_REFRESH:
        raise ConfigError(f"{b.at(key)}: must be at least {MIN_REFRESH:g}s")
    return refresh


def parse(blocks: Sequence[LabeledBlock]) -> TrustBundleSettings:
    bundles: dict[str, BundleSettings] = {}
    for label, b in blocks:
        if not label:
            raise ConfigError("cluster_trust_bundle: give the bundle's name as the block's label: "
                              "cluster_trust_bundle \"c1-k8s\" { mount = \"c1/pki/k8s\" }")
        bundle = _bundle(label, b)
        if bundle.name in bundles:
            raise ConfigError(f"{b.where}: the ClusterTrustBundle {bundle.name} is configured twice")
        bundles[bundle.name] = bundle
    return TrustBundleSettings(bundles)


def _bundle(label: str, b: Block) -> BundleSettings:
    mount = b.string("mount", required=True).strip("/")
    signer = b.string("signer_name")
    labels = check_labels(b.mapping("labels"), b.at("labels"))
    refresh = parse_refresh(b, "refresh")
    b.finish()
    if ":" in label or not _DNS_SUBDOMAIN.match(label) or len(label) > 200:
        raise ConfigError(f"{b.where}: the label must be a DNS subdomain (lower case letters, digits, "
                          "'-' and '.'), e.g. c1-k8s")
    if signer and not is_signer_name(signer):
        raise ConfigError(f"{b.at('signer_name')}: a signerName is <domain>/<path>, e.g. example.com/serving")
    return BundleSettings(object_name(label, signer), mount, signer, labels, refresh)
