"""``identity-accesslist`` and ``tidy/identity-accesslist``: instances that have logged in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warden.auth.aws.accesslist import ACCESSLIST_PREFIX, list_instances, load_entry, tidy
from warden.framework import Field, FieldData, FieldType, Path, generic_name_regex
from warden.logical.operation import Operation
from warden.logical.request import Request
from warden.logical.response import Response
from warden.logical.storage import Storage

if TYPE_CHECKING:
    from warden.auth.aws.backend import AwsBackend

R, U, D, L = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST
DEFAULT_SAFETY_BUFFER = 72 * 3600
# "identity-whitelist" is Vault's older name, still used by hvac.
LIST_NAMES = "identity-(?:accesslist|whitelist)"

INSTANCE = {"instance_id": Field(FieldType.STRING, "The EC2 instance ID of the entry.")}
TIDY_FIELDS = {"safety_buffer": Field(
    FieldType.DURATION, "Keep entries until this long after they expire (default 72h).",
    default=DEFAULT_SAFETY_BUFFER)}


def paths(b: AwsBackend) -> list[Path]:
    h = AccessListHandlers(b)
    return [
        Path(f"{LIST_NAMES}/?", operations={L: h.list},
             help_synopsis="List the instance IDs in the identity access list."),
        Path(f"{LIST_NAMES}/" + generic_name_regex("instance_id"), fields=INSTANCE,
             operations={R: h.read, D: h.delete},
             help_synopsis=ENTRY_SYN, help_description=ENTRY_DESC),
        Path(f"tidy/{LIST_NAMES}/?", fields=TIDY_FIELDS, operations={U: h.tidy},
             help_synopsis=TIDY_SYN, help_description=TIDY_DESC),
    ]


def _storage(req: Request) -> Storage:
    if req.storage is None:
        raise RuntimeError("request reached the aws backend without its mount storage")
    return req.storage


class AccessListHandlers:
    def __init__(self, b: AwsBackend) -> None:
        self.b = b

    async def list(self, req: Request, data: FieldData) -> Response:
        return Response.listing(await list_instances(_storage(req)))

    async def read(self, req: Request, data: FieldData) -> Response | None:
        entry = await load_entry(_storage(req), data.get("instance_id"))
        return None if entry is None else Response(data=entry.view())

    async def delete(self, req: Request, data: FieldData) -> None:
        instance_id = data.get("instance_id")
        async with self.b.instance_lock(instance_id):
            await _storage(req).delete(ACCESSLIST_PREFIX + instance_id)

    async def tidy(self, req: Request, data: FieldData) -> Response:
        removed = await tidy(_storage(req), self.b.now(), data.get("safety_buffer"))
        return Response(data={"removed": removed}, warnings=[
            "Tidy operation finished: expired access-list entries were removed."])


ENTRY_SYN = "Read or delete an instance's entry in the identity access list."
ENTRY_DESC = """\
An entry is made at an instance's first login; later logins must present its nonce.
Deleting the entry lets the instance log in afresh (for example after a reboot that
lost the nonce, or with disallow_reauthentication). The nonce itself is never shown.
"""
TIDY_SYN = "Remove access-list entries that expired longer ago than the safety buffer."
TIDY_DESC = """\
An entry expires with the longest TTL its tokens could reach; once gone, the instance
can log in again without a nonce. Runs at once and reports how many were removed.
"""
