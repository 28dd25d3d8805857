"""Verifying a service-account JWT locally against the cluster's signing keys (``pem_keys``).

The signature is checked with pyjwt, only with algorithms that fit the key (RSA:
RS*/PS*, EC: ES*; never ``none`` or HMAC). Times are checked against warden's clock,
not the host's, so tests can move time. Failures raise ``JwtRejected`` with a reason
that never contains the token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
RSA_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
EC_ALGORITHMS = ("ES256", "ES384", "ES512")
LEEWAY = 60  # seconds of clock skew tolerated on exp/nbf/iat (go-jose's default)
_NO_CLAIM_CHECKS = {"verify_signature": True, "verify_exp": False, "verify_nbf": False,
                    "verify_iat": False, "verify_aud": False, "verify_iss": False}


class MalformedJwt(ValueError):
    """The input is not a JWT at all (400, not 403)."""


class JwtRejected(ValueError):
    """A well-formed JWT that fails verification; the message says why."""


def load_public_key(pem: str) -> PublicKey:
    """A PEM public key, or the public key of a PEM certificate; RSA or EC only."""
    data = pem.strip().encode()
    try:
        if b"CERTIFICATE" in data.split(b"\n", 1)[0]:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ValueError("not a PEM public key or certificate") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise ValueError("only RSA and ECDSA keys can verify service-account tokens")
    return key


def unverified_claims(token: str) -> dict[str, Any]:
    """The claims without any check, to route and pre-check a login; never trusted alone."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise MalformedJwt("jwt is not a well-formed JSON Web Token") from None
    if not isinstance(claims, dict):
        raise MalformedJwt("jwt is not a well-formed JSON Web Token")
    return claims


@dataclass(frozen=True, slots=True)
class Expectations:
    now: float
    issuer: str = ""  # "" skips the issuer check
    audience: str = ""  # "" skips the audience check


def verify(token: str, keys: Sequence[PublicKey], expect: Expectations) -> dict[str, Any]:
    """The claims of ``token`` if one of ``keys`` signed it and its claims hold."""
    claims = _verified_signature(token, keys)
    _check_times(claims, expect.now)
    if expect.issuer and claims.get("iss") != expect.issuer:
        raise JwtRejected("the JWT's issuer does not match the configured issuer")
    if expect.audience and expect.audience not in _audiences(claims):
        raise JwtRejected("the JWT's audience does not include the role's audience")
    return claims


def _verified_signature(token: str, keys: Sequence[PublicKey]) -> dict[str, Any]:
    unverified_claims(token)  # malformed input is a 400, not a signature failure
    for key in keys:
        algorithms = RSA_ALGORITHMS if isinstance(key, rsa.RSAPublicKey) else EC_ALGORITHMS
        try:
            claims = jwt.decode(token, key=key, algorithms=list(algorithms),
                                options=_NO_CLAIM_CHECKS)  # type: ignore[arg-type]
        except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError, jwt.InvalidKeyError):
            continue
        except jwt.PyJWTError as exc:
            raise JwtRejected(f"the JWT is invalid: {type(exc).__name__}") from None
        return dict(claims)
    raise JwtRejected("the JWT's signature does not verify against any configured pem_keys")


def _check_times(claims: Mapping[str, Any], now: float) -> None:
    exp, nbf, iat = (_number(claims, name) for name in ("exp", "nbf", "iat"))
    if exp is not None and now > exp + LEEWAY:
        raise JwtRejected("the JWT has expired")
    if nbf is not None and now + LEEWAY < nbf:
        raise JwtRejected("the JWT is not valid yet (nbf is in the future)")
    if iat is not None and now + LEEWAY < iat:
        raise JwtRejected("the JWT was issued in the future (iat)")


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JwtRejected(f'the JWT\'s "{name}" claim is not a number')
    return float(value)


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []
