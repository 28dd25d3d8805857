"""``warden agent -receive-secret-id``: what its flags refuse, before anything is started."""

from __future__ import annotations

import io

import pytest

from warden.cli.common import Streams
from warden.cli.main import run

TLS = ["-tls-issue=pods/issue/pod", "-tls-login-role=pod-serving"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-listen=10.0.0.1:8201", *TLS], "-role is required"),
        (["-role=web", *TLS], "-listen=IP:PORT is required"),
        (["-role=web", "-listen=pod.local:8201", *TLS], "is not IP:PORT"),
        (["-role=web", "-listen=10.0.0.1:99999", *TLS], "is not IP:PORT"),
        (["-role=web", "-listen=10.0.0.1:8201"], "the listening certificate"),
        (["-role=web", "-listen=10.0.0.1:8201", "-tls-issue=pods/issue/pod"], "needs -tls-login-role"),
        (["-role=web", "-listen=10.0.0.1:8201", *TLS, "-tls-cert-file=a", "-tls-key-file=b"], "not both"),
        (["-role=web", "-listen=10.0.0.1:8201", *TLS, "-timeout=soon"], "not a duration"),
        (["-role=web", "-listen=10.0.0.1:8201", *TLS, "-token-file-mode=rw"], "octal file mode"),
    ],
)
def test_bad_flags_are_refused_with_one_line(flags: list[str], message: str) -> None:
    err = io.StringIO()
    code = run(["agent", "-receive-secret-id", *flags], Streams(stdout=io.StringIO(), stderr=err, env={}))
    assert code == 1 and message in err.getvalue(), err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_receive_mode_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["agent", "-receive-secret-id", "-help"], Streams(env={})) == 0
    text = capsys.readouterr().out
    assert "wrappedSecretId" not in text and "auth/approle/role/<role>/secret-id" in text
    assert "-tls-issue" in text and "-listen" in text
