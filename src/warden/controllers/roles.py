"""The warden role a signer issues from, read once per leadership term: a role the
controller may not read, or that does not exist, stops it with what to change."""

from __future__ import annotations

from warden.api import AsyncClient, Forbidden, JsonDict


class RoleProblem(Exception):
    """The role cannot serve this signer; the message says what to change."""


async def read_role(api: AsyncClient, *, who: str, role_path: str, sign_path: str,
                    bootstrap_flag: str) -> JsonDict:
    """The role's data. ``who`` names the signer in messages ("signer NAME");
    ``bootstrap_flag`` is the ``warden k8s bootstrap`` flag that creates such a role."""
    try:
        body = await api.read(role_path)
    except Forbidden:
        raise RoleProblem(f"{who}: cannot read role {role_path} (permission denied): the "
                          f"controller's policy needs read on it and update on {sign_path}") from None
    data: JsonDict = (body or {}).get("data") or {}
    if not data:
        raise RoleProblem(f"{who}: role {role_path} does not exist (create it, e.g. with "
                          f"'warden k8s bootstrap CLUSTER {bootstrap_flag}')")
    return data
