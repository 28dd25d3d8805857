"""``signer "<signerName>" { mount = ...  role = ...  approve = ...  method = ... }``.

- ``mount``, ``role``: the PKI mount and role that sign (``<mount>/sign/<role>``);
- ``method``: ``sign`` (default: the role checks names and sets the subject's other
  fields and the usages) or ``sign-verbatim`` (the CSR's subject and SANs as they are,
  the requested usages, the role's TTL limits: for custom signers whose requests a human
  or a policy engine approves);
- ``approve``: ``node-client`` (kubelet client certificates: kube-controller-manager's
  SubjectAccessReview rules) or ``node-addresses`` (kubelet serving certificates: the SANs
  must be the Node's addresses); absent: something else approves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from warden.agent.config_parse import Block, ConfigError
from warden.controllers.csr import rules
from warden.controllers.names import is_role_name, is_signer_name, signer_blocks
from warden.controllers.plugin import LabeledBlock

SIGN, VERBATIM = "sign", "sign-verbatim"
NODE_CLIENT, NODE_ADDRESSES = "node-client", "node-addresses"
APPROVERS = {NODE_CLIENT: rules.KUBELET_CLIENT, NODE_ADDRESSES: rules.KUBELET_SERVING}


@dataclass(frozen=True, slots=True)
class SignerSettings:
    signer_name: str
    mount: str
    role: str
    approve: str = ""
    method: str = SIGN

    @property
    def sign_path(self) -> str:
        return f"{self.mount}/{self.method}/{self.role}"

    @property
    def role_path(self) -> str:
        return f"{self.mount}/roles/{self.role}"


@dataclass(frozen=True, slots=True)
class CsrSettings:
    signers: Mapping[str, SignerSettings]
    workers: int = 2


def parse(blocks: Sequence[LabeledBlock]) -> CsrSettings:
    return CsrSettings({label: _signer(label, b)
                        for label, b in signer_blocks(blocks, "signer", "example.com/serving")})


def _signer(name: str, b: Block) -> SignerSettings:
    if not is_signer_name(name):
        raise ConfigError(f"{b.where}: a signerName is <domain>/<path>, e.g. example.com/serving")
    if name == rules.LEGACY_UNKNOWN:
        raise ConfigError(f"{b.where}: {name} cannot be signed in certificates.k8s.io/v1")
    settings = SignerSettings(
        signer_name=name, mount=b.string("mount", required=True).strip("/"),
        role=b.string("role", required=True), approve=b.string("approve"),
        method=b.string("method", SIGN))
    b.finish()
    if not is_role_name(settings.role):
        raise ConfigError(f"{b.at('role')}: {settings.role!r} is not a role name")
    if settings.method not in (SIGN, VERBATIM):
        raise ConfigError(f"{b.at('method')}: must be \"{SIGN}\" or \"{VERBATIM}\", got {settings.method!r}")
    if settings.approve:
        wanted = APPROVERS.get(settings.approve)
        if wanted is None:
            raise ConfigError(f"{b.at('approve')}: unknown approver {settings.approve!r} "
                              f"(known: {', '.join(sorted(APPROVERS))})")
        if wanted != name:
            raise ConfigError(f"{b.at('approve')}: {settings.approve} approves {wanted} requests only")
    return settings
