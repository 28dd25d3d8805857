"""Fixtures shared by every test tier."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.envtest import ControlPlane
from support.server import ServerProcess


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
def kube_control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A real etcd + kube-apiserver v1.36 (own PKI) shared by the whole session (per xdist worker).

    Tests must leave it usable for others: create their own namespaces/objects with unique names.
    """
    plane = ControlPlane.start(tmp_path_factory.mktemp("envtest"))
    try:
        yield plane
    finally:
        plane.stop()
