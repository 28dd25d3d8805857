"""``status`` of a rotation: its phase and times, and per node and component which issuer its
current certificate comes from (from the mount's certificate index)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from warden.kube.rotate import Env, next_command
from warden.kube.rotate_leaves import (
    BACKDATE,
    Holder,
    Leaf,
    current_leaves,
    holder_of,
    holders,
    issued_before,
    parse_rfc3339,
    read_leaves,
    rfc3339,
)
from warden.kube.rotation_state import BEGUN, RotationState
from warden.kube.state import data_of

STATE_FIELDS = ("phase", "old_issuer", "new_issuer", "begun_at", "switched_at", "finished_at", "begun_by",
                "switched_by", "finished_by", "pending", "pending_since", "pending_by", "forced",
                "token_lifetime", "finish_after")


def _labels(state: RotationState, default: str) -> dict[str, str]:
    if state.old_issuer and state.new_issuer and state.phase:
        return {state.old_issuer: "old", state.new_issuer: "new"}
    return {default: "current"} if default else {}


def _row(holder: Holder, leaf: Leaf | None, labels: Mapping[str, str], begun: float) -> dict[str, Any]:
    row: dict[str, Any] = {"component": holder.component, "node": holder.node,
                           "certificate": holder.certificate, "role": holder.role,
                           "common_name": holder.common_name, "issuer": "none", "issuer_id": "",
                           "serial_number": "", "issued_at": "", "expires_at": "", "since_begin": None}
    if leaf is not None:
        row.update(issuer=labels.get(leaf.issuer_id, "other"), issuer_id=leaf.issuer_id,
                   serial_number=leaf.serial_number, issued_at=rfc3339(leaf.not_before + BACKDATE),
                   expires_at=rfc3339(leaf.not_after))
        if begun:
            row["since_begin"] = not issued_before(leaf, begun)
    return row


def ca_status(env: Env, ca: str) -> dict[str, Any]:
    spec, mount = env.spec, env.spec.mount(ca)
    state = env.store.read(ca)
    bundle = data_of(env.api.read(f"{mount}/cert/trust_bundle")) or {}
    labels = _labels(state, str(bundle.get("default_issuer") or ""))
    begun = parse_rfc3339(state.begun_at) if state.begun_at and state.phase == BEGUN else 0.0
    leaves = read_leaves(env.api, mount)
    current = current_leaves(leaves)
    spec_holders = holders(spec, mount)
    rows = [_row(h, current.get(h.key), labels, begun) for h in spec_holders]
    known = {h.key for h in spec_holders}
    now = env.now()
    for key, leaf in sorted(current.items()):
        if key not in known and leaf.not_after > now:
            rows.append(_row(holder_of(spec_holders, leaf), leaf, labels, begun))
    issuers = [{"issuer_id": i.get("issuer_id"), "issuer_name": i.get("issuer_name"),
                "label": labels.get(str(i.get("issuer_id")), "other"), "default": i.get("default"),
                "issuing": i.get("issuing"), "subject": i.get("subject"),
                "not_after": i.get("not_after_rfc3339")} for i in bundle.get("issuers") or ()]
    return _body(env, state, mount, issuers, rows)


def sa_status(env: Env) -> dict[str, Any]:
    state = env.store.read("sa")
    return _body(env, state, f"{env.spec.kv_mount}/{env.spec.kv_base}/sa", [], [])


def _body(env: Env, state: RotationState, where: str, issuers: list[dict[str, Any]],
          rows: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"cluster": env.spec.name, "ca": state.ca, "where": where,
                            "state_path": env.store.logical_path(state.ca)}
    body.update({name: getattr(state, name) for name in STATE_FIELDS})
    body.update(issuers=issuers, leaves=rows, next=next_command(env.spec, state))
    return body
