"""The one table of paths: documented, ordered specific-to-general, special paths as Vault's."""

from __future__ import annotations

import re

import pytest

from support.pki import PkiKit
from warden.engines.pki.backend import ROOT_ONLY, UNAUTHENTICATED
from warden.logical.operation import Operation


def test_every_path_and_field_is_documented() -> None:
    paths = PkiKit().pki.backend.paths
    assert len(paths) >= 50
    for path in paths:
        assert path.help_synopsis.strip(), path.pattern
        for name, field in path.fields.items():
            assert field.description.strip(), f"{path.pattern}: field {name}"
        assert set(re.compile(path.pattern).groupindex) <= set(path.fields), path.pattern


@pytest.mark.parametrize(("path", "synopsis"), [
    ("cert/ca", "The default issuer's certificate."),
    ("cert/ca_chain", "The default issuer's chain."),
    ("cert/crl", "The default issuer's CRL (JSON)."),
    ("cert/17-67-16", "An issued certificate by serial"),
    ("cert/17:67:16/raw/pem", "An issued certificate by serial"),
    ("certs", "Serials of issued certificates."),
    ("certs/revoked", "Serials of revoked certificates."),
    ("certs/expiring", "expiring in a window"),
    ("certs/by-role/kubelet", "of one role"),
    ("issuer/default", "Read, update or delete an issuer."),
    ("issuer/root-x1/pem", "raw (unauthenticated)"),
    ("issuer/root-x1/crl/pem", "An issuer's CRL"),
    ("issuer/root-x1/issue/web", "Generate a private key and a certificate"),
    ("issuer/root-x1/sign-verbatim/web", "Sign a CSR as it is"),
    ("issuers/generate/root/internal", "Generate a self-signed root CA"),
    ("issuers/generate/intermediate/exported", "intermediate CA's key and CSR"),
    ("issuers/import/bundle", "Import CA certificates and private keys"),
    ("root", "Delete every issuer and key"),
    ("root/sign-intermediate", "Sign an intermediate CA's CSR"),
    ("root/replace", "default issuer"),
    ("crl/rotate", "Rebuild every issuer's CRL."),
    ("ocsp", "OCSP over POST."),
    ("ocsp/MEUwQzBBMD8wPTAJBgUrDgMCGgUABBQ", "OCSP over GET"),
    ("keys/generate/internal", "Generate a key"),
    ("key/default", "Read, rename or delete a key"),
    ("sign-verbatim", "Sign a CSR as it is"),
    ("sign/web", "Sign a CSR under a role."),
    ("issue/web", "Generate a private key and a certificate"),
])
def test_routes(path: str, synopsis: str) -> None:
    found = PkiKit().pki.backend.route(path)
    assert found is not None, path
    assert synopsis in found[0].help_synopsis


def test_special_paths_match_vaults() -> None:
    for entry in ("cert/*", "ca/pem", "ca", "ca_chain", "crl", "crl/pem", "issuer/+/pem", "issuer/+/der",
                  "issuer/+/json", "issuer/+/crl", "issuer/+/crl/pem", "issuer/+/crl/der", "ocsp", "ocsp/*"):
        assert entry in UNAUTHENTICATED
    privileged = ("issue/", "sign", "roles", "revoke", "config", "root", "key")
    assert not any(p.startswith(privileged) for p in UNAUTHENTICATED)
    assert ROOT_ONLY == ("root", "root/sign-self-issued")


async def test_help_is_generated_from_the_schema() -> None:
    kit = PkiKit()
    resp = await kit.call(Operation.HELP, "roles/web")
    assert resp is not None and resp.data is not None
    text = resp.data["help"]
    assert "allow_subdomains" in text and "Manage a role" in text
