"""``plan``: the whole procedure for rotating one CA (or the service-account key pair), read off
the inventory: which files change on which nodes in each phase, which components must be
restarted and in which order, and what each phase waits for. Kubernetes' "Manual Rotation of
CA Certificates" is the model: trust old + new everywhere first (the controller-manager
first, since it publishes the bundle to pods), then move every leaf to the new CA, then
trust only the new one.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from warden.kube.cluster import ClusterSpec, Node
from warden.kube.identity import node_identities, nodes_of
from warden.kube.inventory import (
    COMPONENTS,
    SA_KEY_FILE,
    SA_PUB_FILE,
    Component,
    Flag,
    Ref,
    ca_spec,
    cert_spec,
    signing_ca,
)
from warden.kube.rotate import command

# Who reads a CA first: the controller-manager publishes --root-ca-file to every pod
# (kube-root-ca.crt), so it goes first, as in Kubernetes' manual procedure.
TRUST_ORDER = ("etcd", "kube-controller-manager", "kube-apiserver", "kube-scheduler", "kubelet",
               "kube-proxy", "etcd-healthcheck-client", "admin")
# Who presents a new leaf first: servers before their clients (every client trusts both by now).
PRESENT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet",
                 "kube-proxy", "etcd-healthcheck-client", "admin")
TOOLS = ("etcdctl", "kubectl")
WIDTH = 100  # not restarted: they read their files on every run


@dataclass(frozen=True, slots=True)
class Restart:
    component: str
    nodes: tuple[str, ...]
    why: str  # the flags (files) that changed for it
    rolling: bool  # one node at a time, waiting until it is healthy


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    command: str
    warden: tuple[str, ...]
    files: tuple[tuple[str, tuple[str, ...]], ...]  # (node, files that change there)
    restarts: tuple[Restart, ...]
    you: tuple[str, ...]  # the operator's steps beyond writing files and restarting
    waits_for: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["files"] = [{"node": n, "files": list(f)} for n, f in self.files]
        return out


@dataclass(frozen=True, slots=True)
class RotationPlan:
    cluster: str
    ca: str
    what: str
    phases: tuple[Phase, ...]
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "ca": self.ca, "what": self.what,
                "phases": [p.to_json() for p in self.phases], "notes": list(self.notes)}


def _signs(spec: ClusterSpec, ca: str, target: str) -> bool:
    return signing_ca(target, kubelet_serving_ca=spec.kubelet_serving_ca).key == ca


def _trust_flags(spec: ClusterSpec, ca: str, comp: Component) -> list[str]:
    flags = [f.name for f in comp.flags if f.ref is Ref.CA_CERT and _signs(spec, ca, f.target)]
    if ca == "k8s" and any(c.kubeconfig for c in comp.certs):
        flags.append("--kubeconfig (certificate-authority-data)")
    return flags


def _present_flags(spec: ClusterSpec, ca: str, comp: Component) -> list[str]:
    def signed(flag: Flag) -> bool:
        if flag.ref is Ref.KUBECONFIG:
            cert = cert_spec(flag.target) if flag.target else comp.certs[0]
            return _signs(spec, ca, cert.ca) and flag.name == "--kubeconfig"
        return flag.ref is Ref.CERT and _signs(spec, ca, cert_spec(flag.target).ca)
    return [f.name for f in comp.flags if signed(f)]


def _restarts(spec: ClusterSpec, ca: str, order: tuple[str, ...], trust: bool) -> tuple[Restart, ...]:
    by_name = {c.name: c for c in COMPONENTS}
    out = []
    for name in order:
        comp = by_name[name]
        flags = _trust_flags(spec, ca, comp) if trust else _present_flags(spec, ca, comp)
        nodes = tuple(n.name for n in nodes_of(spec, comp.nodes))
        if flags and nodes:
            out.append(Restart(comp.program or comp.name, nodes, ", ".join(flags), len(nodes) > 1))
    return tuple(out)


def _trust_files(spec: ClusterSpec, ca: str, node: Node) -> list[str]:
    files = []
    if node.control_plane or ca == "k8s":
        files.append(ca_spec(ca).cert_file)
    if ca == "k8s":
        files += [i.cert.path for i in node_identities(spec, node) if i.cert.kubeconfig]
    return files


def _leaf_files(spec: ClusterSpec, ca: str, node: Node) -> list[str]:
    files = []
    for ident in node_identities(spec, node):
        if ident.mount == spec.mount(ca):
            cert = ident.cert
            files += [cert.path] if cert.kubeconfig else [cert.cert_file, cert.key_file]
    return files


NodeFiles = tuple[tuple[str, tuple[str, ...]], ...]


def _per_node(spec: ClusterSpec, files_of: Callable[[Node], list[str]]) -> NodeFiles:
    out = []
    for node in spec.nodes:
        files = tuple(dict.fromkeys(files_of(node)))
        if files:
            out.append((f"{node.name} ({'control plane' if node.control_plane else 'worker'})", files))
    return tuple(out)


def _certs_step(spec: ClusterSpec, note: str) -> str:
    return (f"on every node listed, write its files: warden k8s certs {spec.name} -node NODE -out "
            f"/etc/kubernetes ({note})")


def ca_plan(spec: ClusterSpec, ca: str) -> RotationPlan:
    mount = spec.mount(ca)
    extras = _EXTRAS.get(ca, {})
    trust_files = _per_node(spec, lambda n: _trust_files(spec, ca, n))
    both_files = _per_node(spec, lambda n: _trust_files(spec, ca, n) + _leaf_files(spec, ca, n))
    begin = Phase(
        "begin", command(spec, ca, "begin"),
        (f"adds a new key and CA (issuer) to {mount} (-csr: a CSR for your offline root, then -import)",
         "from then on every bundle warden hands out holds old + new: ca.crt from 'k8s certs', "
         "certificate-authority-data in kubeconfigs, agents' ca_file, cert/trust_bundle",
         "leaves still come from the old CA; CRLs and OCSP are served for both"),
        trust_files, _restarts(spec, ca, TRUST_ORDER, trust=True),
        (_certs_step(spec, "its leaves are re-issued, still from the old CA"), *extras.get("begin", ())),
        "switch waits until every component above runs with the bundle. warden checks what it can see: "
        "switch is refused while a node's certificates were last issued before begin (it has not "
        "fetched the bundle); -force overrides")
    switch = Phase(
        "switch", command(spec, ca, "switch"),
        (f"makes the new CA the default issuer of {mount}: every leaf from then on comes from it "
         "(k8s certs, agents, the CSR signer)",
         "the old CA stops issuing (it still signs its CRL and OCSP answers)",
         "agents re-issue their certificates from the new CA at their next bundle check",
         "-reissue -out DIR: re-issues every node's tree into DIR/<node>/ at once"),
        _per_node(spec, lambda n: _leaf_files(spec, ca, n)), _restarts(spec, ca, PRESENT_ORDER, trust=False),
        (_certs_step(spec, "or copy DIR/<node>/ from -reissue; the leaves now come from the new CA"),
         *extras.get("switch", ())),
        "finish waits until no component's current certificate comes from the old CA: warden refuses "
        "finish and lists them (status shows them per node); -force overrides and says what breaks")
    finish = Phase(
        "finish", command(spec, ca, "finish"),
        (f"deletes the old CA (issuer and key) from {mount}: bundles hold only the new CA",),
        both_files, _restarts(spec, ca, TRUST_ORDER, trust=True),
        (_certs_step(spec, "ca.crt and kubeconfigs now hold only the new CA"), *extras.get("finish", ())),
        "nothing: until they restart, components still trust the old CA as well, which warden no longer "
        "issues from")
    return RotationPlan(spec.name, ca, f"the {ca_spec(ca).purpose} ({mount})", (begin, switch, finish),
                        _NOTES)


def sa_plan(spec: ClusterSpec) -> RotationPlan:
    secret = f"{spec.kv_mount}/{spec.kv_base}/sa"
    cps = [n.name for n in spec.control_planes]
    files = tuple((f"{n} (control plane)", (SA_PUB_FILE,)) for n in cps)
    key_files = tuple((f"{n} (control plane)", (SA_KEY_FILE,)) for n in cps)
    apiserver = Restart("kube-apiserver", tuple(cps), "--service-account-key-file", len(cps) > 1)
    signer = (Restart("kube-apiserver", tuple(cps), "--service-account-signing-key-file", len(cps) > 1),
              Restart("kube-controller-manager", tuple(cps), "--service-account-private-key-file",
                      len(cps) > 1))
    step = _certs_step(spec, "sa.key and sa.pub come from " + secret)
    phases = (
        Phase("begin", command(spec, "sa", "begin"),
              (f"adds a new key pair to {secret}: public_key (sa.pub) holds old + new, private_key (sa.key) "
               "stays the old one",), files, (apiserver,), (step,),
              "switch waits until every kube-apiserver accepts both keys (restarted with the new sa.pub); "
              "warden cannot see restarts"),
        Phase("switch", command(spec, "sa", "switch"),
              ("private_key (sa.key) becomes the new key; sa.pub keeps both",
               "records when tokens of the old key may last be valid (-token-lifetime, default 25h)"),
              key_files, signer,
              (step, "restart them right after switch: finish counts the token lifetime from the switch, "
                     "so tokens an API server signs with the old key later are not covered by the wait"),
              "finish waits until the longest-lived token signed with the old key has expired: warden "
              "refuses finish before switch + token lifetime; -force overrides"),
        Phase("finish", command(spec, "sa", "finish"),
              ("public_key (sa.pub) holds only the new key",), files, (apiserver,),
              (step, "legacy token Secrets (type kubernetes.io/service-account-token) made before the "
                     "switch hold old-key tokens that never expire: re-create them (delete, create) so the "
                     "controller-manager signs them with the new key, or move their users to TokenRequest"),
              "nothing"),
    )
    return RotationPlan(spec.name, "sa", f"the service-account key pair ({secret})", phases,
                        ("kube-apiserver accepts every key in --service-account-key-file, so tokens of "
                         "both keys authenticate from begin until finish",))


_NOTES = (
    "warden writes and serves the files; restarting components, and anything inside the cluster "
    "(ConfigMaps, pods), stays with you",
    "every phase can be run again (it does nothing twice), resumes after a crash from any machine, "
    "and is refused out of order with the command that comes next; status shows where you are",
)

_EXTRAS: dict[str, dict[str, tuple[str, ...]]] = {
    "k8s": {
        "begin": (
            "after kube-controller-manager restarts, wait until kube-root-ca.crt in every namespace holds "
            "both CAs (kubectl get configmap kube-root-ca.crt -A); restart pods that read it only at start "
            "(kube-proxy, CoreDNS), and rewrite ca.crt in legacy service-account token Secrets",
            "people: fetch new kubeconfigs (warden k8s kubeconfig ...) before switch",
            "bootstrap-token joins: put the bundle into the certificate-authority-data of "
            "kube-public/cluster-info",
            "webhooks and aggregated API servers that verify the API server: give them the bundle",
        ),
        "switch": (
            "kubelets that rotate their certificates through the CSR API get new-CA certificates at their "
            "next rotation; write their kubelet.conf to be done sooner",
        ),
        "finish": (
            "kube-root-ca.crt follows the controller-manager's --root-ca-file once it restarts; update "
            "kube-public/cluster-info and people's kubeconfigs again",
        ),
    },
    "etcd": {phase: ("restart etcd members one at a time and wait for 'etcdctl endpoint health' (with "
                     "pki/etcd/healthcheck-client.crt) before the next, so quorum holds",)
             for phase in ("begin", "switch", "finish")},
    "front-proxy": {
        "begin": ("the API server republishes the CA in kube-system/extension-apiserver-authentication; "
                  "restart aggregated API servers that read it only at start",),
        "finish": ("likewise after the API server restarts",),
    },
}


def plan(spec: ClusterSpec, ca: str) -> RotationPlan:
    return sa_plan(spec) if ca == "sa" else ca_plan(spec, ca)


def _wrapped(first: str, text_: str, indent: int) -> list[str]:
    return textwrap.wrap(text_, WIDTH, initial_indent=first, subsequent_indent=" " * indent,
                         break_on_hyphens=False, break_long_words=False)


def text(p: RotationPlan) -> str:
    lines = [*_wrapped("", f"Rotating {p.what} of cluster {p.cluster}", 2), ""]
    for n, phase in enumerate(p.phases, 1):
        lines += [f"Phase {n}: {phase.command}", "  warden:"]
        for w in phase.warden:
            lines += _wrapped("    - ", w, 6)
        lines.append("  files that change:")
        for node, files in phase.files:
            lines += _wrapped(f"    {node}: ", ", ".join(files), 6)
        lines.append("  you:")
        for y in phase.you:
            lines += _wrapped("    - ", y, 6)
        if phase.restarts:
            lines.append("    - restart, in this order:")
            for i, r in enumerate(phase.restarts, 1):
                lines += _wrapped(f"        {i}. ", _restart_line(r), 11)
        lines += [*_wrapped("  waits for: ", phase.waits_for, 4), ""]
    for note in p.notes:
        lines += _wrapped("Note: ", note, 6)
    return "\n".join(lines)


def _restart_line(r: Restart) -> str:
    verb = "uses the new files on its next run" if r.component in TOOLS else "restart"
    where = ("on " + ", ".join(r.nodes)) if len(r.nodes) <= 4 else f"on all {len(r.nodes)} nodes"
    roll = ", one node at a time" if r.rolling and verb == "restart" else ""
    return f"{r.component} {where}{roll}: {verb} ({r.why})"
