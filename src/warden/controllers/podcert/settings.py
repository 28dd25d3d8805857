"""``pod_certificate_signer "<signerName>" {...}``: a signer for PodCertificateRequests.

- ``mount``, ``role``: the PKI mount and role that sign (``<mount>/sign/<role>``); the role
  decides which identities, key types and lifetimes are allowed at all;
- ``trust_domain``: the SPIFFE trust domain (default ``cluster.local``);
- ``uri_sans``: templates of the URI SANs (default the SPIFFE ID
  ``spiffe://{{trust_domain}}/ns/{{namespace}}/sa/{{service_account}}``; ``[]`` for none);
- ``dns_names``: templates of DNS SANs (default none), e.g.
  ``{{pod}}.{{namespace}}.pod.cluster.local``; every value put into a DNS name must be a
  single DNS label;
- ``allowed_namespaces``: globs of the namespaces whose pods may get a certificate
  (default ``*``); ``allowed_service_accounts``: globs of ``<namespace>/<name>``
  (default ``*/*``), so a tenant cannot obtain another tenant's identity;
- ``trust_bundle``: publish the mount's trust bundle as the ClusterTrustBundle
  ``<signerName with / as :>:trust-bundle`` (default true), with ``bundle_labels`` and
  re-read from warden every ``bundle_refresh`` (default 30s).

Template variables: ``namespace``, ``service_account``, ``pod`` and ``trust_domain``, all
taken from the request as the apiserver checked it, never from what the pod claims.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from warden.agent.config_parse import Block, ConfigError
from warden.controllers.names import is_role_name, is_signer_name, signer_blocks
from warden.controllers.plugin import LabeledBlock
from warden.controllers.trustbundle.settings import (
    SIGNER_SUFFIX,
    BundleSettings,
    check_labels,
    object_name,
    parse_refresh,
)

SPIFFE_ID = "spiffe://{{trust_domain}}/ns/{{namespace}}/sa/{{service_account}}"
VARIABLES = frozenset({"namespace", "service_account", "pod", "trust_domain"})
TEMPLATE_VAR = re.compile(r"\{\{\s*([A-Za-z_]+)\s*\}\}")
_TRUST_DOMAIN = re.compile(r"^[a-z0-9._-]+$")
_NAME_GLOB = re.compile(r"^[a-z0-9*]([-a-z0-9.*]*[a-z0-9*])?$")


@dataclass(frozen=True, slots=True)
class PodSignerSettings:
    signer_name: str
    mount: str
    role: str
    trust_domain: str = "cluster.local"
    uri_sans: tuple[str, ...] = (SPIFFE_ID,)
    dns_names: tuple[str, ...] = ()
    allowed_namespaces: tuple[str, ...] = ("*",)
    allowed_service_accounts: tuple[str, ...] = ("*/*",)
    bundle: BundleSettings | None = None

    @property
    def sign_path(self) -> str:
        return f"{self.mount}/sign/{self.role}"

    @property
    def role_path(self) -> str:
        return f"{self.mount}/roles/{self.role}"


@dataclass(frozen=True, slots=True)
class PodCertSettings:
    signers: Mapping[str, PodSignerSettings]
    workers: int = 4

    @property
    def bundles(self) -> list[BundleSettings]:
        return [s.bundle for s in self.signers.values() if s.bundle is not None]


def parse(blocks: Sequence[LabeledBlock]) -> PodCertSettings:
    return PodCertSettings({label: _signer(label, b) for label, b in
                            signer_blocks(blocks, "pod_certificate_signer", "example.com/workloads")})


def _signer(name: str, b: Block) -> PodSignerSettings:
    if not is_signer_name(name):
        raise ConfigError(f"{b.where}: a signerName is <domain>/<path>, e.g. example.com/workloads")
    if name.startswith("kubernetes.io/"):
        raise ConfigError(f"{b.where}: signerNames under kubernetes.io are reserved for Kubernetes")
    mount, role = b.string("mount", required=True).strip("/"), b.string("role", required=True)
    uri_sans = b.strings("uri_sans") if b.has("uri_sans") else (SPIFFE_ID,)
    settings = PodSignerSettings(
        signer_name=name, mount=mount, role=role, trust_domain=b.string("trust_domain", "cluster.local"),
        uri_sans=uri_sans, dns_names=b.strings("dns_names"),
        allowed_namespaces=b.strings("allowed_namespaces") or ("*",),
        allowed_service_accounts=b.strings("allowed_service_accounts") or ("*/*",),
        bundle=_bundle(name, mount, b))
    b.finish()
    _check(settings, b)
    return settings


def _bundle(signer: str, mount: str, b: Block) -> BundleSettings | None:
    labels = check_labels(b.mapping("bundle_labels"), b.at("bundle_labels"))
    refresh = parse_refresh(b, "bundle_refresh")
    if not b.boolean("trust_bundle", True):
        return None
    return BundleSettings(object_name(SIGNER_SUFFIX, signer), mount, signer, labels, refresh)


def _check(s: PodSignerSettings, b: Block) -> None:
    if not is_role_name(s.role):
        raise ConfigError(f"{b.at('role')}: {s.role!r} is not a role name")
    if not _TRUST_DOMAIN.match(s.trust_domain) or s.trust_domain.strip(".") != s.trust_domain:
        raise ConfigError(f"{b.at('trust_domain')}: a SPIFFE trust domain is lower case letters, digits, "
                          "'.', '-' and '_', e.g. c1.example.com")
    for key, templates in (("uri_sans", s.uri_sans), ("dns_names", s.dns_names)):
        for template in templates:
            unknown = sorted(set(TEMPLATE_VAR.findall(template)) - VARIABLES)
            if unknown:
                raise ConfigError(f"{b.at(key)}: unknown variable {{{{{unknown[0]}}}}} in {template!r} "
                                  f"(known: {', '.join(sorted(VARIABLES))})")
            if "{" in TEMPLATE_VAR.sub("", template) or "}" in TEMPLATE_VAR.sub("", template):
                raise ConfigError(f"{b.at(key)}: {template!r}: write variables as {{{{namespace}}}}")
    if not s.uri_sans and not s.dns_names:
        raise ConfigError(f"{b.where}: with no uri_sans and no dns_names a certificate would name nobody")
    for glob in s.allowed_namespaces:
        if not _NAME_GLOB.match(glob):
            raise ConfigError(f"{b.at('allowed_namespaces')}: {glob!r} is not a namespace or a glob of one")
    for glob in s.allowed_service_accounts:
        namespace, slash, account = glob.partition("/")
        if not slash or not _NAME_GLOB.match(namespace) or not _NAME_GLOB.match(account):
            raise ConfigError(f"{b.at('allowed_service_accounts')}: {glob!r} is not <namespace>/<name> "
                              "(globs allowed, e.g. team-a/* or */default)")
