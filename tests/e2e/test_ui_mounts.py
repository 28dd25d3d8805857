"""sys/internal/ui/mounts lists only the mounts a token can reach (Vault's hasMountAccess):
a mount is shown if the token has some capability on some path in it; root sees all."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.server import ServerProcess

POLICY = """
path "team-a/*" { capabilities = ["read"] }
path "auth/approle/login" { capabilities = ["update"] }
path "c1/+/etcd/issue/member" { capabilities = ["update"] }
path "team-b/*" { capabilities = ["deny"] }
"""


@pytest.fixture
def mounted(dev_server: ServerProcess) -> Iterator[ServerProcess]:
    root = dev_server.client()
    for path, kind in (("team-a", "kv"), ("team-b", "kv"), ("c1/pki/etcd", "pki"),
                       ("c2/pki/etcd", "pki")):
        root.sys.enable_secrets_engine(kind, path=path)
    root.sys.enable_auth_method("approle")
    root.sys.create_or_update_policy("team-a", POLICY)
    yield dev_server
    for path in ("team-a", "team-b", "c1/pki/etcd", "c2/pki/etcd"):
        root.sys.disable_secrets_engine(path)
    root.sys.disable_auth_method("approle")


def test_the_listing_shows_only_reachable_mounts(mounted: ServerProcess) -> None:
    token = mounted.client().auth.token.create(policies=["team-a"])["auth"]["client_token"]
    listing = mounted.http(token).get("/v1/sys/internal/ui/mounts").json()["data"]
    # sys/ and token/ through the default policy (capabilities-self, lookup-self, ...)
    assert set(listing["secret"]) == {"team-a/", "c1/pki/etcd/", "sys/"}
    assert set(listing["auth"]) == {"approle/", "token/"}
    assert listing["secret"]["team-a/"]["type"] == "kv"

    bare = mounted.client().auth.token.create(policies=["team-a"], no_default_policy=True)
    bare_token = bare["auth"]["client_token"]
    assert mounted.http(bare_token).get("/v1/sys/internal/ui/mounts").status_code == 403

    everything = mounted.http().get("/v1/sys/internal/ui/mounts").json()["data"]
    assert {"team-a/", "team-b/", "c1/pki/etcd/", "c2/pki/etcd/", "secret/", "sys/"} <= set(
        everything["secret"])
    assert {"approle/", "token/"} <= set(everything["auth"])
