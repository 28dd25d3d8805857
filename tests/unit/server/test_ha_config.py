"""The etcd storage block (Vault's keys), HA settings and the migration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.server.config import ConfigError, load_migration_config, parse_config
from warden.server.storage_config import StorageConfigError, etcd_config

ETCD = '''
storage "etcd" {
  address = "https://10.0.0.1:2379, https://10.0.0.2:2379"
  path = "/prod-warden/"
  ha_enabled = "true"
  request_timeout = "2s"
  lock_timeout = "4s"
  max_value_bytes = 4194304
}
api_addr = "https://10.0.0.5:8200"
cluster_addr = "https://10.0.0.5:8201"
listener "tcp" {
  address = "127.0.0.1:8200"
  tls_disable = true
}
'''
LISTENER = 'listener "tcp" {\n  address = "127.0.0.1:8200"\n  tls_disable = true\n}\n'


def test_the_etcd_block_with_vaults_keys() -> None:
    config = parse_config(ETCD, env={})
    assert (config.storage_type, config.ha_enabled) == ("etcd", True)
    assert (config.api_addr, config.cluster_addr) == ("https://10.0.0.5:8200", "https://10.0.0.5:8201")
    assert config.disable_clustering is False
    etcd = etcd_config(config.storage, env={})
    assert etcd.settings.endpoints == ("https://10.0.0.1:2379", "https://10.0.0.2:2379")
    assert etcd.settings.request_timeout == 2.0 and etcd.settings.tls
    assert (etcd.options.path, etcd.options.lock_ttl, etcd.options.max_value_bytes) == (
        "/prod-warden/", 4.0, 4194304)


def test_environment_overrides_as_in_vault() -> None:
    env = {"ETCD_ADDR": "http://127.0.0.1:2379", "ETCD_USERNAME": "warden", "ETCD_PASSWORD": "pw",
           "VAULT_API_ADDR": "https://lb.example:8200"}
    config = parse_config(ETCD, env=env)
    assert config.api_addr == "https://lb.example:8200"
    etcd = etcd_config(config.storage, env=env)
    assert etcd.settings.endpoints == ("http://127.0.0.1:2379",)
    assert (etcd.settings.username, etcd.settings.password) == ("warden", "pw")
    assert "pw" not in repr(etcd.settings)


@pytest.mark.parametrize(("block", "message"), [
    ('storage "etcd" { address = "10.0.0.1:2379" }', "scheme://host:port"),
    ('storage "etcd" { address = "https://a:1,http://b:2" }', "all be https"),
    ('storage "etcd" { path = "warden" }', 'path must start and end with "/"'),
    ('storage "etcd" { username = "u" }', "username and password"),
    ('storage "etcd" { tls_cert_file = "/x" }', "given together"),
    ('storage "etcd" { lock_timeout = "0s" }', "lock_timeout"),
    ('storage "etcd" { etcd_api = "v2" }', "v3"),
    ('storage "etcd" { adress = "http://a:1" }', 'unknown storage "etcd" settings: adress'),
    ('storage "etcd" { address = "https://a:1"\n tls_ca_file = "/nonexistent/ca.pem" }',
     "does not exist"),
    ('storage "consul" {}', 'unknown storage type "consul"'),
])
def test_mistakes_are_named(block: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(block + "\n" + LISTENER, env={})


def test_ha_needs_an_api_addr_with_a_scheme() -> None:
    without = ETCD.replace('api_addr = "https://10.0.0.5:8200"', "")
    with pytest.raises(ConfigError, match="ha_enabled storage needs api_addr"):
        parse_config(without, env={})
    with pytest.raises(ConfigError, match="full URL"):
        parse_config(ETCD.replace('"https://10.0.0.5:8200"', '"10.0.0.5:8200"'), env={})


def test_disable_clustering_turns_forwarding_into_redirects() -> None:
    assert parse_config(ETCD + "disable_clustering = true\n", env={}).disable_clustering


def test_the_migration_file(tmp_path: Path) -> None:
    path = tmp_path / "migrate.hcl"
    path.write_text('storage_source "sqlite" { path = "/a.db" }\n'
                    'storage_destination "etcd" { address = "http://127.0.0.1:2379" }\n')
    config = load_migration_config(str(path))
    assert (config.source_type, config.destination_type) == ("sqlite", "etcd")
    path.write_text('storage_source "sqlite" { path = "/a.db" }\n'
                    'storage_destination "sqlite" { path = "/a.db" }\n')
    with pytest.raises(ConfigError, match="the same store"):
        load_migration_config(str(path))
    path.write_text('storage_source "sqlite" { path = "/a.db" }\nstorage "sqlite" { path = "/b" }\n')
    with pytest.raises(ConfigError, match="unknown migration settings: storage"):
        load_migration_config(str(path))


def test_storage_config_error_is_a_value_error() -> None:
    with pytest.raises(StorageConfigError):
        etcd_config({"address": "ftp://x:1"}, env={})
