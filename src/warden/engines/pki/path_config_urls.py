"""``config/urls``: the AIA and CRL distribution URLs written into new certificates."""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import TYPE_CHECKING

from warden.engines.pki.fields import storage_of
from warden.engines.pki.store import UrlsConfig
from warden.framework import Field, FieldData, FieldType, Path
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

CSV = FieldType.COMMA_STRING_SLICE
URL_FIELDS: dict[str, Field] = {
    "issuing_certificates": Field(CSV, "URLs of the issuing CA certificate (AIA caIssuers)."),
    "crl_distribution_points": Field(CSV, "URLs of the CRL (CRL distribution points)."),
    "delta_crl_distribution_points": Field(
        CSV, "URLs of the delta CRL (the Freshest CRL extension of new certificates and, with "
        "enable_delta, of complete CRLs)."),
    "ocsp_servers": Field(CSV, "URLs of the OCSP responder (AIA OCSP)."),
    "enable_templating": Field(FieldType.BOOL, "AIA URL templating (not supported)."),
}


URL_NAMES = ("issuing_certificates", "crl_distribution_points", "ocsp_servers",
             "delta_crl_distribution_points")
NO_BASE_CRL = ("delta_crl_distribution_points is set but crl_distribution_points is not: certificates "
               "will point to delta CRLs without the complete CRL they apply to")


def paths(b: PkiBackend) -> list[Path]:
    async def read(req: Request, data: FieldData) -> Response:
        urls = await b.urls(storage_of(req))
        return Response(data={**{k: list(v) for k, v in dataclasses.asdict(urls).items()},
                              "enable_templating": False})

    async def write(req: Request, data: FieldData) -> Response:
        if data.get("enable_templating"):
            raise InvalidRequest("AIA URL templating is not supported by warden")
        current = await b.urls(storage_of(req))
        values = {}
        for name in UrlsConfig.__dataclass_fields__:
            if data.supplied(name):
                values[name] = tuple(checked_url(u, name) for u in data.get(name))
        urls = dataclasses.replace(current, **values)
        await b.save_urls(storage_of(req), urls)
        no_base = urls.delta_crl_distribution_points and not urls.crl_distribution_points
        warnings = [NO_BASE_CRL] if no_base else []
        return Response(data={k: list(v) for k, v in dataclasses.asdict(urls).items()}, warnings=warnings)

    return [Path("config/urls", fields=URL_FIELDS, operations={Operation.READ: read, Operation.UPDATE: write},
                 help_synopsis="The URLs new certificates point to for their CA, CRL and OCSP.",
                 help_description=URLS_DESC)]


def checked_url(url: str, field: str) -> str:
    """``url`` if certificates can carry it: absolute, and ASCII (an IA5String)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.netloc or any(c.isspace() for c in url):
        raise InvalidRequest(f'{field}: "{url}" is not an absolute URL')
    if not url.isascii():
        raise InvalidRequest(f'{field}: "{url}" is not ASCII: give the host as an A-label (IDNA) '
                             "and percent-encode the rest")
    return url


URLS_DESC = """
Only certificates issued after a change carry the new URLs. Give an empty string to clear
a list. Per-issuer URLs (issuer/<ref>) take precedence when set.
"""
