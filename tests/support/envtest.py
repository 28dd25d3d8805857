"""A real Kubernetes control plane for tests: Debian's etcd, kube-apiserver and (optionally)
kube-controller-manager v1.36.2 from ``../shared/envtest/``, all on loopback, as Kubernetes'
own envtest starts them.

Two ways to get one:

- ``ControlPlane.start(workdir)`` makes its own PKI with ``cryptography`` (a cluster CA that
  signs the serving and client certificates, a service-account key pair) — for tests of
  controllers and logins. ``client_cert("system:node:n1", ["system:nodes"])`` gives a client
  certificate the apiserver trusts, so a test can act as a node or a user.
- ``ControlPlane.start(workdir, tree=KubeadmTree(path))`` runs the apiserver on a kubeadm
  tree that warden wrote (``warden k8s certs``), with kubeadm's flags, so a test proves the
  tree works on a real apiserver.

The binaries are found through ``KUBEBUILDER_ASSETS`` (what ``unpack.sh`` prints, as with
``setup-envtest use 1.36``), else in ``~/.cache/kube-envtest/1.36.2``, else by running
``../shared/envtest/unpack.sh``. ``assets_or_skip()`` skips with the reason when there are none.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from support.kube_tree import YEAR, Ca, LeafSpec, cert_pem, key_pem, make_ca, make_leaf
from warden.kube.inventory import Usage

VERSION = "1.36.2"
REPO = Path(__file__).resolve().parents[2]
UNPACK = REPO.parent / "shared" / "envtest" / "unpack.sh"
DEFAULT_ASSETS = Path.home() / ".cache" / "kube-envtest" / VERSION
BINARIES = ("kube-apiserver", "kube-controller-manager", "kubectl", "etcd")
START_TIMEOUT = 90.0
FEATURE_GATES = "PodCertificateRequest=true,ClusterTrustBundle=true,ClusterTrustBundleProjection=true"
RUNTIME_CONFIG = "certificates.k8s.io/v1beta1=true"
SERVICE_CIDR = "10.96.0.0/12"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


# -- binaries -----------------------------------------------------------------------------

def _has_all(folder: Path) -> bool:
    return all((folder / name).exists() for name in BINARIES if name != "etcd")


def find_assets() -> Path | None:
    """The folder holding the control-plane binaries, unpacking them once if need be."""
    env = os.environ.get("KUBEBUILDER_ASSETS")
    if env and _has_all(Path(env)):
        return Path(env)
    if _has_all(DEFAULT_ASSETS):
        return DEFAULT_ASSETS
    if UNPACK.exists():
        done = subprocess.run([str(UNPACK)], capture_output=True, text=True, check=False)
        if done.returncode == 0 and _has_all(Path(done.stdout.strip().splitlines()[-1])):
            return Path(done.stdout.strip().splitlines()[-1])
    return None


def etcd_binary(assets: Path | None = None) -> str | None:
    for candidate in ([assets / "etcd"] if assets else []):
        if candidate.exists():
            return str(candidate)
    return shutil.which("etcd")


def assets_or_skip() -> Path:
    """The binaries' folder, or skip the test saying how to get them."""
    assets = find_assets()
    if assets is None:
        pytest.skip("no kube-apiserver: set KUBEBUILDER_ASSETS (setup-envtest use 1.36) "
                    "or provide ../shared/envtest/unpack.sh")
    if etcd_binary(assets) is None:
        pytest.skip("no etcd binary: install Debian's etcd-server")
    return assets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- processes ----------------------------------------------------------------------------

@dataclass
class Process:
    """One started binary whose output goes to ``<workdir>/<name>.log``."""

    name: str
    args: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> Process:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True)
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def start_etcd(workdir: Path, assets: Path | None = None, *, name: str = "etcd") -> tuple[Process, str]:
    """A single-member etcd on loopback with plain HTTP; returns the process and its client URL."""
    binary = etcd_binary(assets)
    assert binary, "etcd not found"
    client, peer = free_port(), free_port()
    data = workdir / f"{name}-data"
    url = f"http://127.0.0.1:{client}"
    proc = Process(name, [
        binary, "--name", name, "--data-dir", str(data),
        "--listen-client-urls", url, "--advertise-client-urls", url,
        "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"{name}=http://127.0.0.1:{peer}",
        "--unsafe-no-fsync", "--quota-backend-bytes", str(2 * 1024**3),
    ], workdir).start()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"etcd exited:\n{proc.log_tail()}")
        try:
            if httpx.get(url + "/health", timeout=2).json().get("health") == "true":
                return proc, url
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"etcd did not become healthy:\n{proc.log_tail()}")


# -- PKI ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class KubeadmTree:
    """A kubeadm-shaped folder (``pki/ca.crt``, ``pki/apiserver.crt``, ``pki/sa.key`` ...) as
    ``warden k8s certs`` writes it; the apiserver is started with kubeadm's flags on it."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"


@dataclass
class ApiServerFiles:
    """The files the apiserver reads, whoever made them."""

    client_ca: Path
    serving_cert: Path
    serving_key: Path
    sa_pub: Path
    sa_key: Path
    admin_cert: Path
    admin_key: Path
    extra_args: list[str] = field(default_factory=list)


def _write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def own_pki(folder: Path) -> tuple[Ca, ApiServerFiles]:
    """A cluster CA, serving and admin certificates and a service-account key pair."""
    ca = make_ca("envtest-ca")
    _write(folder / "ca.crt", cert_pem(ca.cert))
    _write(folder / "ca.key", key_pem(ca.key), 0o600)
    serving, serving_key = make_leaf(LeafSpec(
        "kube-apiserver", (), ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                               "kubernetes.default.svc.cluster.local"), ("127.0.0.1", "10.96.0.1"),
        (Usage.SERVER,)), ca)
    admin, admin_key = make_leaf(LeafSpec("envtest-admin", ("system:masters",), (), (), (Usage.CLIENT,)), ca)
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    files = ApiServerFiles(
        client_ca=folder / "ca.crt",
        serving_cert=_write(folder / "apiserver.crt", cert_pem(serving)),
        serving_key=_write(folder / "apiserver.key", key_pem(serving_key), 0o600),
        sa_pub=_write(folder / "sa.pub", sa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()),
        sa_key=_write(folder / "sa.key", key_pem(sa), 0o600),  # type: ignore[arg-type]
        admin_cert=_write(folder / "admin.crt", cert_pem(admin)),
        admin_key=_write(folder / "admin.key", key_pem(admin_key), 0o600),
    )
    return ca, files


def kubeadm_files(tree: KubeadmTree, admin_cert: Path, admin_key: Path) -> ApiServerFiles:
    """The apiserver's files in a kubeadm tree, with kubeadm's flags for the optional parts
    (front-proxy, kubelet client). The admin identity is the caller's (e.g. from
    super-admin.conf), since the tree's kubeconfigs embed theirs."""
    pki = tree.pki
    extra: list[str] = []
    if (pki / "front-proxy-ca.crt").exists():
        extra += [f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
                  f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                  f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                  "--requestheader-allowed-names=front-proxy-client",
                  "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                  "--requestheader-group-headers=X-Remote-Group",
                  "--requestheader-username-headers=X-Remote-User"]
    if (pki / "apiserver-kubelet-client.crt").exists():
        extra += [f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
                  f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}"]
    return ApiServerFiles(client_ca=pki / "ca.crt", serving_cert=pki / "apiserver.crt",
                          serving_key=pki / "apiserver.key", sa_pub=pki / "sa.pub", sa_key=pki / "sa.key",
                          admin_cert=admin_cert, admin_key=admin_key, extra_args=extra)


def kubeconfig_text(server: str, ca_pem: str, cert_pem_text: str, key_pem_text: str,
                    user: str = "envtest") -> str:
    import base64

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": user,
        "clusters": [{"name": "envtest",
                      "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem_text),
                                           "client-key-data": b64(key_pem_text)}}],
        "contexts": [{"name": user, "context": {"cluster": "envtest", "user": user}}],
    })


# -- the control plane --------------------------------------------------------------------

@dataclass
class ControlPlane:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback."""

    workdir: Path
    assets: Path
    files: ApiServerFiles
    ca: Ca | None  # the cluster CA's key when this plane made its own PKI (client_cert needs it)
    etcd: Process
    etcd_url: str
    apiserver: Process | None = None
    controller_manager: Process | None = None
    port: int = 0
    apiserver_args: list[str] = field(default_factory=list)

    # -- start / stop -----------------------------------------------------------------

    @classmethod
    def start(cls, workdir: Path, *, tree: KubeadmTree | None = None, admin: tuple[Path, Path] | None = None,
              controller_manager: bool = False, kcm_args: Sequence[str] = (),
              apiserver_args: Sequence[str] = ()) -> ControlPlane:
        """Start etcd and the apiserver; ``tree``+``admin`` run on a kubeadm tree instead of
        an own PKI; ``controller_manager`` adds kube-controller-manager (own PKI only)."""
        assets = assets_or_skip()
        workdir.mkdir(parents=True, exist_ok=True)
        if tree is not None:
            assert admin is not None, "a kubeadm tree needs an admin client cert and key"
            ca, files = None, kubeadm_files(tree, *admin)
        else:
            ca, files = own_pki(workdir / "pki")
        etcd, etcd_url = start_etcd(workdir, assets)
        plane = cls(workdir, assets, files, ca, etcd, etcd_url, apiserver_args=list(apiserver_args))
        try:
            plane.start_apiserver()
            if controller_manager:
                plane.start_controller_manager(kcm_args)
        except BaseException:
            plane.stop()
            raise
        return plane

    def start_apiserver(self) -> None:
        """(Re)start the apiserver on the same etcd and port, re-reading its files: what a
        component restart after a file change looks like."""
        self.port = self.port or free_port()
        f = self.files
        args = [
            str(self.assets / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}", f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--client-ca-file={f.client_ca}", f"--tls-cert-file={f.serving_cert}",
            f"--tls-private-key-file={f.serving_key}", f"--service-account-key-file={f.sa_pub}",
            f"--service-account-signing-key-file={f.sa_key}", f"--service-account-issuer={SA_ISSUER}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--endpoint-reconciler-type=none",
            f"--feature-gates={FEATURE_GATES}", f"--runtime-config={RUNTIME_CONFIG}",
            "--allow-privileged=true", *f.extra_args, *self.apiserver_args,
        ]
        self.apiserver = Process("kube-apiserver", args, self.workdir).start()
        self._await_ready()

    def stop_apiserver(self) -> None:
        if self.apiserver is not None:
            self.apiserver.stop()
            self.apiserver = None

    def restart_apiserver(self) -> None:
        self.stop_apiserver()
        self.start_apiserver()

    def _await_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            assert self.apiserver is not None
            if not self.apiserver.alive():
                raise RuntimeError(f"kube-apiserver exited:\n{self.apiserver.log_tail()}")
            try:
                answer = self.http().get("/readyz", timeout=3)
                if answer.status_code == 200 and answer.text == "ok":
                    return
                last = f"{answer.status_code} {answer.text[-300:]}"
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"kube-apiserver not ready ({last}):\n{self.apiserver.log_tail()}")

    def start_controller_manager(self, extra: Sequence[str] = ()) -> None:
        """kube-controller-manager as the admin; ``extra`` e.g. ``--controllers=*,-csrsigning``."""
        assert self.ca is not None, "the controller manager needs the plane's own CA key"
        kubeconfig = self.kubeconfig_path()
        ca_key = self.workdir / "pki" / "ca.key"
        args = [
            str(self.assets / "kube-controller-manager"), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
            f"--service-account-private-key-file={self.files.sa_key}",
            f"--root-ca-file={self.files.client_ca}",
            "--use-service-account-credentials=true", f"--feature-gates={FEATURE_GATES}",
            f"--cluster-signing-cert-file={self.files.client_ca}", f"--cluster-signing-key-file={ca_key}",
            *extra,
        ]
        self.controller_manager = Process("kube-controller-manager", args, self.workdir).start()
        time.sleep(0.5)
        if not self.controller_manager.alive():
            raise RuntimeError(f"kube-controller-manager exited:\n{self.controller_manager.log_tail()}")

    def stop(self) -> None:
        for proc in (self.controller_manager, self.apiserver, self.etcd):
            if proc is not None:
                proc.stop()

    # -- clients ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> str:
        """The cluster CA: it signed the apiserver's serving certificate (as kubeadm's does)."""
        return self.files.client_ca.read_text()

    def ssl_context(self, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.ca_pem)
        ctx.load_cert_chain(str(cert or self.files.admin_cert), str(key or self.files.admin_key))
        return ctx

    def http(self, cert: Path | None = None, key: Path | None = None) -> httpx.Client:
        """An httpx client authenticated by a client certificate (the admin's by default)."""
        return httpx.Client(base_url=self.url, verify=self.ssl_context(cert, key), timeout=30)

    def client_cert(self, cn: str, groups: Sequence[str] = (), *,
                    name: str | None = None) -> tuple[Path, Path]:
        """A client certificate for ``cn``/``groups`` signed by the cluster CA, written to
        ``<workdir>/clients/<name>.crt|.key``."""
        assert self.ca is not None, "client_cert needs the plane's own CA"
        leaf, key = make_leaf(LeafSpec(cn, tuple(groups), (), (), (Usage.CLIENT,),
                                       not_after=dt.datetime.now(dt.UTC) + YEAR), self.ca)
        stem = self.workdir / "clients" / (name or cn.replace(":", "_"))
        return (_write(stem.with_suffix(".crt"), cert_pem(leaf)),
                _write(stem.with_suffix(".key"), key_pem(key), 0o600))

    def kubeconfig_path(self, cert: Path | None = None, key: Path | None = None, *,
                        name: str = "admin") -> Path:
        """A kubeconfig file for the admin (or the given client certificate)."""
        text = kubeconfig_text(self.url, self.ca_pem, (cert or self.files.admin_cert).read_text(),
                               (key or self.files.admin_key).read_text(), user=name)
        return _write(self.workdir / "kubeconfigs" / f"{name}.conf", text, 0o600)

    def kubectl(self, *args: str, kubeconfig: Path | None = None, input: str | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the matching kubectl (v1.36) as the admin (or with ``kubeconfig``)."""
        cmd = [str(self.assets / "kubectl"), f"--kubeconfig={kubeconfig or self.kubeconfig_path()}", *args]
        done = subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=60, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        return done

    def apply(self, manifest: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        docs = [manifest] if isinstance(manifest, Mapping) else list(manifest)
        self.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))

    def service_account_token(self, namespace: str, name: str, *, audiences: Sequence[str] = (),
                              seconds: int = 3600) -> str:
        """A bound service-account token from the TokenRequest API (the SA must exist)."""
        body: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": seconds}}
        if audiences:
            body["spec"]["audiences"] = list(audiences)
        with self.http() as client:
            answer = client.post(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", json=body)
        answer.raise_for_status()
        return str(answer.json()["status"]["token"])

    def ensure_service_account(self, namespace: str, name: str) -> None:
        self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                    {"apiVersion": "v1", "kind": "ServiceAccount",
                     "metadata": {"name": name, "namespace": namespace}}])


def pem_of(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())
