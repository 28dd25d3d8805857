"""Helpers for the PKI engine's tests: an in-process backend kit and outside-tool runners."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from support.system import FakeSystem
from warden.engines.pki.backend import KEYPOOL_SERVICE, PkiBackend
from warden.engines.pki.keypool import KeyPool
from warden.logical.backend import BackendConfig
from warden.logical.clock import FrozenClock
from warden.logical.errors import WardenError
from warden.logical.operation import Operation
from warden.logical.request import Caller, MountInfo, Request
from warden.logical.response import Response
from warden.storage.memory import MemoryBackend

HOUR = 3600
DEFAULT_TTL = 768 * HOUR


@dataclass
@dataclass
class PkiKit:
    """A PKI backend over in-memory storage; requests go straight to ``handle_request``."""

    clock: FrozenClock = field(default_factory=lambda: FrozenClock(start=dt.datetime.now(dt.UTC).timestamp()))
    max_ttl: int = DEFAULT_TTL
    pool: KeyPool | None = None
    mount: str = "pki/"

    def __post_init__(self) -> None:
        self.storage = MemoryBackend()
        self.system = FakeSystem(self.clock, DEFAULT_TTL, self.max_ttl, sudo=True)
        # By default no background refills: unit tests generate keys on demand.
        pool = self.pool or KeyPool(capacity=lambda spec: 0, warm=())
        services = {KEYPOOL_SERVICE: pool}
        conf = BackendConfig(mount_path=self.mount, mount_type="pki", mount_accessor="pki_test",
                             storage=self.storage, system=self.system, services=services)
        self.pki = PkiBackend(conf)

    def request(self, op: Operation, path: str, *, accessor: str = "acc-test", **data: Any) -> Request:
        return Request(operation=op, path=path, data=data, storage=self.storage,
                       mount=MountInfo(path=self.mount, type="pki", default_lease_ttl=self.system.default_ttl,
                                       max_lease_ttl=self.system.max_ttl),
                       caller=Caller(accessor=accessor, policies=("root",)))

    async def call(self, op: Operation, path: str, **data: Any) -> Response | None:
        return await self.pki.backend.handle_request(self.request(op, path, **data))

    async def write(self, path: str, **data: Any) -> Response:
        resp = await self.call(Operation.UPDATE, path, **data)
        assert resp is not None, f"write {path} returned nothing"
        return resp

    async def data(self, path: str, **fields: Any) -> Any:
        """Write, and return the response's data (Any, so tests can index it freely)."""
        resp = await self.write(path, **fields)
        assert resp.data is not None, f"write {path} returned no data"
        return resp.data

    async def get(self, path: str, **fields: Any) -> Any:
        """Read, and return the response's data."""
        resp = await self.read(path, **fields)
        assert resp is not None and resp.data is not None, f"read {path} returned nothing"
        return resp.data

    async def read(self, path: str, **data: Any) -> Response | None:
        return await self.call(Operation.READ, path, **data)

    async def list(self, path: str, **data: Any) -> list[str]:
        resp = await self.call(Operation.LIST, path, **data)
        return list((resp.data or {}).get("keys", [])) if resp else []

    async def refused(self, path: str, **data: Any) -> str:
        """The error text of a request that must fail with 400."""
        try:
            await self.call(Operation.UPDATE, path, **data)
        except WardenError as exc:
            assert exc.status == 400, f"{path}: expected 400, got {exc.status}: {exc}"
            return str(exc)
        raise AssertionError(f"{path} with {data} was not refused")

    async def root(self, key_type: str = "ec", **data: Any) -> dict[str, Any]:
        resp = await self.write("root/generate/internal", common_name=data.pop("common_name", "Test Root"),
                                key_type=key_type, ttl=data.pop("ttl", "8760h"), **data)
        assert resp.data is not None
        return resp.data


# -- certificates made outside warden (for CSRs and the offline-root tests) ---------------------

def make_key(key_type: str = "ec") -> Any:
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key: Any, cn: str = "", *, dns: Sequence[str] = (), ips: Sequence[str] = (),
             uris: Sequence[str] = (), organization: str = "", ca: bool = False) -> str:
    import ipaddress

    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    names += [x509.UniformResourceIdentifier(u) for u in uris]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def load_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def key_pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


# -- outside tools: they must be installed (CI installs them); a missing one fails the test ----

def tool(name: str) -> str:
    in_venv = Path(sys.executable).parent / name
    path = str(in_venv) if in_venv.exists() else shutil.which(name)
    if path is None:
        raise AssertionError(f"required tool {name!r} is not installed (CI installs it; install it locally)")
    return path


def run(args: Sequence[str], *, cwd: Path | None = None, input: bytes | None = None,
        check: bool = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([tool(args[0]), *args[1:]], cwd=cwd, input=input, capture_output=True,
                          timeout=60, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout.decode(errors='replace')}\n{proc.stderr.decode(errors='replace')}")
    return proc


def openssl_verify(workdir: Path, root_pem: str, leaf_pem: str, *, untrusted: Sequence[str] = (),
                   purpose: str = "") -> str:
    (workdir / "root.pem").write_text(root_pem)
    (workdir / "leaf.pem").write_text(leaf_pem)
    args = ["openssl", "verify", "-CAfile", "root.pem"]
    if untrusted:
        (workdir / "untrusted.pem").write_text("".join(untrusted))
        args += ["-untrusted", "untrusted.pem"]
    if purpose:
        args += ["-purpose", purpose]
    return run([*args, "leaf.pem"], cwd=workdir).stdout.decode()


SEVERE = ("NOTICE", "WARNING", "ERROR", "FATAL")


def pkilint_findings(workdir: Path, pem: str, name: str = "cert.pem") -> list[str]:
    """pkilint's RFC 5280 findings at NOTICE or worse (INFO is informational and ignored)."""
    (workdir / name).write_text(pem)
    out = run(["lint_pkix_cert", "lint", "-s", "NOTICE", name], cwd=workdir, check=False)
    text = out.stdout.decode()
    return [line.strip() for line in text.splitlines() if any(f"({s})" in line for s in SEVERE)]
