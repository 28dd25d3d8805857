"""What the numbers were measured on, recorded next to them."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cfssl_version() -> str:
    try:
        out = subprocess.run(["cfssl", "version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "not installed"
    return " ".join(line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line)


def git_revision() -> str:
    """The commit measured, with "-dirty" when the work tree differs from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
                             text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"
    return out or "unknown"


def describe() -> dict[str, object]:
    return {
        "revision": git_revision(), "cpu": cpu_model(), "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(), "warden": metadata.version("warden"),
        "cryptography": metadata.version("cryptography"), "cfssl": cfssl_version(),
    }
