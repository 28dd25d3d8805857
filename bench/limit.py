"""The crypto ceiling: the same certificate built and signed in-process, in a loop.

No HTTP, no storage, no audit: a P-256 (or RSA) key, the role's subject and SANs, key usages,
server+client auth, SKI/AKI, SHA-256, PEM out, exactly what warden does per request at the
least. One thread, like warden's event loop. ``python -m bench.limit SPEC.json OUT.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bench.items import CertRequest
from bench.keys import KeyType
from bench.procstat import machine_busy_s
from bench.stats import Histogram

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KINDS = ("issue", "issue-pooled", "sign")


@dataclass(frozen=True, slots=True)
class LimitSpec:
    kind: str  # issue (with key generation), issue-pooled (keys made beforehand), sign (a CSR)
    key: KeyType
    items: tuple[CertRequest, ...]
    duration_s: float = 15.0
    warmup_s: float = 1.0
    sample: int = 50

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> LimitSpec:
        raw = json.loads(path.read_text())
        return cls(raw["kind"], KeyType(**raw["key"]), tuple(CertRequest(**i) for i in raw["items"]),
                   raw["duration_s"], raw["warmup_s"], raw["sample"])


def generate_key(key: KeyType) -> PrivateKey:
    if key.algo == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=key.bits)


def make_ca(key: KeyType) -> tuple[PrivateKey, x509.Certificate]:
    ca_key = generate_key(key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"limit root {key.label}")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
            .sign(ca_key, hashes.SHA256()))
    return ca_key, cert


def _key_usage(public_key: object) -> x509.KeyUsage:
    is_rsa = isinstance(public_key, rsa.RSAPublicKey)
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=is_rsa,
                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                         crl_sign=False, encipher_only=False, decipher_only=False)


class Issuer:
    """Builds one leaf the way a CA role does; nothing else."""

    def __init__(self, ca_key: PrivateKey, ca_cert: x509.Certificate) -> None:
        self.ca_key = ca_key
        self.ca_cert = ca_cert
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        self.aki = x509.AuthorityKeyIdentifier(ski.digest, None, None)

    def certificate(self, asked: CertRequest, public_key: Any) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        lifetime = dt.timedelta(minutes=5) if asked.short_ttl else dt.timedelta(hours=24)
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, asked.common_name)]))
                .issuer_name(self.ca_cert.subject).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(seconds=30)).not_valid_after(now + lifetime)
                .add_extension(_key_usage(public_key), True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), False)
                .add_extension(self.aki, False)
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in asked.dns_names]),
                               False)
                .sign(self.ca_key, hashes.SHA256()))


def one(spec: LimitSpec, issuer: Issuer, asked: CertRequest, pooled: list[PrivateKey]) -> dict[str, str]:
    """One certificate as a server would answer it: PEM certificate (and PEM key when generated)."""
    key_pem = ""
    if spec.kind == "sign":
        csr = x509.load_pem_x509_csr(asked.csr_pem.encode())
        if not csr.is_signature_valid:
            raise ValueError("CSR signature does not verify")
        public_key = csr.public_key()
    else:
        private = pooled[random.randrange(len(pooled))] if spec.kind == "issue-pooled" else generate_key(
            spec.key)
        public_key = private.public_key()
        key_pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption()).decode()
    cert = issuer.certificate(asked, public_key)
    return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(), "private_key": key_pem}


def run(spec: LimitSpec) -> dict[str, Any]:
    ca_key, ca_cert = make_ca(spec.key)
    issuer = Issuer(ca_key, ca_cert)
    pooled = [generate_key(spec.key) for _ in range(8)] if spec.kind == "issue-pooled" else []
    hist, samples, count = Histogram(), [], 0
    clock = time.perf_counter
    warm_end = clock() + spec.warmup_s
    while clock() < warm_end:
        one(spec, issuer, spec.items[count % len(spec.items)], pooled)
        count += 1
    count, cpu0, busy0, start = 0, time.process_time(), machine_busy_s(), clock()
    while (now := clock()) < start + spec.duration_s:
        index = count % len(spec.items)
        answer = one(spec, issuer, spec.items[index], pooled)
        hist.record(clock() - now)
        count += 1
        if len(samples) < spec.sample and count % 7 == 0:
            samples.append({"index": index, "body": json.dumps(answer)})
    elapsed = clock() - start
    cpu = time.process_time() - cpu0
    background = max(0.0, machine_busy_s() - busy0 - cpu)
    return {"mode": "limit", "ok": count, "errors": 0, "total_ok": count,
            "throughput": count / elapsed, "window_s": elapsed,
            "latency": hist.to_dict(), "latency_ms": hist.summary_ms(), "server_cpu_s": cpu,
            "client_cpu_s": 0.0, "background_cpu_s": background,
            "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "status": {"200": count}, "error_kinds": {}, "samples": samples,
            "ca_pem": ca_cert.public_bytes(serialization.Encoding.PEM).decode()}


def extract(body: str) -> tuple[str, str]:
    answer = json.loads(body)
    return answer["certificate"], answer["private_key"]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.limit SPEC.json OUT.json", file=sys.stderr)
        return 2
    Path(argv[1]).write_text(json.dumps(run(LimitSpec.load(Path(argv[0])))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
