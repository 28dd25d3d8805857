"""The dashboard's files on a real server: where they are served, with which headers, when;
and the discipline of the files themselves (no inline code, no markup built from data,
nothing loaded from elsewhere)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support.server import ServerProcess

ASSETS = Path(__file__).resolve().parents[2] / "src" / "warden" / "server" / "ui_assets"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def config(db: Path, ui: bool) -> str:
    return (f'storage "sqlite" {{ path = "{db}" }}\n'
            'listener "tcp" {\n  address = "127.0.0.1:0"\n  tls_disable = true\n}\n'
            + ("ui = true\n" if ui else ""))


def test_ui_true_serves_the_files_with_a_strict_policy(server_factory: Callable[..., ServerProcess],
                                                      tmp_path: Path) -> None:
    server = server_factory(dev=False, config_text=config(tmp_path / "w.db", ui=True)).start()
    assert any(re.search(r"UI: http://127\.0\.0\.1:\d+/ui/", line) for line in server.stdout_lines)
    with httpx.Client(base_url=server.url, timeout=30) as http:
        page = http.get("/ui/")
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == CSP
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "set-cookie" not in page.headers
        assert '<script type="module" src="js/app.js"></script>' in page.text
        script = http.get("/ui/js/app.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert script.headers["content-security-policy"] == CSP
        for path in ("/ui", "/"):
            moved = http.get(path)
            assert moved.status_code == 307 and moved.headers["location"] == "/ui/"
        assert http.get("/ui/js/nope.js").status_code == 404
        assert http.get("/ui/%2e%2e/app.css").status_code == 404  # only the files it has, by exact path
        assert http.post("/ui/", content=b"x").status_code == 405
        assert http.head("/ui/app.css").status_code == 200
        # The API next to it is unchanged: JSON, and no UI headers.
        api = http.get("/v1/sys/seal-status")
        assert api.status_code == 200 and "content-security-policy" not in api.headers


def test_without_ui_the_paths_are_not_found(server_factory: Callable[..., ServerProcess],
                                            tmp_path: Path) -> None:
    server = server_factory(dev=False, config_text=config(tmp_path / "w.db", ui=False)).start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for path in ("/ui/", "/ui/js/app.js", "/"):
            answer = http.get(path)
            assert answer.status_code == 404 and answer.json() == {"errors": []}, path


def test_dev_mode_serves_the_dashboard(dev_server: ServerProcess) -> None:
    assert httpx.get(dev_server.url + "/ui/", timeout=30).status_code == 200


def _files(suffix: str) -> list[Path]:
    found = sorted(ASSETS.rglob(f"*{suffix}"))
    assert found, f"no {suffix} files under {ASSETS}"
    return found


@pytest.mark.parametrize("path", _files(".js"), ids=lambda p: p.name)
def test_scripts_never_turn_data_into_markup_or_code(path: Path) -> None:
    text = path.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                 "setTimeout(\"", "srcdoc", "javascript:"):
        assert sink not in text, f"{path.name} uses {sink}"
    assert not re.search(r"\.style\s*=|setAttribute\(\s*['\"]style", text), f"{path.name} sets inline styles"


def test_nothing_is_loaded_from_elsewhere_and_nothing_is_inline() -> None:
    for path in [*_files(".js"), *_files(".css"), *_files(".html"), *_files(".svg")]:
        text = path.read_text()
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text))
        assert urls <= {"http://www.w3.org/2000/svg"}, f"{path.name} refers to {urls}"
    html = (ASSETS / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], "inline script"
    assert "<style" not in html and " style=" not in html, "inline style"
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline event handler"
