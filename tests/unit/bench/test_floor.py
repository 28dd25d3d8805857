"""The floor server keeps the promises it stands for: answers that verify, every certificate
durably stored, two chained audit lines per request, and nothing for a wrong token."""

from __future__ import annotations

import hashlib
import itertools
import json

import httpx
import pytest
from bench.floor_server import FloorServer
from bench.items import cert_requests
from bench.keys import P256
from bench.verify import certificate_problems
from bench.workloads import WORKLOADS
from cryptography import x509


@pytest.fixture
def floor(tmp_path):  # type: ignore[no-untyped-def]
    server = FloorServer(tmp_path / "floor", P256).start()
    yield server
    server.stop()


def _send(floor: FloorServer, request) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"http://{floor.host}:{floor.port}{request.path}", content=request.body,
                      headers=request.headers, timeout=30)


def test_issue_and_sign_answer_verifiable_certificates_kept_and_audited(floor: FloorServer) -> None:
    ca = x509.load_pem_x509_certificate(floor.ca_pem.encode())
    issued, signed = cert_requests(1)[0], cert_requests(2, with_csr=True)[1]
    for operation, item in (("issue", issued), ("sign", signed)):
        response = _send(floor, floor.request(operation, item))
        assert response.status_code == 200, response.text
        cert_pem, key_pem = floor.extract(response.text)
        assert certificate_problems(cert_pem, key_pem, ca, item, P256) == []
        assert bool(key_pem) == (operation == "issue")
    assert floor.checks() == {"stored_certificates": 2, "audit_lines": 4}
    lines = (floor.workdir / "audit.log").read_bytes().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["request", "response"] * 2
    for before, line in itertools.pairwise(lines):
        assert json.loads(line)["prev_hash"] == hashlib.sha256(before).hexdigest()
    assert floor.token not in (floor.workdir / "audit.log").read_text()


def test_a_wrong_token_or_path_is_refused_and_nothing_is_kept(floor: FloorServer) -> None:
    request = floor.request("issue", cert_requests(1)[0])
    wrong = _send(floor, type(request)(request.method, request.path, request.body, {"X-Vault-Token": "nope"}))
    assert (wrong.status_code, wrong.json()) == (403, {"errors": ["permission denied"]})
    other = _send(floor, type(request)(request.method, "/v1/pki/issue/other", request.body, request.headers))
    assert other.status_code == 403
    assert floor.checks() == {"stored_certificates": 0, "audit_lines": 0}


def test_bad_input_gets_a_400_naming_it_and_nothing_is_kept(floor: FloorServer) -> None:
    issue, sign = floor.request("issue", cert_requests(1)[0]), floor.request("sign", cert_requests(1)[0])
    cases = [(issue, "{not json", "the request body is not JSON"),
             (issue, "[1]", "the request body is not a JSON object"),
             (issue, json.dumps({"alt_names": "a.bench.local"}), "common_name is missing or not a string"),
             (sign, json.dumps({"csr": 42}), "csr is missing or not a string"),
             (sign, json.dumps({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                       "-----END CERTIFICATE REQUEST-----\n"}), "")]
    for request, body, message in cases:
        answer = _send(floor, type(request)(request.method, request.path, body, request.headers))
        assert answer.status_code == 400, (body, answer.text)
        errors = answer.json()["errors"]
        assert len(errors) == 1 and message in errors[0], (body, errors)
    audited = [json.loads(line) for line in (floor.workdir / "audit.log").read_bytes().splitlines()]
    assert [(a["type"], "error" in a) for a in audited] == [("request", False), ("response", True)] * 3
    assert floor.checks()["stored_certificates"] == 0


def test_the_floor_runs_beside_warden_for_the_p256_workloads() -> None:
    assert [name for name, w in WORKLOADS.items() if w.floor] == ["p256-issue", "p256-sign"]
