"""The peer: ``cfssl serve`` with a CA of the same key type and the same usages and lifetime."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from bench.items import CertRequest
from bench.keys import KeyType
from bench.loadspec import HttpRequest
from bench.process import ManagedProcess, SpawnedServer, free_port, wait_for_port

USAGES = ["digital signature", "key encipherment", "server auth", "client auth"]
SHORT_PROFILE = "short"


def signing_config() -> dict[str, Any]:
    """Default profile as warden's role (24h, server+client auth); a short one for the storm.

    cfssl backdates NotBefore by 5 minutes and counts the expiry from there, so "10m" gives
    what warden's ttl=5m gives: a certificate valid for the next 5 minutes.
    """
    return {"signing": {
        "default": {"expiry": "24h", "usages": USAGES},
        "profiles": {SHORT_PROFILE: {"expiry": "10m", "usages": USAGES}},
    }}


def ca_csr(key: KeyType) -> dict[str, Any]:
    return {"CN": f"cfssl bench root {key.label}", "key": key.cfssl_key(),
            "ca": {"expiry": "87600h"}}


class CfsslServer(SpawnedServer):
    name = "cfssl"

    def start(self) -> CfsslServer:
        self._make_ca()
        (self.workdir / "config.json").write_text(json.dumps(signing_config()))
        self.port = free_port(self.host)
        self.process = ManagedProcess(
            ["cfssl", "serve", "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "config.json",
             "-address", self.host, "-port", str(self.port)], self.workdir, "cfssl.log")
        wait_for_port(self.host, self.port, self.process.start())
        return self

    def _make_ca(self) -> None:
        (self.workdir / "ca-csr.json").write_text(json.dumps(ca_csr(self.key)))
        gencert = subprocess.run(["cfssl", "gencert", "-initca", "ca-csr.json"], cwd=self.workdir,
                                 capture_output=True, check=True)
        subprocess.run(["cfssljson", "-bare", "ca"], input=gencert.stdout, cwd=self.workdir,
                       capture_output=True, check=True)
        self.ca_pem = (self.workdir / "ca.pem").read_text()

    def request(self, operation: str, item: CertRequest) -> HttpRequest:
        body: dict[str, Any]
        if operation == "sign":
            body = {"certificate_request": item.csr_pem}
        else:
            body = {"request": {"CN": item.common_name, "hosts": list(item.dns_names),
                                "key": self.key.cfssl_key()}}
        if item.short_ttl:
            body["profile"] = SHORT_PROFILE
        path = "/api/v1/cfssl/sign" if operation == "sign" else "/api/v1/cfssl/newcert"
        return HttpRequest("POST", path, json.dumps(body))

    @staticmethod
    def extract(body: str) -> tuple[str, str]:
        result = json.loads(body)["result"]
        return result["certificate"], result.get("private_key", "")

    def checks(self) -> dict[str, int]:
        return {}
