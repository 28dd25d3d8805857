"""warden in HA on a real 3-member etcd cluster (TLS from warden's own PKI), 3 warden nodes.

One node is active, two stand by and forward; ``kill -9`` of the active under a storm of
certificate issues hands the role to a standby within 5 s and loses no certificate that
got a 200; a step-down moves the role with no failed request; one etcd member down costs
nothing, two down give clear 503s and the service comes back with quorum.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from support.etcd_cluster import EtcdCluster
from support.ha_cluster import HACluster, Node
from support.server import WARDEN

pytestmark = pytest.mark.interop

FAILOVER_BAR_S = 5.0


@pytest.fixture(scope="module")
def cluster(etcd_cluster: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HACluster]:
    ha = HACluster(tmp_path_factory.mktemp("ha"), etcd_cluster, path="/warden-ha-e2e/").start()
    try:
        statuses = {ha.health(n) for n in ha.nodes}
        assert statuses == {501}, f"uninitialised nodes answer 501, got {statuses}"
        ha.initialize()
        assert {ha.health(n) for n in ha.nodes} == {503}, "initialised, sealed: 503"
        for node in ha.nodes:
            ha.unseal(node)
        ha.wait_all_up()
        with ha.http(ha.active()) as client:
            for call in (
                client.post("/v1/sys/mounts/pki", json={"type": "pki", "config": {"max_lease_ttl": "24h"}}),
                client.post("/v1/pki/root/generate/internal",
                            json={"common_name": "HA root", "key_type": "ec", "ttl": "24h"}),
                client.post("/v1/pki/roles/web", json={"allow_any_name": True, "key_type": "ec",
                                                       "max_ttl": "1h"}),
                client.post("/v1/sys/mounts/secret", json={"type": "kv", "options": {"version": "2"}}),
            ):
                assert call.status_code in (200, 204), call.text
        yield ha
    finally:
        ha.stop()


# -- a storm of certificate issues ------------------------------------------------------------


@dataclass
class Storm:
    """Threads issuing certificates round-robin over every node; optional client retries."""

    cluster: HACluster
    threads: int = 6
    retry: bool = True
    issued: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    retries: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def run(self, seconds: float) -> Storm:
        workers = [threading.Thread(target=self._worker, args=(i, seconds)) for i in range(self.threads)]
        for w in workers:
            w.start()
        self._workers = workers
        return self

    def join(self) -> None:
        for w in self._workers:
            w.join(timeout=120)

    def _worker(self, index: int, seconds: float) -> None:
        clients = [self.cluster.http(n) for n in self.cluster.nodes]
        deadline = time.monotonic() + seconds
        nodes = itertools.cycle(range(index, index + len(clients)))
        try:
            while time.monotonic() < deadline and not self.stop.is_set():
                self._issue(clients, nodes)
        finally:
            for c in clients:
                c.close()

    def _issue(self, clients: list[httpx.Client], nodes: Iterator[int]) -> None:
        name = f"host-{next(self._counter)}.example.com"
        give_up = time.monotonic() + 30
        while True:
            client = clients[next(nodes) % len(clients)]
            try:
                answer = client.post("/v1/pki/issue/web", json={"common_name": name, "ttl": "10m"},
                                     timeout=30)
                if answer.status_code == 200:
                    with self._lock:
                        self.issued.append(answer.json()["data"]["serial_number"])
                    return
                problem = f"{answer.status_code} {answer.text[:200]}"
                retryable = answer.status_code == 503
            except httpx.TransportError as exc:  # the node was killed, or is restarting
                problem, retryable = f"{type(exc).__name__}", True
            if not (self.retry and retryable) or time.monotonic() > give_up:
                with self._lock:
                    self.failures.append(problem)
                return
            with self._lock:
                self.retries += 1
            time.sleep(0.05)


def stored_serials(cluster: HACluster) -> set[str]:
    with cluster.http(cluster.standbys()[0]) as client:  # through a standby: forwarded
        answer = client.request("LIST", "/v1/pki/certs")
    assert answer.status_code == 200, answer.text
    return set(answer.json()["data"]["keys"])


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def cli(cluster: HACluster, node: Node, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"WARDEN_ADDR": node.url, "WARDEN_TOKEN": cluster.root_token, "HOME": str(cluster.workdir),
           "WARDEN_CACERT": str(cluster.etcd.pki.listener_ca), "PATH": "/usr/bin:/bin"}
    return subprocess.run([WARDEN, *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


def bound_token(client: httpx.Client, cidr: str) -> str:
    """A token usable only from ``cidr`` (through a token role's token_bound_cidrs)."""
    role = "bound-" + cidr.replace("/", "-").replace(".", "-")
    assert client.post(f"/v1/auth/token/roles/{role}", json={
        "allowed_policies": ["default"], "token_bound_cidrs": [cidr]}).status_code == 204
    created = client.post(f"/v1/auth/token/create/{role}", json={"policies": ["default"], "ttl": "10m"})
    assert created.status_code == 200, created.text
    return str(created.json()["auth"]["client_token"])


# -- tests --------------------------------------------------------------------------------------


def test_one_node_is_active_the_others_stand_by(cluster: HACluster) -> None:
    active = cluster.active()
    leaders = []
    for node in cluster.nodes:
        with cluster.http(node) as client:
            health = client.get("/v1/sys/health")
            assert health.status_code == (200 if node is active else 429)
            assert health.json()["standby"] is (node is not active)
            assert client.get("/v1/sys/health?standbyok=true").status_code == 200
            assert client.get("/v1/sys/health?standbycode=472").status_code in (200, 472)
            leader = client.get("/v1/sys/leader").json()
        assert leader["ha_enabled"] is True and leader["is_self"] is (node is active)
        leaders.append((leader["leader_address"], leader["leader_cluster_address"],
                        leader["active_time"]))
    assert len(set(leaders)) == 1 and leaders[0][0] == active.url
    assert leaders[0][1] == f"https://127.0.0.1:{active.port + 1}"


def test_standbys_forward_and_carry_the_client_address(cluster: HACluster) -> None:
    """A client on 127.0.0.5 reaches a standby on 127.0.0.1: a token bound to the client's
    address works through the standby, one bound to the standby's own address does not, so
    the active node saw the client's address, carried by the signed forwarding."""
    standby = cluster.standbys()[0]
    with cluster.http(cluster.active()) as root:
        tokens = {cidr: bound_token(root, cidr) for cidr in ("127.0.0.5/32", "127.0.0.1/32")}
    transport = httpx.HTTPTransport(local_address="127.0.0.5", verify=cluster.tls())
    with httpx.Client(base_url=standby.url, transport=transport, timeout=30) as client:
        ok = client.get("/v1/auth/token/lookup-self", headers={"X-Vault-Token": tokens["127.0.0.5/32"]})
        assert ok.status_code == 200, ok.text
        denied = client.get("/v1/auth/token/lookup-self",
                            headers={"X-Vault-Token": tokens["127.0.0.1/32"]})
        assert denied.status_code == 403


def test_forwarding_headers_from_a_client_are_not_trusted(cluster: HACluster) -> None:
    active = cluster.active()
    with cluster.http(active) as client:
        token = bound_token(client, "10.0.0.0/8")
        spoofed = {"X-Vault-Token": token, "X-Warden-Forwarded-For": "10.1.2.3",
                   "X-Warden-Forwarded-At": str(time.time())}
        assert client.get("/v1/auth/token/lookup-self", headers=spoofed).status_code == 403
        forged = client.get("/v1/auth/token/lookup-self",
                            headers={**spoofed, "X-Warden-Forwarded-Sig": "00" * 32})
        assert forged.status_code == 403
        assert "signature" in forged.json()["errors"][0]


def test_without_forwarding_a_standby_redirects_to_the_active_node(cluster: HACluster) -> None:
    active, standby = cluster.active(), cluster.standbys()[0]
    with cluster.http(standby) as client:
        answer = client.get("/v1/sys/mounts?x=1", headers={"X-Vault-No-Request-Forwarding": "1"})
        assert answer.status_code == 307
        assert answer.headers["location"] == f"{active.url}/v1/sys/mounts?x=1"
        followed = client.get("/v1/sys/mounts", headers={"X-Vault-No-Request-Forwarding": "1"},
                              follow_redirects=True)
        assert followed.status_code == 200 and "pki/" in followed.json()["data"]


def test_a_large_value_through_a_standby(cluster: HACluster) -> None:
    """2 MiB of secret data: above etcd's request limit, stored in chunks, read back whole."""
    blob = "x" * (2 * 1024 * 1024)
    with cluster.http(cluster.standbys()[0]) as client:
        written = client.post("/v1/secret/data/big", json={"data": {"blob": blob}})
        assert written.status_code == 200, written.text
    with cluster.http(cluster.standbys()[-1]) as client:
        assert client.get("/v1/secret/data/big").json()["data"]["data"]["blob"] == blob


def test_kill_9_of_the_active_node_under_an_issue_storm(cluster: HACluster) -> None:
    storm = Storm(cluster).run(seconds=9)
    time.sleep(2)
    victim = cluster.active()
    cluster.kill(victim)
    killed_at = time.monotonic()
    successor = cluster.active(timeout=15)
    failover = time.monotonic() - killed_at
    print(f"\nfailover after kill -9 of the active node: {failover:.2f} s")
    storm.join()
    assert successor is not victim
    assert failover < FAILOVER_BAR_S, f"a standby took {failover:.2f} s to become active"
    assert not storm.failures, storm.failures[:5]
    assert len(storm.issued) > 50
    missing = set(storm.issued) - stored_serials(cluster)
    assert not missing, f"{len(missing)} certificates got a 200 but are not stored: {sorted(missing)[:5]}"
    cluster.wait_all_up()


def test_step_down_moves_the_active_role_without_a_failed_request(cluster: HACluster) -> None:
    storm = Storm(cluster, threads=4, retry=False).run(seconds=5)
    time.sleep(1.5)
    before = cluster.active()
    with cluster.http(cluster.standbys()[0]) as client:  # forwarded to the active node
        assert client.put("/v1/sys/step-down").status_code == 204
    wait_until(lambda: cluster.health(before) == 429, 15, "the old active node did not stand by")
    after = cluster.active(timeout=15)
    storm.join()
    assert after is not before
    assert not storm.failures, storm.failures[:5]
    assert set(storm.issued) <= stored_serials(cluster)


def test_one_etcd_member_down_costs_no_request(cluster: HACluster) -> None:
    member = cluster.etcd.members[0]
    storm = Storm(cluster, threads=4).run(seconds=5)
    time.sleep(1.5)
    cluster.etcd.kill(member)
    try:
        storm.join()
    finally:
        cluster.etcd.start_member(member)
        cluster.etcd.wait_healthy()
    print(f"\none etcd member down: {len(storm.issued)} issued, {storm.retries} client retries")
    assert not storm.failures, storm.failures[:5]
    assert set(storm.issued) <= stored_serials(cluster)


def test_two_etcd_members_down_answer_503_then_recover(cluster: HACluster) -> None:
    active = cluster.active()
    with cluster.http(active) as client:
        kept = client.post("/v1/pki/issue/web", json={"common_name": "kept.example.com"})
        assert kept.status_code == 200
    victims = cluster.etcd.members[1:]
    try:
        for member in victims:
            cluster.etcd.kill(member)
        with cluster.http(active) as client:
            started = time.monotonic()
            refused = client.post("/v1/pki/issue/web", json={"common_name": "lost.example.com"})
            assert refused.status_code == 503, refused.text
            assert "retry" in refused.json()["errors"][0]
            assert time.monotonic() - started < 20
            assert client.get("/v1/sys/health").status_code in (200, 429, 503)
    finally:
        for member in victims:
            cluster.etcd.start_member(member)
        cluster.etcd.wait_healthy()
    deadline = time.monotonic() + 30
    while True:
        node = cluster.active(timeout=30)
        with cluster.http(node) as client:
            again = client.post("/v1/pki/issue/web", json={"common_name": "back.example.com"})
        if again.status_code == 200:
            break
        assert time.monotonic() < deadline, again.text
        time.sleep(0.3)
    serial = kept.json()["data"]["serial_number"]
    with cluster.http(cluster.active()) as client:
        assert client.get(f"/v1/pki/cert/{serial}").status_code == 200
    cluster.wait_all_up()


def test_a_rotated_keyring_is_followed_by_the_next_active_node(cluster: HACluster) -> None:
    active = cluster.active()
    with cluster.http(active) as client:
        assert client.put("/v1/sys/rotate").status_code == 204
        term = client.get("/v1/sys/key-status").json()["data"]["term"]
        assert client.post("/v1/secret/data/after-rotate", json={"data": {"v": 1}}).status_code == 200
    standby = cluster.standbys()[0]
    status = cli(cluster, standby, "status")
    assert status.returncode == 0, status.stderr
    assert "HA Mode                standby" in status.stdout
    assert f"Active Node Address    {active.url}" in status.stdout
    stepped = cli(cluster, standby, "operator", "step-down")  # forwarded to the active node
    assert stepped.returncode == 0 and "Success!" in stepped.stdout, stepped.stderr
    wait_until(lambda: cluster.health(active) == 429, 15, "the active node did not step down")
    successor = cluster.active()
    with cluster.http(successor) as client:
        assert client.get("/v1/sys/key-status").json()["data"]["term"] == term
        assert client.get("/v1/secret/data/after-rotate").json()["data"]["data"] == {"v": 1}


def test_restarted_nodes_start_sealed_and_rejoin(cluster: HACluster, tmp_path: Path) -> None:
    standby = cluster.standbys()[0]
    standby.server.stop()
    standby.server.start()
    assert cluster.health(standby) == 503
    cluster.unseal(standby)
    wait_until(lambda: cluster.health(standby) == 429, 10, "the restarted node did not stand by")


def test_migration_refuses_a_source_with_an_active_node(cluster: HACluster, tmp_path: Path) -> None:
    config = tmp_path / "migrate.hcl"
    source = cluster.etcd.storage_block(cluster.path).replace('storage "etcd"', 'storage_source "etcd"')
    config.write_text(source + f'storage_destination "sqlite" {{\n  path = "{tmp_path / "d.db"}"\n}}\n')
    done = subprocess.run([WARDEN, "operator", "migrate", f"-config={config}"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "a warden node is active on the source" in done.stderr
