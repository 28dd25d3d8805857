"""ACL evaluation: rule matching, Vault's priority order, merging and parameter constraints.

The ACL works on literal path strings. Normalising ``..``, ``//`` and percent-encoding is the
HTTP edge's job; ``test_path_tricks_are_matched_literally`` pins what happens if it does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from warden.core.acl import ACL, AclResult
from warden.core.policy import PathRule, Policy, parse_policy, root_policy
from warden.logical.operation import Operation

CRUD = ("create", "read", "update", "patch", "delete", "list")
CAPABILITY_OF = {
    Operation.CREATE: "create",
    Operation.READ: "read",
    Operation.UPDATE: "update",
    Operation.PATCH: "patch",
    Operation.DELETE: "delete",
    Operation.LIST: "list",
    Operation.RENEW: "update",
    Operation.REVOKE: "update",
}
ALL_OPERATIONS = tuple(Operation)


def rule(path: str, *capabilities: str, **options: object) -> PathRule:
    return PathRule(path=path, capabilities=frozenset(capabilities), **options)  # type: ignore[arg-type]


def policy(name: str, *rules: PathRule) -> Policy:
    return Policy(name=name, raw="", rules=rules)


def acl_of(*rules: PathRule) -> ACL:
    return ACL.build([policy("p", *rules)])


def hcl_acl(raw: str) -> ACL:
    return ACL.build([parse_policy("p", raw)])


def allowed(acl: ACL, operation: Operation, path: str, data: object = None) -> bool:
    return acl.allowed(operation, path, data).allowed  # type: ignore[arg-type]


# --- the examples in Vault's policy documentation ------------------------------------------

DOC_POLICY = """
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}
path "secret/super-secret" {
  capabilities = ["deny"]
}
path "secret/foo" {
  capabilities = ["read"]
}
path "secret/bar/*" {
  capabilities = ["read"]
}
path "secret/zip-*" {
  capabilities = ["read"]
}
path "secret/+/teamb" {
  capabilities = ["read"]
}
path "secret/+/+/teamb" {
  capabilities = ["read"]
}
"""


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("secret/anything", set(CRUD)),
        ("secret/super-secret", {"deny"}),
        ("secret/foo", {"read"}),
        ("secret/food", set(CRUD)),  # not "secret/foo": falls back to secret/*
        ("secret/foo/bar", set(CRUD)),
        ("secret/bar/zip", {"read"}),
        ("secret/bar/zip/zap", {"read"}),
        ("secret/bars/zip", set(CRUD)),  # not under secret/bar/
        ("secret/zip-zap", {"read"}),
        ("secret/zip-zap/zong", {"read"}),
        ("secret/zip/zap", set(CRUD)),
        ("secret/x/teamb", {"read"}),
        ("secret/x/y/teamb", {"read"}),
    ],
)
def test_documented_policy_examples(path: str, expected: set[str]) -> None:
    assert hcl_acl(DOC_POLICY).capabilities(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("secret/foo", {"read"}),
        ("secret/food", {"deny"}),
        ("secret/foo/bar", {"deny"}),
        ("secret/bar/zip", {"read"}),
        ("secret/bar/zip/zap", {"read"}),
        ("secret/bars/zip", {"deny"}),
        ("secret/bar", {"deny"}),
        ("secret/zip-zap", {"read"}),
        ("secret/zip-", {"read"}),
        ("secret/zip/zap", {"deny"}),
        ("secret/a/teamb", {"read"}),
        ("secret/a/b/teamb", {"read"}),
        ("secret/a/teambs", {"deny"}),  # "+" rules without "*" match whole segments
        ("secret/a/b/team", {"deny"}),
        ("secret/teamb", {"deny"}),
        ("secret/a/b/c/teamb", {"deny"}),
        ("secret//teamb", {"deny"}),
        ("other/path", {"deny"}),
        ("", {"deny"}),
    ],
)
def test_documented_patterns_without_a_catch_all(path: str, expected: set[str]) -> None:
    raw = "\n".join(DOC_POLICY.split("\n")[4:])  # drop the secret/* block
    assert 'path "secret/*"' not in raw
    assert hcl_acl(raw).capabilities(path) == expected


def test_glob_without_slash_is_a_plain_string_prefix() -> None:
    acl = acl_of(rule("secret/foo*", "read"), rule("secret*", "list"))
    assert acl.capabilities("secret/foobar") == {"read"}
    assert acl.capabilities("secret/foo/bar") == {"read"}
    assert acl.capabilities("secrets/x") == {"list"}
    assert acl.capabilities("secret") == {"list"}


def test_prefix_glob_matches_its_own_folder() -> None:
    acl = acl_of(rule("secret/*", "read"))
    assert acl.capabilities("secret/") == {"read"}
    assert acl.capabilities("secret") == {"deny"}


def test_lone_star_matches_everything() -> None:
    acl = acl_of(rule("*", "read"))
    for path in ("", "a", "a/b/c", "sys/seal"):
        assert acl.capabilities(path) == {"read"}


# --- Vault's priority order between non-exact rules -----------------------------------------

PRIORITY_CASES = [
    # (winner, losers, request path)
    pytest.param("secret/*", ["secret/+/+/foo/*"], "secret/a/b/foo/c", id="doc: fewer +"),
    pytest.param("foo/a*", ["foo/+"], "foo/ab", id="1: first glob later"),
    pytest.param("foo/bar/+/baz", ["foo/+/bar/baz"], "foo/bar/bar/baz", id="1: first + later"),
    pytest.param("secret/foo/*", ["secret/+/*"], "secret/foo/x", id="1: prefix vs +"),
    pytest.param("foo/+/bar", ["foo/+/ba*"], "foo/x/bar", id="2: no * wins"),
    pytest.param("foo/+", ["foo/*"], "foo/x", id="2: + beats * at the same place"),
    pytest.param("foo/+/a/*", ["foo/+/+/*"], "foo/x/a/y", id="3: fewer + segments"),
    pytest.param("foo/+/bar/ba*", ["foo/+/bar/b*"], "foo/x/bar/baz", id="4: longer"),
    pytest.param("a/b/c*", ["a/b*", "a/*", "*"], "a/b/cd", id="4: longest prefix"),
    pytest.param("+/a/+", ["+/+/a"], "a/a/a", id="5: lexicographically larger"),
    pytest.param("foo/x", ["foo/+", "foo/*", "*", "+/x"], "foo/x", id="exact beats all"),
]


@pytest.mark.parametrize(("winner", "losers", "path"), PRIORITY_CASES)
def test_priority_picks_one_rule(winner: str, losers: list[str], path: str) -> None:
    acl = acl_of(rule(winner, "update"), *(rule(loser, "read", "list") for loser in losers))
    assert acl.capabilities(path) == {"update"}


@pytest.mark.parametrize(("winner", "losers", "path"), PRIORITY_CASES)
def test_priority_applies_to_deny_too(winner: str, losers: list[str], path: str) -> None:
    acl = acl_of(rule(winner, "deny"), *(rule(loser, "read", "list") for loser in losers))
    assert acl.capabilities(path) == {"deny"}
    losing = acl_of(rule(winner, "read"), *(rule(loser, "deny") for loser in losers))
    assert losing.capabilities(path) == {"read"}


def test_capabilities_of_different_rule_paths_are_not_unioned() -> None:
    acl = ACL.build(
        [
            policy("broad", rule("secret/*", "read", "list")),
            policy("narrow", rule("secret/foo", "update")),
        ]
    )
    assert acl.capabilities("secret/foo") == {"update"}
    assert not allowed(acl, Operation.READ, "secret/foo")
    assert acl.capabilities("secret/bar") == {"read", "list"}


# --- merging the same rule path across policies ---------------------------------------------


def test_same_path_capabilities_are_or_ed_across_policies() -> None:
    acl = ACL.build(
        [policy("a", rule("secret/*", "read")), policy("b", rule("secret/*", "list", "sudo"))]
    )
    assert acl.capabilities("secret/x") == {"read", "list", "sudo"}


@pytest.mark.parametrize("deny_first", [True, False])
def test_deny_wipes_every_other_capability_for_the_path(deny_first: bool) -> None:
    deny = policy("deny", rule("secret/*", "deny"))
    allow = policy("allow", rule("secret/*", "read", "sudo"))
    acl = ACL.build([deny, allow] if deny_first else [allow, deny])
    assert acl.capabilities("secret/x") == {"deny"}
    result = acl.allowed(Operation.READ, "secret/x")
    assert result == AclResult(allowed=False, sudo=False, reason=result.reason)
    assert "denied" in result.reason


def test_exact_and_prefix_rules_for_the_same_folder_are_different_rules() -> None:
    acl = ACL.build(
        [policy("a", rule("secret/", "list")), policy("b", rule("secret/*", "deny"))]
    )
    assert acl.capabilities("secret/") == {"list"}
    assert acl.capabilities("secret/x") == {"deny"}


def test_rule_with_no_capabilities_still_wins_and_denies() -> None:
    acl = acl_of(rule("secret/*", "read"), rule("secret/locked"))
    assert acl.capabilities("secret/locked") == {"deny"}
    assert not allowed(acl, Operation.READ, "secret/locked")
    assert not allowed(acl, Operation.HELP, "secret/locked")


# --- operations ------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", list(CAPABILITY_OF))
def test_each_operation_needs_its_capability(operation: Operation) -> None:
    needed = CAPABILITY_OF[operation]
    assert allowed(acl_of(rule("p", needed)), operation, "p", {})
    others = [c for c in (*CRUD, "sudo") if c != needed]
    assert not allowed(acl_of(rule("p", *others)), operation, "p", {})


def test_help_is_allowed_when_any_capability_applies() -> None:
    acl = acl_of(rule("a", "list"), rule("b", "deny"), rule("c"))
    assert allowed(acl, Operation.HELP, "a")
    assert not allowed(acl, Operation.HELP, "b")
    assert not allowed(acl, Operation.HELP, "c")
    assert not allowed(acl, Operation.HELP, "unmatched")


def test_sudo_is_reported_with_the_grant() -> None:
    acl = acl_of(rule("sys/audit/*", "update", "sudo"), rule("sys/mounts/*", "update"))
    assert acl.allowed(Operation.UPDATE, "sys/audit/file").sudo
    assert not acl.allowed(Operation.UPDATE, "sys/mounts/kv").sudo
    sudo_only = acl_of(rule("sys/seal", "sudo"))
    assert sudo_only.allowed(Operation.UPDATE, "sys/seal") == AclResult(
        allowed=False, sudo=False, reason='policy does not grant the "update" capability on the path'
    )


def test_unmatched_path_is_denied_with_a_reason() -> None:
    result = acl_of(rule("secret/*", "read")).allowed(Operation.READ, "other/x")
    assert result == AclResult(False, False, "no policy rule matches the path")


def test_empty_acl_denies_everything() -> None:
    acl = ACL.build([])
    assert acl.capabilities("secret/x") == {"deny"}
    assert not any(allowed(acl, op, "secret/x") for op in ALL_OPERATIONS)


def test_root_policy_allows_everything_with_sudo() -> None:
    acl = ACL.build([policy("dev", rule("*", "deny")), root_policy()])
    assert acl.is_root
    assert acl.capabilities("sys/seal") == {"root"}
    for operation in ALL_OPERATIONS:
        result = acl.allowed(operation, "sys/seal", {"anything": 1})
        assert result.allowed and result.sudo


def test_only_the_name_root_grants_root() -> None:
    assert not ACL.build([policy("Root-ish", rule("*", "read"))]).is_root


def test_leading_slashes_on_the_request_path_are_ignored() -> None:
    acl = acl_of(rule("secret/foo", "read"))
    assert allowed(acl, Operation.READ, "/secret/foo")
    assert acl.capabilities("//secret/foo") == {"read"}


# --- list requests and the trailing slash ------------------------------------------------------


def test_list_on_a_folder_uses_the_rule_without_the_trailing_slash() -> None:
    acl = acl_of(rule("secret/metadata", "list"))
    assert allowed(acl, Operation.LIST, "secret/metadata/")
    assert acl.capabilities("secret/metadata/") == {"list"}
    # Only list requests fall back; a read of the folder path is a different path.
    assert not allowed(acl, Operation.READ, "secret/metadata/")


def test_list_prefers_rules_for_the_folder_name_like_vault() -> None:
    # Vault checks "secret/a" before "secret/a/", so secret/* governs LIST secret/a/ even
    # though secret/a/* (a deny) also matches the slashed path.
    acl = acl_of(rule("secret/*", "list", "read"), rule("secret/a/*", "deny"))
    assert allowed(acl, Operation.LIST, "secret/a/")
    assert not allowed(acl, Operation.READ, "secret/a/x")
    assert not allowed(acl, Operation.LIST, "secret/a/x/")


def test_list_falls_back_to_the_slashed_path() -> None:
    acl = acl_of(rule("cubbyhole/*", "list"))
    assert allowed(acl, Operation.LIST, "cubbyhole/")


# --- parameter constraints ---------------------------------------------------------------------

RESTRICTED = rule(
    "secret/restricted",
    "create",
    "update",
    "patch",
    "read",
    "delete",
    "list",
    allowed_parameters={"foo": (), "bar": ("zip", "zap")},
)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, None),
        ({}, None),
        ({"foo": "anything"}, None),
        ({"foo": ["any", "thing"], "bar": "zip"}, None),
        ({"bar": "zap"}, None),
        ({"BAR": "zap"}, None),
        ({"bar": ["zip", "zap"]}, None),
        ({"bar": "zip,zap"}, None),
        ({"bar": "zop"}, 'a value of parameter "bar" is not allowed by policy'),
        ({"bar": ["zip", "zop"]}, 'a value of parameter "bar" is not allowed by policy'),
        ({"bar": "zip,zop"}, 'a value of parameter "bar" is not allowed by policy'),
        ({"bar": ""}, 'a value of parameter "bar" is not allowed by policy'),
        ({"bar": []}, 'a value of parameter "bar" is not allowed by policy'),
        ({"bar": None}, 'a value of parameter "bar" is not allowed by policy'),
        ({"ttl": "1h"}, 'parameter "ttl" is not allowed by policy'),
        ({"foo": 1, "ttl": "1h"}, 'parameter "ttl" is not allowed by policy'),
    ],
)
def test_allowed_parameters(data: Mapping[str, object] | None, reason: str | None) -> None:
    acl = acl_of(RESTRICTED)
    for operation in (Operation.CREATE, Operation.UPDATE, Operation.PATCH, Operation.READ):
        result = acl.allowed(operation, "secret/restricted", data)
        assert result.allowed is (reason is None)
        assert result.reason == (reason or "allowed by policy")
    for operation in (Operation.DELETE, Operation.LIST):  # no parameters to check
        assert allowed(acl, operation, "secret/restricted", data)


def test_star_allows_other_parameters_but_keeps_value_lists() -> None:
    acl = acl_of(rule("p", "create", allowed_parameters={"bar": ("zip",), "*": ()}))
    assert allowed(acl, Operation.CREATE, "p", {"other": 1, "bar": "zip"})
    assert not allowed(acl, Operation.CREATE, "p", {"bar": "zap"})
    only_star = acl_of(rule("p", "create", allowed_parameters={"*": ()}))
    assert allowed(only_star, Operation.CREATE, "p", {"anything": [1, 2]})


@pytest.mark.parametrize(
    ("denied", "data", "reason"),
    [
        ({"policies": ()}, {"password": "x"}, None),
        ({"policies": ()}, {"policies": "x"}, 'parameter "policies" is denied by policy'),
        ({"policies": ()}, {"Policies": []}, 'parameter "policies" is denied by policy'),
        ({"allowed_policies": ("admin",)}, {"allowed_policies": "dev"}, None),
        ({"allowed_policies": ("admin",)}, {"allowed_policies": "administrator"}, None),
        (
            {"allowed_policies": ("admin",)},
            {"allowed_policies": "admin"},
            'parameter "allowed_policies" is denied by policy',
        ),
        (
            {"allowed_policies": ("admin",)},
            {"allowed_policies": "dev, admin"},
            'parameter "allowed_policies" is denied by policy',
        ),
        (
            {"allowed_policies": ("admin",)},
            {"allowed_policies": ["dev", "admin"]},
            'parameter "allowed_policies" is denied by policy',
        ),
        ({"*": ()}, {}, None),
        ({"*": ()}, {"anything": 1}, "policy denies every parameter on the path"),
        ({"no_store": (False, "false")}, {"no_store": False}, 'parameter "no_store" is denied'),
        ({"no_store": (False, "false")}, {"no_store": "false"}, 'parameter "no_store" is denied'),
        ({"no_store": (False, "false")}, {"no_store": True}, None),
        ({"no_store": (False, "false")}, {"no_store": 0}, None),  # 0 is not False here
        ({"n": (1,)}, {"n": True}, None),  # nor is True 1
        ({"n": (1,)}, {"n": 1}, 'parameter "n" is denied'),
        ({"n": (1,)}, {"n": "1"}, None),
    ],
)
def test_denied_parameters(
    denied: Mapping[str, tuple[object, ...]], data: Mapping[str, object], reason: str | None
) -> None:
    acl = acl_of(rule("p", "create", denied_parameters=denied))
    result = acl.allowed(Operation.CREATE, "p", data)
    assert result.allowed is (reason is None)
    assert (reason or "allowed by policy") in result.reason


def test_denied_parameters_take_precedence_over_allowed() -> None:
    acl = acl_of(
        rule("p", "create", allowed_parameters={"x": ()}, denied_parameters={"x": ("bad*",)})
    )
    assert allowed(acl, Operation.CREATE, "p", {"x": "good"})
    assert not allowed(acl, Operation.CREATE, "p", {"x": "bad-value"})


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("foo-*", "foo-bar", True),
        ("foo-*", "foo-", True),
        ("foo-*", "bar-foo", False),
        ("*-prod", "eu-prod", True),
        ("*-prod", "prod-eu", False),
        ("*mid*", "a-mid-b", True),
        ("*mid*", "a-mi-d", False),
        ("**", "anything", True),
        ("*", "anything", False),  # a lone "*" is literal, as in Vault
        ("*", "*", True),
        ("exact", "exact", True),
        ("exact", "exactly", False),
    ],
)
def test_parameter_value_globs(pattern: str, value: str, matches: bool) -> None:
    acl = acl_of(rule("p", "update", allowed_parameters={"v": (pattern,)}))
    assert allowed(acl, Operation.UPDATE, "p", {"v": value}) is matches


def test_required_parameters() -> None:
    acl = acl_of(rule("secret/profile", "create", required_parameters=("name", "id")))
    assert allowed(acl, Operation.CREATE, "secret/profile", {"name": "a", "ID": 1})
    for data in (None, {}, {"name": "a"}):
        result = acl.allowed(Operation.CREATE, "secret/profile", data)
        assert not result.allowed
        assert result.reason.startswith("required parameter")
    assert acl.allowed(Operation.CREATE, "secret/profile", {"name": "a"}).reason == (
        'required parameter "id" is missing'
    )


def test_reasons_never_contain_parameter_values() -> None:
    value = "s3cr3t-value-0123"
    acl = acl_of(
        rule("a", "update", allowed_parameters={"x": ("other",)}),
        rule("b", "update", denied_parameters={"x": ("s3cr3t*",)}),
        rule("c", "update", allowed_parameters={"y": ()}),
    )
    for path in ("a", "b", "c"):
        result = acl.allowed(Operation.UPDATE, path, {"x": value})
        assert not result.allowed
        assert value not in result.reason
        assert "s3cr3t" not in result.reason


def test_huge_parameter_names_are_shortened_in_reasons() -> None:
    acl = acl_of(rule("a", "update", allowed_parameters={"x": ()}))
    result = acl.allowed(Operation.UPDATE, "a", {"n" * 10_000: 1})
    assert not result.allowed
    assert len(result.reason) < 200


@pytest.mark.parametrize(
    ("second", "data", "expected"),
    [
        ({"a": ("2",)}, {"a": "1"}, True),
        ({"a": ("2",)}, {"a": "2"}, True),
        ({"a": ("2",)}, {"a": "3"}, False),
        ({"a": ()}, {"a": "3"}, True),  # an empty list ("any value") wins
        ({"b": ()}, {"a": "1", "b": "x"}, True),  # keys are unioned
        ({"b": ()}, {"a": "3"}, False),
        ({}, {"a": "3"}, False),  # a policy without constraints does not lift them
        ({}, {"c": "1"}, False),
    ],
)
def test_allowed_parameters_merge_across_policies(
    second: Mapping[str, tuple[object, ...]], data: Mapping[str, object], expected: bool
) -> None:
    for first_policy_first in (True, False):
        policies = [
            policy("one", rule("p", "update", allowed_parameters={"a": ("1",)})),
            policy("two", rule("p", "update", allowed_parameters=second)),
        ]
        acl = ACL.build(policies if first_policy_first else policies[::-1])
        assert allowed(acl, Operation.UPDATE, "p", data) is expected


def test_denied_and_required_parameters_merge_across_policies() -> None:
    acl = ACL.build(
        [
            policy("one", rule("p", "update", denied_parameters={"a": ("1",)})),
            policy("two", rule("p", "update", denied_parameters={"a": ("2",)})),
            policy("three", rule("p", "update", required_parameters=("r",))),
            policy("four", rule("p", "update", required_parameters=("s",))),
        ]
    )
    assert allowed(acl, Operation.UPDATE, "p", {"a": "3", "r": 1, "s": 1})
    assert not allowed(acl, Operation.UPDATE, "p", {"a": "1", "r": 1, "s": 1})
    assert not allowed(acl, Operation.UPDATE, "p", {"a": "2", "r": 1, "s": 1})
    assert not allowed(acl, Operation.UPDATE, "p", {"a": "3", "r": 1})


# --- response-wrapping TTL bounds ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("wrap_ttl", "reason"),
    [
        (None, "policy requires the response to be wrapped"),
        (0, "requested wrapping TTL is shorter than the policy requires"),
        (1, None),
        (90, None),
        (91, "requested wrapping TTL is longer than the policy allows"),
    ],
)
def test_wrapping_ttl_bounds(wrap_ttl: int | None, reason: str | None) -> None:
    acl = hcl_acl(
        'path "auth/approle/role/r/secret-id" {\n capabilities = ["update"]\n'
        ' min_wrapping_ttl = "1s"\n max_wrapping_ttl = "90s"\n}'
    )
    result = acl.allowed(Operation.UPDATE, "auth/approle/role/r/secret-id", {}, wrap_ttl=wrap_ttl)
    assert result.allowed is (reason is None)
    assert result.reason == (reason or "allowed by policy")


def test_merged_wrapping_ttls_keep_the_smallest_and_can_contradict() -> None:
    shortest = ACL.build(
        [
            policy("a", rule("p", "read", max_wrapping_ttl=300, min_wrapping_ttl=30)),
            policy("b", rule("p", "read", max_wrapping_ttl=60, min_wrapping_ttl=45)),
            policy("c", rule("p", "read")),
        ]
    )
    assert shortest.allowed(Operation.READ, "p", wrap_ttl=30).allowed
    assert shortest.allowed(Operation.READ, "p", wrap_ttl=60).allowed
    assert not shortest.allowed(Operation.READ, "p", wrap_ttl=29).allowed
    assert not shortest.allowed(Operation.READ, "p", wrap_ttl=61).allowed
    contradictory = ACL.build(
        [
            policy("a", rule("p", "read", min_wrapping_ttl=120)),
            policy("b", rule("p", "read", max_wrapping_ttl=60)),
        ]
    )
    for ttl in (None, 30, 60, 90, 120, 200):
        assert not contradictory.allowed(Operation.READ, "p", wrap_ttl=ttl).allowed


# --- literal paths: what the HTTP edge must normalise ------------------------------------------


def test_path_tricks_are_matched_literally() -> None:
    # The ACL never interprets "..", "//" or percent-encoding. secret/* literally matches
    # "secret/../admin", so a deny on secret/* does catch it, but an allow on secret/* also
    # grants it: the HTTP edge must reject such paths before they reach the core.
    deny_secret = acl_of(rule("*", "read"), rule("secret/*", "deny"))
    assert deny_secret.capabilities("secret/../admin") == {"deny"}

    allow_secret = acl_of(rule("secret/*", "read"), rule("admin/*", "deny"))
    assert allowed(allow_secret, Operation.READ, "secret/../admin/keys")
    assert allowed(allow_secret, Operation.READ, "secret/%2e%2e/admin/keys")
    assert not allowed(allow_secret, Operation.READ, "admin/keys")

    # "+" needs a non-empty segment, so "//" slips past a "+" deny: again the edge's job.
    plus_deny = acl_of(rule("secret/*", "read"), rule("secret/+/admin", "deny"))
    assert not allowed(plus_deny, Operation.READ, "secret/x/admin")
    assert allowed(plus_deny, Operation.READ, "secret//admin")


def test_long_paths_bypass_the_cache_but_answer_the_same() -> None:
    acl = acl_of(rule("secret/*", "read"), rule("secret/a/x*", "deny"))
    long_path = "secret/a/x" + "y" * 5000
    assert acl.capabilities(long_path) == {"deny"}
    assert acl.capabilities(long_path) == {"deny"}
    assert acl.capabilities("secret/a/b" + "y" * 5000) == {"read"}


def test_repeated_lookups_are_stable() -> None:
    acl = hcl_acl(DOC_POLICY)
    first = [acl.capabilities(p) for p in ("secret/foo", "secret/a/teamb", "x")]
    for _ in range(3):
        assert [acl.capabilities(p) for p in ("secret/foo", "secret/a/teamb", "x")] == first


# --- property tests --------------------------------------------------------------------------

LITERALS = ("a", "b", "ab", "c")
CAPABILITY_SETS = st.frozensets(st.sampled_from((*CRUD, "sudo")), max_size=4)
GRANTS = st.one_of(st.just(frozenset({"deny"})), CAPABILITY_SETS)


@st.composite
def rule_paths(draw: st.DrawFn) -> str:
    """Exact, prefix-glob and ``+`` rule paths over a tiny alphabet, so they collide."""
    segments = draw(st.lists(st.sampled_from((*LITERALS, "+")), min_size=1, max_size=4))
    path = "/".join(segments)
    ending = draw(st.sampled_from(("", "*", "/*")))
    if ending == "*" and segments[-1] == "+":
        ending = "/*"  # "+*" is not a valid rule
    return path + ending


SPECIAL_RULE_PATHS = st.sampled_from(("*", "+", "+/*", "a*", ""))
RULE_PATHS = st.one_of(rule_paths(), SPECIAL_RULE_PATHS)
RULES = st.builds(lambda path, caps: PathRule(path=path, capabilities=caps), RULE_PATHS, GRANTS)
POLICIES = st.lists(
    st.builds(lambda rules: Policy(name="p", raw="", rules=tuple(rules)), st.lists(RULES, max_size=6)),
    max_size=3,
)
REQUEST_SEGMENTS = st.sampled_from((*LITERALS, "abc", "x"))
# Request paths without a trailing "/" (where list and non-list lookups coincide).
REQUEST_PATHS = st.lists(REQUEST_SEGMENTS, min_size=1, max_size=5).map("/".join)
# Anything a client could send, including "//" and a trailing "/".
ANY_REQUEST_PATHS = st.lists(st.one_of(REQUEST_SEGMENTS, st.just("")), max_size=5).map("/".join)

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _rule_regex(path: str) -> re.Pattern[str]:
    """The documented meaning of a rule path, written independently of the ACL's matcher."""
    is_prefix = path.endswith("*")
    stem = path[:-1] if is_prefix else path
    body = "/".join("[^/]+" if seg == "+" else re.escape(seg) for seg in stem.split("/"))
    return re.compile(body + (".*" if is_prefix else ""), re.DOTALL)


def _documented_rank(path: str) -> tuple[int, bool, int, int, str]:
    is_prefix = path.endswith("*")
    stem = path[:-1] if is_prefix else path
    plus = re.search(r"(?:^|/)\+(?:/|$)", stem)
    first = (plus.start() + (stem[plus.start()] == "/")) if plus else len(stem)
    plus_count = stem.split("/").count("+")
    return (first, not is_prefix, -plus_count, len(stem), stem)


def _is_exact(path: str) -> bool:
    return not path.endswith("*") and "+" not in path.split("/")


def _merged(policies: Iterable[Policy]) -> dict[str, frozenset[str]]:
    merged: dict[str, frozenset[str]] = {}
    for each in policies:
        for r in each.rules:
            merged[r.path] = merged.get(r.path, frozenset()) | r.capabilities
    return {p: frozenset({"deny"}) if "deny" in c else c for p, c in merged.items()}


def documented_capabilities(policies: list[Policy], path: str) -> frozenset[str]:
    """Vault's documented algorithm, by brute force: exact rule, else best-ranked match."""
    merged = _merged(policies)
    if path in merged and _is_exact(path):
        chosen: str | None = path
    else:
        matching = [p for p in merged if not _is_exact(p) and _rule_regex(p).fullmatch(path)]
        chosen = max(matching, key=_documented_rank) if matching else None
    if chosen is None or not merged[chosen] or "deny" in merged[chosen]:
        return frozenset({"deny"})
    return merged[chosen]


@PROPERTY_SETTINGS
@given(policies=POLICIES, path=REQUEST_PATHS)
def test_acl_agrees_with_the_documented_algorithm(policies: list[Policy], path: str) -> None:
    assert ACL.build(policies).capabilities(path) == documented_capabilities(policies, path)


@PROPERTY_SETTINGS
@given(background=POLICIES, target=RULE_PATHS, caps=CAPABILITY_SETS, path=ANY_REQUEST_PATHS)
def test_deny_beats_allow_for_the_same_path(
    background: list[Policy], target: str, caps: frozenset[str], path: str
) -> None:
    deny = policy("deny", PathRule(path=target, capabilities=frozenset({"deny"})))
    allow = policy("allow", PathRule(path=target, capabilities=caps))
    with_allow = ACL.build([*background, allow, deny])
    without_allow = ACL.build([*background, deny])
    assert with_allow.capabilities(path) == without_allow.capabilities(path)
    for operation in ALL_OPERATIONS:
        assert with_allow.allowed(operation, path) == without_allow.allowed(operation, path)
    if _is_exact(target):
        assert with_allow.capabilities(target) == {"deny"}
        assert not any(with_allow.allowed(op, target).allowed for op in ALL_OPERATIONS)


@PROPERTY_SETTINGS
@given(background=POLICIES, path=REQUEST_PATHS, caps=CAPABILITY_SETS.filter(bool))
def test_exact_rule_beats_any_glob_or_wildcard(
    background: list[Policy], path: str, caps: frozenset[str]
) -> None:
    others = [
        Policy(name=b.name, raw="", rules=tuple(r for r in b.rules if r.path != path))
        for b in background
    ]
    acl = ACL.build([*others, policy("exact", PathRule(path=path, capabilities=caps))])
    assert acl.capabilities(path) == caps
    for operation, capability in CAPABILITY_OF.items():
        assert acl.allowed(operation, path, {}).allowed is (capability in caps)


@PROPERTY_SETTINGS
@given(
    prefixes=st.dictionaries(
        st.lists(st.sampled_from(LITERALS), max_size=3).map("/".join).flatmap(
            lambda stem: st.sampled_from((stem + "*", stem + "/*"))
        ),
        GRANTS,
        max_size=6,
    ),
    path=REQUEST_PATHS,
)
def test_longest_matching_prefix_glob_wins(
    prefixes: dict[str, frozenset[str]], path: str
) -> None:
    prefixes = {p.lstrip("/"): c for p, c in prefixes.items()}
    acl = acl_of(*(PathRule(path=p, capabilities=c) for p, c in prefixes.items()))
    matching = [p for p in prefixes if path.startswith(p[:-1])]
    if not matching:
        assert acl.capabilities(path) == {"deny"}
        return
    longest = max(matching, key=len)
    expected = prefixes[longest]
    assert acl.capabilities(path) == (expected if expected and "deny" not in expected else {"deny"})


@PROPERTY_SETTINGS
@given(
    # A literal first segment keeps the ACL's leading-slash stripping out of the picture.
    before=st.lists(st.sampled_from(LITERALS), min_size=1, max_size=2),
    after=st.lists(st.sampled_from(LITERALS), max_size=2),
    middle=st.lists(st.sampled_from(("a", "b", "x", "")), max_size=3),
    glob=st.booleans(),
)
def test_plus_matches_exactly_one_non_empty_segment(
    before: list[str], after: list[str], middle: list[str], glob: bool
) -> None:
    # "end" occurs once in both, so only a one-segment middle can line the two up.
    pattern = "/".join([*before, "+", *after, "end"]) + ("/*" if glob else "")
    acl = acl_of(PathRule(path=pattern, capabilities=frozenset({"read"})))
    path = "/".join([*before, *middle, *after, "end"]) + ("/tail" if glob else "")
    one_segment = len(middle) == 1 and middle[0] != ""
    assert allowed(acl, Operation.READ, path) is one_segment


@PROPERTY_SETTINGS
@given(policies=POLICIES, tail=st.lists(REQUEST_SEGMENTS, max_size=3))
def test_a_path_no_rule_matches_is_denied(policies: list[Policy], tail: list[str]) -> None:
    path = "/".join(["zz", *tail])
    assume(not any(_rule_regex(p).fullmatch(path) for p in _merged(policies)))
    acl = ACL.build(policies)
    assert acl.capabilities(path) == {"deny"}
    for operation in ALL_OPERATIONS:
        result = acl.allowed(operation, path, {})
        assert result == AclResult(False, False, "no policy rule matches the path")


@PROPERTY_SETTINGS
@given(policies=POLICIES, path=REQUEST_PATHS, list_path=ANY_REQUEST_PATHS)
def test_capabilities_agree_with_allowed(
    policies: list[Policy], path: str, list_path: str
) -> None:
    acl = ACL.build(policies)
    caps = acl.capabilities(path)
    for operation, capability in CAPABILITY_OF.items():
        result = acl.allowed(operation, path, None)
        assert result.allowed is (capability in caps)
        assert result.sudo is (result.allowed and "sudo" in caps)
    assert acl.allowed(Operation.HELP, path).allowed is (caps != {"deny"})
    # capabilities() evaluates like a list request, for any path.
    list_caps = acl.capabilities(list_path)
    assert acl.allowed(Operation.LIST, list_path).allowed is ("list" in list_caps)


PARAMETER_NAMES = st.sampled_from(("x", "y", "*"))
PARAMETER_VALUES = st.sampled_from(("v", "w", "v*", 1, True, False))
PARAMETERS = st.dictionaries(
    PARAMETER_NAMES, st.lists(PARAMETER_VALUES, max_size=2).map(tuple), max_size=2
).map(lambda d: {k: (() if k == "*" else v) for k, v in d.items()})
CONSTRAINED_RULES = st.builds(
    lambda path, caps, allowed_p, denied_p, required, ttl: PathRule(
        path=path,
        capabilities=caps,
        allowed_parameters=allowed_p,
        denied_parameters=denied_p,
        required_parameters=required,
        max_wrapping_ttl=ttl,
    ),
    RULE_PATHS,
    GRANTS,
    PARAMETERS,
    PARAMETERS,
    st.lists(st.sampled_from(("x", "y")), max_size=1).map(tuple),
    st.sampled_from((0, 0, 60)),
)
CONSTRAINED_POLICIES = st.lists(
    st.builds(
        lambda rules: Policy(name="p", raw="", rules=tuple(rules)),
        st.lists(CONSTRAINED_RULES, max_size=5),
    ),
    min_size=1,
    max_size=4,
)
REQUEST_DATA = st.dictionaries(
    st.sampled_from(("x", "X", "y", "z")),
    st.one_of(PARAMETER_VALUES, st.just("v,w"), st.lists(st.sampled_from(("v", "w")))),
    max_size=3,
)


@PROPERTY_SETTINGS
@given(
    policies=CONSTRAINED_POLICIES,
    order=st.randoms(use_true_random=False),
    path=ANY_REQUEST_PATHS,
    data=REQUEST_DATA,
    wrap_ttl=st.sampled_from((None, 30, 90)),
)
def test_results_do_not_depend_on_policy_order(
    policies: list[Policy], order: object, path: str, data: dict[str, object], wrap_ttl: int | None
) -> None:
    shuffled = list(policies)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    first, second = ACL.build(policies), ACL.build(shuffled)
    assert first.capabilities(path) == second.capabilities(path)
    for operation in ALL_OPERATIONS:
        assert first.allowed(operation, path, data, wrap_ttl=wrap_ttl) == second.allowed(
            operation, path, data, wrap_ttl=wrap_ttl
        )


@pytest.mark.parametrize(
    ("rules", "mount", "expected"),
    [
        ('path "secret/data/app/*" { capabilities = ["read"] }', "secret/", True),
        ('path "secret/data/app" { capabilities = ["read"] }', "secret/", True),
        ('path "secret/+/app" { capabilities = ["read"] }', "secret/", True),
        ('path "+/data/app" { capabilities = ["read"] }', "secret/", True),
        ('path "secret/data/app/*" { capabilities = ["deny"] }', "secret/", False),
        ('path "other/*" { capabilities = ["read"] }', "secret/", False),
        ('path "sec*" { capabilities = ["read"] }', "secret/", True),
        ('path "other/+/x" { capabilities = ["read"] }', "secret/", False),
    ],
)
def test_reaches_under_a_mount(rules: str, mount: str, expected: bool) -> None:
    acl = ACL.build([parse_policy("p", rules)])
    assert acl.reaches_under(mount) is expected
