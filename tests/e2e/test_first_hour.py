"""Small things a newcomer trips over in the first hour (issue 15): `kv get -wrap-ttl`, the kv
version in `secrets list`."""

from __future__ import annotations

import json
import re

from support.server import ServerProcess


def test_kv_get_wraps_the_secret_like_read_does(dev_server: ServerProcess) -> None:
    assert dev_server.cli("kv", "put", "secret/wrapped", "password=s3cr3t").returncode == 0
    wrapped = dev_server.cli("kv", "get", "-wrap-ttl=5m", "-format=json", "secret/wrapped")
    assert wrapped.returncode == 0, wrapped.stderr
    info = json.loads(wrapped.stdout)["wrap_info"]
    assert info["ttl"] == 300 and info["creation_path"] == "secret/data/wrapped"
    token = dev_server.cli("kv", "get", "-wrap-ttl=5m", "-field=wrapping_token", "secret/wrapped").stdout
    assert token and "\n" not in token
    unwrapped = dev_server.cli("unwrap", "-format=json", token)
    assert json.loads(unwrapped.stdout)["data"]["data"] == {"password": "s3cr3t"}
    table = dev_server.cli("kv", "get", "-wrap-ttl=1m", "secret/wrapped")
    assert re.search(r"^wrapping_token:?\s+\S+", table.stdout, re.M), table.stdout


def test_secrets_list_shows_the_kv_version(dev_server: ServerProcess) -> None:
    dev_server.client().sys.enable_secrets_engine("kv", path="old-kv", options={"version": "1"})
    listing = dev_server.cli("secrets", "list")
    assert listing.returncode == 0
    header = listing.stdout.splitlines()[0].split()
    assert header == ["Path", "Type", "Version", "Accessor", "Description"]
    assert re.search(r"^secret/\s+kv\s+2\s", listing.stdout, re.M), listing.stdout
    assert re.search(r"^old-kv/\s+kv\s+1\s", listing.stdout, re.M), listing.stdout
    assert re.search(r"^sys/\s+system\s+n/a\s", listing.stdout, re.M), listing.stdout
    auth = dev_server.cli("auth", "list")
    assert "Version" not in auth.stdout.splitlines()[0]
