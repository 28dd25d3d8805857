"""names.py: hostnames, IDNA, globs, wildcards and the allowed_domains rules (property-tested)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warden.engines.pki.names import (
    NamePolicy,
    check_name,
    glob_match,
    is_hostname,
    show,
    split_alt_names,
    to_ascii,
)

LABEL = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")
HOSTNAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
CONTROL = st.sampled_from(["\x00", "\x01", "\n", "\r", "\t", "\x1f", "\x7f"])
KUBELET = NamePolicy(allowed_domains=("kubelet",), allow_bare_domains=True, allow_subdomains=False)


# -- form ------------------------------------------------------------------------------------

@given(HOSTNAME)
def test_generated_hostnames_are_hostnames_and_ascii_passes_through(name: str) -> None:
    assert is_hostname(name)
    assert to_ascii(name) == name
    assert to_ascii(to_ascii(name)) == to_ascii(name)


@given(HOSTNAME, CONTROL, st.integers(min_value=0, max_value=30))
def test_a_control_character_anywhere_makes_a_name_invalid(name: str, ctl: str, at: int) -> None:
    at = min(at, len(name))
    bad = name[:at] + ctl + name[at:]
    assert not is_hostname(bad)
    assert check_name(bad, NamePolicy(allow_any_name=True, enforce_hostnames=False)) == \
        "it contains control characters"


@pytest.mark.parametrize("name", ["a..b", ".a", "a" * 64 + ".com", "-a.com", "a-.com", "a_b.com",
                                  "a b.com", "kube:let", "", "*.*.com", "a.*.com"])
def test_not_hostnames(name: str) -> None:
    assert not is_hostname(name)


def test_idna_names_become_a_labels() -> None:
    assert to_ascii("bücher.example.com") == "xn--bcher-kva.example.com"
    assert is_hostname("bücher.example.com")
    assert to_ascii("example.com.") == "example.com."
    with pytest.raises(ValueError):
        to_ascii("a" * 254)
    for spoof in ("a\u200b.example.com", "ex\u00adample.com", "\uff45xample.com", "example\u3002com"):
        with pytest.raises(ValueError):
            to_ascii(spoof)
        assert not is_hostname(spoof)


# -- globs (ryanuber/go-glob semantics: only '*' is special and it spans dots) ---------------------

def _glob_oracle(pattern: str, value: str) -> bool:
    regex = ".*".join(re.escape(p) for p in pattern.split("*"))
    return re.fullmatch(regex, value, re.S) is not None


@given(st.text(alphabet="ab.*-", max_size=8), st.text(alphabet="ab.-", max_size=10))
def test_glob_agrees_with_a_regex_oracle(pattern: str, value: str) -> None:
    assert glob_match(pattern, value) == _glob_oracle(pattern, value)


@given(st.text(max_size=20))
def test_star_matches_everything_and_a_starless_pattern_only_itself(value: str) -> None:
    assert glob_match("*", value)
    if "*" not in value:
        assert glob_match(value, value)
        assert not glob_match(value, value + "x")


# -- allowed_domains rules ---------------------------------------------------------------------

@given(HOSTNAME)
def test_bare_only_role_allows_exactly_its_domain(name: str) -> None:
    policy = NamePolicy(allowed_domains=("example.com",), allow_bare_domains=True, allow_localhost=False)
    assert (check_name(name, policy) is None) == (name == "example.com")


@given(LABEL, st.booleans())
def test_subdomains_are_allowed_exactly_when_allow_subdomains(label: str, allow: bool) -> None:
    policy = NamePolicy(allowed_domains=("example.com",), allow_subdomains=allow)
    assert (check_name(f"{label}.example.com", policy) is None) == allow
    assert (check_name(f"*.{label}.example.com", policy) is None) == allow


@given(HOSTNAME)
def test_allow_any_name_allows_any_hostname_but_keeps_the_hostname_rule(name: str) -> None:
    assert check_name(name, NamePolicy(allow_any_name=True)) is None
    assert check_name(name + " x", NamePolicy(allow_any_name=True)) is not None
    assert check_name(name + " x", NamePolicy(allow_any_name=True, enforce_hostnames=False)) is None


@given(HOSTNAME)
def test_without_allowed_domains_only_localhost_can_pass(name: str) -> None:
    allowed = check_name(name, NamePolicy()) is None
    assert allowed == (name in ("localhost", "localdomain"))


@pytest.mark.parametrize(("name", "allowed"), [
    ("kubelet", True), ("KUBELET", True), ("x.kubelet", False), ("kubelet.evil", False),
    ("kubelet\x00", False), ("*.kubelet", False), ("kubelet.", False), ("kubelet@kubelet", True),
    ("localhost", True), ("kube-let", False),
])
def test_the_seed_kubelet_role(name: str, allowed: bool) -> None:
    assert (check_name(name, KUBELET) is None) == allowed


def test_reasons_name_the_rule() -> None:
    assert "allow_subdomains=false" in (check_name("x.kubelet", KUBELET) or "")
    assert "wildcards under" in (check_name("*.kubelet", KUBELET) or "")
    assert "matches none of allowed_domains" in (check_name("kubelet.evil", KUBELET) or "")
    assert "trailing dot" in (check_name("kubelet.", KUBELET) or "")
    assert "control characters" in (check_name("kubelet\x00", KUBELET) or "")
    bare_off = NamePolicy(allowed_domains=("kubelet",), allow_subdomains=True)
    assert "allow_bare_domains=false" in (check_name("kubelet", bare_off) or "")
    no_local = NamePolicy(allowed_domains=("kubelet",), allow_localhost=False)
    assert "allow_localhost=false" in (check_name("localhost", no_local) or "")
    assert "allowed_domains is empty" in (check_name("foo.com", NamePolicy()) or "")
    glob_off = NamePolicy(allowed_domains=("*.example.com",))
    assert "allow_glob_domains=false" in (check_name("a.example.com", glob_off) or "")


@pytest.mark.parametrize(("name", "why"), [
    ("**.example.com", "only one wildcard"),
    ("foo.*.example.com", "left-most label"),
    ("*", "non-wildcard label"),
    ("a@*.example.com", "wildcard domain"),
    ("a@b@example.com", "not a valid email"),
])
def test_malformed_wildcards_and_emails(name: str, why: str) -> None:
    reason = check_name(name, NamePolicy(allow_any_name=True)) or ""
    assert why in reason


def test_wildcards_can_be_switched_off_even_with_allow_any_name() -> None:
    policy = NamePolicy(allow_any_name=True, allow_wildcard_certificates=False)
    assert "allow_wildcard_certificates=false" in (check_name("*.example.com", policy) or "")
    assert check_name("foo*.example.com", NamePolicy(allow_any_name=True)) is None


def test_glob_domains_span_labels_and_ignore_case() -> None:
    policy = NamePolicy(allowed_domains=("*.example.com",), allow_glob_domains=True)
    assert check_name("a.b.example.com", policy) is None
    assert check_name("A.Example.COM", policy) is None
    assert check_name("example.com", policy) is not None


def test_colon_identities_need_enforce_hostnames_off() -> None:
    strict = NamePolicy(allowed_domains=("system:kube-scheduler",), allow_bare_domains=True)
    relaxed = NamePolicy(allowed_domains=("system:kube-scheduler",), allow_bare_domains=True,
                         enforce_hostnames=False)
    assert "not a valid hostname" in (check_name("system:kube-scheduler", strict) or "")
    assert check_name("system:kube-scheduler", relaxed) is None
    assert check_name("system:kube-scheduler2", relaxed) is not None


def test_helpers() -> None:
    assert show("a\x00b") == '"a\\x00b"'
    assert split_alt_names(["b.com", " a.com", "x@y.com", "b.com", ""]) == (["a.com", "b.com"], ["x@y.com"])
