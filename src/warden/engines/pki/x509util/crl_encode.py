"""CRLs encoded directly in DER, from revocation entries kept ready in storage.

A CRL of 100,000 revocations through cryptography's builder means 100,000 Python objects
and seconds of work on every revocation. Its TBSCertList (RFC 5280 section 5.1) is a
header, the entries, and two extensions; the entries are stored already encoded
(``revoked_entry``, appended one revocation at a time), so building one is a join and a
signature. The result is byte for byte what the builder writes for the same input (a
property test holds the two to that).
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509

from warden.engines.pki.x509util.der import (
    BIT_STRING,
    SEQUENCE,
    crl_points,
    extension,
    integer,
    oid,
    sign,
    signature_algorithm,
    time_der,
    tlv,
)
from warden.engines.pki.x509util.model import Signer
from warden.engines.pki.x509util.read import ski_of

_V2 = b"\x02\x01\x01"
_EXT_AKI = oid("2.5.29.35")
_EXT_CRL_NUMBER = oid("2.5.29.20")
_EXT_DELTA_CRL_INDICATOR = oid("2.5.29.27")
_EXT_FRESHEST_CRL = oid("2.5.29.46")


def revoked_entry(serial: int, when: dt.datetime) -> bytes:
    """One revokedCertificates entry: the serial and the revocation date."""
    return tlv(SEQUENCE, integer(serial) + time_der(when))


def signed_crl(signer: Signer, entries: bytes, *, number: int, this_update: dt.datetime,
               next_update: dt.datetime, delta_of: int | None = None,
               freshest: tuple[str, ...] = ()) -> bytes:
    """The DER of a CRL of ``entries`` (concatenated ``revoked_entry`` values); with
    ``delta_of``, a delta CRL on top of the complete CRL of that number (RFC 5280 5.2.4);
    with ``freshest``, the URLs of its delta CRLs (Freshest CRL, 5.2.6)."""
    assert signer.cert is not None
    algorithm = signature_algorithm(signer, 0)
    if algorithm is None:
        raise ValueError("this issuer's key type cannot sign CRLs")
    algorithm_der, digest = algorithm
    key_id = signer.key_id or ski_of(signer.cert).digest
    delta = b"" if delta_of is None else extension(_EXT_DELTA_CRL_INDICATOR, integer(delta_of), critical=True)
    fresh = extension(_EXT_FRESHEST_CRL, crl_points(freshest)) if freshest else b""
    extensions = tlv(0xA0, tlv(SEQUENCE, extension(_EXT_AKI, tlv(SEQUENCE, tlv(0x80, key_id)))
                               + extension(_EXT_CRL_NUMBER, integer(number)) + delta + fresh))
    tbs = tlv(SEQUENCE, b"".join((
        _V2, algorithm_der, signer.cert.subject.public_bytes(), time_der(this_update),
        time_der(next_update), tlv(SEQUENCE, entries) if entries else b"", extensions)))
    signature = sign(signer, tbs, digest)
    return tlv(SEQUENCE, tbs + algorithm_der + tlv(BIT_STRING, b"\x00" + signature))


def load(der: bytes) -> x509.CertificateRevocationList:
    return x509.load_der_x509_crl(der)
