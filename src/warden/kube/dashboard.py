"""What the web dashboard needs to know about a cluster's kubeadm tree, stored with the
cluster's settings by ``bootstrap`` (the server cannot derive it: it knows no Kubernetes).

``certificate_files`` maps each PKI role to the file its certificate is written to (relative
to the tree's root, /etc/kubernetes), its component and CA, the nodes whose tree holds it,
and whether the certificate names the node (CN or SANs), so the dashboard's node page can
show every certificate of a node with its file, and the files that have none.
"""

from __future__ import annotations

from typing import Any

from warden.kube.cluster import ClusterSpec
from warden.kube.identity import nodes_of, role_identities
from warden.kube.inventory import Sans, component_of

SETTINGS_KEY = "certificate_files"


def certificate_files(spec: ClusterSpec) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for ident in role_identities(spec):
        cert, component = ident.cert, component_of(ident.cert)
        holders = [ident.node] if cert.per_node and ident.node else list(nodes_of(spec, component.nodes))
        out[ident.role] = {"file": cert.cert_file, "component": component.name,
                           "ca": ident.mount.rsplit("/", 1)[1], "nodes": [n.name for n in holders],
                           "names_node": cert.per_node or cert.sans is not Sans.NONE}
    return out


def cluster_settings(spec: ClusterSpec) -> dict[str, Any]:
    """The KV secret ``bootstrap`` stores: the spec (read back by ClusterSpec.from_json,
    which ignores the rest) and the dashboard's file map."""
    return {**spec.to_json(), SETTINGS_KEY: certificate_files(spec)}
