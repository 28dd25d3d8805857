"""The token file (``~/.warden-token``): where ``warden login`` keeps the token.

Vault's default token helper keeps ``~/.vault-token``; warden keeps its own file so the two
never overwrite each other. The file is written atomically and is readable by its owner only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

TOKEN_FILE_NAME = ".warden-token"


def token_file_path(env: Mapping[str, str] | None = None) -> Path:
    """``$HOME/.warden-token``; ``env`` defaults to the process environment."""
    home = (os.environ if env is None else env).get("HOME", "")
    return (Path(home) if home else Path.home()) / TOKEN_FILE_NAME


def read_token_file(path: Path) -> str:
    """The stored token, or "" when there is none."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def write_token_file(path: Path, token: str) -> None:
    """Replace the file atomically; the new file is created with mode 0600."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(token)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # the umask may have cleared bits but never adds any; be explicit
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise

