"""The README runs, top to bottom (issue 15): every ``sh`` block, in order, with bash against a
dev server, as one terminal session.

The convention (also stated at the top of README.md, for whoever adds a section):

- Blocks tagged ``sh``, ``bash`` or ``shell`` are run; every code block must name a language,
  so a shell block cannot slip past untagged.
- A block that cannot run against a dev server in a test (it starts a long-running program --
  ``make run``, ``warden server``, ``warden agent`` --, needs root, needs a real cluster, or is a
  benchmark) has the HTML comment ``readme-test: skip (REASON)`` on the line directly above its
  opening fence. The reason is required and shown in the test's output; a marker anywhere
  else fails the test.
- Substitutions, as a reader at a terminal would make them: the dev server's address for
  ``http://127.0.0.1:8200``, its root token for ``<root token ...>``, and a temporary folder
  in front of ``/etc/...`` and ``/var/...``. The blocks run in a temporary folder holding a
  ``.venv`` link to this checkout's virtualenv, with a PATH *without* it: ``warden`` works only
  if the README says how to get it on the PATH.
- Exported variables and the working folder carry over from one block to the next. Each block
  runs with ``set -eo pipefail``: every command in it must succeed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support.server import BIN, ServerProcess

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RUN = frozenset({"sh", "bash", "shell"})
MARKER = re.compile(r"^<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
LOOSE_MARKER = re.compile(r"readme-test:\s*skip")
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
ROOT_TOKEN = re.compile(r"<root token[^>]*>")
SYSTEM_PATH = re.compile(r"(?<![\w./$-])/(etc|var)/")
COLLISION = "'warden k8s bootstrap' did not make"  # bootstrap's preamble about what it adopts
BLOCK_TIMEOUT = 600  # bootstrapping a cluster makes RSA keys; the machine is shared


@dataclass(frozen=True)
class Block:
    number: int
    line: int  # of the opening fence, 1-based
    heading: str
    lang: str
    text: str
    skip: str  # the reason, "" when the block runs

    @property
    def where(self) -> str:
        return f"README block {self.number} (line {self.line}, under {self.heading!r})"


def parse(markdown: str) -> tuple[list[Block], list[str]]:
    """The fenced blocks and the mistakes in applying the convention."""
    blocks: list[Block] = []
    mistakes: list[str] = []
    lines = markdown.splitlines()
    heading, pending, i = "(top)", "", 0
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        if fence:
            start, lang, body = i, fence.group("lang"), []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if i == len(lines):
                mistakes.append(f"line {start + 1}: code block never closed")
            if not lang:
                mistakes.append(f"line {start + 1}: a code block without a language (tag it sh, hcl, ...)")
            if pending and lang not in RUN:
                mistakes.append(f"line {start}: a skip marker above a {lang or 'plain'} block (only sh runs)")
            blocks.append(Block(len(blocks) + 1, start + 1, heading, lang, "\n".join(body), pending))
            pending = ""
        else:
            if pending:
                mistakes.append(f"line {i}: a skip marker not directly above an opening fence")
                pending = ""
            if marker := MARKER.match(line):
                pending = marker.group("reason").strip()
            elif LOOSE_MARKER.search(line) and line.lstrip().startswith("<!--"):
                mistakes.append(f"line {i + 1}: write the marker as <!-- readme-test: skip (REASON) -->")
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
        i += 1
    return blocks, mistakes


def substitute(text: str, *, address: str, token: str, root: Path) -> str:
    text = text.replace("http://127.0.0.1:8200", address)
    text = ROOT_TOKEN.sub(token, text)
    return SYSTEM_PATH.sub(lambda m: f"{root}/{m.group(1)}/", text)


def runnable(blocks: list[Block]) -> Iterator[Block]:
    return (b for b in blocks if b.lang in RUN and not b.skip)


def test_the_readme_follows_the_convention() -> None:
    blocks, mistakes = parse(README.read_text())
    assert not mistakes, "\n".join(mistakes)
    assert len(list(runnable(blocks))) >= 5  # the test never passes by skipping everything
    skipped = [f"{b.where}: {b.skip}" for b in blocks if b.skip]
    print("skipped README blocks:\n  " + "\n  ".join(skipped))  # shown with -s / on failure


def test_the_convention_is_enforced() -> None:
    """The parser itself: markers must sit on a fence, blocks must be tagged."""
    good = "# T\n<!-- readme-test: skip (starts a server) -->\n```sh\nmake run\n```\n```hcl\nx = 1\n```\n"
    blocks, mistakes = parse(good)
    assert not mistakes and [(b.lang, b.skip) for b in blocks] == [("sh", "starts a server"), ("hcl", "")]
    for bad, why in (
        ("<!-- readme-test: skip (r) -->\n\n```sh\nx\n```\n", "not directly above"),
        ("<!-- readme-test: skip -->\n```sh\nx\n```\n", "write the marker as"),
        ("```\nwarden status\n```\n", "without a language"),
        ("<!-- readme-test: skip (r) -->\n```hcl\nx\n```\n", "above a hcl block"),
    ):
        assert any(why in m for m in parse(bad)[1]), bad
    text = substitute("export WARDEN_ADDR=http://127.0.0.1:8200 WARDEN_TOKEN=<root token printed by make run>"
                      "\nwarden k8s certs c -out /etc/kubernetes; ls $HOME/etc/x a/var/b "
                      "file_path=/var/log/a",
                      address="http://127.0.0.1:5", token="T", root=Path("/tmp/r"))
    assert text == ("export WARDEN_ADDR=http://127.0.0.1:5 WARDEN_TOKEN=T\n"
                    "warden k8s certs c -out /tmp/r/etc/kubernetes; ls $HOME/etc/x a/var/b "
                    "file_path=/tmp/r/var/log/a")


def _session_env(home: Path) -> dict[str, str]:
    """A fresh terminal: no WARDEN_*/VAULT_* settings, and this checkout's venv not on PATH."""
    path = [p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if p and Path(p).resolve() != BIN.resolve()]
    return {"HOME": str(home), "PATH": os.pathsep.join(path), "LANG": "C.UTF-8", "TERM": "dumb"}


def test_the_readme_runs_top_to_bottom(dev_server: ServerProcess, tmp_path: Path) -> None:
    blocks, mistakes = parse(README.read_text())
    assert not mistakes, "\n".join(mistakes)
    work, home, root = tmp_path / "checkout", tmp_path / "home", tmp_path / "root"
    for folder in (work, home, root):
        folder.mkdir()
    (work / ".venv").symlink_to(BIN.parent)  # "in the repository": .venv/bin/warden is there
    state = tmp_path / "session.sh"
    state.write_text(f"cd {shlex.quote(str(work))}\n")
    env = _session_env(home)
    for block in runnable(blocks):
        body = substitute(block.text, address=dev_server.url, token=dev_server.root_token, root=root)
        script = (f"set -eo pipefail\n. {shlex.quote(str(state))}\n{body}\n"
                  f"{{ export -p; printf 'cd %q\\n' \"$PWD\"; }} > {shlex.quote(str(state))}.next\n"
                  f"mv {shlex.quote(str(state))}.next {shlex.quote(str(state))}\n")
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=work,
                              timeout=BLOCK_TIMEOUT, check=False)
        assert done.returncode == 0, (
            f"{block.where} failed (exit {done.returncode}):\n{block.text}\n"
            f"--- stdout (end)\n{done.stdout[-3000:]}\n--- stderr (end)\n{done.stderr[-3000:]}\n"
            "Fix the README or the code; a block that cannot run in a test gets "
            "<!-- readme-test: skip (REASON) --> above its fence.")
        # Sections must not step on each other: bootstrap adopting or changing what an earlier
        # section made by hand (the same cluster name twice) is a README bug.
        assert COLLISION not in done.stdout, (
            f"{block.where} reuses what an earlier section made; give its cluster another name:\n"
            f"{done.stdout[:3000]}")
