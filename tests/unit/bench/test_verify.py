"""A fast wrong answer cannot win: the checks catch a foreign CA, wrong names, keys and renewals."""

from __future__ import annotations

import dataclasses
import json

import pytest
from bench.items import cert_requests
from bench.keys import P256, RSA2048
from bench.limit import Issuer, LimitSpec, generate_key, make_ca, one
from bench.limit import extract as limit_extract
from bench.verify import certificate_problems, renewal_problems, verify_samples


@pytest.fixture(scope="module")
def issued() -> tuple[Issuer, str]:
    ca_key, ca_cert = make_ca(P256)
    return Issuer(ca_key, ca_cert), ca_cert.public_bytes(_pem()).decode()


def _pem():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM


def _answer(issuer: Issuer, kind: str, index: int = 0) -> dict[str, str]:
    items = cert_requests(2, with_csr=kind == "sign")
    return one(LimitSpec(kind, P256, tuple(items)), issuer, items[index], [generate_key(P256)])


@pytest.mark.parametrize("kind", ["issue", "issue-pooled", "sign"])
def test_right_answers_pass(issued: tuple[Issuer, str], kind: str) -> None:
    issuer, ca_pem = issued
    items = cert_requests(2, with_csr=kind == "sign")
    answer = one(LimitSpec(kind, P256, tuple(items)), issuer, items[1], [generate_key(P256)])
    verdict = verify_samples([{"index": 1, "body": json.dumps(answer)}], extract=limit_extract,
                             ca_pem=ca_pem, items=items, key=P256)
    assert (verdict.checked, verdict.passed, verdict.failures) == (1, 1, [])


def test_a_certificate_from_another_ca_fails(issued: tuple[Issuer, str]) -> None:
    issuer, _ = issued
    _, other_ca = make_ca(P256)
    answer = _answer(issuer, "issue")
    problems = certificate_problems(answer["certificate"], answer["private_key"], other_ca,
                                    cert_requests(1)[0], P256)
    assert any("not issued by the CA" in p for p in problems)


def test_wrong_name_key_type_and_private_key_fail(issued: tuple[Issuer, str]) -> None:
    issuer, _ = issued
    answer, other = _answer(issuer, "issue", 0), _answer(issuer, "issue", 1)
    asked = cert_requests(2)[1]  # the certificate was issued for item 0
    problems = certificate_problems(answer["certificate"], other["private_key"], issuer.ca_cert, asked,
                                    RSA2048)
    joined = " | ".join(problems)
    assert "common name" in joined
    assert "SANs" in joined
    assert "expected an RSA-2048 key" in joined
    assert "private key does not match" in joined


def test_a_signed_certificate_must_carry_the_csr_key(issued: tuple[Issuer, str]) -> None:
    issuer, _ = issued
    items = cert_requests(1, with_csr=True)
    answer = _answer(issuer, "issue")  # a fresh key, not the CSR's
    asked = dataclasses.replace(items[0])
    problems = certificate_problems(answer["certificate"], "", issuer.ca_cert, asked, P256)
    assert "the certificate's key is not the CSR's" in problems


def test_renewal_must_be_a_new_certificate(issued: tuple[Issuer, str]) -> None:
    issuer, _ = issued
    first, second = _answer(issuer, "issue"), _answer(issuer, "issue")
    assert renewal_problems(second["certificate"], first["certificate"]) == []
    same = renewal_problems(first["certificate"], first["certificate"])
    assert same == ["renewal returned the same serial"]


def test_unreadable_answers_are_failures(issued: tuple[Issuer, str]) -> None:
    _, ca_pem = issued
    verdict = verify_samples([{"index": 0, "body": "{}"}], extract=limit_extract, ca_pem=ca_pem,
                             items=cert_requests(1), key=P256)
    assert verdict.passed == 0
    assert "unreadable answer" in verdict.failures[0]


def test_expired_certificates_fail(issued: tuple[Issuer, str]) -> None:
    import datetime as dt

    issuer, _ = issued
    answer = _answer(issuer, "issue")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    problems = certificate_problems(answer["certificate"], "", issuer.ca_cert, cert_requests(1)[0], P256,
                                    now=later)
    assert "not valid now" in problems
