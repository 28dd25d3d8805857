"""The pod certificate signer's reconcile against fakes: a certificate whose status write
failed is delivered on the retry, never issued twice; a settled request is left alone."""

from __future__ import annotations

import base64
import datetime as dt
from types import SimpleNamespace
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from support.controller_context import fake_context
from warden.agent.config_parse import Block
from warden.controllers.plugin import ObjectKey
from warden.controllers.podcert.controller import PodCertificateController
from warden.controllers.podcert.resource import pod_certificate_request
from warden.controllers.podcert.settings import parse
from warden.controllers.podcert.signing import PodRole

SIGNER = "warden.dev/c1-workloads"
KEY = ObjectKey("team-a", "web-0-abcde")


def _cert(subject: str, key: Any, issuer: tuple[str, Any], seconds: int, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    builder = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string(subject))
               .issuer_name(x509.Name.from_rfc4514_string(issuer[0])).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(seconds=30))
               .not_valid_after(now + dt.timedelta(seconds=seconds - 30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer[1], hashes.SHA256())


class FakeWarden:
    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = _cert("CN=workloads-ca", self.ca_key, ("CN=workloads-ca", self.ca_key), 86400, ca=True)
        self.signed: list[dict[str, Any]] = []

    async def write(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == "c1/pki/workloads/sign/workloads"
        self.signed.append(body)
        csr = x509.load_pem_x509_csr(body["csr"].encode())
        leaf = _cert("CN=x", csr, ("CN=workloads-ca", self.ca_key), 3600, ca=False)
        pem = serialization.Encoding.PEM
        ca_pem = self.ca.public_bytes(pem).decode()
        return {"data": {"certificate": leaf.public_bytes(pem).decode(), "ca_chain": [ca_pem],
                         "serial_number": f"{leaf.serial_number:x}", "issuing_ca": ca_pem}}


class FakeKube:
    def __init__(self, pcr: Any) -> None:
        self.pcr = pcr
        self.fail_writes = 1
        self.writes: list[dict[str, Any]] = []

    async def get(self, resource: Any, name: str, namespace: str | None = None) -> Any:
        if resource is pod_certificate_request():
            return self.pcr
        source = SimpleNamespace(podCertificate=SimpleNamespace(signerName=SIGNER))
        volume = SimpleNamespace(projected=SimpleNamespace(sources=[source]))
        spec = SimpleNamespace(serviceAccountName="api", nodeName="n1", volumes=[volume])
        return SimpleNamespace(metadata=SimpleNamespace(uid="pod-uid"), spec=spec)

    async def replace(self, obj: Any, name: str, *, namespace: str | None = None) -> Any:
        if self.fail_writes:
            self.fail_writes -= 1
            raise httpx2.ConnectError("apiserver unreachable")
        self.writes.append(dict(obj))
        self.pcr = pod_certificate_request()({**dict(self.pcr), "status": obj["status"]})
        return self.pcr


class Cache:
    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube

    def get(self, key: ObjectKey) -> Any | None:
        return self.kube.pcr if key == KEY else None

    def list(self) -> list[Any]:
        return [self.kube.pcr]


def _request() -> Any:
    key = ec.generate_private_key(ec.SECP256R1())
    stub = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(key, hashes.SHA256())
    der = stub.public_bytes(serialization.Encoding.DER)
    return pod_certificate_request()({
        "metadata": {"namespace": KEY.namespace, "name": KEY.name, "uid": "u1", "resourceVersion": "5"},
        "spec": {"signerName": SIGNER, "podName": "web-0", "podUID": "pod-uid", "serviceAccountName": "api",
                 "serviceAccountUID": "sa", "nodeName": "n1", "nodeUID": "node", "maxExpirationSeconds": 3600,
                 "stubPKCS10Request": base64.b64encode(der).decode()},
        "status": {}})


async def test_a_failed_write_is_delivered_on_the_retry_without_issuing_again() -> None:
    kube, warden = FakeKube(_request()), FakeWarden()

    ctx = fake_context(kube, warden)
    settings = parse([(SIGNER, Block("s", {"mount": "c1/pki/workloads", "role": "workloads"}))])
    controller = PodCertificateController(settings, ctx)
    controller.roles = {SIGNER: PodRole("any", 0, 86400, 30)}
    ctx.attach_stores({w: Cache(kube) for w in controller.watches})
    with pytest.raises(httpx2.ConnectError):
        await controller.reconcile(KEY)
    assert len(warden.signed) == 1 and not kube.writes
    await controller.reconcile(KEY)  # the retry
    assert len(warden.signed) == 1, "issued once"
    status = kube.writes[0]["status"]
    assert status["conditions"][0]["type"] == "Issued" and status["certificateChain"].count("BEGIN") == 1
    assert warden.signed[0]["uri_sans"] == "spiffe://cluster.local/ns/team-a/sa/api"
    assert warden.signed[0]["ttl"] == "3570s"
    await controller.reconcile(KEY)  # settled now: nothing more
    assert len(warden.signed) == 1 and len(kube.writes) == 1
