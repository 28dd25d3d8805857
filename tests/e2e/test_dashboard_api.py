"""The data behind each dashboard page, over HTTP from a real server with two bootstrapped
clusters: what the browser reads, checked without a browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.dashboard import REVOKED, World, build
from support.server import ServerProcess

CLUSTER_MOUNTS = {f"{c}/pki/{ca}/" for c in ("c1", "c2") for ca in ("etcd", "k8s", "front-proxy")}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("dashboard-api")).start()
    try:
        yield build(server)
    finally:
        server.stop()


def listing(http: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    answer = http.request("LIST", f"/v1/{path}", params=params)
    if answer.status_code == 404:
        return {"keys": [], "key_info": {}}
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["data"])


def test_discovery_finds_every_cluster_ca(world: World) -> None:
    with world.server.http() as http:
        mounts = http.get("/v1/sys/internal/ui/mounts").json()["data"]["secret"]
    assert CLUSTER_MOUNTS <= {path for path, m in mounts.items() if m["type"] == "pki"}


def test_cluster_settings_carry_the_file_of_each_role(world: World) -> None:
    with world.server.http() as http:
        settings = http.get("/v1/secret/data/c1/k8s/cluster").json()["data"]["data"]
    files = settings["certificate_files"]
    assert files["etcd-server-cp1"] == {"file": "pki/etcd/server.crt", "component": "etcd", "ca": "etcd",
                                        "nodes": ["cp1"], "names_node": True}
    assert files["kubelet-client-w1"]["file"] == "kubelet.conf"
    assert files["kubelet-client-w1"]["nodes"] == ["w1"]
    assert files["apiserver"]["nodes"] == ["cp1"] and files["apiserver"]["names_node"] is True
    assert files["controller-manager"]["names_node"] is False
    assert [n["name"] for n in settings["nodes"]] == ["cp1", "w1"]
    again = world.server.cli("k8s", "bootstrap", "c1")  # the map is part of what bootstrap keeps current
    assert again.returncode == 0 and "No changes" in again.stdout, again.stdout + again.stderr


def test_expiring_across_mounts_is_the_merge_of_each_mounts_window(world: World) -> None:
    rows: list[tuple[int, str]] = []
    with world.server.http() as http:
        for mount in sorted(CLUSTER_MOUNTS):
            page = listing(http, f"{mount}certs/expiring", within="720h", hide_renewed="true",
                           hide_revoked="true")
            rows += [(page["key_info"][k]["not_after"], k) for k in page["keys"]]
            counts = http.get(f"/v1/{mount}certs/expiry-counts", params={"days": 90}).json()["data"]
            assert len(counts["days"]) == 90
    assert [serial for _, serial in sorted(rows)] == world.expiring_within(720)


def test_renewals_and_revocations_are_marked(world: World) -> None:
    with world.server.http() as http:
        k8s = listing(http, "c1/pki/k8s/certs/expiring", within="2160h")["key_info"]
        c2 = listing(http, "c2/pki/k8s/certs/expiring", within="2160h")["key_info"]
    assert k8s[world.serials["c1-kubelet-w1-old"]]["renewed_by"] == world.serials["c1-kubelet-w1-new"]
    assert c2[world.serials[REVOKED]]["revoked"] is True


def test_a_node_is_found_by_its_names(world: World) -> None:
    found = set()
    with world.server.http() as http:
        for mount in ("c1/pki/etcd/", "c1/pki/k8s/"):
            for name in ("cp1", "system:node:cp1", "10.0.0.10"):
                found |= set(listing(http, f"{mount}certs/by-name/{name}")["keys"])
    assert found == {world.serials["c1-etcd-server-cp1"], world.serials["c1-apiserver-cp1"]}


def test_recent_issuance_says_who_asked(world: World) -> None:
    with world.server.http() as http:
        recent = listing(http, "c1/pki/k8s/certs/recent", limit=3)
    newest, *leaves = recent["keys"]
    assert recent["key_info"][newest]["is_ca"] is True  # the rotation's new issuer
    assert leaves == [world.serials["c1-kubelet-w1-new"], world.serials["c1-apiserver-cp1"]]
    assert recent["key_info"][leaves[0]]["issued_by"] == "root"


def test_revoked_listing_names_the_certificate(world: World) -> None:
    with world.server.http() as http:
        revoked = listing(http, "c2/pki/k8s/certs/revoked")
    assert revoked["keys"] == [world.serials[REVOKED]]
    assert revoked["key_info"][world.serials[REVOKED]]["common_name"] == "system:node:cp2"


def test_a_one_cluster_token_is_refused_the_other_cluster(world: World) -> None:
    with world.server.http(world.c1_token) as http:
        assert http.get("/v1/c1/pki/k8s/certs/expiry-counts").status_code == 200
        assert http.get("/v1/secret/data/c1/k8s/cluster").status_code == 200
        assert http.get("/v1/c2/pki/k8s/certs/expiry-counts").status_code == 403
        refused = http.request("LIST", "/v1/c2/pki/k8s/certs/expiring", params={"within": "1h"})
        assert refused.status_code == 403
        assert http.get("/v1/secret/data/c2/k8s/cluster").status_code == 403
