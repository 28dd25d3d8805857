"""Shamir secret sharing over GF(2^8), checked against an independent reference."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.core import shamir


def _reference_mul(a: int, b: int) -> int:
    """Carry-less multiplication reduced by the AES polynomial, bit by bit."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


_REFERENCE_INVERSE = [0] + [
    next(b for b in range(1, 256) if _reference_mul(a, b) == 1) for a in range(1, 256)
]


def _reference_combine(shares: Sequence[bytes]) -> bytes:
    """Textbook Lagrange interpolation at x = 0, one byte at a time."""
    xs = [s[-1] for s in shares]
    out = bytearray()
    for index in range(len(shares[0]) - 1):
        acc = 0
        for i, share in enumerate(shares):
            basis = 1
            for j, xj in enumerate(xs):
                if i != j:
                    basis = _reference_mul(basis, _reference_mul(xj, _REFERENCE_INVERSE[xs[i] ^ xj]))
            acc ^= _reference_mul(share[index], basis)
        out.append(acc)
    return bytes(out)


def test_field_multiplication_matches_reference_for_every_pair() -> None:
    for a in range(256):
        for b in range(256):
            assert shamir._mul(a, b) == _reference_mul(a, b), (a, b)


def test_field_division_inverts_multiplication() -> None:
    for a in range(256):
        for b in range(1, 256):
            assert shamir._div(shamir._mul(a, b), b) == a, (a, b)


def test_field_values_from_vaults_tests() -> None:
    assert shamir._mul(3, 7) == 9
    assert shamir._mul(3, 0) == 0
    assert shamir._mul(0, 3) == 0
    assert shamir._div(0, 7) == 0
    assert shamir._div(3, 3) == 1
    assert shamir._div(6, 3) == 2


@st.composite
def split_and_subset(
    draw: st.DrawFn, *, min_secret: int = 1, min_threshold: int = 2
) -> tuple[bytes, list[bytes], int]:
    secret = draw(st.binary(min_size=min_secret, max_size=48))
    parts = draw(st.integers(min_value=min_threshold, max_value=12))
    threshold = draw(st.integers(min_value=min_threshold, max_value=parts))
    shares = shamir.split(secret, parts, threshold)
    return secret, draw(st.permutations(shares)), threshold


@settings(max_examples=150, deadline=None)
@given(split_and_subset())
def test_any_threshold_sized_subset_recovers_the_secret(
    case: tuple[bytes, list[bytes], int],
) -> None:
    secret, shuffled, threshold = case
    assert shamir.combine(shuffled[:threshold]) == secret
    assert shamir.combine(shuffled) == secret  # more than the threshold works too
    assert _reference_combine(shuffled[:threshold]) == secret


@settings(max_examples=100, deadline=None)
@given(split_and_subset(min_secret=32, min_threshold=3), st.data())
def test_fewer_than_threshold_shares_reveal_nothing_useful(
    case: tuple[bytes, list[bytes], int], data: st.DataObject
) -> None:
    secret, shuffled, threshold = case
    count = data.draw(st.integers(min_value=2, max_value=threshold - 1))
    assert shamir.combine(shuffled[:count]) != secret


def test_every_subset_of_five_with_threshold_three() -> None:
    secret = bytes(range(32))
    shares = shamir.split(secret, 5, 3)
    for subset in itertools.combinations(shares, 3):
        assert shamir.combine(subset) == secret


def test_share_layout_is_values_then_one_x_byte() -> None:
    secret = b"0123456789abcdef0123456789abcdef"
    shares = shamir.split(secret, 255, 2)
    assert all(len(s) == len(secret) + 1 for s in shares)
    xs = [s[-1] for s in shares]
    assert sorted(xs) == list(range(1, 256))  # distinct and non-zero
    assert xs != sorted(xs)  # and in random order


def test_largest_split_round_trips() -> None:
    secret = b"\x00\xff\x10\x01"
    shares = shamir.split(secret, 255, 255)
    assert shamir.combine(shares) == secret


def test_split_uses_the_injected_random_source() -> None:
    stream = itertools.count(1)

    def counting(n: int) -> bytes:
        return bytes(next(stream) % 256 for _ in range(n))

    first = shamir.split(b"secret", 3, 2, randbytes=counting)
    stream = itertools.count(1)
    assert shamir.split(b"secret", 3, 2, randbytes=counting) == first


def test_split_fails_rather_than_hangs_on_a_stuck_random_source() -> None:
    with pytest.raises(ValueError, match="distinct"):
        shamir.split(b"secret", 3, 2, randbytes=lambda n: bytes(n))


@pytest.mark.parametrize(
    ("secret", "parts", "threshold", "message"),
    [
        (b"s", 2, 3, "parts cannot be less than threshold"),
        (b"s", 256, 2, "parts cannot exceed 255"),
        (b"s", 3, 1, "threshold must be at least 2"),
        (b"", 3, 2, "empty secret"),
    ],
)
def test_split_rejects_bad_arguments(secret: bytes, parts: int, threshold: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shamir.split(secret, parts, threshold)


def test_combine_detects_duplicate_shares() -> None:
    shares = shamir.split(b"secret", 3, 2)
    with pytest.raises(ValueError, match="duplicate"):
        shamir.combine([shares[0], shares[1], shares[0]])
    forged = bytes(b ^ 1 for b in shares[1][:-1]) + shares[1][-1:]  # same x, other values
    with pytest.raises(ValueError, match="duplicate"):
        shamir.combine([shares[1], forged])


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ([], "less than two"),
        ([b"abc"], "less than two"),
        ([b"a", b"b"], "at least two bytes"),
        ([b"ab\x01", b"abcd\x02"], "same length"),
        ([b"ab\x00", b"ab\x02"], "x-coordinate"),
    ],
)
def test_combine_rejects_bad_shares(shares: list[bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shamir.combine(shares)
