"""Which file each certificate flag of each component points to, and which warden CA (mount)
or secret stands behind it: the map seed 002 drew by hand, read off the inventory."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from warden.kube.inventory import (
    COMPONENTS,
    SA_KEY_FILE,
    SA_PUB_FILE,
    CertSpec,
    Component,
    Flag,
    Ref,
    ca_spec,
    cert_spec,
    expand,
    role_name,
    signing_ca,
)


@dataclass(frozen=True, slots=True)
class Options:
    cluster: str = "<cluster>"
    root: str = "/etc/kubernetes"
    kubelet_serving_ca: bool = False
    kv_mount: str = "secret"
    admin_group: str = "kubeadm:cluster-admins"


@dataclass(frozen=True, slots=True)
class Row:
    component: str
    program: str
    flag: str
    file: str  # a path, a literal value, or "" when the flag stays unset
    backed_by: str
    identity: str
    note: str
    source: str = ""  # backed_by in short: "k8s CA", "k8s/apiserver", "k8s/admin + CA", "KV public_key"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _path(opts: Options, relative: str) -> str:
    return f"{opts.root.rstrip('/')}/{relative}"


def _subject(cert: CertSpec, opts: Options) -> str:
    cn = expand(cert.common_name, node="<node>")
    groups = [expand(g, admin_group=opts.admin_group) for g in cert.groups]
    return f"CN={cn}" + "".join(f", O={g}" for g in groups)


def _cert_row(opts: Options, cert: CertSpec, ref: Ref) -> tuple[str, str, str, str]:
    ca = signing_ca(cert.ca, kubelet_serving_ca=opts.kubelet_serving_ca)
    mount = f"{opts.cluster}/pki/{ca.key}"
    file = cert.key_file if ref is Ref.KEY else cert.cert_file
    role = role_name(cert, "<node>")
    return _path(opts, file), f"{mount}/issue/{role}", _subject(cert, opts), f"{ca.key}/{role}"


def _row(comp: Component, flag: Flag, opts: Options) -> Row:
    program = comp.program or comp.name
    kv = f"{opts.kv_mount}/{opts.cluster}/k8s/sa"
    file, backed, identity, source = "", "", "", ""
    if flag.ref is Ref.CA_CERT:
        ca = signing_ca(flag.target, kubelet_serving_ca=opts.kubelet_serving_ca)
        file = _path(opts, ca.cert_file)
        backed, source = f"{opts.cluster}/pki/{ca.key} (CA certificate)", f"{ca.key} CA"
        identity = f"CN={ca_spec(ca.key).common_name}"
    elif flag.ref in (Ref.CERT, Ref.KEY):
        file, backed, identity, source = _cert_row(opts, cert_spec(flag.target), flag.ref)
    elif flag.ref is Ref.KUBECONFIG:
        cert = cert_spec(flag.target) if flag.target else comp.certs[0]
        file, backed, identity, source = _cert_row(opts, cert, flag.ref)
        backed += " + CA of " + f"{opts.cluster}/pki/k8s"
        source += " + CA"
    elif flag.ref is Ref.SA_KEY:
        file, backed, source = _path(opts, SA_KEY_FILE), f"{kv} (KV: private_key)", "KV private_key"
    elif flag.ref is Ref.SA_PUB:
        file, backed, source = _path(opts, SA_PUB_FILE), f"{kv} (KV: public_key)", "KV public_key"
    elif flag.ref is Ref.VALUE:
        file = flag.target
    else:
        backed = source = "unset"
    return Row(comp.name, program, flag.name, file, backed, identity, flag.note, source)


def rows(opts: Options) -> list[Row]:
    return [_row(comp, flag, opts) for comp in COMPONENTS for flag in comp.flags]
