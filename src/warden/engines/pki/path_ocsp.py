"""``ocsp``: the OCSP responder over HTTP (RFC 6960 appendix A), unauthenticated.

GET carries the DER request base64-encoded in the path. POST carries it as the body with
``Content-Type: application/ocsp-request``; the HTTP edge hands that body to the engine
base64-encoded in the ``ocsp_request`` field (a JSON client may send the field directly).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import TYPE_CHECKING

from warden.engines.pki import ocsp, x509util
from warden.engines.pki.fields import storage_of
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

REQUEST_FIELD = {"ocsp_request": Field(FieldType.STRING, "The DER OCSP request, base64-encoded.")}


def paths(b: PkiBackend) -> list[Path]:
    async def by_get(req: Request, data: FieldData) -> Response:
        return await _answer(b, req, data.get("ocsp_request"))

    async def by_post(req: Request, data: FieldData) -> Response:
        return await _answer(b, req, data.get("ocsp_request"))

    return [
        Path("ocsp/(?P<ocsp_request>.+)", fields=REQUEST_FIELD, operations={Operation.READ: by_get},
             help_synopsis="OCSP over GET: the base64 DER request in the path."),
        Path("ocsp", fields=REQUEST_FIELD, operations={Operation.UPDATE: by_post},
             help_synopsis="OCSP over POST.", help_description=__doc__ or ""),
    ]


def decode_request(encoded: str) -> bytes | None:
    """The DER bytes of a (possibly URL-encoded, possibly unpadded) base64 request."""
    text = urllib.parse.unquote(encoded).strip()
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


async def _answer(b: PkiBackend, req: Request, encoded: str) -> Response:
    der = decode_request(encoded) if encoded else None
    body = (x509util.ocsp_failure("malformed") if der is None
            else await ocsp.respond(b, storage_of(req), der))
    return Response.raw_body(body, ocsp.CONTENT_TYPE)
