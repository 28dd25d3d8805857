"""Parsing ACL policy documents (HCL and JSON) into frozen rules."""

from __future__ import annotations

import dataclasses
import json

import pytest

from warden.core.acl import ACL
from warden.core.policy import (
    DEFAULT_POLICY,
    DEFAULT_POLICY_NAME,
    LEGACY_POLICIES,
    PathRule,
    Policy,
    parse_policy,
    root_policy,
    validate_policy_name,
)
from warden.logical.errors import InvalidRequest
from warden.logical.operation import Operation

ALL_WRITE = {"create", "read", "update", "delete", "list"}


def only_rule(raw: str) -> PathRule:
    policy = parse_policy("p", raw)
    assert len(policy.rules) == 1
    return policy.rules[0]


def parse_error(raw: str, name: str = "p") -> str:
    with pytest.raises(InvalidRequest) as info:
        parse_policy(name, raw)
    return str(info.value)


# --- the two syntaxes -------------------------------------------------------------------------

HCL_DOC = """
# grants all access on secret/*
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

path "secret/super-secret" {
  capabilities = ["deny"]
}

path "secret/restricted" {
  capabilities = ["create"]
  allowed_parameters = {
    "foo" = []
    "bar" = ["zip", "zap"]
  }
  denied_parameters = {
    "no_store" = [false, "false"]
  }
  required_parameters = ["name", "ID"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = "90s"
  comment = "free text is ignored"
}
"""

JSON_DOC = json.dumps(
    {
        "path": {
            "secret/*": {"capabilities": ["create", "read", "update", "patch", "delete", "list"]},
            "secret/super-secret": {"capabilities": ["deny"]},
            "secret/restricted": {
                "capabilities": ["create"],
                "allowed_parameters": {"foo": [], "bar": ["zip", "zap"]},
                "denied_parameters": {"no_store": [False, "false"]},
                "required_parameters": ["name", "ID"],
                "min_wrapping_ttl": "1s",
                "max_wrapping_ttl": 90,
                "comment": "free text is ignored",
            },
        }
    },
    indent=2,
)


def test_hcl_document_parses_into_rules_in_order() -> None:
    policy = parse_policy("dev", HCL_DOC)

    assert policy.name == "dev"
    assert policy.raw == HCL_DOC
    assert [rule.path for rule in policy.rules] == [
        "secret/*",
        "secret/super-secret",
        "secret/restricted",
    ]
    restricted = policy.rules[2]
    assert restricted.capabilities == {"create"}
    assert dict(restricted.allowed_parameters) == {"foo": (), "bar": ("zip", "zap")}
    assert dict(restricted.denied_parameters) == {"no_store": (False, "false")}
    assert restricted.required_parameters == ("name", "id")
    assert (restricted.min_wrapping_ttl, restricted.max_wrapping_ttl) == (1, 90)


def test_json_document_is_equivalent_to_hcl() -> None:
    assert parse_policy("dev", JSON_DOC).rules == parse_policy("dev", HCL_DOC).rules


def test_json_path_may_be_a_list_of_objects() -> None:
    raw = json.dumps({"path": [{"a": {"capabilities": ["read"]}}, {"b": {"capabilities": ["list"]}}]})
    assert [(r.path, r.capabilities) for r in parse_policy("p", raw).rules] == [
        ("a", {"read"}),
        ("b", {"list"}),
    ]


def test_block_written_as_an_assignment_is_accepted() -> None:
    policy = parse_policy("p", 'path = { "a" = { capabilities = ["read"] } }')
    assert [(r.path, r.capabilities) for r in policy.rules] == [("a", {"read"})]


@pytest.mark.parametrize("raw", ["", "   \n", "# only a comment\n// another\n/* and */", "{}"])
def test_empty_documents_grant_nothing(raw: str) -> None:
    assert parse_policy("p", raw).rules == ()


def test_top_level_name_is_accepted_and_ignored() -> None:
    policy = parse_policy("real", 'name = "other"\npath "a" { capabilities = ["read"] }')
    assert policy.name == "real"
    assert len(policy.rules) == 1


def test_leading_slash_in_rule_path_is_stripped() -> None:
    assert only_rule('path "/secret/foo" { capabilities = ["read"] }').path == "secret/foo"


def test_rule_without_capabilities_is_kept_empty() -> None:
    # Vault accepts it; matching it denies everything (see test_acl).
    assert only_rule('path "a" {}').capabilities == frozenset()


def test_subscribe_and_recover_are_accepted_like_current_vault() -> None:
    rule = only_rule('path "a" { capabilities = ["subscribe", "recover", "read"] }')
    assert rule.capabilities == {"subscribe", "recover", "read"}


def test_trailing_commas_and_identifier_values_are_accepted() -> None:
    rule = only_rule('path "a" { capabilities = ["read", "list",]\n policy = read }')
    assert rule.capabilities == {"read", "list"}


# --- capabilities, the legacy form and how they merge -----------------------------------------


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ("deny", {"deny"}),
        ("read", {"read", "list"}),
        ("write", ALL_WRITE),
        ("sudo", ALL_WRITE | {"sudo"}),
    ],
)
def test_legacy_policy_maps_to_capabilities(legacy: str, expected: set[str]) -> None:
    assert only_rule(f'path "a" {{ policy = "{legacy}" }}').capabilities == expected
    assert LEGACY_POLICIES[legacy] == expected


def test_legacy_write_does_not_grant_patch() -> None:
    # Vault's "write" predates the patch capability.
    assert "patch" not in only_rule('path "a" { policy = "write" }').capabilities


def test_legacy_policy_and_capabilities_merge() -> None:
    rule = only_rule('path "a" { policy = "read"\n capabilities = ["update", "sudo"] }')
    assert rule.capabilities == {"read", "list", "update", "sudo"}


def test_legacy_deny_overrides_capabilities_in_the_same_rule() -> None:
    rule = only_rule('path "a" { policy = "deny"\n capabilities = ["read", "update"] }')
    assert rule.capabilities == {"deny"}


def test_deny_capability_wipes_everything_else_in_the_rule() -> None:
    rule = only_rule(
        """
        path "a" {
          capabilities = ["read", "deny", "sudo"]
          allowed_parameters = { "x" = [] }
          denied_parameters = { "y" = [] }
          required_parameters = ["z"]
          min_wrapping_ttl = 5
          max_wrapping_ttl = 10
        }
        """
    )
    assert rule == PathRule(path="a", capabilities=frozenset({"deny"}))


def test_repeated_path_blocks_are_all_kept_and_merged_by_the_acl() -> None:
    # Stock pyhcl would fold these together and let the later block win.
    policy = parse_policy(
        "p",
        'path "a" { capabilities = ["deny"] }\npath "a" { capabilities = ["read"] }',
    )
    assert [r.capabilities for r in policy.rules] == [{"deny"}, {"read"}]
    assert ACL.build([policy]).capabilities("a") == {"deny"}


def test_repeated_paths_across_blocks_union_capabilities() -> None:
    policy = parse_policy(
        "p",
        'path "a" { capabilities = ["read"] }\npath "a" { capabilities = ["list"] }',
    )
    assert ACL.build([policy]).capabilities("a") == {"read", "list"}


# --- parameters and TTLs ----------------------------------------------------------------------


def test_parameter_names_are_lower_cased() -> None:
    rule = only_rule(
        'path "a" { capabilities = ["create"]\n'
        ' allowed_parameters = { "TTL" = ["1h"] }\n'
        ' denied_parameters = { "No_Store" = [] } }'
    )
    assert dict(rule.allowed_parameters) == {"ttl": ("1h",)}
    assert dict(rule.denied_parameters) == {"no_store": ()}


def test_parameter_values_keep_their_types() -> None:
    rule = only_rule('path "a" { allowed_parameters = { "v" = ["s", 1, 2.5, true, false, "x-*"] } }')
    assert rule.allowed_parameters["v"] == ("s", 1, 2.5, True, False, "x-*")


def test_star_parameter_with_empty_list_is_accepted() -> None:
    rule = only_rule('path "a" { allowed_parameters = { "*" = [] "bar" = ["zip"] } }')
    assert dict(rule.allowed_parameters) == {"*": (), "bar": ("zip",)}


def test_required_parameters_are_deduplicated_in_order() -> None:
    rule = only_rule('path "a" { required_parameters = ["b", "A", "a", "b"] }')
    assert rule.required_parameters == ("b", "a")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ('"30s"', 30),
        ('"1h"', 3600),
        ('"1h30m"', 5400),
        ('"2d"', 172800),
        ('"90"', 90),
        ("90", 90),
        ('""', 0),
        ("0", 0),
    ],
)
def test_wrapping_ttls_accept_durations_and_seconds(value: str, seconds: int) -> None:
    rule = only_rule(f'path "a" {{ min_wrapping_ttl = {value} }}')
    assert rule.min_wrapping_ttl == seconds


def test_max_equal_to_min_wrapping_ttl_is_fine() -> None:
    rule = only_rule('path "a" { min_wrapping_ttl = "1m"\n max_wrapping_ttl = 60 }')
    assert (rule.min_wrapping_ttl, rule.max_wrapping_ttl) == (60, 60)


# --- records are immutable --------------------------------------------------------------------


def test_rules_and_policies_are_frozen() -> None:
    policy = parse_policy("p", HCL_DOC)
    rule = policy.rules[2]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.path = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        rule.allowed_parameters["foo"] = ("x",)  # type: ignore[index]


def test_path_rule_copies_the_callers_mappings() -> None:
    allowed: dict[str, tuple[object, ...]] = {"x": ("1",)}
    rule = PathRule(path="a", capabilities=frozenset({"update"}), allowed_parameters=allowed)  # type: ignore[arg-type]
    allowed["y"] = ()
    assert dict(rule.allowed_parameters) == {"x": ("1",)}


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("dev", "dev"), ("  Dev-ReadOnly ", "dev-readonly"), ("kube.etcd_1", "kube.etcd_1"),
     ("nyc1/pki/etcd/member", "nyc1/pki/etcd/member")],
)
def test_policy_names_are_normalised(name: str, expected: str) -> None:
    assert validate_policy_name(name) == expected
    assert parse_policy(name, "").name == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "policy name must not be empty"),
        ("   ", "policy name must not be empty"),
        ("a//b", 'invalid policy name "a//b"'),
        ("/a", 'invalid policy name "/a"'),
        ("a/", 'invalid policy name "a/"'),
        ("a/../b", 'invalid policy name "a/../b"'),
        ("-dev", 'invalid policy name "-dev"'),
        ("dev policy", 'invalid policy name "dev policy"'),
        ("x" * 257, "invalid policy name"),
    ],
)
def test_invalid_policy_names_are_rejected(name: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        validate_policy_name(name)


@pytest.mark.parametrize("name", ["root", "ROOT", " Root "])
def test_root_policy_cannot_be_created_or_updated(name: str) -> None:
    with pytest.raises(InvalidRequest, match='cannot update the "root" policy'):
        parse_policy(name, 'path "*" { capabilities = ["read"] }')


def test_root_policy_is_empty_and_named_root() -> None:
    assert root_policy() == Policy(name="root", raw="", rules=())
    # The built-in may be obtained through the parser, but only with an empty document.
    assert parse_policy("root", "") == root_policy()
    assert parse_policy(" Root ", "  \n") == root_policy()


# --- errors -----------------------------------------------------------------------------------

PREFIX = 'failed to parse policy "p": '


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        # syntax
        ('path "a" { capabilities = ["read"', "Unexpected end of file"),
        ('path "a" {\n capabilities = ["read"] ]\n}', "Line 2"),
        ('{"path": ', "Expecting value"),
        ("[1, 2]", "unexpected LEFTBRACKET"),
        ('{"path": {"a": {}}, "path": {"b": {}}}', 'duplicate key "path"'),
        (
            'path "a" { capabilities = ["read"]\n capabilities = ["list"] }',
            'duplicate key "capabilities"',
        ),
        # structure
        ('foo "a" { capabilities = ["read"] }', 'invalid key "foo"'),
        ('path = "a"', '"path" must be a block'),
        ('{"path": "a"}', '"path" must be a block'),
        ('path "a" "b" { capabilities = ["read"] }', 'path "a": invalid key "b"'),
        ('path = { "a" = "read" }', 'path "a": rule must be a block'),
        ('path "a" { capability = ["read"] }', 'path "a": invalid key "capability"'),
        (
            'path "a" { control_group = { ttl = "1h" } }',
            'path "a": "control_group" is not supported',
        ),
        ('path "a" { mfa_methods = ["x"] }', 'path "a": "mfa_methods" is not supported'),
        ('path "a" { expiration = "2030-01-01T00:00:00Z" }', '"expiration" is not supported'),
        # paths
        ('path "secret/+*" { capabilities = ["read"] }', "'+*' is forbidden"),
        ('path "secret/*/x" { capabilities = ["read"] }', "'*' is only allowed as the last"),
        ('path "secret/**" { capabilities = ["read"] }', "'*' is only allowed as the last"),
        (
            'path "secret/{{identity.entity.id}}/*" { capabilities = ["read"] }',
            "templated policy paths are not supported",
        ),
        # capabilities
        ('path "a" { capabilities = ["reed"] }', 'path "a": invalid capability "reed"'),
        ('path "a" { capabilities = ["Read"] }', 'invalid capability "Read"'),
        ('path "a" { capabilities = ["scan"] }', 'invalid capability "scan"'),
        ('path "a" { capabilities = [1] }', 'invalid capability "1"'),
        ('path "a" { capabilities = "read" }', "capabilities must be a list of strings"),
        ('path "a" { policy = "admin" }', 'path "a": invalid policy "admin"'),
        ('path "a" { policy = ["read"] }', "invalid policy"),
        # parameters
        ('path "a" { allowed_parameters = ["x"] }', "allowed_parameters must map parameter"),
        ('path "a" { denied_parameters = "x" }', "denied_parameters must map parameter"),
        ('path "a" { allowed_parameters = { "x" = "y" } }', 'parameter "x" must have a list'),
        ('path "a" { denied_parameters = { "*" = ["x"] } }', 'parameter "*" only accepts an empty'),
        ('path "a" { allowed_parameters = { "x*" = [] } }', "parameter \"x*\" cannot contain '*'"),
        ('path "a" { allowed_parameters = { "/a/b" = [] } }', "nested parameter paths"),
        ('path "a" { allowed_parameters = { "" = [] } }', "parameter names must be non-empty"),
        (
            'path "a" { allowed_parameters = { "x" = [] "X" = [] } }',
            'parameter "x" is listed twice',
        ),
        ('{"path": {"a": {"allowed_parameters": {"x": [{"y": 1}]}}}}', "must be strings, numbers"),
        ('path "a" { required_parameters = "x" }', "required_parameters must be a list"),
        ('path "a" { required_parameters = ["*"] }', "parameter \"*\" cannot contain '*'"),
        ('path "a" { required_parameters = [1] }', "parameter names must be non-empty strings"),
        # TTLs
        ('path "a" { min_wrapping_ttl = "soon" }', 'path "a": invalid min_wrapping_ttl "soon"'),
        ('path "a" { max_wrapping_ttl = "5ms" }', 'invalid max_wrapping_ttl "5ms"'),
        ('path "a" { max_wrapping_ttl = -1 }', 'invalid max_wrapping_ttl "-1"'),
        ('path "a" { max_wrapping_ttl = true }', 'invalid max_wrapping_ttl "True"'),
        ('path "a" { max_wrapping_ttl = "1.5h" }', "invalid max_wrapping_ttl"),
        (
            'path "a" { min_wrapping_ttl = "2m"\n max_wrapping_ttl = "1m" }',
            'path "a": max_wrapping_ttl cannot be less than min_wrapping_ttl',
        ),
    ],
)
def test_errors_name_the_policy_the_path_and_the_problem(raw: str, detail: str) -> None:
    message = parse_error(raw)
    assert message.startswith(PREFIX)
    assert detail in message


def test_error_message_uses_the_normalised_policy_name() -> None:
    message = parse_error('path "a" { capabilities = ["x"] }', name=" Dev ")
    assert message.startswith('failed to parse policy "dev": ')


def test_syntax_errors_do_not_echo_huge_input() -> None:
    secretish = "A" * 100_000
    raw = f'path "a" {{ capabilities = ["read"] }}\npath "{secretish}" {{ capabilities = [ }}'
    message = parse_error(raw)
    assert message.startswith(PREFIX)
    assert len(message) < 400
    assert secretish[:500] not in message


def test_long_rule_paths_are_shortened_in_errors() -> None:
    path = "secret/" + "x" * 10_000
    message = parse_error(f'path "{path}" {{ capabilities = ["nope"] }}')
    assert 'invalid capability "nope"' in message
    assert len(message) < 400


def test_non_text_documents_are_rejected() -> None:
    with pytest.raises(InvalidRequest, match="policy must be text"):
        parse_policy("p", b'path "a" {}')  # type: ignore[arg-type]


# --- the built-in default policy --------------------------------------------------------------


def test_default_policy_parses() -> None:
    policy = parse_policy(DEFAULT_POLICY_NAME, DEFAULT_POLICY)
    paths = {rule.path for rule in policy.rules}
    assert {
        "auth/token/lookup-self",
        "auth/token/renew-self",
        "auth/token/revoke-self",
        "sys/capabilities-self",
        "sys/internal/ui/mounts",
        "sys/internal/ui/mounts/*",
        "sys/wrapping/wrap",
        "sys/wrapping/lookup",
        "sys/wrapping/unwrap",
        "sys/tools/hash",
        "sys/leases/lookup",
        "sys/leases/renew",
        "cubbyhole/*",
    } <= paths
    assert all("sudo" not in rule.capabilities for rule in policy.rules)


@pytest.mark.parametrize(
    ("operation", "path", "allowed"),
    [
        (Operation.READ, "auth/token/lookup-self", True),
        (Operation.UPDATE, "auth/token/renew-self", True),
        (Operation.UPDATE, "auth/token/revoke-self", True),
        (Operation.UPDATE, "sys/capabilities-self", True),
        (Operation.READ, "sys/internal/ui/mounts/secret", True),
        (Operation.UPDATE, "sys/wrapping/unwrap", True),
        (Operation.UPDATE, "sys/tools/hash/sha2-256", True),
        (Operation.CREATE, "cubbyhole/notes", True),
        (Operation.LIST, "cubbyhole/", True),
        (Operation.UPDATE, "auth/token/create", False),
        (Operation.READ, "secret/foo", False),
        (Operation.UPDATE, "sys/policy/default", False),
        (Operation.READ, "sys/leases/lookup", False),
    ],
)
def test_default_policy_lets_a_token_look_after_itself(
    operation: Operation, path: str, allowed: bool
) -> None:
    acl = ACL.build([parse_policy(DEFAULT_POLICY_NAME, DEFAULT_POLICY)])
    assert acl.allowed(operation, path, {}).allowed is allowed
