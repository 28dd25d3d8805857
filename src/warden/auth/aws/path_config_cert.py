"""``config/certificate/<name>`` and ``config/certificates``: the AWS public certificates.

AWS publishes, per region, the certificate whose key signs instance identity
documents. Operators register it here (PEM, or base64 of the DER); only certificates
of type ``pkcs7`` are used to verify login messages.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage, get_json, put_json

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST
CERT_PREFIX = "config/certificate/"
CERT_TYPES = ("pkcs7", "identity", "signature")
SCHEMA_VERSION = 1

CERT_FIELDS: dict[str, Field] = {
    "cert_name": Field(FieldType.STRING, "Name of the certificate entry."),
    "aws_public_cert": Field(
        FieldType.STRING, "The AWS public certificate: PEM, or base64 of the DER encoding."),
    "type": Field(
        FieldType.STRING, 'What the certificate verifies: "pkcs7" (login messages, the '
        'default), "identity" or "signature".', default="pkcs7", allowed_values=CERT_TYPES),
    "document_type": Field(
        FieldType.STRING, 'The name hvac sends for "type".', allowed_values=CERT_TYPES),
}


@dataclass(frozen=True, slots=True)
class AwsCertificate:
    name: str
    pem: str
    type: str = "pkcs7"
    schema_version: int = SCHEMA_VERSION

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.pem.encode())


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the aws backend without its mount storage")
    return req.storage


async def load_certificate(storage: Storage, name: str) -> AwsCertificate | None:
    data = await get_json(storage, CERT_PREFIX + name)
    if data is None:
        return None
    data["schema_version"] = SCHEMA_VERSION
    return AwsCertificate(**{k: v for k, v in data.items()
                             if k in AwsCertificate.__dataclass_fields__})


async def pkcs7_certificates(storage: Storage) -> list[x509.Certificate]:
    found = []
    for name in sorted(await storage.list(CERT_PREFIX)):
        entry = None if name.endswith("/") else await load_certificate(storage, name)
        if entry is not None and entry.type == "pkcs7":
            found.append(entry.certificate())
    return found


def paths() -> list[Path]:
    return [
        Path("config/certificates/?", operations={L: list_certificates},
             help_synopsis="List the names of the registered AWS public certificates."),
        Path("config/certificate/" + generic_name_regex("cert_name"), fields=CERT_FIELDS,
             operations={R: read_certificate, U: write_certificate, D: delete_certificate},
             existence_check=certificate_exists,
             help_synopsis=CERT_SYN, help_description=CERT_DESC),
    ]


async def list_certificates(req: Request, data: FieldData) -> Response:
    names = [k for k in await _storage(req).list(CERT_PREFIX) if not k.endswith("/")]
    return Response.listing(sorted(names))


async def certificate_exists(req: Request, data: FieldData) -> bool:
    return await load_certificate(_storage(req), data.get("cert_name")) is not None


async def read_certificate(req: Request, data: FieldData) -> Response | None:
    entry = await load_certificate(_storage(req), data.get("cert_name"))
    if entry is None:
        return None
    return Response(data={"aws_public_cert": entry.pem, "type": entry.type})


async def delete_certificate(req: Request, data: FieldData) -> None:
    await _storage(req).delete(CERT_PREFIX + data.get("cert_name"))


async def write_certificate(req: Request, data: FieldData) -> None:
    name = data.get("cert_name")
    current = await load_certificate(_storage(req), name)
    raw = data.get("aws_public_cert")
    if not raw.strip():
        if current is None:
            raise InvalidRequest("missing aws_public_cert")
        pem = current.pem
    else:
        pem = parse_certificate(raw)
    kind = current.type if current is not None else "pkcs7"
    for field in ("document_type", "type"):  # "type" wins when both are sent
        if data.supplied(field):
            kind = data.get(field)
    await put_json(_storage(req), CERT_PREFIX + name, asdict(AwsCertificate(name, pem, kind)))


def parse_certificate(raw: str) -> str:
    """The certificate as PEM; accepts PEM, base64(DER) or base64(PEM)."""
    text = raw.strip()
    try:
        if "-----BEGIN" in text:
            cert = x509.load_pem_x509_certificate(text.encode())
        else:
            der = base64.b64decode("".join(text.split()), validate=True)
            cert = (x509.load_pem_x509_certificate(der) if der.lstrip().startswith(b"-----BEGIN")
                    else x509.load_der_x509_certificate(der))
    except (ValueError, binascii.Error):
        raise InvalidRequest("aws_public_cert is not a PEM or base64 DER certificate") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey | dsa.DSAPublicKey | ec.EllipticCurvePublicKey):
        raise InvalidRequest("aws_public_cert must hold an RSA, DSA or ECDSA key")
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CERT_SYN = "Register, read or delete an AWS public certificate."
CERT_DESC = """\
Login messages (the instance's PKCS#7 identity document) are accepted when their
signature verifies with one of the certificates of type pkcs7 registered here. Use
the certificate AWS publishes for the regions your instances run in.
"""
