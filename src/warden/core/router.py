"""Longest-prefix routing of request paths to mounted backends."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from warden.core.mounts import MountEntry
from warden.core.view import StorageView
from warden.logical.backend import LogicalBackend
from warden.logical.errors import InvalidRequest
from warden.logical.request import MountInfo


class PathMatcher:
    """Vault's special-path matching: exact entries, prefixes marked by a trailing '*',
    and ``+`` standing for exactly one non-empty segment (``issuer/+/pem``)."""

    __slots__ = ("_exact", "_patterns", "_prefixes")

    def __init__(self, patterns: Iterable[str]) -> None:
        plain = [p for p in patterns if "+" not in p.split("/")]
        self._exact = frozenset(p for p in plain if not p.endswith("*"))
        self._prefixes = tuple(p[:-1] for p in plain if p.endswith("*"))
        self._patterns = tuple(_segment_regex(p) for p in patterns if "+" in p.split("/"))

    def matches(self, path: str) -> bool:
        return (path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))
                or any(r.fullmatch(path) for r in self._patterns))


def _segment_regex(pattern: str) -> re.Pattern[str]:
    glob = pattern.endswith("*")
    parts = (pattern[:-1] if glob else pattern).split("/")
    body = "/".join("[^/]+" if p == "+" else re.escape(p) for p in parts)
    return re.compile(body + (".*" if glob else ""))


@dataclass(slots=True)
class Route:
    mount: MountEntry
    backend: LogicalBackend
    storage: StorageView
    unauthenticated: PathMatcher
    root: PathMatcher
    # The MountInfo handed to every request, built once; reset when the mount is tuned.
    info: MountInfo | None = None
    # Being moved (sys/remount): clients no longer reach it; the core still revokes through it.
    tainted: bool = False

    @property
    def prefix(self) -> str:
        return self.mount.route_prefix


class Router:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}

    def mount(self, route: Route) -> None:
        prefix = route.prefix
        conflict = self.conflict(prefix)
        if conflict:
            raise InvalidRequest(f'path is already in use at "{conflict}"')
        self._routes[prefix] = route

    def conflict(self, prefix: str) -> str | None:
        """An existing mount that this prefix would nest in or contain."""
        for existing in self._routes:
            if existing.startswith(prefix) or prefix.startswith(existing):
                return existing
        return None

    def unmount(self, prefix: str) -> Route | None:
        return self._routes.pop(prefix, None)

    def clear(self) -> list[Route]:
        routes = list(self._routes.values())
        self._routes.clear()
        return routes

    def get(self, prefix: str) -> Route | None:
        return self._routes.get(prefix)

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    def match(self, path: str) -> tuple[Route, str] | None:
        """The mount with the longest prefix of ``path``, and the path relative to it.

        As in Vault, a path naming a mount without its trailing slash
        (``secret``) reaches that mount with an empty relative path.
        """
        end = path.rfind("/")
        while end >= 0:
            route = self._routes.get(path[: end + 1])
            if route is not None:
                return route, path[end + 1 :]
            end = path.rfind("/", 0, end)
        route = self._routes.get(path + "/")
        return (route, "") if route is not None else None
