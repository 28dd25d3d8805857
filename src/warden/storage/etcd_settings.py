"""Settings of the etcd backend, kept free of gRPC so reading a config file stays cheap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

DEFAULT_PATH: Final = "/warden/"
DEFAULT_MAX_REQUEST_BYTES: Final = 1536 * 1024  # etcd's --max-request-bytes default
DEFAULT_MAX_VALUE_BYTES: Final = 64 * 1024 * 1024
DEFAULT_MAX_TXN_OPS: Final = 128  # etcd's --max-txn-ops default
REQUEST_OVERHEAD: Final = 64 * 1024  # keys, compares and framing, kept free in every request


@dataclass(frozen=True, slots=True)
class EtcdSettings:
    """How to reach etcd; Vault's ``storage "etcd"`` keys, parsed."""

    endpoints: tuple[str, ...] = ("http://127.0.0.1:2379",)
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_server_name: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    request_timeout: float = 5.0

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError("etcd: at least one address is required")
        for endpoint in self.endpoints:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
                raise ValueError(f'etcd: address "{endpoint}" must be scheme://host:port, '
                                 'e.g. https://10.0.0.1:2379')
        if len({urlsplit(e).scheme for e in self.endpoints}) != 1:
            raise ValueError("etcd: addresses must all be http:// or all be https:// URLs")
        if bool(self.username) != bool(self.password):
            raise ValueError("etcd: username and password must be given together")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("etcd: tls_cert_file and tls_key_file must be given together")
        if self.request_timeout <= 0:
            raise ValueError("etcd: request_timeout must be positive")

    @property
    def tls(self) -> bool:
        return urlsplit(self.endpoints[0]).scheme == "https"


@dataclass(frozen=True, slots=True)
class EtcdOptions:
    path: str = DEFAULT_PATH
    ha_enabled: bool = False
    lock_ttl: float = 3.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    max_txn_ops: int = DEFAULT_MAX_TXN_OPS

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or not self.path.endswith("/"):
            raise ValueError('etcd: path must start and end with "/", e.g. "/warden/"')
        if self.max_request_bytes < 2 * REQUEST_OVERHEAD:
            raise ValueError("etcd: max_request_bytes is too small")
        if self.max_txn_ops < 4:
            raise ValueError("etcd: max_txn_ops must be at least 4")
        if self.lock_ttl < 1:
            raise ValueError("etcd: lock_timeout must be at least 1s")
