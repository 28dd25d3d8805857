"""Read the issued-certificate facts back out of an audit log file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class IssuedCert:
    time: str
    mount: str
    role: str
    serial_number: str
    subject: str
    sans: dict[str, list[str]]
    not_after: str
    accessor: str
    request_id: str

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "mount": self.mount, "role": self.role,
                "serial_number": self.serial_number, "subject": self.subject,
                "sans": self.sans, "not_after": self.not_after, "accessor": self.accessor,
                "request_id": self.request_id}


def issued_certificates(path: str, *, prefix: str = "") -> Iterator[IssuedCert]:
    """Every certificate an audit log says was issued or signed, oldest first."""
    pre = prefix.encode()
    with open(path, "rb") as fh:
        for raw in fh:
            body = raw.rstrip(b"\n")
            if pre and body.startswith(pre):
                body = body[len(pre):]
            if b'"certificate"' not in body:
                continue
            try:
                entry = orjson.loads(body)
            except orjson.JSONDecodeError:
                continue
            cert = entry.get("certificate")
            if entry.get("type") != "response" or not isinstance(cert, dict) or entry.get("error"):
                continue
            yield _cert(entry, cert)


def _cert(entry: dict[str, Any], cert: dict[str, Any]) -> IssuedCert:
    sans = cert.get("sans") or {}
    return IssuedCert(
        time=str(entry.get("time", "")),
        mount=str(cert.get("mount", "")),
        role=str(cert.get("role", "")),
        serial_number=str(cert.get("serial_number", "")),
        subject=str(cert.get("subject", "")),
        sans={k: list(v) for k, v in sans.items()} if isinstance(sans, dict) else {},
        not_after=str(cert.get("not_after", "")),
        accessor=str(cert.get("accessor", "")),
        request_id=str(entry.get("request", {}).get("id", "")),
    )
