"""Certificate trees for ``warden k8s check`` tests: built with cryptography alone, laid out
as kubeadm does (``pki/``, ``*.conf``), each certificate following the inventory unless a
test overrides a field to break it."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from warden.kube.cluster import ClusterSpec, Node
from warden.kube.identity import Identity, node_identities
from warden.kube.inventory import CAS, SA_KEY_FILE, SA_PUB_FILE, Usage, ca_spec
from warden.kube.kubeconfig import KubeconfigParts, render

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
YEAR = dt.timedelta(days=365)
Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: Key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _name(cn: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Ca:
    cert: x509.Certificate
    key: Key


def make_ca(cn: str, *, not_after: dt.datetime | None = None, not_before: dt.datetime | None = None) -> Ca:
    key = new_key()
    name = _name(cn)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - dt.timedelta(hours=1))
            .not_valid_after(not_after or NOW + 10 * YEAR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, True, False, False, False), True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
            .sign(key, hashes.SHA256()))
    return Ca(cert, key)


@dataclass
class LeafSpec:
    cn: str
    groups: tuple[str, ...]
    dns: tuple[str, ...]
    ips: tuple[str, ...]
    usages: tuple[Usage, ...]
    not_before: dt.datetime = NOW - dt.timedelta(hours=1)
    not_after: dt.datetime = NOW + YEAR


def make_leaf(spec: LeafSpec, ca: Ca, key: Key | None = None) -> tuple[x509.Certificate, Key]:
    key = key or new_key()
    eku = {Usage.SERVER: ExtendedKeyUsageOID.SERVER_AUTH, Usage.CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH}
    builder = (x509.CertificateBuilder().subject_name(_name(spec.cn, spec.groups))
               .issuer_name(ca.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(spec.not_before).not_valid_after(spec.not_after)
               .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                              critical=True)
               .add_extension(x509.ExtendedKeyUsage([eku[u] for u in spec.usages]), critical=False))
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in spec.ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


def cluster(node: str = "cp1", ip: str = "10.0.0.10") -> ClusterSpec:
    return ClusterSpec("c1", nodes=(Node(node, ip, True),))


@dataclass
class TreeBuilder:
    """A valid tree for one control-plane node; tests then break single files."""

    root: Path
    spec: ClusterSpec = field(default_factory=cluster)
    cas: dict[str, Ca] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for ca in CAS:
            if not ca.optional:
                self.cas[ca.key] = make_ca(ca.common_name)

    @property
    def node(self) -> Node:
        return self.spec.control_planes[0]

    def identity(self, cert_name: str) -> Identity:
        return next(i for i in node_identities(self.spec, self.node) if i.cert.name == cert_name)

    def leaf_spec(self, cert_name: str) -> LeafSpec:
        ident = self.identity(cert_name)
        return LeafSpec(ident.common_name, ident.groups, ident.dns, ident.ips, ident.cert.usages)

    def write_ca(self, key: str, ca: Ca | None = None, *, with_key: bool = False) -> None:
        ca = ca or self.cas[key]
        path = self.root / ca_spec(key).cert_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cert_pem(ca.cert))
        if with_key:
            path.with_suffix(".key").write_text(key_pem(ca.key))

    def write_leaf(self, cert_name: str, spec: LeafSpec | None = None, *, ca: Ca | None = None,
                   key: Key | None = None, write_key: Key | None = None) -> None:
        """Issue ``cert_name`` (optionally with a changed spec, another CA, a given key) and
        write it; ``write_key`` writes that key instead of the certificate's own."""
        ident = self.identity(cert_name)
        signer_key = ident.mount.rpartition("/")[2]
        cert, own_key = make_leaf(spec or self.leaf_spec(cert_name), ca or self.cas[signer_key], key)
        stored_key = write_key or own_key
        if ident.cert.kubeconfig:
            parts = KubeconfigParts("c1", "https://10.0.0.10:6443", cert_pem(self.cas["k8s"].cert),
                                    ident.common_name, cert_pem(cert), key_pem(stored_key))
            (self.root / ident.cert.path).write_text(render(parts))
            return
        path = self.root / ident.cert.cert_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(cert_pem(cert))
        (self.root / ident.cert.key_file).write_text(key_pem(stored_key))

    def write_sa(self) -> None:
        key = new_key()
        (self.root / SA_KEY_FILE).write_text(key_pem(key))
        (self.root / SA_PUB_FILE).write_text(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())

    def write_all(self) -> TreeBuilder:
        for key in self.cas:
            self.write_ca(key)
        for ident in node_identities(self.spec, self.node):
            self.write_leaf(ident.cert.name)
        self.write_sa()
        return self
