"""``begin`` of a CA rotation: claim the rotation (check-and-set), then a new issuer next to the
old one in the same mount (``root/rotate``), or, for an offline root, a CSR now and
``intermediate/set-signed`` with ``-import`` later. Resumable: the claim names the new issuer
(and its key), so a run after a crash adopts what an earlier one made instead of making
another; a claim younger than ``Env.stale_after`` belongs to a run still going and is refused.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from warden.kube.rotate import (
    Env,
    Outcome,
    anchors,
    ca_data,
    command,
    default_issuer,
    find,
    keep_default,
    next_command,
    parse_time,
    server_second,
)
from warden.kube.rotate_leaves import rfc3339
from warden.kube.rotation_state import (
    BEGUN,
    PENDING_BEGIN,
    PENDING_SIGNED,
    SWITCHED,
    Conflict,
    RotationError,
    RotationState,
)
from warden.kube.state import data_of


def begin(env: Env, ca: str, *, csr: bool = False, signed_pem: str = "") -> Outcome:
    store = env.store
    store.check_mount()
    state = store.read(ca)
    spec = env.spec
    if state.phase == SWITCHED:
        raise RotationError(f"the rotation of the {ca} CA was switched at {state.switched_at}, so begin "
                            f"is behind it; next: {command(spec, ca, 'finish')}")
    if state.phase == BEGUN and not state.pending:
        return Outcome(state, False, f"the rotation of the {ca} CA began at {state.begun_at} (new issuer "
                                     f"{state.new_issuer}); nothing to do", command(spec, ca, "switch"))
    if state.pending == PENDING_SIGNED:
        return _waiting_for_signature(env, state, csr=csr, signed_pem=signed_pem)
    if signed_pem:
        raise RotationError(f"nothing waits for a signed certificate of the {ca} CA; to rotate to a CA "
                            f"signed by an offline root, start with {command(spec, ca, 'begin', ' -csr')}")
    if state.pending == PENDING_BEGIN:
        claimed = _take_over(env, state)
    else:
        claimed = _claim(env, state, csr=csr)
    if claimed.pending == PENDING_SIGNED:
        return _make_csr(env, claimed)
    return _finish_begin(env, claimed, _create_or_adopt_root(env, claimed))


def _claim(env: Env, state: RotationState, *, csr: bool) -> RotationState:
    spec, mount, now = env.spec, env.spec.mount(state.ca), env.now()
    if spec.intermediate and not csr:
        raise RotationError(f"the CAs of cluster {spec.name} are intermediates of an offline root: "
                            f"begin with {command(spec, state.ca, 'begin', ' -csr')} and sign the CSR there")
    old = default_issuer(env.api, mount)
    extra = [a["issuer_id"] for a in anchors(env.api, mount) if a.get("issuer_id") != old]
    if extra:
        raise RotationError(f"{mount} already trusts other issuers that hold keys ({', '.join(extra)}): "
                            "a rotation outside 'warden k8s rotate' is under way; finish it or delete them "
                            f"(warden delete {mount}/issuer/ID) first")
    stamp = rfc3339(now).replace(":", "").replace("-", "").rstrip("Z").lower()
    fresh = RotationState(
        state.ca, mount, old_issuer=old, pending=PENDING_SIGNED if csr else PENDING_BEGIN,
        pending_since=rfc3339(now), pending_by=env.who, new_issuer_name=f"{state.ca}-{stamp}",
        version=state.version)
    try:
        return env.store.write(fresh)
    except Conflict:
        raise _busy(env, state.ca) from None


def _busy(env: Env, ca: str) -> Conflict:
    now = env.store.read(ca)
    who = now.pending_by or now.begun_by or "another operator"
    if now.pending == PENDING_SIGNED:
        where = "waiting for a signed CSR"
    elif now.pending:
        where = "being begun"
    else:
        where = now.phase or "not begun"
    return Conflict(f"refused: another begin of the {ca} CA ran at the same time (by {who}; the rotation "
                    f"is {where}); check with {command(env.spec, ca, 'status')}")


def _take_over(env: Env, state: RotationState) -> RotationState:
    since = parse_time(state.pending_since)
    if env.now() - since < env.stale_after:
        raise Conflict(f"refused: {state.pending_by or 'another operator'} is beginning the rotation of the "
                       f"{state.ca} CA (since {state.pending_since}); wait for it and check with "
                       f"{command(env.spec, state.ca, 'status')}, or, if that run crashed, run begin again "
                       f"after {rfc3339(since + env.stale_after)}")
    env.progress(f"continuing the begin {state.pending_by or 'someone'} started at {state.pending_since}")
    try:
        return env.store.write(state.replace(pending_since=rfc3339(env.now()), pending_by=env.who))
    except Conflict:
        raise _busy(env, state.ca) from None


def _create_or_adopt_root(env: Env, state: RotationState) -> str:
    mount, name = state.mount, state.new_issuer_name
    found = find(env.api, f"{mount}/issuer/{name}")
    if found is not None:
        env.progress(f"{mount}: adopting the issuer {name} an earlier run made")
        return str(found["issuer_id"])
    keep_default(env, mount, state.old_issuer)
    body = {**ca_data(env.spec, mount), "issuer_name": name, "key_name": name}
    key = find(env.api, f"{mount}/key/{name}")
    kind = "existing" if key is not None else "internal"
    if key is not None:
        body["key_ref"] = name
        body.pop("key_name")
    made = data_of(env.api.write(f"{mount}/root/rotate/{kind}", body)) or {}
    env.progress(f"{mount}: new root CA {made.get('issuer_id')} ({name}) next to the old one")
    return str(made["issuer_id"])


def _finish_begin(env: Env, claimed: RotationState, issuer_id: str) -> Outcome:
    # begun_at is the first whole second of the server's clock after the new issuer existed,
    # and begin returns only once it has passed: a leaf issued in an earlier second was
    # fetched without the new CA in its bundle, one issued from then on with it.
    begun = server_second(env) + 1
    env.sleep(1.05)
    done = claimed.replace(phase=BEGUN, new_issuer=issuer_id, begun_at=rfc3339(begun),
                           begun_by=env.who, pending="", pending_since="", pending_by="", csr="")
    try:
        stored = env.store.write(done)
    except Conflict:
        raise _busy(env, claimed.ca) from None
    return Outcome(stored, True, f"began the rotation of the {claimed.ca} CA: {claimed.mount} now trusts "
                                 f"old ({claimed.old_issuer}) and new ({issuer_id}); leaves still come from "
                                 "the old issuer", command(env.spec, claimed.ca, "switch"))


# -- begin -csr / -import: a CA signed by an offline root ---------------------------------------


def _make_csr(env: Env, state: RotationState) -> Outcome:
    mount, name = state.mount, state.new_issuer_name
    keep_default(env, mount, state.old_issuer)
    body = {**ca_data(env.spec, mount)}
    body.pop("ttl", None)
    key = find(env.api, f"{mount}/key/{name}")
    if key is None:
        made = data_of(env.api.write(f"{mount}/intermediate/generate/internal", {**body, "key_name": name}))
    else:
        made = data_of(env.api.write(f"{mount}/intermediate/generate/existing", {**body, "key_ref": name}))
    made = made or {}
    stored = env.store.write(state.replace(csr=str(made["csr"]).strip() + "\n", new_key=str(made["key_id"])))
    env.progress(f"{mount}: new key {name}; its CSR waits for the offline root's signature")
    message = f"made the CSR of the new {state.ca} CA: sign it with the offline root, then import it"
    return Outcome(stored, True, message, next_command(env.spec, stored), csr=stored.csr)


def _waiting_for_signature(env: Env, state: RotationState, *, csr: bool, signed_pem: str) -> Outcome:
    if not state.csr:  # the run that claimed crashed before it stored its CSR
        return _make_csr(env, state)
    if signed_pem:
        return _import_signed(env, state, signed_pem)
    if csr:
        message = f"the CSR of the new {state.ca} CA (made {state.pending_since}) waits for its signature"
        return Outcome(state, False, message, next_command(env.spec, state), csr=state.csr)
    raise RotationError(f"begin of the {state.ca} CA waits for the signed certificate of its CSR (made "
                        f"{state.pending_since}); next: {next_command(env.spec, state)} (the CSR again: "
                        f"{command(env.spec, state.ca, 'begin', ' -csr')})")


def _public_der(key: Any) -> bytes:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return bytes(key.public_bytes(serialization.Encoding.DER, spki))


def _import_signed(env: Env, state: RotationState, signed_pem: str) -> Outcome:
    try:
        cert = x509.load_pem_x509_certificates(signed_pem.encode())[0]
    except ValueError:
        raise RotationError("the file given to -import holds no PEM certificate") from None
    request = x509.load_pem_x509_csr(state.csr.encode())
    if _public_der(cert.public_key()) != _public_der(request.public_key()):
        raise RotationError("the certificate given to -import was not made from the CSR begin -csr printed "
                            "(its public key differs); sign that CSR (begin -csr prints it again)")
    mount = state.mount
    body = data_of(env.api.write(f"{mount}/intermediate/set-signed", {"certificate": signed_pem})) or {}
    mapping = body.get("mapping") or {}
    issuer = next((i for i, k in mapping.items() if k == state.new_key), "")
    if not issuer:  # imported by an earlier run: find it by its key
        listing = data_of(env.api.list(f"{mount}/issuers")) or {}
        for candidate in listing.get("keys") or ():
            found = find(env.api, f"{mount}/issuer/{candidate}") or {}
            if found.get("key_id") == state.new_key:
                issuer = str(candidate)
    if not issuer:
        raise RotationError(f"{mount} did not take the certificate as the new issuer")
    env.api.patch(f"{mount}/issuer/{issuer}", {"issuer_name": state.new_issuer_name})
    keep_default(env, mount, state.old_issuer)
    env.progress(f"{mount}: imported the signed CA as issuer {issuer}")
    return _finish_begin(env, state, issuer)
