"""A fake of the parts of warden's API that ``warden k8s bootstrap`` uses, normalising values
the way the server does (durations to seconds, "true" to True, "a,b" to lists), and an
interpreter for the shell script ``bootstrap -dry-run`` prints."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from warden.cli.kvargs import parse_kv_args
from warden.kube.cluster import parse_duration

DURATIONS = {"ttl", "max_ttl", "period", "max_lease_ttl"}
INTS = {"key_bits"}
LISTS = {"key_usage", "ext_key_usage", "allowed_domains", "allowed_uri_sans", "allowed_other_sans", "ou",
         "allowed_ip_sans_cidr", "organization", "allowed_policies", "cn_validations"}


def normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in DURATIONS:
            value = parse_duration(value)
        elif key in INTS:
            value = int(value)
        elif key in LISTS:
            value = [v for v in value.split(",") if v] if isinstance(value, str) else list(value)
        elif isinstance(value, str) and value in ("true", "false"):
            value = value == "true"
        out[key] = value
    return out


class FakeApi:
    def __init__(self, *, kv_version: int = 2) -> None:
        self.mounts: dict[str, dict[str, Any]] = {}
        if kv_version:
            options = {"version": str(kv_version)}
            self.mounts["secret"] = {"type": "kv", "max_lease_ttl": 0, "options": options}
        self.cas: dict[str, str] = {}
        self.keys: dict[str, list[str]] = {}
        self.roles: dict[tuple[str, str], dict[str, Any]] = {}
        self.policies: dict[str, str] = {}
        self.token_roles: dict[str, dict[str, Any]] = {}
        self.kv: dict[str, dict[str, Any]] = {}
        self.writes: list[str] = []

    # -- routing --------------------------------------------------------------------------

    def _mount_of(self, path: str) -> tuple[str, str]:
        for mount in sorted(self.mounts, key=len, reverse=True):
            if path == mount or path.startswith(mount + "/"):
                return mount, path[len(mount) + 1:]
        raise KeyError(f"no mount for {path}")

    def _kv_key(self, mount: str, rest: str) -> str:
        if self.mounts[mount]["options"].get("version") == "2":
            rest = rest.removeprefix("data/")
        return f"{mount}/{rest}"

    def read(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        if path == "sys/mounts":
            return {"data": {f"{p}/": {"type": m["type"], "config": {"max_lease_ttl": m["max_lease_ttl"]},
                                       "options": m["options"]} for p, m in self.mounts.items()}}
        if path.startswith("sys/internal/ui/mounts/"):
            mount = self.mounts.get(path.removeprefix("sys/internal/ui/mounts/"))
            return None if mount is None else {"data": {"options": mount["options"]}}
        if path.startswith("sys/policies/acl/"):
            text = self.policies.get(path.removeprefix("sys/policies/acl/"))
            return None if text is None else {"data": {"policy": text}}
        if path.startswith("auth/token/roles/"):
            role = self.token_roles.get(path.removeprefix("auth/token/roles/"))
            return None if role is None else {"data": dict(role)}
        mount, rest = self._mount_of(path)
        if self.mounts[mount]["type"] == "kv":
            found = self.kv.get(self._kv_key(mount, rest))
            if found is None:
                return None
            return {"data": {"data": found}} if self.mounts[mount]["options"].get("version") == "2" else {
                "data": found}
        if rest == "cert/ca":
            return {"data": {"certificate": self.cas[mount]}} if mount in self.cas else None
        if rest.startswith("roles/"):
            role = self.roles.get((mount, rest.removeprefix("roles/")))
            return None if role is None else {"data": dict(role)}
        raise KeyError(path)

    def list(self, path: str) -> dict[str, Any] | None:
        mount, rest = self._mount_of(path)
        if rest == "keys":
            keys = self.keys.get(mount)
        else:
            keys = [name for (m, name) in self.roles if m == mount]
        return {"data": {"keys": keys}} if keys else None

    def write(self, path: str, data: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        data = dict(data or {})
        self.writes.append(path)
        if path.startswith("sys/mounts/"):
            return self._write_mount(path.removeprefix("sys/mounts/"), data)
        if path.startswith("sys/policies/acl/"):
            self.policies[path.removeprefix("sys/policies/acl/")] = str(data["policy"])
            return None
        if path.startswith("auth/token/roles/"):
            name = path.removeprefix("auth/token/roles/")
            self.token_roles[name] = {**self.token_roles.get(name, {}), **normalise(data)}
            return None
        mount, rest = self._mount_of(path)
        if self.mounts[mount]["type"] == "kv":
            body = data.get("data", data) if self.mounts[mount]["options"].get("version") == "2" else data
            self.kv[self._kv_key(mount, rest)] = dict(body)
            return None
        return self._write_pki(mount, rest, data)

    def _write_mount(self, rest: str, data: dict[str, Any]) -> None:
        if rest.endswith("/tune"):
            self.mounts[rest.removesuffix("/tune")]["max_lease_ttl"] = parse_duration(data["max_lease_ttl"])
            return
        ttl = (data.get("config") or {}).get("max_lease_ttl") or 0
        self.mounts[rest] = {"type": data["type"], "max_lease_ttl": parse_duration(ttl) if ttl else 0,
                             "options": dict(data.get("options") or {})}

    def _write_pki(self, mount: str, rest: str, data: dict[str, Any]) -> dict[str, Any] | None:
        if rest == "root/generate/internal":
            self.cas[mount] = f"ROOT {data['common_name']}"
            return {"data": {"certificate": self.cas[mount]}}
        if rest == "intermediate/generate/internal":
            self.keys.setdefault(mount, []).append(f"key-{len(self.keys.get(mount, []))}")
            return {"data": {"csr": f"CSR {data['common_name']}\n"}}
        if rest.startswith("roles/"):
            self.roles[(mount, rest.removeprefix("roles/"))] = normalise(data)
            return None
        raise KeyError(rest)

    def state(self) -> dict[str, Any]:
        """Everything a bootstrap decides, comparable between two fakes."""
        return {"mounts": self.mounts, "cas": sorted(self.cas), "roles": self.roles,
                "policies": self.policies, "token_roles": self.token_roles,
                "kv": {k: sorted(v) if k.endswith("/sa") else v for k, v in self.kv.items()}}


# -- replaying the dry-run script ------------------------------------------------------------


def script_commands(text: str) -> list[tuple[list[str], str]]:
    """(argv, heredoc body) of each ``warden`` command, continuation lines joined."""
    lines = text.splitlines()
    out: list[tuple[list[str], str]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        while line.endswith("\\"):
            i += 1
            line = line[:-1] + lines[i].lstrip()
        i += 1
        if not line.startswith("warden "):
            continue
        body = ""
        if "<<'" in line:
            line, _, tag = line.partition("<<'")
            tag = tag.rstrip("'")
            collected = []
            while lines[i] != tag:
                collected.append(lines[i])
                i += 1
            i += 1
            body = "\n".join(collected) + "\n"
        out.append((shlex.split(line.partition(" > ")[0]), body))
    return out


def _flags(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    flags, rest = {}, []
    for arg in argv:
        if arg.startswith("-") and len(arg) > 1:
            name, _, value = arg.lstrip("-").partition("=")
            flags[name] = value
        else:
            rest.append(arg)
    return flags, rest


def replay(text: str, api: FakeApi) -> None:
    """Do what each printed command would do, through the fake."""
    for argv, body in script_commands(text):
        flags, args = _flags(argv[1:])
        verb = args[:2] if args[0] in ("secrets", "policy", "kv") else args[:1]
        if verb == ["secrets", "enable"]:
            options = {"version": flags["version"]} if "version" in flags else {}
            config = {"max_lease_ttl": flags["max-lease-ttl"]} if "max-lease-ttl" in flags else {}
            api.write(f"sys/mounts/{flags['path']}", {"type": args[2], "config": config, "options": options})
        elif verb == ["secrets", "tune"]:
            api.write(f"sys/mounts/{args[2]}/tune", {"max_lease_ttl": flags["max-lease-ttl"]})
        elif verb == ["policy", "write"]:
            api.write(f"sys/policies/acl/{args[2]}", {"policy": body})
        elif verb == ["kv", "put"]:
            data = json.loads(body) if args[3:] == ["-"] else {a.partition("=")[0]: "GEN" for a in args[3:]}
            mount = args[2].partition("/")[0]
            v2 = api.mounts[mount]["options"].get("version") == "2"
            path = f"{mount}/data/{args[2].partition('/')[2]}" if v2 else args[2]
            api.write(path, {"data": data} if v2 else data)
        elif verb == ["write"]:
            api.write(args[1], parse_kv_args(args[2:]))
        else:
            raise AssertionError(f"unexpected command {argv}")
