"""Shamir's secret sharing over GF(2^8), share-compatible with Vault's ``shamir`` package.

Each byte of the secret is the constant term of its own random polynomial of
degree ``threshold - 1``. A share is the polynomial values at one x-coordinate,
followed by that x-coordinate as ONE trailing byte (distinct, non-zero, random):
``y_1 .. y_len | x``. The field is AES's (reduction polynomial 0x11b), with
arithmetic through log/exp tables built so that zero needs no branch.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Final

_FIELD_POLY: Final = 0x11B
_GENERATOR: Final = 0x03
# log(0) points past the periodic part of the exp table, into a run of zeros, so
# a product or quotient involving zero comes out zero without a branch.
_LOG_ZERO: Final = 510


def _build_tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    exp = [0] * (2 * _LOG_ZERO + 1)
    log = [0] * 256
    value = 1
    for power in range(255):
        exp[power] = exp[power + 255] = value
        log[value] = power
        value = _times_generator(value)
    log[0] = _LOG_ZERO
    return tuple(exp), tuple(log)


def _times_generator(value: int) -> int:
    """``value * 3`` in the field: ``value * x + value``, reduced."""
    doubled = value << 1
    if doubled & 0x100:
        doubled ^= _FIELD_POLY
    return doubled ^ value


_EXP, _LOG = _build_tables()


def _mul(a: int, b: int) -> int:
    return _EXP[_LOG[a] + _LOG[b]]


def _div(a: int, b: int) -> int:
    """``a / b`` for non-zero ``b`` (``x`` coordinates are distinct, so denominators are)."""
    return _EXP[_LOG[a] + 255 - _LOG[b]]


def split(
    secret: bytes,
    parts: int,
    threshold: int,
    *,
    randbytes: Callable[[int], bytes] = secrets.token_bytes,
) -> list[bytes]:
    """Split ``secret`` into ``parts`` shares, any ``threshold`` of which recover it.

    Each share is one byte longer than the secret. ``2 <= threshold <= parts <= 255``.
    """
    _check_split_args(secret, parts, threshold)
    xs = _distinct_nonzero_bytes(parts, randbytes)
    degree = threshold - 1
    coefficients = randbytes(len(secret) * degree)
    if len(coefficients) != len(secret) * degree:
        raise ValueError("random source returned the wrong number of bytes")
    shares = [bytearray(len(secret) + 1) for _ in range(parts)]
    for index, intercept in enumerate(secret):
        poly = (intercept, *coefficients[index * degree : (index + 1) * degree])
        for share, x in zip(shares, xs, strict=True):
            share[index] = _evaluate(poly, x)
    for share, x in zip(shares, xs, strict=True):
        share[-1] = x
    return [bytes(share) for share in shares]


def combine(shares: Sequence[bytes]) -> bytes:
    """Recover the secret from at least ``threshold`` distinct shares.

    With fewer shares than the threshold the result is a random-looking value, not
    an error: Shamir cannot tell. The caller verifies the result (the barrier does).
    """
    length = _check_combine_args(shares)
    xs = [share[-1] for share in shares]
    weights = _lagrange_weights_at_zero(xs)
    secret = bytearray(length - 1)
    for index in range(length - 1):
        acc = 0
        for share, weight in zip(shares, weights, strict=True):
            acc ^= _mul(share[index], weight)
        secret[index] = acc
    return bytes(secret)


def _evaluate(poly: Sequence[int], x: int) -> int:
    """Horner's rule; ``poly[0]`` is the constant term."""
    acc = 0
    for coefficient in reversed(poly):
        acc = _mul(acc, x) ^ coefficient
    return acc


def _lagrange_weights_at_zero(xs: Sequence[int]) -> list[int]:
    """``l_i(0) = prod_{j != i} x_j / (x_i - x_j)``; subtraction is XOR in GF(2^8)."""
    weights = []
    for i, xi in enumerate(xs):
        weight = 1
        for j, xj in enumerate(xs):
            if i != j:
                weight = _mul(weight, _div(xj, xi ^ xj))
        weights.append(weight)
    return weights


def _distinct_nonzero_bytes(count: int, randbytes: Callable[[int], bytes]) -> list[int]:
    """``count`` distinct values in 1..255, in random order: first sightings in a random stream."""
    chosen: list[int] = []
    seen: set[int] = set()
    for _ in range(64):
        for value in randbytes(256):
            if value and value not in seen:
                seen.add(value)
                chosen.append(value)
                if len(chosen) == count:
                    return chosen
    raise ValueError("random source did not yield enough distinct x-coordinates")


def _check_split_args(secret: bytes, parts: int, threshold: int) -> None:
    if parts < threshold:
        raise ValueError("parts cannot be less than threshold")
    if parts > 255:
        raise ValueError("parts cannot exceed 255")
    if threshold < 2:
        raise ValueError("threshold must be at least 2")
    if not secret:
        raise ValueError("cannot split an empty secret")


def _check_combine_args(shares: Sequence[bytes]) -> int:
    """The common share length, once the shares are known to be combinable."""
    if len(shares) < 2:
        raise ValueError("less than two shares cannot be used to reconstruct the secret")
    length = len(shares[0])
    if length < 2:
        raise ValueError("shares must be at least two bytes")
    if any(len(share) != length for share in shares):
        raise ValueError("all shares must be the same length")
    xs = [share[-1] for share in shares]
    if 0 in xs:
        raise ValueError("share has an invalid x-coordinate of zero")
    if len(set(xs)) != len(xs):
        raise ValueError("duplicate share detected")
    return length
