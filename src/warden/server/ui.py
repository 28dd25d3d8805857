"""The web dashboard's static files, served at ``/ui/`` on the API's own listener.

The files (``server/ui_assets/``: HTML, CSS and ES modules, no build step, nothing fetched
from elsewhere) are read once when the app is built. The dashboard reads the ordinary
``/v1/`` API with the token the user signs in with (kept in the tab's sessionStorage and
sent as ``X-Vault-Token``: no cookies, so no CSRF), under that token's ACL. Every answer
carries a strict Content-Security-Policy: scripts, styles and requests only from this
origin, no inline script or style, never framed.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

ASSET_PACKAGE = "warden.server"
ASSET_DIR = "ui_assets"
PREFIX = "/ui/"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

Answer = tuple[int, str, bytes, dict[str, str]]


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


class UiFiles:
    """The dashboard's files by URL path, answered with the security headers."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        self._assets = assets

    @classmethod
    def load(cls) -> UiFiles:
        root = resources.files(ASSET_PACKAGE).joinpath(ASSET_DIR)
        return cls({PREFIX + rel: asset for rel, asset in _walk(root, "")})

    def handles(self, path: str) -> bool:
        return path in ("/", "/ui") or path.startswith(PREFIX)

    def answer(self, method: str, path: str) -> Answer:
        if method not in ("GET", "HEAD"):
            return _text(405, "the dashboard's files are read with GET", {"allow": "GET, HEAD"})
        if path in ("/", "/ui"):
            return _text(307, "", {"location": PREFIX})
        asset = self._assets.get(PREFIX + "index.html" if path == PREFIX else path)
        if asset is None:
            return _text(404, "no such file in the dashboard", {})
        return 200, asset.content_type, asset.body, dict(SECURITY_HEADERS)


def _text(status: int, message: str, headers: dict[str, str]) -> Answer:
    return status, "text/plain; charset=utf-8", message.encode(), {**SECURITY_HEADERS, **headers}


def _walk(node: Traversable, rel: str) -> list[tuple[str, Asset]]:
    found: list[tuple[str, Asset]] = []
    for child in node.iterdir():
        name = rel + child.name
        if child.is_dir():
            found += _walk(child, name + "/")
            continue
        suffix = "." + child.name.rpartition(".")[2]
        if suffix in CONTENT_TYPES:
            found.append((name, Asset(child.read_bytes(), CONTENT_TYPES[suffix])))
    return found
