"""Bad input never ends in a Python traceback (issue 15): every command, driven with bad
addresses, unknown flags, bad values and bad files, ends with one clear error and a non-zero
exit code.

The matrix runs the CLI in-process through ``warden.entry.main`` (what the console script
calls), so hundreds of runs stay fast; a few runs of the real executable check the same end
to end. Commands are found by walking the command tables, so new commands are covered too.
"""

from __future__ import annotations

import importlib
import io
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support.server import WARDEN, ServerProcess
from warden.cli.dispatch import Group
from warden.cli.main import COMMANDS, UNEXPECTED

# Commands that start long-running programs or talk to terminals: driven only with bad
# flags and files below, never with a reachable address.
LONG_RUNNING = {("server",), ("agent",)}


def _subgroup(group: Group, name: str) -> Group | None:
    target = next(e for e in group.entries if e.name == name).target
    module = importlib.import_module(target.partition(":")[0])
    prog = f"{group.prog} {name}"
    return next((v for v in vars(module).values() if isinstance(v, Group) and v.prog == prog), None)


def every_command(group: Group = COMMANDS, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for entry in group.entries:
        sub = _subgroup(group, entry.name)
        if sub is None:
            yield (*prefix, entry.name)
        else:
            yield from every_command(sub, (*prefix, entry.name))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _NotVault(BaseHTTPRequestHandler):
    """Any other web server: HTML 404 for everything."""

    def _answer(self) -> None:
        body = b"<html><body><h1>404 Not Found</h1></body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_LIST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def not_vault() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotVault)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def run_cli(argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The console script's main, in-process; any exception escaping it is a failure."""
    from warden.entry import main

    with monkeypatch.context() as patch:
        for name in ("VAULT_ADDR", "VAULT_TOKEN", "WARDEN_ADDR", "WARDEN_TOKEN", "WARDEN_FORMAT"):
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "stdin", io.StringIO(""))
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse inside `warden server`
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # what a user would see as a traceback: reported by the caller
            out, err = capsys.readouterr()
            return -1, out, f"{err}\nTraceback (escaped in-process): {type(exc).__name__}: {exc}"
    out, err = capsys.readouterr()
    return code, out, err


def run_program(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """The installed executable, for commands that may start a long-running program."""
    try:
        done = subprocess.run([WARDEN, *argv], capture_output=True, text=True, timeout=60, cwd=cwd,
                              env={"PATH": "/usr/bin:/bin", **env}, check=False)
    except subprocess.TimeoutExpired:
        return -1, "", "Traceback? it kept running instead of refusing the input"
    return done.returncode, done.stdout, done.stderr


def clear_failure(code: int, err: str) -> str:
    """'' when the run failed cleanly, else what is wrong with it."""
    if "Traceback" in err or UNEXPECTED in err:
        return f"not handled: {err.strip()[-300:]}"
    if code == 0:
        return "exit 0"
    if not err.strip():
        return f"exit {code} without a message"
    return ""


ARG_SHAPES: tuple[tuple[str, ...], ...] = ((), ("x",), ("x", "a=b"), ("c1", "-user", "a@b.c", "-group", "g"))


@pytest.fixture(scope="module")
def bad_addresses(dev_server: ServerProcess, not_vault: str) -> dict[str, str]:
    """Addresses a newcomer types or inherits; none reaches a warden server over its protocol."""
    plain = dev_server.url  # http: the dev server has no TLS
    return {
        "bad port": "http://127.0.0.1:8299x",
        "unclosed IPv6 bracket": "http://[::1",
        "port out of range": "http://127.0.0.1:99999",
        "no scheme": "127.0.0.1:8200",
        "other scheme": "ftp://127.0.0.1:8200",
        "no host": "http://",
        "nothing listening": f"http://127.0.0.1:{_closed_port()}",
        "https to a plain-http server": plain.replace("http://", "https://"),
        "not a Vault server": not_vault,
    }


@pytest.mark.parametrize("command", [c for c in every_command() if c not in LONG_RUNNING], ids=" ".join)
def test_no_address_problem_ends_in_a_traceback(command: tuple[str, ...], bad_addresses: dict[str, str],
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    problems = []
    for label, address in bad_addresses.items():
        env = {"WARDEN_ADDR": address, "WARDEN_TOKEN": "root-token", "HOME": str(tmp_path)}
        for shape in ARG_SHAPES:
            _, _, err = run_cli([*command, *shape], env, monkeypatch, capsys)
            if "Traceback" in err or UNEXPECTED in err:
                problems.append(f"{label}: warden {' '.join((*command, *shape))}: {err.strip()[-300:]}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("command", list(every_command()), ids=" ".join)
def test_unknown_flags_and_bad_formats_are_usage_errors(command: tuple[str, ...], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    env = {"WARDEN_ADDR": f"http://127.0.0.1:{_closed_port()}", "HOME": str(tmp_path)}
    for bad in ("-no-such-flag", "-format=bogus", "--", "-address"):
        if command in LONG_RUNNING:
            code, _, err = run_program([*command, bad], env, tmp_path)
        else:
            code, _, err = run_cli([*command, bad], env, monkeypatch, capsys)
        assert not clear_failure(code, err) or bad == "--", (command, bad, clear_failure(code, err))
        assert "Traceback" not in err and UNEXPECTED not in err, (command, bad, err)


def _garbage(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    binary = folder / "binary"
    binary.write_bytes(bytes(range(256)) * 4)
    text = folder / "text"
    text.write_text("this is not what you are looking for {{{\n")
    empty = folder / "empty"
    empty.write_text("")
    unreadable = folder / "unreadable"
    unreadable.write_text("secret")
    unreadable.chmod(0)
    return {"missing": folder / "missing", "directory": folder, "binary": binary, "text": text,
            "empty": empty, "unreadable": unreadable}


def _file_cases(files: dict[str, Path]) -> Iterator[list[str]]:
    for path in files.values():
        f = str(path)
        yield from (
            ["policy", "write", "p1", f], ["policy-write", "p1", f], ["write", "kv1/x", f"@{f}"],
            ["write", "kv1/x", f"a=@{f}"], ["kv", "put", "secret/x", f"@{f}"],
            ["kv", "put", "secret/x", f"a=@{f}"],
            ["k8s", "check", f], ["audit", "verify", f], ["audit", "certs", f],
            ["agent", "-once", "-once-timeout=5s", f"-config={f}"], ["server", f"-config={f}"],
            ["status", f"-ca-cert={f}"], ["status", f"-ca-path={f}"],
            ["status", f"-client-cert={f}", f"-client-key={f}"],
            ["k8s", "import-signed", "c1", "-root", f], ["k8s", "import-signed", "c1", f"-cert=etcd={f}"],
            ["k8s", "import-signed", "c1", f"-csr-dir={f}"],
            ["k8s", "certs", "c1", f"-out={f}/sub"],
            ["k8s", "kubeconfig", "c1", "-user", "a@b.c", "-group", "g", f"-out={f}/x.conf"],
            ["operator", "init", f"-pgp-keys={f}"], ["login", "-method=token", f"token=@{f}"],
            ["write", "sys/policies/acl/p2", f"policy=@{f}"],
        )


def test_bad_files_are_refused_clearly(dev_server: ServerProcess, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    dev_server.client().sys.enable_secrets_engine("kv", path="kv1", options={"version": "1"})
    monkeypatch.chdir(tmp_path)
    env = {"WARDEN_ADDR": dev_server.url, "WARDEN_TOKEN": dev_server.root_token, "HOME": str(tmp_path)}
    problems = []
    for argv in _file_cases(_garbage(tmp_path)):
        if argv[0] in ("server", "agent"):
            _, _, err = run_program(argv, env, tmp_path)
        else:
            _, _, err = run_cli(argv, env, monkeypatch, capsys)
        if "Traceback" in err or UNEXPECTED in err:
            problems.append(f"warden {' '.join(argv)}: {err.strip()[-300:]}")
    assert not problems, "\n".join(problems)


BAD_VALUES: tuple[tuple[str, ...], ...] = (
    ("token", "create", "-ttl=abc"), ("token", "create", "-ttl=-5s"), ("token", "create", "-use-limit=x"),
    ("token", "create", "-period=1y"), ("token", "renew", "-increment=soon"),
    ("kv", "get", "-version=two", "secret/x"), ("kv", "put", "secret/x", "novalue"),
    ("kv", "put", "secret/x", "=empty-key"), ("kv", "put", "-cas=x", "secret/x", "a=b"),
    ("write", "kv1/x", "a"), ("write", "kv1/x", "=b"), ("read", "-wrap-ttl=forever", "kv1/x"),
    ("secrets", "enable", "-max-lease-ttl=abc", "pki"), ("secrets", "tune", "-default-lease-ttl=x", "secret"),
    ("secrets", "enable", "nosuchengine"),
    ("operator", "init", "-key-shares=abc"), ("operator", "init", "-key-shares=0"),
    ("operator", "unseal", "zz-not-hex"),
    ("k8s", "bootstrap", "c1", "-ca-ttl=abc"), ("k8s", "bootstrap", "c1", "-key-bits=abc"),
    ("k8s", "bootstrap", "c1", "-key-bits=7"), ("k8s", "bootstrap", "c1", "-control-plane", "cp1=1.2.3"),
    ("k8s", "bootstrap", "Bad_Name", "-control-plane", "cp1=10.0.0.1"),
    ("k8s", "bootstrap", "c1", "-service-cidr=nonsense", "-control-plane", "cp1=10.0.0.1"),
    ("k8s", "bootstrap", "c1", "-control-plane-endpoint=http://[::1", "-control-plane", "cp1=10.0.0.1"),
    ("k8s", "bootstrap", "c1", "-user-group=bad group", "-control-plane", "cp1=10.0.0.1"),
    ("k8s", "check", "-warn-days=soon", "."), ("k8s", "kubeconfig", "c1", "-user", "a@b.c", "-group", "g",
                                                 "-ttl=abc", "-server=https://x:1"),
    ("k8s", "explain", "-format=json", "c1", "extra"), ("audit", "enable", "file", "file_path"),
    ("audit", "enable", "nosuchdevice"),
    ("token", "capabilities", "a", "b", "c"), ("unwrap", "not-a-wrapping-token"),
    ("login", "-method=nosuch"), ("auth", "enable", "nosuchmethod"),
)


def test_bad_values_are_refused_clearly(dev_server: ServerProcess, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"WARDEN_ADDR": dev_server.url, "WARDEN_TOKEN": dev_server.root_token, "HOME": str(tmp_path)}
    problems = []
    for argv in BAD_VALUES:
        code, _, err = run_cli(list(argv), env, monkeypatch, capsys)
        if reason := clear_failure(code, err):
            problems.append(f"warden {' '.join(argv)}: {reason}")
    assert not problems, "\n".join(problems)


BAD_ENVIRONMENTS: tuple[dict[str, str], ...] = (
    {"WARDEN_SKIP_VERIFY": "maybe"}, {"WARDEN_CLIENT_TIMEOUT": "soon"}, {"WARDEN_FORMAT": "xml"},
    {"WARDEN_CACERT": "/nonexistent/ca.pem"}, {"WARDEN_CLIENT_CERT": "/nonexistent/c.pem"},
    {"WARDEN_TOKEN": "bad\ntoken"}, {"WARDEN_TOKEN": "tökén"},
)


@pytest.mark.parametrize("env", BAD_ENVIRONMENTS, ids=lambda e: ",".join(f"{k}={v!r}" for k, v in e.items()))
def test_bad_environment_is_refused_clearly(env: dict[str, str], dev_server: ServerProcess, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    base = {"WARDEN_ADDR": dev_server.url.replace("http://", "https://"), "HOME": str(tmp_path)}
    for argv in (["status"], ["read", "secret/x"], ["kv", "get", "secret/x"], ["token", "lookup"]):
        code, _, err = run_cli(argv, {**base, **env}, monkeypatch, capsys)
        assert not clear_failure(code, err), (argv, env, err)


@pytest.mark.parametrize("args", [
    ["status"], ["read", "secret/x"], ["kv", "get", "secret/x"], ["token", "lookup"],
    ["k8s", "bootstrap", "c1"],
])
@pytest.mark.parametrize("address", ["http://127.0.0.1:8299x", "http://[::1"])
def test_the_installed_command_prints_one_line(args: list[str], address: str, tmp_path: Path) -> None:
    """End to end through the console script: one line on stderr, exit 2, no traceback."""
    done = subprocess.run([WARDEN, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WARDEN_ADDR": address},
                          check=False)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid server address" in lines[0] and address in lines[0], done.stderr


def test_https_to_a_plain_http_server_says_how_to_fix_it(dev_server: ServerProcess) -> None:
    https = dev_server.url.replace("http://", "https://")
    done = dev_server.cli("status", env={"WARDEN_ADDR": https})
    assert done.returncode == 1
    assert "server gave HTTP response to HTTPS client" in done.stderr
    assert f"export WARDEN_ADDR={dev_server.url}" in done.stderr
    assert "WRONG_VERSION_NUMBER" not in done.stderr


def test_status_of_a_server_that_is_not_vault_fails(dev_server: ServerProcess, not_vault: str) -> None:
    done = dev_server.cli("status", env={"WARDEN_ADDR": not_vault})
    assert done.returncode == 1, done.stdout
    assert "did not give a Vault-shaped answer" in done.stderr
    assert "Sealed" not in done.stdout
    as_json = dev_server.cli("status", "-format=json", env={"WARDEN_ADDR": not_vault})
    assert as_json.returncode == 1 and as_json.stdout == ""


def test_a_reader_that_goes_away_is_not_an_error_message(tmp_path: Path) -> None:
    """`warden k8s explain c1 | head -1`: the closed pipe ends the command quietly. (`true`
    exits long before Python has started, so the first write meets a closed pipe.)"""
    done = subprocess.run(f"'{WARDEN}' k8s explain c1 | true", shell=True, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, check=False)
    assert done.stderr == "", done.stderr
