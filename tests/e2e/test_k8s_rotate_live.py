"""Zero failed handshakes while the Kubernetes CA rotates: a TLS server on the tree's
apiserver certificate, requiring client certificates from the tree's ca.crt, and clients that
verify it against ca.crt and present apiserver-kubelet-client; both re-read their files when
they change (keeping what they have when a new pair does not load yet, as Kubernetes'
components do), and handshake without pause through begin -> switch -> reissue -> finish."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from support.server import ServerProcess

SETTLE_TIMEOUT = 120.0


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout + result.stderr


@dataclass
class Reloader:
    """An SSLContext built from files, rebuilt when they change; a set that does not load (a
    new certificate beside the old key, half-way through a rewrite) keeps the old context."""

    build: Callable[[], ssl.SSLContext]
    paths: Sequence[Path]
    context: ssl.SSLContext | None = None
    signature: tuple[tuple[int, int, int], ...] = ()
    generation: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _signature(self) -> tuple[tuple[int, int, int], ...]:
        stats = [os.stat(p) for p in self.paths]
        return tuple((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats)

    def current(self) -> ssl.SSLContext:
        with self.lock:
            seen = self._signature()
            if seen != self.signature:
                try:
                    built = self.build()
                except (ssl.SSLError, OSError, ValueError):
                    built = None
                if built is not None and self._signature() == seen:
                    self.context, self.signature, self.generation = built, seen, self.generation + 1
            assert self.context is not None, "the first load must succeed"
            return self.context

    def settled(self) -> bool:
        return self.signature == self._signature()


def server_context(pki: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "apiserver.crt", pki / "apiserver.key")
    ctx.load_verify_locations(pki / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(pki: Path, ca: Path | None = None,
                   cert: str = "apiserver-kubelet-client") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca or pki / "ca.crt"))
    ctx.load_cert_chain(pki / f"{cert}.crt", pki / f"{cert}.key")
    return ctx


@dataclass
class Tally:
    attempts: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, error: str = "") -> None:
        with self.lock:
            self.attempts += 1
            if error:
                self.failures.append(error)


class LiveServer:
    def __init__(self, pki: Path) -> None:
        self.reloader = Reloader(lambda: server_context(pki),
                                 [pki / "apiserver.crt", pki / "apiserver.key", pki / "ca.crt"])
        self.reloader.current()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.errors = Tally()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._serve, args=(conn, self.reloader.current()), daemon=True).start()

    def _serve(self, conn: socket.socket, ctx: ssl.SSLContext) -> None:
        conn.settimeout(30)
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.sendall(b"ok")
            self.errors.add()
        except (OSError, ssl.SSLError) as exc:
            self.errors.add(f"server: {exc!r}")
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def handshake(port: int, ctx: ssl.SSLContext) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        if tls.recv(2) != b"ok":  # TLS 1.3: a refused client certificate shows on the first read
            raise ssl.SSLError("no answer")


class Clients:
    def __init__(self, pki: Path, port: int, count: int) -> None:
        files = [pki / "ca.crt", pki / "apiserver-kubelet-client.crt", pki / "apiserver-kubelet-client.key"]
        self.reloaders = [Reloader(lambda: client_context(pki), files) for _ in range(count)]
        self.port, self.tally, self.phase = port, Tally(), "start"
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(r,), daemon=True) for r in self.reloaders]
        for t in self.threads:
            t.start()

    def _run(self, reloader: Reloader) -> None:
        while not self.stop.is_set():
            try:
                handshake(self.port, reloader.current())
                self.tally.add()
            except (OSError, ssl.SSLError) as exc:
                self.tally.add(f"{self.phase}: {exc!r}")
            time.sleep(0.005)

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=15)


def settle(server: LiveServer, clients: Clients, minimum: int = 20) -> None:
    """Until every reader has loaded the files as they are now, then a few more handshakes."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not (server.reloader.settled() and all(r.settled() for r in clients.reloaders)):
        assert time.monotonic() < deadline, "the readers did not pick up the new files"
        time.sleep(0.05)
    target = clients.tally.attempts + minimum
    while clients.tally.attempts < target:
        assert time.monotonic() < deadline, "no handshakes are happening"
        time.sleep(0.02)


def test_zero_failed_handshakes_through_a_whole_rotation(dev_server: ServerProcess, tmp_path: Path) -> None:
    cli = dev_server.cli
    ok(cli("k8s", "bootstrap", "live", "-control-plane", "cp1=127.0.0.1", "-key-type", "ec"))
    trees = tmp_path / "trees"
    pki = trees / "cp1" / "pki"
    ok(cli("k8s", "certs", "live", "-node", "cp1", "-out", str(trees / "cp1")))
    saved = tmp_path / "saved"
    saved.mkdir()
    for name in ("ca.crt", "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key"):
        (saved / name).write_bytes((pki / name).read_bytes())
    old_ca = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())

    server = LiveServer(pki)
    clients = Clients(pki, server.port, count=3)
    started = time.monotonic()
    try:
        settle(server, clients)
        clients.phase = "begin"
        ok(cli("k8s", "rotate", "live", "k8s", "begin"))
        ok(cli("k8s", "certs", "live", "-node", "cp1", "-out", str(trees / "cp1")))  # ca.crt: old + new
        settle(server, clients)
        clients.phase = "switch"
        ok(cli("k8s", "rotate", "live", "k8s", "switch"))
        settle(server, clients)
        clients.phase = "reissue"
        ok(cli("k8s", "rotate", "live", "k8s", "switch", "-reissue", "-out", str(trees)))  # new leaves
        settle(server, clients)
        clients.phase = "finish"
        ok(cli("k8s", "rotate", "live", "k8s", "finish"))
        ok(cli("k8s", "certs", "live", "-node", "cp1", "-out", str(trees / "cp1")))  # ca.crt: new only
        settle(server, clients, minimum=100)
    finally:
        clients.close()
        server.close()
    elapsed = time.monotonic() - started
    attempts, failures = clients.tally.attempts, clients.tally.failures + server.errors.failures
    print(f"\nlive rotation: {attempts} handshakes in {elapsed:.1f}s, {len(failures)} failed; "
          f"server reloads {server.reloader.generation}, client reloads "
          f"{[r.generation for r in clients.reloaders]}")
    assert failures == [], failures[:5]
    assert attempts >= 500
    assert server.reloader.generation >= 4 and all(r.generation >= 4 for r in clients.reloaders)

    # The rotation really happened: only the new CA is trusted now, on both sides.
    [new_ca] = x509.load_pem_x509_certificates((pki / "ca.crt").read_bytes())
    assert new_ca != old_ca
    x509.load_pem_x509_certificate((pki / "apiserver.crt").read_bytes()).verify_directly_issued_by(new_ca)
    fresh = LiveServer(pki)
    try:
        handshake(fresh.port, client_context(pki))
        try:
            handshake(fresh.port, client_context(pki, ca=saved / "ca.crt"))
            raise AssertionError("a client trusting only the old CA accepted the new server")
        except ssl.SSLCertVerificationError:
            pass
        try:
            handshake(fresh.port, client_context(saved, ca=pki / "ca.crt"))
            raise AssertionError("the server accepted a client certificate of the old CA")
        except (ssl.SSLError, OSError):
            pass
    finally:
        fresh.close()


def test_the_harness_counts_the_failures_of_a_hard_swap(dev_server: ServerProcess, tmp_path: Path) -> None:
    """The control: a server that takes a new-CA certificate while its clients trust only the
    old CA (what rotating without begin's bundle does) fails handshakes, and they are counted."""
    cli = dev_server.cli
    ok(cli("k8s", "bootstrap", "swap", "-control-plane", "cp1=127.0.0.1", "-key-type", "ec"))
    ok(cli("k8s", "certs", "swap", "-node", "cp1", "-out", str(tmp_path / "old")))
    ok(cli("k8s", "rotate", "swap", "k8s", "begin"))
    ok(cli("k8s", "rotate", "swap", "k8s", "switch", "-force", "-reissue", "-out", str(tmp_path / "new")))
    server_pki = tmp_path / "old" / "pki"
    client_pki = tmp_path / "clients" / "pki"
    client_pki.mkdir(parents=True)
    for name in ("ca.crt", "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key"):
        (client_pki / name).write_bytes((server_pki / name).read_bytes())
    server = LiveServer(server_pki)
    clients = Clients(client_pki, server.port, count=2)
    try:
        settle(server, clients)
        assert clients.tally.failures == []
        for name in ("apiserver.key", "apiserver.crt"):
            staged = server_pki / f".{name}.new"
            staged.write_bytes((tmp_path / "new/cp1/pki" / name).read_bytes())
            os.replace(staged, server_pki / name)
        settle(server, clients)
    finally:
        clients.close()
        server.close()
    assert clients.tally.failures and "certificate verify failed" in clients.tally.failures[-1]
