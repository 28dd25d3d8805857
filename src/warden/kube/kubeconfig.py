"""kubeconfig files with the CA and a client certificate embedded, as kubeadm writes them."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]


@dataclass(frozen=True, slots=True)
class KubeconfigParts:
    cluster: str
    server: str
    ca_pem: str
    user: str
    cert_pem: str
    key_pem: str


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def render(parts: KubeconfigParts) -> str:
    context = f"{parts.user}@{parts.cluster}"
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": parts.cluster, "cluster": {
            "certificate-authority-data": _b64(parts.ca_pem), "server": parts.server}}],
        "contexts": [{"name": context, "context": {"cluster": parts.cluster, "user": parts.user}}],
        "current-context": context,
        "preferences": {},
        "users": [{"name": parts.user, "user": {
            "client-certificate-data": _b64(parts.cert_pem), "client-key-data": _b64(parts.key_pem)}}],
    }
    return str(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))


@dataclass(frozen=True, slots=True)
class ParsedKubeconfig:
    server: str
    ca_pem: bytes | None
    cert_pem: bytes | None
    key_pem: bytes | None
    missing: tuple[str, ...] = ()  # files a kubeconfig refers to that are not there


def _current(doc: Mapping[str, Any], section: str, name: str) -> Mapping[str, Any]:
    key = section[:-1]
    for entry in doc.get(section) or []:
        if isinstance(entry, Mapping) and (not name or entry.get("name") == name):
            value = entry.get(key)
            return value if isinstance(value, Mapping) else {}
    return {}


def _material(entry: Mapping[str, Any], data_key: str, file_key: str, base: str,
              missing: list[str]) -> bytes | None:
    if entry.get(data_key):
        return base64.b64decode(str(entry[data_key]))
    ref = entry.get(file_key)
    if not ref:
        return None
    path = Path(str(ref))
    path = path if path.is_absolute() else Path(base) / path
    try:
        return path.read_bytes()
    except OSError:
        missing.append(str(path))
        return None


def parse(text: str, base_dir: str) -> ParsedKubeconfig:
    """The current context's server, CA and client certificate/key (embedded or as files)."""
    doc = yaml.safe_load(text) or {}
    if not isinstance(doc, Mapping):
        raise ValueError("not a kubeconfig (no mapping at the top)")
    context = _current(doc, "contexts", str(doc.get("current-context") or ""))
    cluster = _current(doc, "clusters", str(context.get("cluster") or ""))
    user = _current(doc, "users", str(context.get("user") or ""))
    missing: list[str] = []
    ca = _material(cluster, "certificate-authority-data", "certificate-authority", base_dir, missing)
    cert = _material(user, "client-certificate-data", "client-certificate", base_dir, missing)
    key = _material(user, "client-key-data", "client-key", base_dir, missing)
    return ParsedKubeconfig(str(cluster.get("server") or ""), ca, cert, key, tuple(missing))
