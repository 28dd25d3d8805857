"""Agent configuration: HCL and YAML shapes, defaults, and an error for every mistake."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from warden.agent.config import AgentConfig, ConfigError, load_config, parse_config
from warden.agent.config_parse import parse_duration, parse_fraction, parse_mode
from warden.agent.config_sections import AppRoleParams, AwsParams, KubernetesParams, TokenFileParams
from warden.agent.config_source import parse_document

MINIMAL_HCL = """
warden { address = "https://warden.example:8200"  ca_cert = "/etc/warden/ca.pem" }
auto_auth { method "token_file" { config = { token_file_path = "/etc/warden/token" } } }
certificate { mount = "nyc1/pki/etcd" role = "member" common_name = "etcd-1.nyc1" ttl = "720h"
  cert_file = "/opt/certs/etcd-cert.pem" key_file = "/opt/certs/etcd-key.pem"
  ca_file = "/opt/certs/etcd-ca.pem"
  owner = "nobody" command = "systemctl restart etcd" }
"""

MINIMAL_YAML = """
warden: {address: "https://warden.example:8200", ca_cert: /etc/warden/ca.pem}
auto_auth:
  method:
    token_file:
      config: {token_file_path: /etc/warden/token}
certificate:
  - mount: nyc1/pki/etcd
    role: member
    common_name: etcd-1.nyc1
    ttl: 720h
    cert_file: /opt/certs/etcd-cert.pem
    key_file: /opt/certs/etcd-key.pem
    ca_file: /opt/certs/etcd-ca.pem
    owner: nobody
    command: systemctl restart etcd
"""

BASE = """
warden { address = "http://127.0.0.1:8200" }
auto_auth { method "token_file" { config = { token_file_path = "/t" } } }
"""


def hcl(text: str, env: dict[str, str] | None = None) -> AgentConfig:
    return parse_config(parse_document(textwrap.dedent(text), yaml_format=False), env or {})


def yaml(text: str, env: dict[str, str] | None = None) -> AgentConfig:
    return parse_config(parse_document(textwrap.dedent(text), yaml_format=True), env or {})


def test_the_issue_minimal_configuration() -> None:
    config = hcl(MINIMAL_HCL)
    assert config.server.address == "https://warden.example:8200"
    assert config.server.ca_cert == "/etc/warden/ca.pem"
    method = config.auto_auth.method
    assert (method.type, method.mount_path) == ("token_file", "auth/token")
    assert method.params == TokenFileParams(Path("/etc/warden/token"))
    (cert,) = config.certificates
    assert (cert.mount, cert.role, cert.common_name) == ("nyc1/pki/etcd", "member", "etcd-1.nyc1")
    assert cert.ttl == "720h"
    assert cert.cert_file == Path("/opt/certs/etcd-cert.pem")
    assert cert.ca_file == Path("/opt/certs/etcd-ca.pem")
    assert cert.key_perms.mode == 0o600 and cert.cert_perms.mode == 0o644
    assert cert.key_perms.uid == 65534 and cert.key_perms.gid == -1
    assert cert.command is not None and cert.command.argv == ("sh", "-c", "systemctl restart etcd")
    assert cert.command.timeout == 30
    assert cert.renew_at == pytest.approx(2 / 3) and cert.renew_jitter == 0.05
    assert cert.issue_request() == {"common_name": "etcd-1.nyc1", "format": "pem", "ttl": "720h"}


def test_yaml_with_the_same_structure_is_the_same_config() -> None:
    assert yaml(MINIMAL_YAML) == hcl(MINIMAL_HCL)


def test_vault_block_is_an_alias_and_env_fills_the_address() -> None:
    config = hcl("""
        vault { tls_skip_verify = true }
        auto_auth { method { type = "kubernetes" config = { role = "web" } } }
    """, env={"VAULT_ADDR": "https://v:8200/"})
    assert config.server.address == "https://v:8200" and config.server.tls_skip_verify
    assert config.auto_auth.method.params == KubernetesParams(
        "web", Path("/var/run/secrets/kubernetes.io/serviceaccount/token"))
    assert config.auto_auth.method.mount_path == "auth/kubernetes"


def test_approle_method_and_sinks() -> None:
    config = hcl(BASE.replace('method "token_file" { config = { token_file_path = "/t" } }', """
        method "approle" {
          mount_path = "auth/ar/"
          min_backoff = "2s"  max_backoff = "1m"  exit_on_err = true
          config = {
            role_id_file_path = "/r"  secret_id_file_path = "/s"
            remove_secret_id_file_after_reading = false
            secret_id_response_wrapping_path = "/auth/ar/role/web/secret-id"
          }
        }
        sink "file" { format = "json" config = { path = "/out/token.json" mode = 0600 } }
        sink { type = "file" wrap_ttl = "5m" config = { path = "/out/wrapped" } }
    """))
    method = config.auto_auth.method
    assert method.mount_path == "auth/ar" and (method.min_backoff, method.max_backoff) == (2, 60)
    assert method.exit_on_err
    assert method.params == AppRoleParams(Path("/r"), Path("/s"), False, "auth/ar/role/web/secret-id")
    first, second = config.auto_auth.sinks
    assert (first.path, first.format) == (Path("/out/token.json"), "json")
    assert (first.perms.mode, first.wrap_ttl) == (0o600, "")
    assert (second.format, second.perms.mode, second.wrap_ttl) == ("token", 0o640, "5m")


def test_sinks_wrapper_block_and_aws_method() -> None:
    config = yaml("""
        warden: {address: "http://w:8200"}
        auto_auth:
          method: {type: aws, config: {role: node, pkcs7_file: /id.p7}}
          sinks:
            - sink: {type: file, config: {path: /a, mode: 0640}}
    """)
    assert config.auto_auth.method.params == AwsParams("node", Path("/id.p7"))
    assert config.auto_auth.sinks[0].perms.mode == 0o640


def test_labeled_certificates_templates_listener() -> None:
    config = hcl(BASE + """
        certificate "etcd" { mount = "/c/pki/etcd/" role = "member" common_name = "e1"
          alt_names = "a.example, b.example" ip_sans = ["10.0.0.1"]
          cert_file = "/c" key_file = "/k" bundle_file = "/b" mode = "0640" key_mode = "0400"
          command = ["systemctl", "restart", "etcd"] command_timeout = "5s"
          renew_at = "50%" renew_jitter = 0.1 }
        certificate "api" { mount = "m" role = "r" common_name = "api" cert_file = "/c2" key_file = "/k2" }
        template "kubeconfig" { contents = "x" destination = "/kc" perms = "0600" owner = 0 group = "0"
          exec { command = ["true"] timeout = "3s" } error_on_missing_key = true }
        template { source = "/src.j2" destination = "/other" left_delimiter = "[[" right_delimiter = "]]" }
        template_config { static_secret_render_interval = "10m" exit_on_retry_failure = true }
        listener "tcp" { address = "127.0.0.1:9102" }
        exit_after_auth = true
    """)
    etcd, api = config.certificates
    assert (etcd.name, etcd.mount, api.name) == ("etcd", "c/pki/etcd", "api")
    assert etcd.alt_names == ("a.example", "b.example") and etcd.ip_sans == ("10.0.0.1",)
    assert (etcd.cert_perms.mode, etcd.key_perms.mode) == (0o640, 0o400)
    assert etcd.command is not None and etcd.command.argv == ("systemctl", "restart", "etcd")
    assert etcd.command.timeout == 5 and (etcd.renew_at, etcd.renew_jitter) == (0.5, 0.1)
    assert etcd.issue_request()["alt_names"] == "a.example,b.example"
    kube, other = config.templates
    assert (kube.name, kube.perms.mode, kube.perms.uid, kube.perms.gid) == ("kubeconfig", 0o600, 0, 0)
    assert kube.command is not None and kube.command.timeout == 3 and kube.error_on_missing_key
    assert (other.name, other.source, other.perms.mode) == ("/other", Path("/src.j2"), None)
    assert (other.left_delimiter, other.right_delimiter) == ("[[", "]]")
    assert config.template_settings.static_secret_render_interval == 600
    assert config.template_settings.exit_on_retry_failure
    assert config.listener is not None and (config.listener.host, config.listener.port) == ("127.0.0.1", 9102)
    assert config.exit_after_auth


@pytest.mark.parametrize(("text", "message"), [
    ("auto_auth { method \"token_file\" { config = { token_file_path = \"/t\" } } }",
     'warden: missing required key "address"'),
    ('warden { address = "warden:8200" }', "must start with https:// or http://"),
    (BASE + 'warden2 { }', 'unknown top-level block "warden2"'),
    ('vault { address = "http://a" } warden { address = "http://b" }', 'either a "warden" block'),
    ('warden { address = "http://a" adress = 1 }', 'warden: unknown key "adress"'),
    ('warden { address = "http://a" }', 'missing required block "auto_auth"'),
    ('warden { address = "http://a" } auto_auth { }', 'auto_auth: missing required block "method"'),
    ('warden { address = "http://a" } auto_auth { method "ldap" { config = {} } }',
     'unsupported method type \'ldap\''),
    ('warden { address = "http://a" } auto_auth { method "approle" { config = { } } }',
     'auto_auth.method "approle".config: missing required key "role_id_file_path"'),
    ('warden { address = "http://a" } auto_auth { method "approle" { } }',
     'auto_auth.method "approle": missing required block "config"'),
    ('warden { address = "http://a" } auto_auth { method "kubernetes" { config = { rol = "x" } } }',
     'auto_auth.method "kubernetes".config: missing required key "role"'),
    ('warden { address = "http://a" } auto_auth { method "approle" { type = "kubernetes" config = {} } }',
     "contradicts the block label"),
    ('warden { address = "http://a" } auto_auth { method "approle" { min_backoff = "1 minute" '
     'config = { role_id_file_path = "/r" } } }', "min_backoff: '1 minute' is not a duration"),
    ('warden { address = "http://a" } auto_auth { method "approle" { config = { role_id_file_path = "/r" '
     'secret_id_response_wrapping_path = "x" } } }', "needs secret_id_file_path"),
    (BASE.replace('}\n"""', "") + 'auto_auth { }', ""),
    (BASE.replace('method "token_file" { config = { token_file_path = "/t" } }',
                  'method "token_file" { config = { token_file_path = "/t" } } '
                  'sink "s3" { config = { path = "/x" } }'), "unsupported sink type 's3'"),
    (BASE.replace('method "token_file" { config = { token_file_path = "/t" } }',
                  'method "token_file" { config = { token_file_path = "/t" } } '
                  'sink "file" { format = "xml" config = { path = "/x" } }'),
     'format must be "token" or "json"'),
    (BASE.replace('method "token_file" { config = { token_file_path = "/t" } }',
                  'method "token_file" { wrap_ttl = "1m" config = { token_file_path = "/t" } }'),
     "use wrap_ttl on a sink"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" }',
     'certificate "e": missing required key "key_file"'),
    (BASE + 'certificate { role = "r" common_name = "c" cert_file = "/c" key_file = "/k" }',
     'certificate #1: missing required key "mount"'),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'colour = "red" }', 'certificate "e": unknown key "colour"'),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'ttl = "forever" }', "certificate \"e\": ttl: 'forever' is not a duration"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'renew_at = 1.5 }', "renew_at: must be between 0 and 1"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'renew_at = 0.9 renew_jitter = 0.2 }', "renew_at ± renew_jitter must stay between 0 and 1"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'mode = "0986" }', "mode: '0986' is not an octal file mode"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'owner = "no-such-user-xyz" }', "owner: no such user 'no-such-user-xyz'"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'group = "no-such-group-xyz" }', "group: no such group 'no-such-group-xyz'"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/c" }',
     "must differ"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'command = 5 }', "command: expected a string (run by sh -c) or a list"),
    (BASE + 'certificate "e" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" '
     'command = "x" command_timeout = "0s" }', "command_timeout: must be a positive duration"),
    (BASE + 'certificate "a" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" }'
     'certificate "b" { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k2" }',
     "the file /c is written by two blocks"),
    (BASE + 'template { destination = "/d" }', 'give exactly one of "source" or "contents"'),
    (BASE + 'template { source = "/s" contents = "x" destination = "/d" }', 'give exactly one'),
    (BASE + 'template { contents = "x" }', 'template #1: missing required key "destination"'),
    (BASE + 'template { contents = "x" destination = "/d" perms = "0600" mode = "0600" }',
     '"perms" and "mode" are the same setting'),
    (BASE + 'template { contents = "x" destination = "/d" command = "a" exec { command = ["b"] } }',
     'either "command" or an "exec" block'),
    (BASE + 'template { contents = "x" destination = "/d" } template { contents = "y" destination = "/d" }',
     "two template destination blocks are both named '/d'"),
    (BASE + 'template_config { static_secret_render_interval = "0s" }', "must be positive"),
    (BASE + 'listener "tcp" { address = "localhost" }',
     "listener \"tcp\": address: 'localhost' is not host:port"),
    (BASE + 'listener "unix" { address = "a:1" }', 'type must be "tcp"'),
    (BASE + 'exit_after_auth = "maybe"', "exit_after_auth: expected true or false"),
    ('warden { address = "http://a" } auto_auth { method "approle" { wrap_ttl = "1m" '
     'config = { role_id_file_path = "/r" } } sink "file" { config = { path = "/x" } } }'
     'certificate { mount = "m" role = "r" common_name = "c" cert_file = "/c" key_file = "/k" }',
     "cannot be combined with certificate or template blocks"),
    ('warden { address = "http://a" } auto_auth { method "approle" { wrap_ttl = "1m" '
     'config = { role_id_file_path = "/r" } } }', "wrap_ttl needs at least one sink"),
    ('warden { address = "http://a" } auto_auth { method "aws" { config = { role = "r" type = "iam" } } }',
     'only "ec2"'),
])
def test_errors_name_the_block_and_key(text: str, message: str) -> None:
    if not message:
        return  # a duplicate auto_auth block merges in HCL; nothing to check
    with pytest.raises(ConfigError) as info:
        hcl(text)
    assert message in str(info.value)


def test_syntax_errors_and_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid HCL"):
        parse_document("warden { address = ", yaml_format=False)
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_document("warden: [", yaml_format=True)
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_document("- a\n- b\n", yaml_format=True)
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path / "missing.hcl")
    path = tmp_path / "agent.yml"
    path.write_text(MINIMAL_YAML)
    assert load_config(path).path == path
    json_path = tmp_path / "agent.json"
    json_path.write_text('{"warden": {"address": "http://a"}, "auto_auth": {"method": [{"type": "token_file",'
                         ' "config": {"token_file_path": "/t"}}]}}')
    assert load_config(json_path).auto_auth.method.type == "token_file"


@pytest.mark.parametrize(("value", "seconds"), [
    (30, 30), ("30", 30), ("30s", 30), ("1h30m", 5400), ("720h", 2592000), ("500ms", 0.5), ("2d", 172800)])
def test_durations(value: Any, seconds: float) -> None:
    assert parse_duration(value, "x") == seconds


@pytest.mark.parametrize("value", ["", "1 h", "h", "1y", True, [1], -1])
def test_bad_durations(value: Any) -> None:
    with pytest.raises(ConfigError):
        parse_duration(value, "x")


@pytest.mark.parametrize(("value", "mode"), [("0640", 0o640), ("640", 0o640), (640, 0o640), (600, 0o600),
                                             ("0o600", 0o600), ("4755", 0o4755)])
def test_modes_are_octal(value: Any, mode: int) -> None:
    assert parse_mode(value, "x") == mode


@pytest.mark.parametrize(("value", "fraction"), [(0.5, 0.5), ("2/3", 2 / 3), ("75%", 0.75), ("0.9", 0.9)])
def test_fractions(value: Any, fraction: float) -> None:
    assert parse_fraction(value, "x") == pytest.approx(fraction)


def test_yaml_octal_mode_is_not_decimal() -> None:
    config = yaml("""
        warden: {address: "http://w"}
        auto_auth: {method: {type: token_file, config: {token_file_path: /t}}}
        template: [{contents: x, destination: /d, perms: 0640}, {contents: y, destination: /e, perms: "600"}]
    """)
    assert [t.perms.mode for t in config.templates] == [0o640, 0o600]


def test_repeated_unlabeled_blocks_keep_every_field() -> None:
    config = hcl(BASE + """
        certificate { mount = "m" role = "r" common_name = "one" cert_file = "/c1" key_file = "/k1" }
        certificate { mount = "m" role = "r" common_name = "two" cert_file = "/c2" key_file = "/k2" }
        template { contents = "x" destination = "/d1" }
        template { contents = "y" destination = "/d2" }
    """)
    assert [(c.name, c.cert_file) for c in config.certificates] == [
        ("one", Path("/c1")), ("two", Path("/c2"))]
    assert [(t.contents, t.destination) for t in config.templates] == [("x", Path("/d1")), ("y", Path("/d2"))]


def test_short_spellings_of_the_approle_files_and_pid_file() -> None:
    config = hcl("""
        warden { address = "http://w" }
        pid_file = "/run/warden-agent.pid"
        auto_auth { method "approle" { config = { role_id_file = "/r"  secret_id_file = "/s" } } }
    """)
    assert config.auto_auth.method.params == AppRoleParams(Path("/r"), Path("/s"))
    assert config.pid_file == Path("/run/warden-agent.pid")
    with pytest.raises(ConfigError, match='"role_id_file_path" and "role_id_file" are the same setting'):
        hcl("""warden { address = "http://w" }
               auto_auth { method "approle" {
                 config = { role_id_file = "/r" role_id_file_path = "/r" } } }""")


def test_hcl_string_escapes_are_decoded_as_go_hcl_does() -> None:
    config = hcl(BASE + r'''
        template { contents = "pw={{ kv('a', 'b') }}\n\tend \"q\" \\n \u00e9" destination = "/d1" }
        # a comment with "\n" stays a comment
        template {
          contents = <<EOT
heredoc \n stays
EOT
          destination = "/d2"
        }
    ''')
    first, second = config.templates
    assert first.contents == "pw={{ kv('a', 'b') }}\n\tend \"q\" \\n \u00e9"
    assert second.contents == "heredoc \\n stays"
