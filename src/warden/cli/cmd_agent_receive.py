"""``warden agent -receive-secret-id``: the init container of a pod annotated
``warden.dev/approle: <role>`` (seed 003): wait for the controller's push of a wrapped
secret-id, log in, write the token as JSON, exit 0. The work is in ``warden.agent.receive``."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from warden.agent.clock import SystemClock
from warden.agent.config_parse import ConfigError, parse_duration, parse_mode
from warden.agent.logs import configure, parse_level
from warden.agent.receive import DEFAULT_PORT, DEFAULT_TIMEOUT, FileTls, IssuedTls, Receiver, ReceiveSettings
from warden.api import ClientError, settings_from_env
from warden.cli.common import Streams, UsageError, add_bool_flag, new_parser, parse

PROG = "warden agent -receive-secret-id"
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

DESCRIPTION = """\
Receive mode, for the init container of a pod annotated warden.dev/approle: <role>. The
agent gets a certificate for the pod's IP (issued by warden with the pod's service-account
login, -tls-issue, or from -tls-cert-file/-tls-key-file), listens on -listen over TLS and
waits for 'warden k8s controller' (pod_credentials {}) to push a response-wrapped AppRole
secret-id (PUT /v1/secret-id). It checks that the wrapping token was created at
auth/approle/role/<role>/secret-id, unwraps it, logs in (from the pod's IP: the secret-id
and token are bound to it) and writes the token as JSON (clientToken, accessor,
leaseDuration, renewable, vaultAddr) to -token-file, then exits 0. It accepts one push;
a second one, or a wrapping token that is expired, replayed or from elsewhere, is refused.

Exit codes: 0 token written, 1 bad flags, 2 no good push before -timeout (or cannot listen)."""

EXAMPLE = """\
Example (a pod's init container; the controller finds the port in warden.dev/receive-port):

  warden agent -receive-secret-id -role=web -listen=$(POD_IP):8201 \\
      -address=https://warden.warden:8200 -ca-cert=/etc/warden/ca.pem \\
      -tls-issue=c1/pki/pods/issue/pod -tls-login-role=pod-serving \\
      -token-file=/var/run/warden/token.json"""


def receive_cmd(argv: list[str], streams: Streams) -> int:
    parser = new_parser(
        PROG, DESCRIPTION, usage=f"{PROG} -role=ROLE -listen=IP:PORT [options]", epilog=EXAMPLE
    )
    add_bool_flag(parser, "receive-secret-id", "Receive mode (this command).")
    parser.add_argument(
        "--role", metavar="ROLE", help="The AppRole role the pod is annotated with (required)."
    )
    parser.add_argument(
        "--listen",
        metavar="IP:PORT",
        help=f"The pod's IP and the port to listen on (required; port {DEFAULT_PORT} by default).",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        default="/var/run/warden/token.json",
        help="Where to write the token as JSON (default: %(default)s).",
    )
    parser.add_argument("--token-file-mode", metavar="MODE", default="0600", help="The file's mode (0600).")
    parser.add_argument(
        "--role-id-file", metavar="FILE", help="The role's role-id (default: the one the controller pushes)."
    )
    parser.add_argument(
        "--approle-mount",
        metavar="PATH",
        default="auth/approle",
        help="Where AppRole is mounted (default: %(default)s).",
    )
    parser.add_argument(
        "--tls-issue", metavar="PATH", help="<mount>/issue/<role> for the listening certificate."
    )
    parser.add_argument(
        "--tls-login-role", metavar="ROLE", help="With -tls-issue: the Kubernetes auth role to log in with."
    )
    parser.add_argument(
        "--tls-login-mount",
        metavar="PATH",
        default="auth/kubernetes",
        help="With -tls-issue: the Kubernetes auth mount (default: %(default)s).",
    )
    parser.add_argument(
        "--service-account-token",
        metavar="FILE",
        default=SERVICE_ACCOUNT_TOKEN,
        help="With -tls-issue: the pod's token (default: %(default)s).",
    )
    parser.add_argument("--tls-cert-file", metavar="FILE", help="Instead of -tls-issue: the certificate.")
    parser.add_argument("--tls-key-file", metavar="FILE", help="Instead of -tls-issue: its key.")
    parser.add_argument(
        "--timeout",
        metavar="DURATION",
        default=f"{int(DEFAULT_TIMEOUT)}s",
        help="How long to wait for a good push (default: %(default)s).",
    )
    parser.add_argument(
        "--log-level", metavar="LEVEL", default="info", help="trace, debug, info, warn or error."
    )
    parser.add_argument(
        "--log-format",
        metavar="FORMAT",
        choices=("text", "json"),
        default="text",
        help="text or json (default: text).",
    )
    args = parse(parser, argv)
    settings = _settings(args, streams)
    log = configure(args.log_level, args.log_format, streams.stderr)
    receiver = Receiver(settings, log, SystemClock())
    code = asyncio.run(receiver.run())
    if code and receiver.failure:
        streams.err(f"Error: {receiver.failure}")
    return code


def _settings(args: object, streams: Streams) -> ReceiveSettings:
    a = vars(args)
    if not a["role"]:
        raise UsageError(
            "-role is required: the AppRole role of the pod's warden.dev/approle annotation", PROG
        )
    if not a["listen"]:
        raise UsageError("-listen=IP:PORT is required (the pod's IP, e.g. -listen=$(POD_IP):8201)", PROG)
    host, _, port_text = str(a["listen"]).rpartition(":")
    host = host.strip("[]") if host else str(a["listen"])
    try:
        ipaddress.ip_address(host)
        port = int(port_text) if host != a["listen"] else DEFAULT_PORT
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise UsageError(f"-listen: {a['listen']!r} is not IP:PORT (the pod's IP address)", PROG) from None
    try:
        parse_level(a["log_level"])
        timeout = parse_duration(a["timeout"], "-timeout")
        mode = parse_mode(a["token_file_mode"], "-token-file-mode")
    except (ValueError, ConfigError) as exc:
        raise UsageError(str(exc), PROG) from None
    tls: IssuedTls | FileTls
    if a["tls_issue"]:
        if a["tls_cert_file"] or a["tls_key_file"]:
            raise UsageError("give -tls-issue or -tls-cert-file/-tls-key-file, not both", PROG)
        if not a["tls_login_role"] or "/issue/" not in a["tls_issue"]:
            raise UsageError("-tls-issue=<mount>/issue/<role> needs -tls-login-role", PROG)
        tls = IssuedTls(
            a["tls_issue"].strip("/"),
            a["tls_login_mount"].strip("/"),
            a["tls_login_role"],
            Path(a["service_account_token"]),
        )
    elif a["tls_cert_file"] and a["tls_key_file"]:
        tls = FileTls(Path(a["tls_cert_file"]), Path(a["tls_key_file"]))
    else:
        raise UsageError(
            "the listening certificate: give -tls-issue (with -tls-login-role) or "
            "-tls-cert-file and -tls-key-file",
            PROG,
        )
    try:
        server = settings_from_env(streams.env).with_overrides(
            address=a.get("address"),
            ca_cert=a.get("ca_cert"),
            ca_path=a.get("ca_path"),
            client_cert=a.get("client_cert"),
            client_key=a.get("client_key"),
            tls_skip_verify=a.get("tls_skip_verify"),
        )
    except ClientError as exc:
        raise UsageError(str(exc), PROG) from None
    return ReceiveSettings(
        host=host,
        port=port,
        role=a["role"],
        token_file=Path(a["token_file"]),
        tls=tls,
        server=server,
        approle_mount=a["approle_mount"].strip("/"),
        role_id_file=Path(a["role_id_file"]) if a["role_id_file"] else None,
        token_file_mode=mode,
        timeout=timeout,
    )
