"""Rotating one of a cluster's CAs in place, over the PKI API: begin, switch, finish.

- ``begin``: a new key and issuer in the same mount (``root/rotate/internal``; or, for an
  offline root, a CSR now and ``intermediate/set-signed`` later). The mount's trust bundle
  (``cert/trust_bundle``) then holds old + new, and so does every file written from it.
  The old issuer stays the default: leaves still come from it.
- ``switch``: the new issuer becomes the default; the old one keeps signing CRLs and OCSP but
  loses ``issuing-certificates``, so no leaf can come from it any more.
- ``finish``: the old issuer (and its key) is deleted, which drops it from the bundle;
  refused while a component's current leaf still comes from it.

Every phase is idempotent (state in ``rotation_state``, written with check-and-set, engine
changes before the state that records them) and refused out of order with the next command.
``begin`` lives in ``rotate_begin``; this module has what the phases share, switch and finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from warden.api import ClientError, InvalidRequest
from warden.kube.cluster import ClusterSpec
from warden.kube.desired import desired
from warden.kube.rotate_leaves import (
    Holder,
    Leaf,
    holder_of,
    holders,
    live_leaves_of,
    parse_rfc3339,
    read_leaves,
    rfc3339,
    stale_since,
)
from warden.kube.rotation_state import (
    BEGUN,
    FINISHED,
    PENDING_BEGIN,
    PENDING_SIGNED,
    SWITCHED,
    Conflict,
    RotationError,
    RotationState,
    RotationStore,
)
from warden.kube.state import Api, data_of

RETIRED_USAGE = "read-only,crl-signing,ocsp-signing"


class RotateApi(Api, Protocol):
    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None: ...

    def patch(self, path: str, data: Mapping[str, Any]) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Env:
    """What a phase needs: the API, the cluster, a clock, who runs it, where to say what."""

    api: RotateApi
    spec: ClusterSpec
    now: Callable[[], float]
    who: str
    progress: Callable[[str], None] = lambda _: None
    stale_after: float = 120.0  # a pending begin older than this is taken to have crashed
    sleep: Callable[[float], None] = time.sleep

    @property
    def store(self) -> RotationStore:
        return RotationStore(self.api, self.spec)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: RotationState
    changed: bool
    message: str
    next: str = ""
    csr: str = ""
    broken: tuple[tuple[Holder, Leaf], ...] = ()  # finish -force: what stops verifying
    stale: tuple[tuple[Holder, Leaf], ...] = ()  # switch -force: who had not fetched the bundle


def command(spec: ClusterSpec, ca: str, phase: str, extra: str = "") -> str:
    kv = f" -kv-mount {spec.kv_mount}" if spec.kv_mount != "secret" else ""
    return f"warden k8s rotate{kv} {spec.name} {ca} {phase}{extra}"


def next_command(spec: ClusterSpec, state: RotationState) -> str:
    """What to run after ``state`` ("" once a rotation finished: a new one starts with begin)."""
    ca = state.ca
    if state.pending == PENDING_SIGNED:
        return command(spec, ca, "begin", " -import SIGNED.crt")
    if state.phase == FINISHED and not state.pending:
        return ""
    if state.pending == PENDING_BEGIN or not state.phase:
        return command(spec, ca, "begin")
    return command(spec, ca, "switch" if state.phase == BEGUN else "finish")


# -- reading the mount --------------------------------------------------------------------------


def default_issuer(api: Api, mount: str) -> str:
    found = str((data_of(api.read(f"{mount}/config/issuers")) or {}).get("default") or "")
    if not found:
        raise RotationError(f"{mount} has no CA yet: run 'warden k8s bootstrap' (and, for an offline "
                            "root, 'warden k8s import-signed') before rotating it")
    return found


def find(api: Api, path: str) -> dict[str, Any] | None:
    """A PKI issuer or key by reference; None when the mount has no such thing."""
    try:
        return data_of(api.read(path))
    except InvalidRequest as exc:
        if "unable to find" in str(exc):
            return None
        raise


def anchors(api: Api, mount: str) -> list[dict[str, Any]]:
    return list((data_of(api.read(f"{mount}/cert/trust_bundle")) or {}).get("issuers") or [])


def ca_data(spec: ClusterSpec, mount: str) -> dict[str, Any]:
    """The body that made the cluster's CA at bootstrap (same CN, OU, key type and lifetime)."""
    for ca in desired(spec, kv_version=2).cas:
        if ca.mount == mount:
            return dict(ca.data)
    raise RotationError(f"{mount} is not a CA of cluster {spec.name}")


def server_second(env: Env) -> int:
    """The server's clock, in whole seconds (``sys/health``); the local clock if it will not say.
    Leaves record their issue time in whole seconds of the server's clock, so phases that
    are compared with leaves are timed by it too."""
    try:
        body = env.api.read("sys/health", {"standbyok": "true"}) or {}
    except ClientError:
        body = {}
    return int(body.get("server_time_utc") or env.now())


def parse_time(text: str) -> float:
    return parse_rfc3339(text) if text else 0.0


def keep_default(env: Env, mount: str, old: str) -> None:
    """A mount whose default follows the latest issuer would switch at once: stop that."""
    config = data_of(env.api.read(f"{mount}/config/issuers")) or {}
    if config.get("default_follows_latest_issuer"):
        env.api.write(f"{mount}/config/issuers", {"default": old, "default_follows_latest_issuer": False})
        env.progress(f"{mount}: the default issuer no longer follows the latest one (it stays {old})")


# -- switch ------------------------------------------------------------------------------------


def _refuse_out_of_order(env: Env, state: RotationState, phase: str) -> None:
    spec, ca = env.spec, state.ca
    if state.pending:
        doing = "waiting for a signed certificate" if state.pending == PENDING_SIGNED else "running"
        raise RotationError(f"refused: the rotation of the {ca} CA has not begun yet (begin is {doing}); "
                            f"next: {next_command(spec, state)}")
    if state.phase in ("", FINISHED):
        why = "no rotation has begun" if not state.phase else f"the last one finished at {state.finished_at}"
        raise RotationError(f"refused: nothing to {phase} for the {ca} CA ({why}); next: "
                            f"{command(spec, ca, 'begin')}")
    if phase == "finish" and state.phase == BEGUN:
        raise RotationError(f"refused: the rotation of the {ca} CA has begun but not switched: leaves still "
                            f"come from the old CA; next: {command(spec, ca, 'switch')}")


def switch(env: Env, ca: str, *, force: bool = False) -> Outcome:
    store = env.store
    store.check_mount()
    state = store.read(ca)
    spec, mount = env.spec, env.spec.mount(ca)
    if state.phase == SWITCHED:
        return Outcome(state, False, f"the {ca} CA switched at {state.switched_at}; nothing to do",
                       command(spec, ca, "finish"))
    _refuse_out_of_order(env, state, "switch")
    if find(env.api, f"{mount}/issuer/{state.new_issuer}") is None:
        raise RotationError(f"the new issuer {state.new_issuer} of {mount} is gone; rotate again from "
                            f"{command(spec, ca, 'begin')} after deleting {env.store.logical_path(ca)}")
    stale = tuple(stale_since(read_leaves(env.api, mount), parse_time(state.begun_at), env.now(),
                              holders(spec, mount)))
    if stale and not force:
        raise RotationError(_stale_message(env, state, stale))
    new_key = str((find(env.api, f"{mount}/issuer/{state.new_issuer}") or {}).get("key_id") or "")
    env.api.write(f"{mount}/config/issuers", {"default": state.new_issuer})
    if new_key:
        env.api.write(f"{mount}/config/keys", {"default": new_key})
    if find(env.api, f"{mount}/issuer/{state.old_issuer}") is not None:
        env.api.patch(f"{mount}/issuer/{state.old_issuer}", {"usage": RETIRED_USAGE})
    env.progress(f"{mount}: {state.new_issuer} is the default issuer; {state.old_issuer} no longer issues "
                 "(it still signs CRLs and OCSP)")
    done = state.replace(phase=SWITCHED, switched_at=rfc3339(env.now()), switched_by=env.who)
    try:
        stored = store.write(done)
    except Conflict:
        raise RotationError(f"refused: another switch of the {ca} CA ran at the same time; check with "
                            f"{command(spec, ca, 'status')}") from None
    return Outcome(stored, True, f"switched the {ca} CA: every leaf issued from now on comes from "
                                 f"{state.new_issuer}", command(spec, ca, "finish"), stale=stale)


def _stale_message(env: Env, state: RotationState, stale: tuple[tuple[Holder, Leaf], ...]) -> str:
    lines = [f"refused: {len(stale)} component(s) have not fetched their files (and with them the bundle "
             f"that trusts the new CA) since begin at {state.begun_at}:"]
    lines += [f"  {h.component} {h.node} {h.certificate} (leaf issued {rfc3339(leaf.not_before + 30)})"
              for h, leaf in stale]
    lines.append(f"Write their files (warden k8s certs {env.spec.name} -node NODE -out DIR, or let their "
                 "agent renew), restart them, then switch; -force switches anyway (they would not trust "
                 "leaves of the new CA).")
    return "\n".join(lines)


# -- finish ------------------------------------------------------------------------------------


def finish(env: Env, ca: str, *, force: bool = False) -> Outcome:
    store = env.store
    store.check_mount()
    state = store.read(ca)
    spec, mount = env.spec, env.spec.mount(ca)
    if state.phase == FINISHED and not state.pending:
        message = f"the rotation of the {ca} CA finished at {state.finished_at}; nothing to do"
        return Outcome(state, False, message, command(spec, ca, "status"))
    _refuse_out_of_order(env, state, "finish")
    spec_holders = holders(spec, mount)
    live = live_leaves_of(read_leaves(env.api, mount), state.old_issuer, env.now())
    broken = tuple((holder_of(spec_holders, leaf), leaf) for leaf in live)
    if broken and not force:
        raise RotationError(_live_message(env, state, broken))
    old = find(env.api, f"{mount}/issuer/{state.old_issuer}")
    if old is not None:
        env.api.delete(f"{mount}/issuer/{state.old_issuer}")
        key = str(old.get("key_id") or "")
        if key and find(env.api, f"{mount}/key/{key}") is not None:
            try:
                env.api.delete(f"{mount}/key/{key}")
            except InvalidRequest as exc:  # another issuer (a cross-signed one) still uses it
                env.progress(f"{mount}: kept the old key {key}: {exc}")
        env.progress(f"{mount}: deleted the old issuer {state.old_issuer} and its key; bundles hold only the "
                     "new CA")
    forced = f"{len(broken)} leaves of the old CA stopped verifying" if broken else ""
    done = state.replace(phase=FINISHED, finished_at=rfc3339(env.now()), finished_by=env.who, forced=forced)
    try:
        stored = store.write(done)
    except Conflict:
        raise RotationError(f"refused: another finish of the {ca} CA ran at the same time; check with "
                            f"{command(spec, ca, 'status')}") from None
    return Outcome(stored, True, f"finished the rotation of the {ca} CA: only {state.new_issuer} is trusted",
                   command(spec, ca, "status"), broken=broken)


def _live_message(env: Env, state: RotationState, live: tuple[tuple[Holder, Leaf], ...]) -> str:
    lines = [f"refused: {len(live)} current certificate(s) still come from the old CA {state.old_issuer} and "
             "would stop verifying:"]
    lines += [f"  {h.component} {h.node} {leaf.role} CN={leaf.common_name} serial {leaf.serial_number} "
              f"(expires {rfc3339(leaf.not_after)})" for h, leaf in live]
    reissue = command(env.spec, state.ca, "switch", " -reissue -out DIR")
    lines.append(f"Re-issue them from the new CA ({reissue}, warden k8s certs {env.spec.name} -node NODE "
                 f"-out DIR, or the agents' renewal), or revoke them (warden write {state.mount}/revoke "
                 "serial_number=SERIAL); -force finishes anyway.")
    return "\n".join(lines)
