"""A tree from `warden k8s certs` runs a real kube-apiserver (v1.36, kubeadm's flags), and its
kubeconfigs work with the real kubectl (issue 15): admin.conf's group kubeadm:cluster-admins is
bound by nothing on a fresh cluster, so super-admin.conf (O=system:masters, short-lived) is
used once to create the binding, as kubeadm >= 1.29 does."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from support.envtest import ControlPlane, KubeadmTree, assets_or_skip
from support.server import ServerProcess

pytestmark = pytest.mark.interop

BINDING = ("create", "clusterrolebinding", "kubeadm:cluster-admins", "--clusterrole=cluster-admin",
           "--group=kubeadm:cluster-admins")


@dataclass
class Cluster:
    plane: ControlPlane
    tree: Path
    certs_output: str

    def kubectl(self, conf: str, *args: str, check: bool = False) -> tuple[int, str]:
        done = self.plane.kubectl(f"--server={self.plane.url}", *args, kubeconfig=self.tree / conf,
                                  check=check)
        return done.returncode, done.stdout + done.stderr


def _client_pair(kubeconfig: Path, folder: Path) -> tuple[Path, Path]:
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    cert, key = folder / "super-admin.crt", folder / "super-admin.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    key.chmod(0o600)
    return cert, key


@pytest.fixture(scope="module")
def cluster(dev_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Bootstrap in warden, write cp1's tree, start the apiserver on it (once for this module)."""
    assets_or_skip()
    cli = dev_server.cli
    boot = cli("k8s", "bootstrap", "real1", "-control-plane", "cp1=127.0.0.1")
    assert boot.returncode == 0, boot.stderr
    tree = tmp_path_factory.mktemp("real1") / "kubernetes"
    certs = cli("k8s", "certs", "real1", "-node", "cp1", "-out", str(tree))
    assert certs.returncode == 0, certs.stderr
    admin = _client_pair(tree / "super-admin.conf", tree.parent)
    plane = ControlPlane.start(tree.parent / "plane", tree=KubeadmTree(tree), admin=admin)
    try:
        yield Cluster(plane, tree, certs.stdout + certs.stderr)
    finally:
        plane.stop()


def test_super_admin_conf_is_system_masters_short_lived_and_private(cluster: Cluster) -> None:
    conf = cluster.tree / "super-admin.conf"
    assert conf.stat().st_mode & 0o777 == 0o600
    data = yaml.safe_load(conf.read_text())["users"][0]["user"]["client-certificate-data"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(data))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kubernetes-super-admin"
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert groups == ["system:masters"]
    assert cert.not_valid_after_utc - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
    assert "kubectl --kubeconfig" in cluster.certs_output and " ".join(BINDING) in cluster.certs_output


def test_admin_conf_works_after_super_admin_conf_creates_the_binding(cluster: Cluster) -> None:
    code, out = cluster.kubectl("admin.conf", "get", "namespaces")
    assert code != 0 and "forbidden" in out.lower(), out  # what a newcomer met: nothing binds the group
    code, out = cluster.kubectl("super-admin.conf", *BINDING)
    assert code == 0, out
    code, out = cluster.kubectl("admin.conf", "get", "namespaces", "-o", "name")
    assert code == 0 and "namespace/kube-system" in out, out
    code, out = cluster.kubectl("admin.conf", "auth", "can-i", "*", "*")
    assert code == 0 and out.strip() == "yes", out
    code, out = cluster.kubectl("admin.conf", "auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}")
    assert "kubeadm:cluster-admins" in out and "system:masters" not in out, out


def test_the_components_kubeconfigs_are_accepted(cluster: Cluster) -> None:
    for conf, user in (("controller-manager.conf", "system:kube-controller-manager"),
                       ("scheduler.conf", "system:kube-scheduler"), ("kube-proxy.conf", "system:kube-proxy"),
                       ("kubelet.conf", "system:node:cp1")):
        code, out = cluster.kubectl(conf, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        assert code == 0 and out.strip() == user, (conf, out)
