"""Server configuration files: Vault's HCL shape, YAML, and clear errors."""

from __future__ import annotations

import pytest

from warden.server.config import ConfigError, parse_config


def test_two_listeners_stay_apart() -> None:
    config = parse_config('''
        storage "sqlite" { path = "/var/lib/warden/warden.db" }
        listener "tcp" {
          address     = "127.0.0.1:8200"
          tls_disable = true
        }
        listener "tcp" {
          address       = "0.0.0.0:8201"
          tls_cert_file = "/etc/warden/tls.crt"
          tls_key_file  = "/etc/warden/tls.key"
        }
        api_addr = "https://warden.example:8201"
    ''')
    first, second = config.listeners
    assert first.address == "127.0.0.1:8200" and first.tls_disable
    assert second.address == "0.0.0.0:8201" and not second.tls_disable
    assert second.tls_cert_file == "/etc/warden/tls.crt"
    assert config.storage == {"path": "/var/lib/warden/warden.db"}


def test_yaml_with_the_same_structure() -> None:
    config = parse_config(
        "storage:\n  sqlite:\n    path: /tmp/w.db\nlistener:\n  tcp:\n"
        "    address: 127.0.0.1:0\n    tls_disable: true\nmax_lease_ttl: 87600h\n", ".yaml")
    assert config.listeners[0].tls_disable and config.max_lease_ttl == 87600 * 3600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('storage "consul" {}', 'unknown storage type "consul"'),
        ('storage "sqlite" {}', "needs a path"),
        ('listener "tcp" { address = "127.0.0.1:8200" }', "tls_cert_file and tls_key_file"),
        ('listener "tcp" { address = "nope"\n tls_disable = true }', "host:port"),
        ('listener "unix" { address = "/tmp/s" }', 'unknown listener type "unix"'),
        ('listner "tcp" {}', "unknown config settings: listner"),
        ('max_lease_ttl = "forever"', "max_lease_ttl"),
        ("storage {", "cannot parse config"),
        ('listener "tcp" { address = "127.0.0.1:0"\n tls_disable = true }', "a storage block is required"),
        ('storage "sqlite" { path = "/tmp/w.db" }', "a listener block is required"),
        ("", "a storage block is required"),
    ],
)
def test_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text)


def test_ui_is_off_unless_asked_for() -> None:
    base = 'storage "inmem" {}\nlistener "tcp" {\n  address = "127.0.0.1:0"\n  tls_disable = true\n}\n'
    assert parse_config(base).ui is False
    assert parse_config(base + "ui = true\n").ui is True
    assert parse_config(base + 'ui = "yes"\n').ui is True


_LISTENER = 'listener "tcp" {\n  address = "127.0.0.1:0"\n  tls_disable = true\n}\n'


def test_workers_default_to_one_and_are_read() -> None:
    sqlite = 'storage "sqlite" { path = "w.db" }\n' + _LISTENER
    assert parse_config(sqlite).workers == 1
    assert parse_config(sqlite + "workers = 4\n").workers == 4


@pytest.mark.parametrize(("text", "message"), [
    ('storage "sqlite" { path = "w.db" }\nworkers = 0\n', "workers must be a number from 1"),
    ('storage "sqlite" { path = "w.db" }\nworkers = "many"\n', "workers must be a number"),
    ('storage "inmem" {}\nworkers = 2\n', "needs a store the processes share"),
    ('storage "etcd" {\n  address = "http://127.0.0.1:2379"\n  ha_enabled = "true"\n}\n'
     'api_addr = "http://127.0.0.1:8200"\nworkers = 2\n', "cannot be combined with ha_enabled"),
])
def test_workers_that_cannot_work_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(text + _LISTENER)
