"""Storage layout and codecs: serial forms, entries, and the expiry/role indexes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warden.engines.pki import store
from warden.engines.pki.store import IssuerEntry, UrlsConfig, format_serial, parse_serial, storage_serial
from warden.storage.memory import MemoryBackend


@given(st.integers(min_value=1, max_value=2**159 - 1))
def test_serial_forms_round_trip(serial: int) -> None:
    colon = format_serial(serial)
    assert colon == colon.lower() and all(len(p) == 2 for p in colon.split(":"))
    assert parse_serial(colon) == serial
    assert parse_serial(storage_serial(serial)) == serial
    assert parse_serial(colon.upper().replace(":", "")) == serial


@pytest.mark.parametrize("bad", ["", "xyz", "12:3", "12::34", "../../etc"])
def test_bad_serials_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_serial(bad)


async def test_issuer_and_config_codecs() -> None:
    storage = MemoryBackend()
    entry = IssuerEntry(id="i1", certificate="PEM", name="root-x1", key_id="k1", usage=("read-only",))
    await store.save_issuer(storage, entry)
    assert await store.load_issuer(storage, "i1") == entry
    assert await store.load_issuers(storage) == [entry]
    assert await store.load_config(storage, store.CONFIG_URLS, UrlsConfig) == UrlsConfig()
    urls = UrlsConfig(issuing_certificates=("http://x/ca",))
    await store.save_config(storage, store.CONFIG_URLS, urls)
    assert await store.load_config(storage, store.CONFIG_URLS, UrlsConfig) == urls
