"""The atomic writer: whole files only, key before certificate, no needless rewrites."""

from __future__ import annotations

import os
import pwd
import stat
import threading
from pathlib import Path

import pytest

from warden.agent.files import FileSpec, Perms, write_file, write_files

ROOT = os.geteuid() == 0


def test_writes_content_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "key.pem"
    assert write_file(FileSpec(path, b"secret", Perms(0o600)))
    assert path.read_bytes() == b"secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["key.pem"]  # no temp file left


def test_unchanged_content_is_not_rewritten_but_mode_is_corrected(tmp_path: Path) -> None:
    path = tmp_path / "cert.pem"
    write_file(FileSpec(path, b"one", Perms(0o644)))
    before = path.stat()
    assert not write_file(FileSpec(path, b"one", Perms(0o640)))
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert stat.S_IMODE(after.st_mode) == 0o640
    assert write_file(FileSpec(path, b"two", Perms(0o640)))
    assert path.stat().st_ino != before.st_ino and path.read_bytes() == b"two"


def test_unset_mode_keeps_the_existing_files_mode(tmp_path: Path) -> None:
    path = tmp_path / "out"
    write_file(FileSpec(path, b"a"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    os.chmod(path, 0o604)
    write_file(FileSpec(path, b"b"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o604


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_owner_is_set_before_the_file_appears(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "key.pem"
    write_file(FileSpec(path, b"k", Perms(0o600, nobody.pw_uid, nobody.pw_gid)))
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (nobody.pw_uid, nobody.pw_gid, 0o600)
    os.chown(path, 0, 0)
    assert not write_file(FileSpec(path, b"k", Perms(0o600, nobody.pw_uid, -1)))  # corrected in place
    assert (path.stat().st_uid, path.stat().st_gid) == (nobody.pw_uid, 0)


def test_group_is_written_in_order_and_reports_changes(tmp_path: Path) -> None:
    key, cert, ca = tmp_path / "key", tmp_path / "cert", tmp_path / "ca"
    ca.write_bytes(b"ca")
    changed = write_files([FileSpec(key, b"k1"), FileSpec(cert, b"c1"), FileSpec(ca, b"ca")])
    assert changed == [key, cert]
    assert key.stat().st_mtime_ns <= cert.stat().st_mtime_ns


def test_a_failure_while_staging_leaves_every_destination_alone(tmp_path: Path) -> None:
    key, cert = tmp_path / "key", tmp_path / "cert"
    key.write_bytes(b"old key")
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    with pytest.raises(OSError):
        write_files([FileSpec(key, b"new key"), FileSpec(blocker / "cert", b"new cert"),
                     FileSpec(cert, b"x")])
    assert key.read_bytes() == b"old key" and not cert.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key", "not-a-dir"]


def test_a_concurrent_reader_never_sees_a_partial_file_or_a_cert_before_its_key(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    size = 256 * 1024  # big enough that a non-atomic write would be caught half-way

    def content(kind: bytes, n: int) -> bytes:
        return kind + b"%08d" % n + b"." * size

    write_files([FileSpec(key, content(b"K", 0)), FileSpec(cert, content(b"C", 0))])
    stop = threading.Event()
    problems: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            c = cert.read_bytes()  # certificate first, then its key: the key must be as new
            k = key.read_bytes()
            reads += 1
            if len(c) != size + 9 or len(k) != size + 9:
                problems.append(f"partial read: {len(c)} {len(k)}")
            elif int(k[1:9]) < int(c[1:9]):
                problems.append(f"certificate {int(c[1:9])} seen with older key {int(k[1:9])}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, 150):
            write_files([FileSpec(key, content(b"K", n)), FileSpec(cert, content(b"C", n))])
    finally:
        stop.set()
        thread.join()
    assert not problems, problems[:3]
    assert reads > 10
