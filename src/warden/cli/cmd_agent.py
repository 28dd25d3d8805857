"""``warden agent``: run the agent (log in, keep the token, write sinks, certificates and
templates, renew them) from a configuration file."""

from __future__ import annotations

import asyncio

from warden.agent.config import ConfigError, load_config
from warden.agent.config_parse import parse_duration
from warden.agent.logs import configure, parse_level
from warden.agent.runner import DEFAULT_ONCE_TIMEOUT, Agent, Dependencies, Options
from warden.cli.common import EXIT_USAGE, CommandError, Streams, UsageError, add_bool_flag, new_parser, parse

PROG = "warden agent"

DESCRIPTION = """\
Run the warden agent. It logs in with the configured auto-auth method, keeps its token
renewed (logging in again when the token cannot be renewed), writes the token to the
configured sinks, issues certificates and writes certificate, key and CA as separate files,
renders templates, and renews everything before it expires, running a command after each
change. Failures never remove or truncate files that work: the agent retries with backoff.

Signals: SIGHUP re-reads the configuration; SIGTERM and SIGINT stop the agent.
With -receive-secret-id the agent is a pod's init container instead (seed 003: it waits
for the controller's push of a wrapped AppRole secret-id; see -receive-secret-id -help).
Exit codes: 0 success (or stopped by a signal), 1 bad flags or configuration,
2 failure (with -once: something could not be written; otherwise a fatal error)."""

CONFIG_HELP = """\
Configuration (HCL, JSON, or YAML with the same structure; Vault Agent's shape):

  warden {                          # alias: vault {}; env: WARDEN_ADDR, WARDEN_CACERT
    address = "https://warden.example:8200"
    ca_cert = "/etc/warden/ca.pem"  # also: ca_path, tls_skip_verify, client_cert, client_key
  }
  auto_auth {
    method "approle" {              # token_file | approle | kubernetes | aws
      mount_path = "auth/approle"   # default auth/<type>; also min_backoff="1s",
      config = {                    #   max_backoff="5m", exit_on_err, wrap_ttl
        role_id_file_path = "/etc/warden/role-id"
        secret_id_file_path = "/etc/warden/secret-id"
        secret_id_response_wrapping_path = "auth/approle/role/web/secret-id"
        remove_secret_id_file_after_reading = true   # (role_id_file, secret_id_file:
      }                                              #  short spellings also accepted)
    }
    # token_file: token_file_path      kubernetes: role, token_path
    # aws (ec2): role, pkcs7_file | metadata_address, nonce
    sink "file" {
      format = "json"               # token (default) | json: clientToken, accessor, ...
      wrap_ttl = "5m"               # optional: write a wrapping token instead
      config = { path = "/run/warden/token.json"  mode = "0640" }
    }
  }
  certificate "etcd" {
    mount = "nyc1/pki/etcd"  role = "member"  common_name = "etcd-1.nyc1"  ttl = "720h"
    alt_names = ["etcd-1"]  ip_sans = ["10.0.0.1"]
    cert_file = "/opt/certs/etcd-cert.pem"  key_file = "/opt/certs/etcd-key.pem"
    ca_file = "/opt/certs/etcd-ca.pem"      # bundle_file: cert + chain + key
    owner = "etcd"  group = "etcd"  mode = "0644"  key_mode = "0600"
    command = "systemctl restart etcd"      # string: sh -c; list: exec; command_timeout="30s"
    renew_at = "2/3"  renew_jitter = 0.05   # fractions of the certificate's lifetime
    trust_check_interval = "5m"             # re-issue at once when the mount's CA rotates; 0: off
  }
  template {
    source = "/etc/warden/kubeconfig.j2"    # or contents = "..."; Jinja2, sandboxed
    destination = "/etc/kubernetes/kubelet.conf"
    perms = "0600"  owner = "root"  command = ["systemctl", "restart", "kubelet"]
    error_on_missing_key = true
  }
  template_config { static_secret_render_interval = "5m"  exit_on_retry_failure = false }
  listener "tcp" { address = "127.0.0.1:9102" }   # Prometheus metrics at /metrics
  exit_after_auth = false                         # true: like -once
  pid_file = "/run/warden-agent.pid"              # optional

Template functions: secret(path), kv(path, key=None), pki_cert("<mount>/issue/<role>",
common_name=...), env(name); filters b64encode, b64decode."""


def main(argv: list[str], streams: Streams) -> int:
    if any(arg.lstrip("-").split("=", 1)[0] == "receive-secret-id" and not arg.endswith("=false")
           for arg in argv):
        from warden.cli.cmd_agent_receive import receive_cmd

        return receive_cmd(argv, streams)
    parser = new_parser(PROG, DESCRIPTION, usage=f"{PROG} -config=FILE [options]",
                        epilog=CONFIG_HELP, http=False)
    parser.add_argument("--config", metavar="FILE", help="The agent's configuration file (required).")
    add_bool_flag(parser, "once", "Write the token sinks, certificates and templates once, then "
                  "exit: 0 on success, 2 with the reason otherwise (init-container mode).")
    add_bool_flag(parser, "exit-after-auth", "Same as -once (Vault Agent's spelling).")
    add_bool_flag(parser, "allow-root-token", "Accept a root token (policy \"root\") from auto-auth. "
                  "Refused by default: a workload never needs one, and a leaked one owns the server.")
    parser.add_argument("--once-timeout", metavar="DURATION", default=f"{int(DEFAULT_ONCE_TIMEOUT)}s",
                        help="With -once: how long to keep retrying while the server cannot be "
                             "reached (default: %(default)s). Refusals fail at once.")
    parser.add_argument("--log-level", metavar="LEVEL", default="info",
                        help="trace, debug, info, warn or error (default: info).")
    parser.add_argument("--log-format", metavar="FORMAT", choices=("text", "json"), default="text",
                        help="text (key=value) or json (default: text).")
    args = parse(parser, argv)
    if not args.config:
        raise UsageError("a configuration file is required: -config=FILE", PROG)
    try:
        parse_level(args.log_level)
        once_timeout = parse_duration(args.once_timeout, "-once-timeout")
    except (ValueError, ConfigError) as exc:
        raise UsageError(str(exc), PROG) from None
    try:
        config = load_config(args.config, streams.env)
    except ConfigError as exc:
        raise CommandError(f"Error loading configuration from {args.config}: {exc}", EXIT_USAGE) from None
    log = configure(args.log_level, args.log_format, streams.stderr)
    options = Options(once=bool(args.once or args.exit_after_auth), once_timeout=once_timeout,
                      allow_root_token=bool(args.allow_root_token))
    agent = Agent(config, options, Dependencies(environ=dict(streams.env), log=log))
    code = asyncio.run(agent.run())
    if code and agent.failure:
        streams.err(f"Error: {agent.failure}")
    return code
