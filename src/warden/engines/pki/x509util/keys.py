"""Key types, generation, (de)serialization, and the signature hash each key uses."""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from warden.engines.pki.x509util.model import KeySpec, PrivateKey, PublicKey

RSA_BITS = (2048, 3072, 4096, 8192)


_CURVES: dict[int, type[ec.EllipticCurve]] = {
    224: ec.SECP224R1, 256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}


def key_spec(key_type: str, bits: int = 0) -> KeySpec:
    """Vault's key_type/key_bits with its defaults; raises ValueError naming what is wrong."""
    if key_type == "rsa":
        bits = bits or 2048
        if bits not in RSA_BITS:
            raise ValueError(f"unsupported key_bits {bits} for rsa keys: use 2048, 3072, 4096 or 8192")
        return KeySpec("rsa", bits)
    if key_type == "ec":
        bits = bits or 256
        if bits not in _CURVES:
            raise ValueError(f"unsupported key_bits {bits} for ec keys: use 224, 256, 384 or 521")
        return KeySpec("ec", bits)
    if key_type == "ed25519":
        return KeySpec("ed25519", 0)
    raise ValueError(f'unsupported key_type "{key_type}": use rsa, ec or ed25519')


def generate_private_key(spec: KeySpec) -> PrivateKey:
    if spec.key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.bits)
    if spec.key_type == "ec":
        return ec.generate_private_key(_CURVES[spec.bits]())
    return ed25519.Ed25519PrivateKey.generate()


def spec_of(key: PrivateKey | PublicKey | object) -> KeySpec | None:
    """The KeySpec of a key, or None for a key type warden does not issue for."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return KeySpec("rsa", key.key_size)
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return KeySpec("ec", key.curve.key_size)
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeySpec("ed25519", 0)
    return None


def private_key_der(key: PrivateKey, *, pkcs8: bool = False) -> bytes:
    fmt = (serialization.PrivateFormat.PKCS8 if pkcs8 or isinstance(key, ed25519.Ed25519PrivateKey)
           else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


def private_key_pem(key: PrivateKey, *, pkcs8: bool = False) -> str:
    fmt = (serialization.PrivateFormat.PKCS8 if pkcs8 or isinstance(key, ed25519.Ed25519PrivateKey)
           else serialization.PrivateFormat.TraditionalOpenSSL)
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def load_private_key(pem: str) -> PrivateKey:
    """Raises ValueError (never echoing the key) if this is not an unencrypted rsa/ec/ed25519 key."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError("only rsa, ec and ed25519 private keys are supported")
    return key


def public_key_id(key: PrivateKey | PublicKey) -> bytes:
    """The SubjectPublicKeyInfo DER: equal for a private key and its certificate's public key."""
    pub = key.public_key() if isinstance(key, PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def hash_for(key: PrivateKey, signature_bits: int) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    return {384: hashes.SHA384(), 512: hashes.SHA512()}.get(signature_bits, hashes.SHA256())


def rsa_padding(key: PrivateKey, use_pss: bool) -> padding.PSS | None:
    if use_pss and isinstance(key, rsa.RSAPrivateKey):
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    return None
