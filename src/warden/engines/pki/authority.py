"""A mount's CA material loaded once: issuers with parsed certificates, keys and chains.

The backend keeps one ``CaState`` and drops it whenever it writes an issuer, a key or the
default-issuer/key configuration, so an issuance costs no storage read or parse for its CA.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from warden.engines.pki import store, x509util
from warden.engines.pki.store import IssuerEntry, IssuersConfig, KeyEntry, KeysConfig, UrlsConfig
from warden.engines.pki.x509util import AiaUrls, Certificate, CertInfo, PrivateKey, Signer
from warden.logical.errors import InvalidRequest
from warden.logical.storage import Storage

DEFAULT_REF = "default"


@dataclass(frozen=True, slots=True)
class LoadedIssuer:
    entry: IssuerEntry
    cert: Certificate
    info: CertInfo
    pem: str
    der: bytes
    key: PrivateKey | None
    chain: tuple[str, ...] = ()  # PEMs: this issuer first, then its parents known to the mount
    chain_ids: tuple[str, ...] = ()
    key_id: bytes = b""  # the issuer's SKI, computed once

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def is_root(self) -> bool:
        return self.info.self_issued

    def signer(self, usage: str) -> Signer:
        """This issuer as a signer for ``usage``; InvalidRequest if it cannot be used so."""
        if self.key is None:
            raise InvalidRequest(f"issuer {self.id} has no private key in this mount and cannot sign")
        if not self.entry.allows(usage):
            allowed = ",".join(self.entry.usage)
            raise InvalidRequest(f"issuer {self.id} does not allow {usage} (usage: {allowed})")
        return Signer(self.key, self.cert, self.key_id)

    def urls(self, mount_urls: UrlsConfig) -> AiaUrls:
        """Per-issuer AIA URLs when any is set, else the mount's (Vault's rule)."""
        e = self.entry
        if e.issuing_certificates or e.crl_distribution_points or e.ocsp_servers or \
                e.delta_crl_distribution_points:
            return AiaUrls(e.issuing_certificates, e.crl_distribution_points, e.ocsp_servers,
                           e.delta_crl_distribution_points)
        return AiaUrls(mount_urls.issuing_certificates, mount_urls.crl_distribution_points,
                       mount_urls.ocsp_servers, mount_urls.delta_crl_distribution_points)


@dataclass(frozen=True, slots=True)
class CaState:
    issuers: Mapping[str, LoadedIssuer] = field(default_factory=dict)
    keys: Mapping[str, KeyEntry] = field(default_factory=dict)
    parsed_keys: Mapping[str, PrivateKey] = field(default_factory=dict)
    default_issuer: str = ""
    default_key: str = ""
    default_follows_latest_issuer: bool = False
    trust_ids: tuple[str, ...] = ()  # the trust bundle, computed once per load (see trust_bundle_ids)

    @property
    def trust_bundle(self) -> tuple[str, ...]:
        """The PEM certificates a relying party should trust (see ``trust_bundle_ids``)."""
        return tuple(self.issuers[i].pem for i in self.trust_ids)

    def issuer(self, ref: str) -> LoadedIssuer:
        """An issuer by id, name or ``default``; InvalidRequest if there is none."""
        found = self.find_issuer(ref)
        if found is None:
            if ref in ("", DEFAULT_REF):
                raise InvalidRequest("no default issuer is configured in this mount: generate or import "
                                     "a CA first (root/generate/internal or intermediate/set-signed)")
            raise InvalidRequest(f'unable to find PKI issuer for reference: {ref}')
        return found

    def find_issuer(self, ref: str) -> LoadedIssuer | None:
        if ref in ("", DEFAULT_REF):
            return self.issuers.get(self.default_issuer)
        if ref in self.issuers:
            return self.issuers[ref]
        return next((i for i in self.issuers.values() if i.entry.name and i.entry.name == ref), None)

    def key(self, ref: str) -> KeyEntry:
        if ref in ("", DEFAULT_REF):
            found = self.keys.get(self.default_key)
        else:
            found = self.keys.get(ref) or next(
                (k for k in self.keys.values() if k.name and k.name == ref), None)
        if found is None:
            raise InvalidRequest(f"unable to find PKI key for reference: {ref or DEFAULT_REF}")
        return found

    def key_for(self, cert: Certificate) -> KeyEntry | None:
        wanted = x509util.public_key_id(cert.public_key())  # type: ignore[arg-type]
        for key_id, key in self.parsed_keys.items():
            if x509util.public_key_id(key) == wanted:
                return self.keys[key_id]
        return None

    def issuer_with_der(self, der: bytes) -> LoadedIssuer | None:
        return next((i for i in self.issuers.values() if i.der == der), None)

    def signer_of(self, cert: Certificate) -> LoadedIssuer | None:
        """The issuer in this mount whose key signed ``cert``."""
        return next((i for i in self.issuers.values() if x509util.issued_by(cert, i.cert)), None)

    def name_taken(self, name: str, *, issuer: bool, but: str = "") -> bool:
        entries = ([i.entry for i in self.issuers.values()] if issuer else list(self.keys.values()))
        return any(e.name == name and e.id != but for e in entries if e.name)


async def load_state(storage: Storage) -> CaState:
    keys = {k.id: k for k in await store.load_keys(storage)}
    parsed_keys = {k.id: x509util.load_private_key(k.private_key) for k in keys.values()}
    loose: dict[str, LoadedIssuer] = {}
    for entry in await store.load_issuers(storage):
        cert = x509util.load_certificate(entry.certificate)
        loose[entry.id] = LoadedIssuer(
            entry=entry, cert=cert, info=x509util.describe(cert), pem=x509util.cert_pem(cert),
            der=x509util.cert_der(cert), key=parsed_keys.get(entry.key_id),
            key_id=x509util.key_identifier(cert))
    issuers = {i: _with_chain(loose[i], loose) for i in loose}
    cfg = await store.load_config(storage, store.CONFIG_ISSUERS, IssuersConfig)
    kcfg = await store.load_config(storage, store.CONFIG_KEYS, KeysConfig)
    return CaState(issuers=issuers, keys=keys, parsed_keys=parsed_keys, default_issuer=cfg.default,
                   default_key=kcfg.default, default_follows_latest_issuer=cfg.default_follows_latest_issuer,
                   trust_ids=trust_bundle_ids(issuers, cfg.default))


def bundle_anchors(issuers: Mapping[str, LoadedIssuer], default: str) -> list[LoadedIssuer]:
    """The issuers whose chains make up the trust bundle: the default issuer and every other
    issuer that holds its key in this mount, unless revoked; the default first, then the
    others oldest first. Key-less issuers (an offline root imported for the chain) count only
    as parents of these."""
    anchors = [i for i in issuers.values()
               if not i.entry.revoked and (i.id == default or i.key is not None)]
    return sorted(anchors, key=lambda i: (i.id != default, i.info.not_before, i.id))


def trust_bundle_ids(issuers: Mapping[str, LoadedIssuer], default: str) -> tuple[str, ...]:
    """Issuer ids of the trust bundle: each anchor's chain (itself, then its parents known to
    the mount), each certificate once. With one issuer this is its ca_chain; while a CA
    rotates (a second issuer with a key) it holds old and new; deleting or revoking the old
    issuer drops it."""
    out: list[str] = []
    seen: set[bytes] = set()
    for anchor in bundle_anchors(issuers, default):
        for issuer_id in anchor.chain_ids:
            der = issuers[issuer_id].der
            if der not in seen:
                seen.add(der)
                out.append(issuer_id)
    return tuple(out)


def _with_chain(issuer: LoadedIssuer, all_issuers: Mapping[str, LoadedIssuer]) -> LoadedIssuer:
    if issuer.entry.manual_chain:
        ids = [i for i in issuer.entry.manual_chain if i in all_issuers]
    else:
        ids = [issuer.id]
        current = issuer
        while not current.info.self_issued:
            parent = next((p for p in all_issuers.values()
                           if p.id not in ids and x509util.issued_by(current.cert, p.cert)), None)
            if parent is None:
                break
            ids.append(parent.id)
            current = parent
    return LoadedIssuer(entry=issuer.entry, cert=issuer.cert, info=issuer.info, pem=issuer.pem,
                        der=issuer.der, key=issuer.key, chain=tuple(all_issuers[i].pem for i in ids),
                        chain_ids=tuple(ids), key_id=issuer.key_id)
