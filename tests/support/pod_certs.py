"""Playing the kubelet against the real apiserver: a Node, a ServiceAccount and a Pod bound to
the node that mounts a ``podCertificate`` volume, then PodCertificateRequests created as the
node (``system:node:<n>`` in ``system:nodes``), with a stub PKCS#10 request signed by a fresh
key as a v1.36 kubelet makes it, or the v1.35 encoding (``pkixPublicKey`` and a
``proofOfPossession`` signature over the pod's UID). The apiserver verifies both, and its
Node authorizer and NodeRestriction admission check the node/pod binding."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from support.csr_controller import unique
from support.envtest import ControlPlane

GROUP_VERSION = "/apis/certificates.k8s.io/v1beta1"
CTB_API = f"{GROUP_VERSION}/clustertrustbundles"
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


def pcr_api(namespace: str) -> str:
    return f"{GROUP_VERSION}/namespaces/{namespace}/podcertificaterequests"


def new_key(kind: str = "ECDSAP256") -> PrivateKey:
    if kind == "ED25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind.startswith("RSA"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[3:]))
    curves = {"ECDSAP256": ec.SECP256R1(), "ECDSAP384": ec.SECP384R1(), "ECDSAP521": ec.SECP521R1()}
    return ec.generate_private_key(curves[kind])


def stub_csr(key: PrivateKey, *, cn: str = "", dns: Sequence[str] = ()) -> str:
    """The kubelet's stub request (empty, DER, base64); ``cn``/``dns`` make a lying one."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)] if cn else []))
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    der = builder.sign(key, algorithm).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]
    return base64.b64encode(der).decode()


def proof_of_possession(key: PrivateKey, pod_uid: str) -> str:
    """v1.35's proof: a signature over the pod UID's ASCII bytes (ECDSA/RSA-PSS over SHA-256)."""
    data = pod_uid.encode()
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(data)
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    else:
        signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def public_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class Workload:
    """A pod bound to a node, running as a service account, mounting pod certificates."""

    namespace: str
    pod: str
    service_account: str
    node: str
    pod_uid: str = ""
    service_account_uid: str = ""
    node_uid: str = ""
    signers: tuple[str, ...] = ()


@dataclass
class Kubelet:
    """The test's kubelet (and the admin who sets up its pods)."""

    plane: ControlPlane
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def admin(self) -> httpx.Client:
        return self.plane.http()

    def as_node(self, node: str) -> httpx.Client:
        if node not in self.clients:
            cert, key = self.plane.client_cert(f"system:node:{node}", ["system:nodes"], name=f"node-{node}")
            self.clients[node] = self.plane.http(cert, key)
        return self.clients[node]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    # -- objects ---------------------------------------------------------------------------

    def _create(self, client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = client.post(path, json=body)
        if answer.status_code == 409:
            answer = client.get(f"{path}/{body['metadata']['name']}")
        assert answer.status_code in (200, 201), answer.text
        return dict(answer.json())

    def workload(self, signers: Sequence[str], *, namespace: str = "", service_account: str = "app",
                 pod: str = "", node: str = "") -> Workload:
        """Namespace, ServiceAccount, Node and a Pod bound to it mounting ``signers``."""
        w = Workload(namespace or unique("pods"), pod or unique("pod"), service_account,
                     node or unique("node"), signers=tuple(signers))
        volumes = [{"name": f"cert-{i}", "projected": {"sources": [{"podCertificate": {
            "signerName": s, "keyType": "ECDSAP256", "credentialBundlePath": "credentials.pem"}}]}}
            for i, s in enumerate(signers)]
        with self.admin() as client:
            self._create(client, "/api/v1/namespaces", {"metadata": {"name": w.namespace}})
            sa = self._create(client, f"/api/v1/namespaces/{w.namespace}/serviceaccounts",
                              {"metadata": {"name": w.service_account}})
            node_obj = self._create(client, "/api/v1/nodes", {"metadata": {"name": w.node}})
            made = self._create(client, f"/api/v1/namespaces/{w.namespace}/pods", {
                "metadata": {"name": w.pod},
                "spec": {"nodeName": w.node, "serviceAccountName": w.service_account,
                         "automountServiceAccountToken": False,
                         "containers": [{"name": "app", "image": "registry.example/app:1",
                                         "volumeMounts": [{"name": v["name"],
                                                           "mountPath": f"/var/run/{v['name']}"}
                                                          for v in volumes]}],
                         "volumes": volumes}})
        w.pod_uid, w.service_account_uid = made["metadata"]["uid"], sa["metadata"]["uid"]
        w.node_uid = node_obj["metadata"]["uid"]
        return w

    # -- requests --------------------------------------------------------------------------

    def spec(self, w: Workload, signer: str, key: PrivateKey, *, max_expiration: int | None = None,
             legacy: bool = False, annotations: dict[str, str] | None = None,
             stub: str | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "signerName": signer, "podName": w.pod, "podUID": w.pod_uid,
            "serviceAccountName": w.service_account, "serviceAccountUID": w.service_account_uid,
            "nodeName": w.node, "nodeUID": w.node_uid}
        if max_expiration is not None:
            spec["maxExpirationSeconds"] = max_expiration
        if legacy:
            spec["pkixPublicKey"] = base64.b64encode(public_der(key)).decode()
            spec["proofOfPossession"] = proof_of_possession(key, w.pod_uid)
        else:
            spec["stubPKCS10Request"] = stub or stub_csr(key)
        if annotations:
            spec["unverifiedUserAnnotations"] = annotations
        return spec

    def post(self, w: Workload, spec: dict[str, Any], *, as_node: str | None = None,
             admin: bool = False) -> httpx.Response:
        body = {"apiVersion": "certificates.k8s.io/v1beta1", "kind": "PodCertificateRequest",
                "metadata": {"generateName": f"{w.pod}-"}, "spec": spec}
        client = self.admin() if admin else self.as_node(as_node or w.node)
        return client.post(pcr_api(w.namespace), json=body)

    def request(self, w: Workload, signer: str, key: PrivateKey | None = None, **options: Any) -> str:
        """Create a PodCertificateRequest as the pod's node (retrying while the Node authorizer
        has not yet seen the pod); its name."""
        key = key or new_key()
        admin = bool(options.pop("admin", False))
        spec = self.spec(w, signer, key, **options)
        deadline = time.monotonic() + 30
        while True:
            answer = self.post(w, spec, admin=admin)
            if answer.status_code == 201:
                return str(answer.json()["metadata"]["name"])
            if answer.status_code != 403 or time.monotonic() > deadline:
                raise AssertionError(f"creating the PodCertificateRequest: {answer.status_code} "
                                     f"{answer.text}")
            time.sleep(0.2)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        with self.admin() as client:
            answer = client.get(f"{pcr_api(namespace)}/{name}")
        answer.raise_for_status()
        return dict(answer.json())

    def wait(self, namespace: str, name: str, done: Callable[[dict[str, Any]], bool] | None = None,
             timeout: float = 60) -> dict[str, Any]:
        done = done or settled
        deadline = time.monotonic() + timeout
        while True:
            found = self.get(namespace, name)
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"PodCertificateRequest {namespace}/{name} not done in {timeout}s: "
                                     f"{found.get('status')}")
            time.sleep(0.2)

    # -- trust bundles ---------------------------------------------------------------------

    def bundle(self, name: str) -> dict[str, Any] | None:
        with self.admin() as client:
            answer = client.get(f"{CTB_API}/{name}")
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        return dict(answer.json())

    def wait_bundle(self, name: str, done: Callable[[dict[str, Any]], bool], timeout: float = 60
                    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.bundle(name)
            if found is not None and done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"ClusterTrustBundle {name} not there in {timeout}s: {found}")
            time.sleep(0.2)


def condition(pcr: dict[str, Any], kind: str | None = None) -> dict[str, Any] | None:
    """The Issued, Denied or Failed condition (or the one of ``kind``)."""
    for found in (pcr.get("status") or {}).get("conditions") or []:
        if found.get("status") == "True" and (kind is None or found.get("type") == kind):
            return dict(found)
    return None


def settled(pcr: dict[str, Any]) -> bool:
    return condition(pcr) is not None


def issued(pcr: dict[str, Any]) -> bool:
    return condition(pcr, "Issued") is not None


def chain_of(pcr: dict[str, Any]) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pcr["status"]["certificateChain"].encode())


def bundle_certs(ctb: dict[str, Any]) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(ctb["spec"]["trustBundle"].encode())


def kube_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def uris(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def dns_names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return list(san.get_values_for_type(x509.DNSName))
