"""Applying a bootstrap plan over the API, and finishing intermediate CAs (import-signed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from warden.kube import plan as planning
from warden.kube.cluster import ClusterSpec
from warden.kube.desired import Desired, desired
from warden.kube.files import write_atomic
from warden.kube.plan import GENERATED, Kind, Plan, Step
from warden.kube.state import Api, CurrentState, data_of, read_ca, read_mounts, read_state

Progress = Callable[[str], None]
_CURVES: dict[int, ec.EllipticCurve] = {256: ec.SECP256R1(), 384: ec.SECP384R1(), 521: ec.SECP521R1()}


def prepare(api: Api, spec: ClusterSpec, csr_dir: Path | None = None) -> tuple[Desired, Plan]:
    """Read what warden holds and compute the steps that bring it to ``spec``."""
    mounts = read_mounts(api)
    version = CurrentState(mounts=mounts).kv_version(spec.kv_mount)
    wanted = desired(spec, kv_version=version)
    current = read_state(api, wanted, mounts, csr_dir)
    return wanted, planning.compute(wanted, current, csr_dir=str(csr_dir) if csr_dir else "")


def generate_key_pair(key_spec: str) -> tuple[str, str]:
    """(PKCS#8 private key PEM, SubjectPublicKeyInfo PEM), as ``openssl genpkey`` writes them."""
    key_type, _, bits_text = key_spec.partition(":")
    bits = int(bits_text)
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        key = ec.generate_private_key(_CURVES[bits])
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def _with_generated_key(step: Step) -> dict[str, Any]:
    """The step's body with the <generated> placeholders replaced by a fresh key pair."""
    private, public = generate_key_pair(step.key_spec)
    generated = {"private_key": private, "public_key": public}

    def fill(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: generated[k] if v == GENERATED else fill(v) for k, v in value.items()}
        return value

    return dict(fill(step.data))


def apply_step(api: Api, step: Step) -> None:
    data = _with_generated_key(step) if step.kind is Kind.SA_KEY else step.data
    body = api.write(step.path, data)
    if step.save_field:
        value = (data_of(body) or {}).get(step.save_field)
        if not isinstance(value, str):
            raise RuntimeError(f"{step.path} returned no {step.save_field}")
        write_atomic(Path(step.save_to), value, mode=0o644)


def apply(api: Api, plan: Plan, progress: Progress) -> int:
    """Send every step in order; returns how many were applied."""
    total = len(plan.steps)
    for n, step in enumerate(plan.steps, 1):
        progress(f"[{n}/{total}] {step.summary}")
        apply_step(api, step)
    return total


# -- intermediate CAs: import the certificates signed by the offline root ----------------------


@dataclass(frozen=True, slots=True)
class Imported:
    mount: str
    source: str
    issuers: tuple[str, ...]




def signed_file(spec: ClusterSpec, ca_key: str, directory: Path, explicit: Mapping[str, Path]) -> Path | None:
    """The signed certificate for a CA: given with -cert CA=FILE, else <dir>/<cluster>-<ca>.crt
    (or .pem) next to the CSR."""
    if ca_key in explicit:
        return explicit[ca_key]
    for suffix in (".crt", ".pem"):
        candidate = directory / f"{spec.name}-{ca_key}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def import_signed(api: Api, spec: ClusterSpec, directory: Path, explicit: Mapping[str, Path],
                  root_pem: str, progress: Progress) -> list[Imported]:
    """``intermediate/set-signed`` for every CA still waiting for its certificate."""
    done = []
    for ca in (c.ca for c in desired(spec, kv_version=2).cas):  # the cluster's CAs and the workloads CA
        mount = spec.mount(ca.key)
        if read_ca(api, mount).certificate:
            progress(f"{mount}: has its CA already, nothing to import")
            continue
        source = signed_file(spec, ca.key, directory, explicit)
        if source is None:
            stem = directory / f"{spec.name}-{ca.key}"
            raise FileNotFoundError(
                f"{mount} waits for its signed certificate: sign {stem}.csr with the offline root "
                f"and save it as {stem}.crt (or pass -cert {ca.key}=FILE)")
        try:
            pem = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise OSError(f"cannot read the signed certificate of {mount} from {source}: {reason}") from None
        if root_pem and root_pem.strip() not in pem:
            pem = pem.rstrip("\n") + "\n" + root_pem
        progress(f"{mount}: importing {source}")
        body = data_of(api.write(f"{mount}/intermediate/set-signed", {"certificate": pem})) or {}
        done.append(Imported(mount, str(source), tuple(body.get("imported_issuers") or ())))
    return done
