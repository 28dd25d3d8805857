"""init / unseal / seal with 5 shares and threshold 3, restarts, wrong keys, sealed 503."""

from __future__ import annotations

from collections.abc import Callable

import hvac
import pytest

from support.server import ServerProcess

CONFIG = """
storage "sqlite" { path = "data/warden.db" }
listener "tcp" {
  address     = "127.0.0.1:0"
  tls_disable = true
}
"""


@pytest.fixture
def server(server_factory: Callable[..., ServerProcess]) -> ServerProcess:
    return server_factory(dev=False, config_text=CONFIG).start()


def _init(client: hvac.Client) -> tuple[list[str], str]:
    result = client.sys.initialize(secret_shares=5, secret_threshold=3)
    return result["keys"], result["root_token"]


def test_init_then_unseal_with_any_three_of_five(server: ServerProcess) -> None:
    client = server.client(token="")
    assert not client.sys.is_initialized()
    keys, root = _init(client)
    assert len(keys) == 5 and len(set(keys)) == 5
    assert client.sys.is_sealed()
    status = client.sys.submit_unseal_key(keys[4])
    assert status["sealed"] and status["progress"] == 1 and status["t"] == 3 and status["n"] == 5
    client.sys.submit_unseal_key(keys[1])
    status = client.sys.submit_unseal_key(keys[2])
    assert not status["sealed"]
    client.token = root
    assert client.auth.token.lookup_self()["data"]["policies"] == ["root"]


def test_sealed_server_answers_503_and_health_codes(server: ServerProcess) -> None:
    client = server.client(token="")
    health = server.http().get("/v1/sys/health")
    assert health.status_code == 501 and health.json()["initialized"] is False
    keys, root = _init(client)
    assert server.http().get("/v1/sys/health").status_code == 503
    assert server.http().get("/v1/sys/health?sealedcode=299").status_code == 299
    client.token = root
    with pytest.raises(hvac.exceptions.VaultDown) as exc:
        client.auth.token.lookup_self()
    assert "Vault is sealed" in str(exc.value)
    client.sys.submit_unseal_keys(keys[:3])
    assert server.http().get("/v1/sys/health").status_code == 200
    client.sys.seal()
    assert client.sys.is_sealed()
    with pytest.raises(hvac.exceptions.VaultDown):
        client.auth.token.lookup_self()


def test_wrong_key_is_rejected_and_corrupts_nothing(server: ServerProcess) -> None:
    client = server.client(token="")
    keys, _root = _init(client)
    bogus = bytes.fromhex(keys[0])
    bogus = bytes([bogus[0] ^ 0xFF]) + bogus[1:]
    client.sys.submit_unseal_key(keys[0])
    client.sys.submit_unseal_key(keys[1])
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.submit_unseal_key(bogus.hex())
    status = client.sys.read_seal_status()
    assert status["sealed"] and status["progress"] == 0
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.sys.submit_unseal_key("zz-not-hex-or-base64")
    client.sys.submit_unseal_keys(keys[2:5])
    assert not client.sys.is_sealed()


def test_data_survives_a_restart(server: ServerProcess) -> None:
    client = server.client(token="")
    keys, root = _init(client)
    client.sys.submit_unseal_keys(keys[:3])
    client.token = root
    client.sys.create_or_update_policy("survivor", 'path "x/*" { capabilities = ["read"] }')
    child = client.auth.token.create(policies=["survivor"], ttl="1h")["auth"]["client_token"]
    server.stop()
    server.start()
    client = server.client(token=root)
    assert client.sys.is_sealed()
    client.sys.submit_unseal_keys(keys[1:4])
    assert "survivor" in client.sys.list_policies()["data"]["policies"]
    assert client.sys.read_policy("survivor")["data"]["rules"].startswith('path "x/*"')
    looked = server.client(token=child).auth.token.lookup_self()["data"]
    assert looked["policies"] == ["default", "survivor"]


def test_init_parameters_are_validated(server: ServerProcess) -> None:
    client = server.client(token="")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="threshold"):
        client.sys.initialize(secret_shares=3, secret_threshold=5)
    assert not client.sys.is_initialized()
    _init(client)
    with pytest.raises(hvac.exceptions.InvalidRequest, match="already initialized"):
        client.sys.initialize(secret_shares=5, secret_threshold=3)
