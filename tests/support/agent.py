"""Helpers for the agent's tests: a fake clock, a scripted fake server, certificates made
on the spot, and a real ``warden agent`` process."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WARDEN = str(Path(sys.executable).parent / "warden")


# -- time ---------------------------------------------------------------------------------


class FakeClock:
    """Time moves only when the code under test sleeps; every sleep is recorded."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if math.isinf(seconds):
            await asyncio.Event().wait()
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


# -- a scripted server ---------------------------------------------------------------------

Handler = Callable[[httpx.Request, dict[str, Any]], httpx.Response | dict[str, Any] | None]


@dataclass
class FakeServer:
    """Routes ``/v1/<path>`` to handlers; records (method, path, token, body) per call.

    A handler returns a JSON body (200), None (204), or a full ``httpx.Response``; a route
    may also be a list of handlers used one after another (the last one repeats).
    """

    routes: dict[str, Handler | list[Handler]] = field(default_factory=dict)
    calls: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1/")
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.method, path, request.headers.get("X-Vault-Token", ""), body))
        route = self.routes.get(path)
        if route is None:
            return error(404, f"no handler for {path}")
        if isinstance(route, list):
            handler = route.pop(0) if len(route) > 1 else route[0]
        else:
            handler = route
        result = handler(request, body)
        if isinstance(result, httpx.Response):
            return result
        if result is None:
            return httpx.Response(204)
        return httpx.Response(200, json=result)

    def paths(self) -> list[str]:
        return [p for _, p, _, _ in self.calls]


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [message]})


def respond(body: dict[str, Any] | None) -> Handler:
    return lambda request, data: body


def fail(status: int, message: str = "nope") -> Handler:
    return lambda request, data: error(status, message)


def unreachable(request: httpx.Request, data: dict[str, Any]) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def auth_body(token: str = "t-1", ttl: int = 60, renewable: bool = True) -> dict[str, Any]:
    return {"auth": {"client_token": token, "accessor": f"acc-{token}", "lease_duration": ttl,
                     "renewable": renewable, "policies": ["default"]}}


# -- certificates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalCA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(name: str = "test CA") -> LocalCA:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return LocalCA(key, cert)


def issue_leaf(ca: LocalCA, common_name: str, *, dns: tuple[str, ...] = (),
               not_before: float | None = None, not_after: float | None = None) -> dict[str, Any]:
    """A PKI ``issue`` response's ``data`` for a fresh EC key."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.fromtimestamp(not_before if not_before is not None else time.time() - 30, dt.UTC)
    end = dt.datetime.fromtimestamp(not_after if not_after is not None else time.time() + 3600, dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end))
    sans = [x509.DNSName(n) for n in (common_name, *dns)]
    builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return {"certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "private_key": key_pem, "private_key_type": "ec", "issuing_ca": ca.pem,
            "ca_chain": [ca.pem], "serial_number": format(cert.serial_number, "x"),
            "expiration": int(end.timestamp())}


def key_matches_cert(key_pem: bytes, cert_pem: bytes) -> bool:
    der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = x509.load_pem_x509_certificate(cert_pem)
    return key.public_key().public_bytes(*der) == cert.public_key().public_bytes(*der)


# -- a real agent process ------------------------------------------------------------------


class AgentProcess:
    """``warden agent -config=FILE`` in the background; its log lines are collected."""

    def __init__(self, config: Path, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def start(self) -> AgentProcess:
        self.proc = subprocess.Popen(
            [WARDEN, "agent", f"-config={self.config}", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env)
        threading.Thread(target=self._pump, daemon=True).start()
        return self

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        with self._lock:
            return "\n".join(self.lines)

    def count(self, text: str) -> int:
        with self._lock:
            return sum(text in line for line in self.lines)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc is not None and self.proc.poll() is not None:
                code = self.proc.returncode
                raise AssertionError(f"agent exited ({code}) waiting for {what}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()}")

    def wait_log(self, text: str, timeout: float = 20, count: int = 1) -> None:
        self.wait_for(lambda: self.count(text) >= count, timeout, repr(text))

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def run_agent_once(config: Path, *args: str, timeout: float = 60,
                   env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WARDEN, "agent", f"-config={config}", "-once", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False)


# -- real-server set-up and checks ---------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup_pki(client: Any, mount: str, role: str, *, max_ttl: str = "1h") -> str:
    """A PKI mount with an EC root and a role that allows any name; the root's PEM."""
    client.sys.enable_secrets_engine("pki", path=mount, config={"max_lease_ttl": "87600h"})
    root = client.write(f"{mount}/root/generate/internal", common_name=f"{mount} root", ttl="87600h",
                        key_type="ec")
    client.write(f"{mount}/roles/{role}", allow_any_name=True, max_ttl=max_ttl, key_type="ec",
                 allow_ip_sans=True)
    return str(root["data"]["certificate"])


def verify_issued(cert_pem: bytes, key_pem: bytes, ca_pem: bytes, dns_name: str) -> x509.Certificate:
    """The leaf chains to the CA (path validation) and the key is the certificate's."""
    from cryptography.x509.verification import PolicyBuilder, Store

    leaf = x509.load_pem_x509_certificate(cert_pem)
    roots = x509.load_pem_x509_certificates(ca_pem)
    verifier = PolicyBuilder().store(Store(roots)).build_server_verifier(x509.DNSName(dns_name))
    verifier.verify(leaf, [])
    assert key_matches_cert(key_pem, cert_pem), "the key does not belong to the certificate"
    return leaf


@dataclass
class FilePoller:
    """A thread that reads certificate then key, as fast as it can, and remembers what it saw.

    Every read must be a whole PEM file that parses. Because the key is renamed into place
    before its certificate, a key that does not match the certificate read just before it
    must belong to the *next* certificate (it was replaced in between).
    """

    cert_file: Path
    key_file: Path
    reads: int = 0
    problems: list[str] = field(default_factory=list)
    certs: list[bytes] = field(default_factory=list)  # distinct certificates, in order
    seen_at: list[float] = field(default_factory=list)  # when each was first seen
    mismatches: list[tuple[bytes, bytes]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FilePoller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                cert = self.cert_file.read_bytes()
                key = self.key_file.read_bytes()
            except FileNotFoundError as exc:
                if self.certs:
                    self.problems.append(f"a file disappeared: {exc.filename}")
                time.sleep(0.002)
                continue
            self.reads += 1
            self._check(cert, key)
            time.sleep(0.001)

    def _check(self, cert: bytes, key: bytes) -> None:
        try:
            x509.load_pem_x509_certificate(cert)
            serialization.load_pem_private_key(key, password=None)
        except ValueError as exc:
            self.problems.append(f"unparsable file seen: {exc}")
            return
        if not self.certs or self.certs[-1] != cert:
            self.certs.append(cert)
            self.seen_at.append(time.time())
        if not key_matches_cert(key, cert):
            self.mismatches.append((cert, key))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for cert, key in self.mismatches:
            later = self.certs[self.certs.index(cert) + 1:]
            if not later or not key_matches_cert(key, later[0]):
                self.problems.append("a certificate was seen with a key that is neither its own "
                                     "nor the next certificate's")
