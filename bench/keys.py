"""The key types a workload uses, spelled the way each system wants them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyType:
    algo: str  # "ec" or "rsa" (warden's key_type)
    bits: int

    @property
    def label(self) -> str:
        return "P-256" if self.algo == "ec" else f"RSA-{self.bits}"

    @property
    def cfssl_algo(self) -> str:
        return "ecdsa" if self.algo == "ec" else "rsa"

    def cfssl_key(self) -> dict[str, object]:
        return {"algo": self.cfssl_algo, "size": self.bits}


P256 = KeyType("ec", 256)
RSA2048 = KeyType("rsa", 2048)
