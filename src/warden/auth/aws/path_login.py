"""``login`` (ec2): a PKCS#7-signed identity document and a nonce for a token; and renewal."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warden.auth.aws import pkcs7
from warden.auth.aws.accesslist import AccessListEntry, load_entry, save_entry
from warden.auth.aws.identity import IdentityDocument, IdentityDocumentError, parse_time
from warden.auth.aws.path_config_cert import pkcs7_certificates
from warden.auth.aws.path_role import AwsRole, load_role
from warden.framework import Field, FieldData, FieldType, Path
from warden.framework.net import addr_in_cidrs
from warden.logical.errors import InvalidRequest, PermissionDenied
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Auth, Response
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.auth.aws.backend import AwsBackend

MAX_NONCE = 128

LOGIN_FIELDS: dict[str, Field] = {
    "role": Field(FieldType.STRING, "The role to log in with; defaults to the instance's AMI ID."),
    "pkcs7": Field(FieldType.STRING, "The PKCS#7 signature of the identity document, base64, "
                   "as served by the instance metadata service (newlines allowed)."),
    "nonce": Field(FieldType.STRING, "The client's nonce: optional at the first login (the "
                   "server makes one and returns it in auth.metadata.nonce), required to log in "
                   "again. An explicitly empty nonce disables reauthentication."),
    "identity": Field(FieldType.STRING, "Not supported (identity+signature login); use pkcs7."),
    "signature": Field(FieldType.STRING, "Not supported (identity+signature login); use pkcs7."),
}


def paths(b: AwsBackend) -> list[Path]:
    return [Path("login/?", fields=LOGIN_FIELDS, operations={Operation.UPDATE: Login(b).login},
                 help_synopsis=LOGIN_SYN, help_description=LOGIN_DESC)]


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the aws backend without its mount storage")
    return req.storage


@dataclass(frozen=True, slots=True)
class _Nonce:
    value: str
    supplied: bool


class Login:
    def __init__(self, b: AwsBackend) -> None:
        self.b = b

    async def login(self, req: Request, data: FieldData) -> Response:
        storage = _storage(req)
        if data.get("identity") or data.get("signature"):
            raise InvalidRequest("identity+signature login is not supported; send pkcs7")
        doc = await self._document(storage, data.get("pkcs7"))
        name = data.get("role").strip() or doc.ami_id
        role = await load_role(storage, name)
        if role is None:
            raise InvalidRequest(f'entry for role "{name}" not found')
        addr = req.connection.remote_addr
        if role.token.bound_cidrs and not addr_in_cidrs(addr, role.token.bound_cidrs):
            raise PermissionDenied(
                f'permission denied: source address "{addr}" is not in the role\'s token_bound_cidrs')
        await self.b.check_instance(role, doc)
        value, supplied = data.get_ok("nonce")
        nonce = _Nonce(str(value), supplied)
        returned_nonce = await self._register(req, role, doc, nonce)
        return Response(auth=_auth(role, doc, returned_nonce))

    async def _document(self, storage: Storage, pkcs7_b64: str) -> IdentityDocument:
        if not pkcs7_b64.strip():
            raise InvalidRequest("missing pkcs7")
        certificates = await pkcs7_certificates(storage)
        if not certificates:
            raise InvalidRequest("no AWS public certificate of type pkcs7 is configured: write "
                                 "the one AWS publishes for your region to config/certificate/<name>")
        try:
            content = pkcs7.verified_content(pkcs7.decode(pkcs7_b64), certificates)
            return IdentityDocument.parse(content)
        except (pkcs7.Pkcs7Error, IdentityDocumentError) as exc:
            raise InvalidRequest(
                f"failed to verify the instance identity document using pkcs7: {exc}") from None

    async def _register(self, req: Request, role: AwsRole, doc: IdentityDocument,
                        nonce: _Nonce) -> str:
        """Record the login in the access list; the nonce to return ("" for none)."""
        storage = _storage(req)
        key = await self.b.key(storage)
        now = self.b.now()
        disallow = role.disallow_reauthentication or (nonce.supplied and not nonce.value)
        async with self.b.instance_lock(doc.instance_id):
            stored = await load_entry(storage, doc.instance_id)
            if stored is not None:
                _check_reauthentication(stored, role, doc, key.digest("nonce", nonce.value), nonce)
            value = nonce.value if nonce.supplied else self.b.new_uuid()
            if len(value) > MAX_NONCE and not disallow:
                raise InvalidRequest(f"client nonce exceeding the limit of {MAX_NONCE} characters")
            entry = AccessListEntry(
                role=stored.role if stored else role.name,
                creation_time=stored.creation_time if stored else now,
                pending_time=doc.pending_time,
                expiration_time=now + max(req.mount.max_lease_ttl, role.token.max_ttl),
                last_updated_time=now,
                disallow_reauthentication=disallow,
                nonce_hmac="" if disallow else key.digest("nonce", value),
            )
            await save_entry(storage, doc.instance_id, entry)
        return "" if disallow or nonce.supplied else value


def _check_reauthentication(stored: AccessListEntry, role: AwsRole, doc: IdentityDocument,
                            nonce_hmac: str, nonce: _Nonce) -> None:
    """Vault's validateMetadata: the same nonce, or a migration when the role allows it."""
    if stored.disallow_reauthentication or (nonce.supplied and not nonce.value):
        raise InvalidRequest("reauthentication is disabled")
    given, previous = doc.pending, parse_time(stored.pending_time)
    same = bool(nonce.value) and hmac.compare_digest(nonce_hmac.encode(), stored.nonce_hmac.encode())
    if not same:
        if not role.allow_instance_migration:
            raise InvalidRequest("client nonce mismatch")
        if not given > previous:
            raise InvalidRequest("client nonce mismatch and instance meta-data incorrect")
    if given < previous:
        raise InvalidRequest("instance meta-data is older than the one used for previous login")


def _auth(role: AwsRole, doc: IdentityDocument, nonce: str) -> Auth:
    metadata = {"instance_id": doc.instance_id, "region": doc.region,
                "account_id": doc.account_id, "ami_id": doc.ami_id,
                "role": role.name, "role_tag": ""}
    if nonce:
        metadata["nonce"] = nonce
    return role.token.to_auth(
        display_name="",
        metadata=metadata,
        internal_data={"role": role.name, "instance_id": doc.instance_id, "region": doc.region,
                       "account_id": doc.account_id, "ami_id": doc.ami_id,
                       "pending_time": doc.pending_time},
    )


def renewer(b: AwsBackend) -> Callable[[Request], Awaitable[Auth]]:
    async def renew(req: Request) -> Auth:
        """Role still there and still binding the instance, which is still in the access list."""
        if req.auth is None:
            raise InvalidRequest("renewal needs the token's login data")
        storage = _storage(req)
        internal = req.auth.internal_data
        name = str(internal.get("role", ""))
        role = await load_role(storage, name) if name else None
        if role is None:
            raise InvalidRequest(f'role "{name}" no longer exists; not renewing')
        doc = IdentityDocument(
            instance_id=str(internal.get("instance_id", "")), region=str(internal.get("region", "")),
            account_id=str(internal.get("account_id", "")), ami_id=str(internal.get("ami_id", "")),
            pending_time=str(internal.get("pending_time", "")))
        await b.check_instance(role, doc, renewing=True)
        renewed = role.token.renewal(req.auth)
        async with b.instance_lock(doc.instance_id):
            entry = await load_entry(storage, doc.instance_id)
            if entry is None:
                raise InvalidRequest(f'instance "{doc.instance_id}" is no longer in the identity '
                                     "access list; not renewing")
            ttl = max(req.mount.max_lease_ttl, role.token.max_ttl)
            await save_entry(storage, doc.instance_id, entry.extended(b.now(), ttl))
        return renewed

    return renew


LOGIN_SYN = "Log in as an EC2 instance with its PKCS#7-signed identity document."
LOGIN_DESC = """\
The PKCS#7 signature must verify with a registered AWS certificate; the identity
document must satisfy the role's bindings. The first login from an instance records
it in the identity access list with a nonce (the client's, or one returned in
auth.metadata.nonce); a later login must present the same nonce unless the role
allows instance migration and the document's pendingTime is newer.
"""
