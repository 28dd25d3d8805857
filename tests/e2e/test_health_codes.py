"""sys/health's status-code parameters: any final HTTP status (200-599) is served as asked;
anything else is a 400 naming the parameter, never a 500 or a dropped connection."""

from __future__ import annotations

import httpx
import pytest

from support.server import ServerProcess

BAD = ["%C2%B2", "0", "99", "100", "199", "600", "1000", "99999999999999999999", "-200", "abc",
       "", "2.5e2", "0x1f4", "%20200"]


@pytest.mark.parametrize("param", ["activecode", "sealedcode", "uninitcode", "standbycode"])
def test_bad_codes_are_refused(dev_server: ServerProcess, param: str) -> None:
    with httpx.Client(base_url=dev_server.url) as http:
        for bad in BAD:
            resp = http.get(f"/v1/sys/health?{param}={bad}")
            assert resp.status_code == 400, (bad, resp.status_code, resp.text)
            assert param in resp.json()["errors"][0]
        assert http.get("/v1/sys/health").status_code == 200  # the connection is still fine


def test_every_final_status_is_served(dev_server: ServerProcess) -> None:
    with httpx.Client(base_url=dev_server.url) as http:
        for code in range(200, 600):
            resp = http.get(f"/v1/sys/health?activecode={code}&sealedcode=503")
            assert resp.status_code == code
            if code not in (204, 304):
                assert resp.json()["sealed"] is False
