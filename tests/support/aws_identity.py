"""Sign EC2 instance identity documents into AWS-style base64 PKCS#7, for tests.

    signer = AwsSigner("dsa")              # AWS's classic certificate is DSA
    pkcs7 = signer.sign(identity_document(instanceId="i-0abc"))
    # configure warden with signer.cert_pem; log in with pkcs7

RSA and ECDSA messages come from cryptography's PKCS7SignatureBuilder; DSA (which it
does not support) is assembled with asn1crypto. Like AWS's, the messages embed the
document and carry no certificates.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import textwrap
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


def identity_document(**overrides: Any) -> dict[str, Any]:
    """An identity document as the metadata service returns it (fields can be replaced)."""
    doc: dict[str, Any] = {
        "accountId": "123456789012",
        "architecture": "x86_64",
        "availabilityZone": "us-east-1a",
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": "ami-5fb8c835",
        "instanceId": "i-1234567890abcdef0",
        "instanceType": "t2.micro",
        "kernelId": None,
        "pendingTime": "2016-11-19T16:32:11Z",
        "privateIp": "172.31.31.18",
        "ramdiskId": None,
        "region": "us-east-1",
        "version": "2017-09-30",
    }
    doc.update(overrides)
    return doc


def document_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode()


def wrap_der(der: bytes) -> str:
    """Base64 in 64-character lines, as the metadata service serves it."""
    return "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))


class AwsSigner:
    """A key of one type (rsa, dsa or ec) and a self-signed certificate for it."""

    def __init__(self, key_type: str = "rsa", *, name: str = "Amazon Web Services LLC") -> None:
        self.key_type = key_type
        if key_type == "rsa":
            self.key: Any = rsa.generate_private_key(65537, 2048)
        elif key_type == "dsa":
            self.key = dsa.generate_private_key(1024)  # the size of AWS's own DSA key
        elif key_type == "ec":
            self.key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(key_type)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .sign(self.key, hashes.SHA256()))

    @property
    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def cert_der_b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()

    def sign(self, doc: dict[str, Any] | bytes, *, attributes: bool = True,
             digest: str = "sha256") -> str:
        """The base64 PKCS#7 of ``doc`` (a dict is rendered like AWS's JSON)."""
        return wrap_der(self.sign_der(doc, attributes=attributes, digest=digest))

    def sign_der(self, doc: dict[str, Any] | bytes, *, attributes: bool = True,
                 digest: str = "sha256") -> bytes:
        content = doc if isinstance(doc, bytes) else document_bytes(doc)
        if self.key_type == "dsa":
            return self._sign_dsa(content, attributes, digest)
        options = [pkcs7.PKCS7Options.NoCerts, pkcs7.PKCS7Options.Binary]
        if not attributes:
            options.append(pkcs7.PKCS7Options.NoAttributes)
        return (pkcs7.PKCS7SignatureBuilder().set_data(content)
                .add_signer(self.cert, self.key, _HASHES[digest]())
                .sign(serialization.Encoding.DER, options))

    def _sign_dsa(self, content: bytes, attributes: bool, digest: str) -> bytes:
        cert = asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER))
        signer: dict[str, Any] = {
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": cert.issuer, "serial_number": cert.serial_number})}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": f"{digest}_dsa"}),
        }
        to_sign = content
        if attributes:
            attrs = cms.CMSAttributes([
                cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
                cms.CMSAttribute({"type": "signing_time",
                                  "values": [cms.Time({"utc_time": dt.datetime.now(dt.UTC)})]}),
                cms.CMSAttribute({"type": "message_digest",
                                  "values": [hashlib.new(digest, content).digest()]}),
            ])
            signer["signed_attrs"] = attrs
            to_sign = attrs.dump()
        signer["signature"] = self.key.sign(to_sign, _HASHES[digest]())
        signed = cms.SignedData({
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
            "encap_content_info": {"content_type": "data", "content": content},
            "signer_infos": [cms.SignerInfo(signer)],
        })
        return cms.ContentInfo({"content_type": "signed_data", "content": signed}).dump()


def tamper_content(der: bytes, old: bytes, new: bytes) -> bytes:
    """The same message with bytes of the signed document replaced (same length)."""
    assert len(old) == len(new) and der.count(old) == 1
    return der.replace(old, new)
