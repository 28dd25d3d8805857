"""The dev server comes up and answers hvac like Vault would."""

from __future__ import annotations

import hvac
import pytest

from support.server import ServerProcess


def test_dev_server_is_unsealed_and_root_token_works(dev_server: ServerProcess) -> None:
    client = dev_server.client()
    assert client.sys.is_initialized()
    assert not client.sys.is_sealed()
    assert client.is_authenticated()
    me = client.auth.token.lookup_self()["data"]
    assert me["policies"] == ["root"]
    assert me["id"] == dev_server.root_token


def test_unknown_token_is_forbidden(dev_server: ServerProcess) -> None:
    client = dev_server.client(token="not-a-token")
    assert not client.is_authenticated()
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup_self()
