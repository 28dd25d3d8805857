"""The PKI secrets engine: a Vault-compatible certificate authority (mount type ``pki``)."""

from warden.engines.pki.backend import KEYPOOL_SERVICE, PkiBackend, factory
from warden.engines.pki.keypool import KeyPool

__all__ = ["KEYPOOL_SERVICE", "KeyPool", "PkiBackend", "factory"]
