"""Options, workloads and the configuration each server is started with."""

from __future__ import annotations

import json

import pytest
from bench.cfssl_server import CfsslServer, signing_config
from bench.items import cert_requests, names_for
from bench.keys import P256, RSA2048
from bench.options import parse
from bench.warden_server import WardenServer, role_body, server_config
from bench.workloads import WORKLOADS, select

from warden.server.config import parse_config


def test_quick_and_explicit_options() -> None:
    quick = parse(["--quick"])
    assert (quick.rounds, quick.duration_s, quick.agents) == (1, 3.0, 100)
    assert [w.name for w in quick.workloads] == [n for n, w in WORKLOADS.items() if w.in_all]
    opts = parse(["--rounds", "5", "--duration", "20", "--workloads", "p256-sign,storm", "--plot"])
    assert (opts.rounds, opts.duration_s, opts.plot) == (5, 20.0, True)
    assert [w.name for w in opts.workloads] == ["p256-sign", "storm"]


def test_unknown_workloads_are_refused() -> None:
    with pytest.raises(ValueError, match="nope"):
        select("p256-issue,nope")
    with pytest.raises(SystemExit):
        parse(["--workloads", "nope"])


def test_warden_config_is_one_sqlite_store_and_a_loopback_listener(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = parse_config(server_config(tmp_path / "w.db"), ".hcl")
    assert config.storage_type == "sqlite"
    assert config.storage["path"] == str(tmp_path / "w.db")
    assert [(lst.address, lst.tls_disable) for lst in config.listeners] == [("127.0.0.1:0", True)]
    assert role_body(RSA2048)["key_type"] == "rsa"


def test_the_etcd_run_is_an_ha_node_on_the_benchs_etcd(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = parse_config(server_config(tmp_path / "w.db", "http://127.0.0.1:2379", 8211), ".hcl",
                          env={})
    assert (config.storage_type, config.ha_enabled) == ("etcd", True)
    assert config.storage["address"] == "http://127.0.0.1:2379"
    assert config.api_addr == "http://127.0.0.1:8211"
    assert parse(["--quick"]).storages == ("sqlite", "etcd")
    assert parse(["--storage", "etcd", "--etcd-members", "3"]).etcd_members == 3
    with pytest.raises(SystemExit):
        parse(["--storage", "postgres"])


def test_both_systems_are_asked_for_the_same_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    item = cert_requests(1, with_csr=True, short_ttl=True)[0]
    warden, cfssl = WardenServer(tmp_path / "w", P256), CfsslServer(tmp_path / "c", P256)
    issue = json.loads(warden.request("issue", item).body)
    assert issue["common_name"] == item.common_name
    assert issue["alt_names"] == names_for(0)[1][1]
    assert issue["ttl"] == "5m"
    newcert = json.loads(cfssl.request("issue", item).body)
    assert newcert["request"]["hosts"] == list(item.dns_names)
    assert newcert["request"]["key"] == {"algo": "ecdsa", "size": 256}
    assert newcert["profile"] == "short"
    assert json.loads(warden.request("sign", item).body)["csr"] == item.csr_pem
    assert json.loads(cfssl.request("sign", item).body)["certificate_request"] == item.csr_pem
    assert cfssl.request("sign", item).path == "/api/v1/cfssl/sign"


def test_cfssl_profiles_match_the_role() -> None:
    signing = signing_config()["signing"]
    assert signing["default"]["expiry"] == "24h"
    assert {"server auth", "client auth"} <= set(signing["default"]["usages"])
