"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.envtest import ControlPlane
from support.etcd_cluster import EtcdCluster, issue_tree
from support.server import ServerProcess

# gRPC's C core logs each failed TLS handshake (tests provoke some) straight to stderr.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

# Members of the session's etcd cluster and their addresses (SANs of their certificates).
ETCD_NODES = {"etcd-1": "127.0.0.31", "etcd-2": "127.0.0.32", "etcd-3": "127.0.0.33"}


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A dev server shared by the tests of one module (unsealed, root token "root-token")."""
    server = ServerProcess(tmp_path_factory.mktemp("dev-server")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers with custom options; all are stopped at the end of the test."""
    started: list[ServerProcess] = []

    def make(**kwargs: object) -> ServerProcess:
        workdir = tmp_path / f"server-{len(started)}"
        workdir.mkdir()
        server = ServerProcess(workdir, **kwargs)  # type: ignore[arg-type]
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def etcd_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """A 3-member etcd cluster with peer and client mutual TLS, every certificate issued by a
    dev warden server's PKI, started once per test session (per xdist worker)."""
    work = tmp_path_factory.mktemp("etcd-cluster")
    (work / "issuer").mkdir()
    dev = ServerProcess(work / "issuer").start()
    try:
        pki = issue_tree(dev, work / "pki", ETCD_NODES)
    finally:
        dev.stop()
    cluster = EtcdCluster(work, pki, ETCD_NODES).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kube_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A real etcd + kube-apiserver v1.36 (own PKI) shared by the whole session (per xdist worker).

    Tests must leave it usable for others: create their own namespaces/objects with unique names.
    """
    plane = ControlPlane.start(tmp_path_factory.mktemp("envtest"))
    try:
        yield plane
    finally:
        plane.stop()
