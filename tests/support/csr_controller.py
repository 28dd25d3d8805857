"""Driving ``warden k8s controller`` against the real apiserver: CSRs made as a node (a
client certificate ``CN=system:node:<n>, O=system:nodes``), Nodes with addresses set
through the status subresource, the controller's own identity (a ServiceAccount with the
RBAC the controller prints), and controller processes started and stopped by the tests."""

from __future__ import annotations

import base64
import ipaddress
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.envtest import ControlPlane
from support.server import WARDEN

CSR_API = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
CLIENT_USAGES = ["digital signature", "key encipherment", "client auth"]
SERVING_USAGES = ["digital signature", "key encipherment", "server auth"]
SA_NAMESPACE, SA_NAME = "kube-system", "warden-csr-controller"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pkcs10(cn: str, orgs: Sequence[str] = (), *, dns: Sequence[str] = (), ips: Sequence[str] = (),
           emails: Sequence[str] = (), uris: Sequence[str] = ()) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """A PEM CSR made the way a kubelet makes one (ECDSA P-256), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = x509.CertificateSigningRequestBuilder().subject_name(name)
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += [x509.RFC822Name(e) for e in emails] + [x509.UniformResourceIdentifier(u) for u in uris]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


@dataclass
class Cluster:
    """The test's view of the control plane: as the admin, or as a node."""

    plane: ControlPlane

    # -- as someone ---------------------------------------------------------------------

    def as_node(self, node: str) -> httpx.Client:
        cert, key = self.plane.client_cert(f"system:node:{node}", ["system:nodes"], name=f"node-{node}")
        return self.plane.http(cert, key)

    def as_user(self, user: str, groups: Sequence[str] = ()) -> httpx.Client:
        cert, key = self.plane.client_cert(user, groups, name=f"user-{user.replace(':', '_')}")
        return self.plane.http(cert, key)

    def admin(self) -> httpx.Client:
        return self.plane.http()

    # -- CSRs ---------------------------------------------------------------------------

    def create_csr(self, client: httpx.Client, name: str, pem: str, signer: str, usages: Sequence[str],
                   expiration: int | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"request": base64.b64encode(pem.encode()).decode(), "signerName": signer,
                                "usages": list(usages)}
        if expiration is not None:
            spec["expirationSeconds"] = expiration
        body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                "metadata": {"name": name}, "spec": spec}
        answer = client.post(CSR_API, json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def csr(self, name: str) -> dict[str, Any]:
        with self.admin() as client:
            answer = client.get(f"{CSR_API}/{name}")
        answer.raise_for_status()
        return dict(answer.json())

    def delete_csr(self, name: str) -> None:
        with self.admin() as client:
            client.delete(f"{CSR_API}/{name}")

    def wait_csr(self, name: str, done: Callable[[dict[str, Any]], bool],
                 timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.csr(name)
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"CSR {name} did not get there in {timeout}s: {found.get('status')}")
            time.sleep(0.2)

    def approve(self, name: str) -> None:
        self.plane.kubectl("certificate", "approve", name)

    # -- Nodes --------------------------------------------------------------------------

    def create_node(self, name: str, addresses: Sequence[tuple[str, str]]) -> None:
        self.plane.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        patch = {"status": {"addresses": [{"type": t, "address": a} for t, a in addresses]}}
        with self.admin() as client:
            answer = client.patch(f"/api/v1/nodes/{name}/status", json=patch,
                                  headers={"Content-Type": "application/merge-patch+json"})
        assert answer.status_code == 200, answer.text

    def delete_node(self, name: str) -> None:
        with self.admin() as client:
            client.delete(f"/api/v1/nodes/{name}")


def condition(csr: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for found in (csr.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind and found.get("status") == "True":
            return dict(found)
    return None


def certificate(csr: dict[str, Any]) -> list[x509.Certificate]:
    data = (csr.get("status") or {}).get("certificate")
    return x509.load_pem_x509_certificates(base64.b64decode(data)) if data else []


def issued(csr: dict[str, Any]) -> bool:
    return bool((csr.get("status") or {}).get("certificate"))


def settled(csr: dict[str, Any]) -> bool:
    return issued(csr) or any(condition(csr, k) for k in ("Denied", "Failed"))


# -- the controller's identity and process ----------------------------------------------------

def controller_kubeconfig(plane: ControlPlane, folder: Path) -> Path:
    """A kubeconfig for the ServiceAccount the printed RBAC binds (a bound token)."""
    plane.ensure_service_account(SA_NAMESPACE, SA_NAME)
    token = plane.service_account_token(SA_NAMESPACE, SA_NAME, seconds=6 * 3600)
    text = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "controller",
        "clusters": [{"name": "envtest", "cluster": {
            "server": plane.url,
            "certificate-authority-data": base64.b64encode(plane.ca_pem.encode()).decode()}}],
        "users": [{"name": "controller", "user": {"token": token}}],
        "contexts": [{"name": "controller", "context": {"cluster": "envtest", "user": "controller"}}],
    })
    path = folder / "controller.kubeconfig"
    path.write_text(text)
    path.chmod(0o600)
    return path


@dataclass
class ControllerProcess:
    """One ``warden k8s controller`` process; its log (stderr) goes to a file."""

    config: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerProcess:
        out = open(self.log, "ab")
        env = {**os.environ, **self.env}
        env.pop("VAULT_ADDR", None)
        env.pop("WARDEN_ADDR", None)
        argv = [WARDEN, "k8s", "controller", f"-config={self.config}", "-log-level=debug"]
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        out.close()
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, needle: str, timeout: float = 60, *, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.text().count(needle) < count:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"controller exited ({self.proc.returncode}) before {needle!r}:\n"
                                     + self.text()[-4000:])
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} in the controller's log after {timeout}s:\n"
                                     + self.text()[-4000:])
            time.sleep(0.1)

    def leading(self) -> bool:
        return "became the leader" in self.text()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
