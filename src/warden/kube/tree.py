"""One machine's kubeadm-compatible tree: CA certificates (never CA keys), leaf
certificates and keys, the service-account key pair and kubeconfigs.

Everything is issued first and written only when all of it succeeded, each file
atomically: certificates 0644, private keys and kubeconfigs 0600.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from warden.api import Forbidden
from warden.kube.cluster import ClusterSpec, Node
from warden.kube.desired import cas_in_use
from warden.kube.files import CERT_MODE, KEY_MODE, write_atomic
from warden.kube.identity import Identity, node_identities
from warden.kube.inventory import SA_KEY_FILE, SA_PUB_FILE, SUPER_ADMIN, ca_spec, component_of, policy_unit
from warden.kube.issue import IssueError, ca_chain, issue
from warden.kube.kubeconfig import KubeconfigParts, render
from warden.kube.state import Api, data_of

Progress = Callable[[str], None]
LOCAL_KUBECONFIGS = ("controller-manager", "scheduler")  # kubeadm points these at the local API server
SUPER_ADMIN_CERT = SUPER_ADMIN.certs[0].name


@dataclass(frozen=True, slots=True)
class TreeFile:
    path: str  # relative to the tree's root (what kubeadm puts under /etc/kubernetes)
    content: str
    mode: int
    what: str = ""


def _ca_files(api: Api, spec: ClusterSpec, node: Node) -> dict[str, str]:
    """CA key -> PEM bundle; a worker gets only the Kubernetes CA (the kubelet's client CA)."""
    wanted = cas_in_use(spec) if node.control_plane else (ca_spec("k8s"),)
    return {ca.key: ca_chain(api, spec.mount(ca.key)) for ca in wanted}


def _issue(api: Api, ident: Identity, spec: ClusterSpec) -> tuple[str, str]:
    try:
        issued = issue(api, ident)
    except Forbidden:
        unit = policy_unit(component_of(ident.cert), ident.node.name if ident.node else "")
        hint = " (or pass -no-super-admin)" if ident.cert.name == SUPER_ADMIN_CERT else ""
        raise IssueError(f"the token may not issue {ident.cert.name} ({ident.mount}/issue/{ident.role}): "
                         f"it needs the policy {spec.policy(unit)}{hint}") from None
    return issued.certificate, issued.private_key


def _sa_files(api: Api, spec: ClusterSpec) -> list[TreeFile]:
    path = f"{spec.kv_mount}/{spec.kv_base}/sa"
    info = data_of(api.read(f"sys/internal/ui/mounts/{spec.kv_mount}")) or {}
    v2 = str((info.get("options") or {}).get("version", "1")) == "2"
    data = data_of(api.read(f"{spec.kv_mount}/data/{spec.kv_base}/sa" if v2 else path)) or {}
    pair = data.get("data") if v2 else data
    if not isinstance(pair, dict) or not pair.get("private_key"):
        raise IssueError(f"no service-account key pair at {path}: run 'warden k8s bootstrap {spec.name}'")
    return [TreeFile(SA_KEY_FILE, str(pair["private_key"]), KEY_MODE, "service-account signing key"),
            TreeFile(SA_PUB_FILE, str(pair["public_key"]), CERT_MODE, "service-account public key")]


def build(api: Api, spec: ClusterSpec, node: Node, *, server: str = "", super_admin: bool = True,
          progress: Progress = lambda _: None) -> list[TreeFile]:
    """Issue everything ``node`` needs (with ``super_admin``, super-admin.conf on a control
    plane); nothing is written here."""
    cas = _ca_files(api, spec, node)
    files = [TreeFile(ca_spec(key).cert_file, pem, CERT_MODE, "CA certificate") for key, pem in cas.items()]
    for ident in node_identities(spec, node):
        if ident.cert.name == SUPER_ADMIN_CERT and not super_admin:
            continue
        cert, key = _issue(api, ident, spec)
        progress(f"issued {ident.cert.cert_file} ({ident.common_name}) from {ident.mount}")
        if ident.cert.kubeconfig:
            url = server or spec.server_url(node if ident.cert.name in LOCAL_KUBECONFIGS else None)
            parts = KubeconfigParts(spec.name, url, cas["k8s"], ident.common_name, cert, key)
            files.append(TreeFile(ident.cert.path, render(parts), KEY_MODE, "kubeconfig"))
        else:
            files += [TreeFile(ident.cert.cert_file, cert, CERT_MODE, "certificate"),
                      TreeFile(ident.cert.key_file, key, KEY_MODE, "private key")]
    if node.control_plane:
        files += _sa_files(api, spec)
    return files


def write(root: Path, files: list[TreeFile]) -> None:
    for item in files:
        write_atomic(root / item.path, item.content, mode=item.mode)
