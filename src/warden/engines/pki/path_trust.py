"""The mount's trust bundle (a warden extension): what every relying party should trust.

``trust_bundle`` (raw PEM) and ``cert/trust_bundle`` (JSON) are unauthenticated, like
``ca_chain``. The bundle is defined once, in ``authority.trust_bundle_ids``: the chains of
the default issuer and of every other issuer holding its key in this mount, unless revoked.
So while a CA rotates in place (``root/rotate`` or an imported intermediate next to the old
one) every client that fetches it gets old and new; deleting or revoking the old issuer
drops it. ``issue``/``sign`` responses carry the same list as ``trust_bundle``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from warden.engines.pki import store
from warden.engines.pki.authority import CaState, LoadedIssuer, bundle_anchors
from warden.engines.pki.fields import storage_of
from warden.framework import FieldData, Path
from warden.logical.clock import to_rfc3339
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response

if TYPE_CHECKING:
    from warden.engines.pki.backend import PkiBackend

PEM_CHAIN = "application/pem-certificate-chain"
UNAUTHENTICATED = ("trust_bundle",)  # cert/trust_bundle is covered by cert/*


def paths(b: PkiBackend) -> list[Path]:
    async def raw(req: Request, data: FieldData) -> Response | None:
        state = await b.ca(storage_of(req))
        if not state.trust_ids:
            return None
        return Response.raw_body("".join(state.trust_bundle).encode(), PEM_CHAIN)

    async def as_json(req: Request, data: FieldData) -> Response | None:
        state = await b.ca(storage_of(req))
        if not state.trust_ids:
            return None
        return Response(data=trust_view(state))

    read = Operation.READ
    return [
        Path("trust_bundle", operations={read: raw}, help_synopsis=RAW_SYN, help_description=DESC),
        Path("cert/trust_bundle", operations={read: as_json}, help_synopsis=JSON_SYN, help_description=DESC),
    ]


def _anchor_view(issuer: LoadedIssuer, default: str) -> dict[str, Any]:
    return {
        "issuer_id": issuer.id, "issuer_name": issuer.entry.name, "default": issuer.id == default,
        "issuing": issuer.entry.allows("issuing-certificates"),
        "serial_number": store.format_serial(issuer.info.serial), "subject": issuer.info.subject,
        "not_before": int(issuer.info.not_before), "not_after": int(issuer.info.not_after),
        "not_after_rfc3339": to_rfc3339(issuer.info.not_after),
        "certificate": issuer.pem, "ca_chain": list(issuer.chain),
    }


def trust_view(state: CaState) -> dict[str, Any]:
    """The JSON body of cert/trust_bundle."""
    pems = list(state.trust_bundle)
    return {
        "certificate": "".join(pems),
        "trust_bundle": pems,
        "issuer_ids": list(state.trust_ids),
        "default_issuer": state.default_issuer,
        "issuers": [_anchor_view(i, state.default_issuer)
                    for i in bundle_anchors(state.issuers, state.default_issuer)],
    }


RAW_SYN = "The mount's trust bundle as PEM (unauthenticated; warden extension)."
JSON_SYN = "The mount's trust bundle and the issuers behind it (unauthenticated; warden extension)."
DESC = """
The certificates a peer of this mount's certificates should trust: the chain of the default
issuer, then the chains of the other issuers that hold their key in this mount and are not
revoked (oldest first), each certificate once. With one issuer this equals ca_chain. While a
CA rotates in place it holds the old and the new CA, so files written from it (ca.crt,
kubeconfigs' certificate-authority-data, an agent's ca_file) let old and new leaves verify;
deleting or revoking the old issuer drops it. 404 while the mount has no issuer.

JSON fields: certificate (the PEMs concatenated), trust_bundle (list of PEM), issuer_ids (the
issuer of each entry), default_issuer, and issuers: the anchors of the bundle with
issuer_id, issuer_name, default, issuing (may issue leaves), serial_number, subject,
not_before, not_after (unix), not_after_rfc3339, certificate and ca_chain.
"""
