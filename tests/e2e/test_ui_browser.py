"""The dashboard in a real browser (Debian's Chromium through chromedriver) against a real
``warden server -dev`` with two bootstrapped clusters and certificates expiring at known
times. Every page is screenshotted into test-artifacts/ui/ (or $WARDEN_TEST_ARTIFACTS/ui)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.browser import Browser, artifacts_dir
from support.dashboard import REVOKED, World, build
from support.server import ServerProcess


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ServerProcess(tmp_path_factory.mktemp("ui-server")).start()
    try:
        yield build(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    for old in artifacts_dir().glob("*.png"):
        old.unlink()
    chrome = Browser()
    try:
        yield chrome
    finally:
        chrome.close()
    print(f"\ndashboard screenshots: {artifacts_dir()}")


def sign_in(browser: Browser, world: World, token: str, *, lands_on: str = "#page-clusters") -> None:
    """A fresh tab's state: no token, the sign-in form; then sign in with ``token``."""
    browser.open(world.server.url + "/ui/#/clusters")
    browser.driver.execute_script("sessionStorage.clear()")
    browser.driver.refresh()
    field = browser.element("#token")
    field.send_keys(token)
    browser.element("#signin-button").click()
    browser.element(lands_on)


def visit(browser: Browser, world: World, fragment: str, ready: str, *, reload: bool = True) -> None:
    """Go to a page by its #fragment and wait for what shows it has loaded (by default a
    fresh load, so nothing of the previous page can satisfy the wait)."""
    browser.open(f"{world.server.url}/ui/#/{fragment}")
    if reload:
        browser.driver.refresh()
    browser.element(ready)


def serials_in(browser: Browser, table: str) -> list[str]:
    return [row.get_attribute("data-serial") or "" for row in browser.elements(f"{table} tbody tr")]


def clusters_in(browser: Browser, table: str) -> set[str]:
    return {row.get_attribute("data-cluster") or "" for row in browser.elements(f"{table} tbody tr")}


def csp_violations(browser: Browser) -> list[str]:
    return [m for m in browser.console_errors() if "Content Security Policy" in m or "Refused" in m]


def test_sign_in_then_clusters_show_each_ca(browser: Browser, world: World) -> None:
    browser.open(world.server.url + "/ui/")
    browser.element("#signin")  # no token yet: the sign-in page
    sign_in(browser, world, world.server.root_token)
    cards = {c.get_attribute("data-cluster"): c.text for c in browser.elements("section.cluster")}
    assert set(cards) == {"c1", "c2"}
    for text in cards.values():
        assert "etcd-ca" in text and "front-proxy-ca" in text and "kubernetes" in text
        assert "no rotation" in text and "rsa 2048" in text  # c1's etcd and front-proxy, c2's all
    assert "cp1" in cards["c1"] and "w1" in cards["c1"] and "cp2" in cards["c2"]
    k8s = browser.text('section[data-cluster="c1"] tr[data-mount="c1/pki/k8s"]')
    assert "begun 2026-01-02 03:04" in k8s and "old" in k8s  # the rotation's state, from KV
    c1_rows = browser.elements('section[data-cluster="c1"] table.cas tbody tr')
    assert len(c1_rows) == 4 and "new" in c1_rows[3].text  # k8s has two issuers now
    assert "signed in as root" in browser.text("#who")
    browser.screenshot("clusters")
    assert csp_violations(browser) == []


def test_expiring_lists_the_right_certificates_soonest_first(browser: Browser, world: World) -> None:
    sign_in(browser, world, world.server.root_token)
    visit(browser, world, "expiring?days=30", "#expiring-table")
    want = world.expiring_within(30 * 24)
    assert serials_in(browser, "#expiring-table") == want
    assert world.serials["c1-kubelet-w1-old"] not in want and world.serials[REVOKED] not in want
    rows = browser.elements("#expiring-table tbody tr")
    classes = [row.get_attribute("class") for row in rows]
    assert classes[0] == "critical" and classes[1] == "warning"  # 2 hours, then 60 hours left
    first = rows[0].text
    assert "etcd-server-cp1" in first and "/etc/kubernetes/pki/etcd/server.crt" in first and "cp1" in first
    bars = browser.elements("#expiry-chart rect.bar")
    assert len(bars) == 90
    assert sum(int(b.get_attribute("data-count") or 0) for b in bars) == len(world.serials)  # all in 90 days
    total = len(world.expiring_within(30 * 24, hidden=True))  # the total counts renewed ones too
    assert f"{total} certificate(s) expire within 30 day(s)" in browser.text("#expiring-summary")
    browser.screenshot("expiring")
    assert csp_violations(browser) == []


def test_expiring_can_show_renewed_and_revoked_and_filter(browser: Browser, world: World) -> None:
    sign_in(browser, world, world.server.root_token)
    visit(browser, world, "expiring?days=90&renewed=show", "#expiring-table")
    shown = serials_in(browser, "#expiring-table")
    assert world.serials["c1-kubelet-w1-old"] in shown and world.serials[REVOKED] in shown
    old_row = browser.element(f'#expiring-table tr[data-serial="{world.serials["c1-kubelet-w1-old"]}"]')
    assert "renewed" in old_row.text and "renewed" in (old_row.get_attribute("class") or "")
    assert "revoked" in browser.element(f'#expiring-table tr[data-serial="{world.serials[REVOKED]}"]').text
    visit(browser, world, "expiring?days=30&cluster=c2", "#expiring-table")
    assert serials_in(browser, "#expiring-table") == world.expiring_within(720, cluster="c2")
    visit(browser, world, "expiring?days=30&cluster=c1&node=cp1", "#expiring-table")
    assert serials_in(browser, "#expiring-table") == [world.serials["c1-etcd-server-cp1"],
                                                      world.serials["c1-apiserver-cp1"]]
    browser.screenshot("expiring-node-cp1")


def test_node_page_shows_each_certificate_with_its_file(browser: Browser, world: World) -> None:
    sign_in(browser, world, world.server.root_token)
    visit(browser, world, "node/c1/cp1", "#node-table")
    rows = {row.get_attribute("data-serial"): row.text for row in browser.elements("#node-table tbody tr")}
    assert set(rows) == {world.serials["c1-etcd-server-cp1"], world.serials["c1-apiserver-cp1"]}
    assert "/etc/kubernetes/pki/etcd/server.crt" in rows[world.serials["c1-etcd-server-cp1"]]
    assert "/etc/kubernetes/pki/apiserver.crt" in rows[world.serials["c1-apiserver-cp1"]]
    files = {row.get_attribute("data-role"): row.text for row in browser.elements("#node-files tbody tr")}
    assert "no valid certificate issued" in files["etcd-peer-cp1"]  # never issued: the operator must know
    assert "no valid certificate issued" not in files["etcd-server-cp1"]
    assert files["kubelet-client-cp1"].startswith("/etc/kubernetes/kubelet.conf")
    browser.screenshot("node")
    visit(browser, world, "node/c1/w1", "#node-table")
    statuses = {r.get_attribute("data-serial"): r.text for r in browser.elements("#node-table tbody tr")}
    assert statuses[world.serials["c1-kubelet-w1-old"]].endswith("renewed")
    assert statuses[world.serials["c1-kubelet-w1-new"]].endswith("current")


def test_recent_issuance_is_newest_first_with_who_asked(browser: Browser, world: World) -> None:
    sign_in(browser, world, world.server.root_token)
    visit(browser, world, "recent", "#recent-table")
    shown = serials_in(browser, "#recent-table")
    issued = [world.serials[label] for label in world.serials]  # in issue order
    assert [s for s in shown if s in issued] == issued[::-1]
    assert shown.index(issued[-1]) == 1  # only the rotation's new CA came after the last leaf
    assert "root" in browser.element(f'#recent-table tr[data-serial="{issued[-1]}"]').text
    browser.screenshot("recent")


def test_revoked_page_lists_the_revocation(browser: Browser, world: World) -> None:
    sign_in(browser, world, world.server.root_token)
    visit(browser, world, "revoked", "#revoked-table")
    assert serials_in(browser, "#revoked-table") == [world.serials[REVOKED]]
    assert "system:node:cp2" in browser.element("#revoked-table tbody tr").text
    browser.screenshot("revoked")


def test_a_token_limited_to_one_cluster_sees_only_it(browser: Browser, world: World) -> None:
    sign_in(browser, world, world.c1_token)
    assert [c.get_attribute("data-cluster") for c in browser.elements("section.cluster")] == ["c1"]
    assert "c1-viewer" in browser.text("#who")
    browser.screenshot("clusters-one-cluster-token")
    visit(browser, world, "expiring?days=90", "#expiring-table")
    assert serials_in(browser, "#expiring-table") == world.expiring_within(2160, cluster="c1")
    assert clusters_in(browser, "#expiring-table") == {"c1"}
    visit(browser, world, "recent", "#recent-table")
    assert clusters_in(browser, "#recent-table") == {"c1"}
    browser.screenshot("recent-one-cluster-token")


def test_a_bad_token_gets_the_sign_in_page_with_an_error(browser: Browser, world: World) -> None:
    sign_in(browser, world, "hvs.not-a-real-token", lands_on="#signin .message.error")
    error = browser.element("#signin .message.error")
    assert "refused this token" in error.text
    assert browser.elements("#page-clusters") == []
    assert browser.driver.execute_script("return sessionStorage.getItem('warden.token')") is None
    browser.screenshot("sign-in-bad-token")


def test_a_revoked_token_is_sent_back_to_sign_in(browser: Browser, world: World) -> None:
    with world.server.http() as http:
        token = http.post("/v1/auth/token/create", json={"policies": ["c1-dashboard"], "ttl": "1h"})
        short = token.json()["auth"]["client_token"]
    sign_in(browser, world, short)
    with world.server.http() as http:
        assert http.post("/v1/auth/token/revoke", json={"token": short}).status_code == 204
    visit(browser, world, "expiring", "#signin .message.error", reload=False)
    assert "no longer accepted" in browser.text("#signin")
