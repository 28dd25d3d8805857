"""A use-limited token cannot mint children that would escape its limit (Vault's rule)."""

from __future__ import annotations

import hvac
import pytest

from support.server import ServerProcess


def test_a_use_limited_token_cannot_create_a_child(dev_server: ServerProcess) -> None:
    limited = dev_server.client().auth.token.create(policies=["root"], num_uses=2)["auth"]
    before = set(dev_server.client().list("auth/token/accessors")["data"]["keys"])
    as_limited = dev_server.client(token=limited["client_token"])
    with pytest.raises(hvac.exceptions.InvalidRequest,
                       match="restricted use token cannot generate child tokens"):
        as_limited.auth.token.create(policies=["default"])
    with pytest.raises(hvac.exceptions.InvalidRequest,
                       match="restricted use token cannot generate child tokens"):
        as_limited.auth.token.create_orphan(policies=["default"])
    # no child was stored, and both uses were spent on the refusals: the token is gone
    after = set(dev_server.client().list("auth/token/accessors")["data"]["keys"])
    assert after == before - {limited["accessor"]}
    with pytest.raises(hvac.exceptions.Forbidden):
        as_limited.auth.token.lookup_self()
