"""``warden k8s check DIR``: read a certificate tree (warden's or kubeadm's) and report per
file: subject, issuer, SANs, usages, days left, key match, chain, identity.

Pure analysis of files with cryptography; nothing talks to a server. DIR is the directory
holding ``pki/`` and the kubeconfigs (``/etc/kubernetes``), or ``pki/`` itself.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509

from warden.kube import check_rules as rules
from warden.kube.check_rules import CheckOptions
from warden.kube.inventory import CAS, KUBEADM_ONLY, SA_KEY_FILE, SA_PUB_FILE, CaSpec, CertSpec, all_certs
from warden.kube.kubeconfig import parse as parse_kubeconfig
from warden.kube.x509info import (
    describe,
    issued_by,
    key_matches,
    load_certs,
    load_private_key,
    public_key_matches,
    verify_chain,
)

OK, NA = "ok", "n/a"


@dataclass(frozen=True, slots=True)
class FileReport:
    file: str
    kind: str  # ca, certificate, kubeconfig, key-pair
    subject: str = ""
    issuer: str = ""
    sans: tuple[str, ...] = ()
    usages: tuple[str, ...] = ()
    not_after: str = ""
    days_left: int | None = None
    key: str = NA
    chain: str = NA
    identity: str = NA
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


@dataclass(frozen=True, slots=True)
class Report:
    root: str
    files: tuple[FileReport, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "ok": self.ok, "files": [f.to_json() for f in self.files]}


class NothingToCheck(FileNotFoundError):
    pass


@dataclass(frozen=True)
class _Tree:
    root: Path
    pki: Path

    @classmethod
    def locate(cls, root: Path) -> _Tree:
        if (root / "pki").is_dir():
            return cls(root, root / "pki")
        return cls(root, root)  # DIR is pki/ itself: no kubeconfigs beside it

    def path(self, relative: str) -> Path:
        if relative.startswith("pki/"):
            return self.pki / relative.removeprefix("pki/")
        return self.root / relative if self.pki != self.root else self.root / "__absent__" / relative

    def read(self, relative: str) -> bytes | None:
        try:
            return self.path(relative).read_bytes()
        except OSError:
            return None

    def certs(self, relative: str) -> list[x509.Certificate] | None:
        data = self.read(relative)
        if data is None:
            return None
        try:
            return load_certs(data)
        except ValueError:
            return []


class _Checker:
    def __init__(self, tree: _Tree, opts: CheckOptions, now: dt.datetime) -> None:
        self.tree, self.opts, self.now = tree, opts, now

    # -- shared pieces -------------------------------------------------------------------

    def ca_file_for(self, cert: CertSpec) -> str:
        if cert.ca == "kubelet":
            separate = next(c for c in CAS if c.key == "kubelet").cert_file
            return separate if self.tree.read(separate) is not None else "pki/ca.crt"
        return next(c for c in CAS if c.key == cert.ca).cert_file

    def chain(self, leaf: x509.Certificate, rest: list[x509.Certificate], ca_file: str) -> str | None:
        anchors = self.tree.certs(ca_file)
        if not anchors:
            return f"{ca_file} is missing or holds no certificate"
        problem = verify_chain(leaf, rest, anchors, self.now)
        if problem is None:
            return None
        signer = self.actual_signer(leaf, ca_file)
        return f"does not verify against {ca_file}" + (f" (it is signed by {signer})" if signer else "")

    def actual_signer(self, leaf: x509.Certificate, skip: str) -> str:
        for ca in CAS:
            found = self.tree.certs(ca.cert_file) or []
            if ca.cert_file != skip and any(issued_by(leaf, c) for c in found):
                return ca.cert_file
        return ""

    def base(self, relative: str, kind: str, cert: x509.Certificate
             ) -> tuple[FileReport, list[str], list[str]]:
        info = describe(cert)
        problems, warnings = rules.validity(info, self.now, self.opts.warn_days)
        report = FileReport(relative, kind, info.subject, info.issuer, info.sans, info.usages,
                            f"{info.not_after:%Y-%m-%dT%H:%M:%SZ}", info.days_left(self.now))
        return report, problems, warnings

    def key_state(self, cert: x509.Certificate, key_pem: bytes | None) -> tuple[str, list[str]]:
        if key_pem is None:
            return "missing", ["private key file is missing"]
        key = load_private_key(key_pem)
        if key is None:
            return "unreadable", ["private key cannot be read (not an unencrypted PEM key)"]
        if not key_matches(cert, key):
            return "MISMATCH", ["private key does not match the certificate"]
        return "match", []

    # -- per kind ----------------------------------------------------------------------

    def ca(self, ca: CaSpec) -> FileReport | None:
        certs = self.tree.certs(ca.cert_file)
        if certs is None:
            return None
        if not certs:
            return FileReport(ca.cert_file, "ca", problems=("no PEM certificate in the file",))
        report, problems, warnings = self.base(ca.cert_file, "ca", certs[0])
        if not describe(certs[0]).is_ca:
            problems.append("not a CA certificate (basicConstraints CA:true missing)")
        key_file = ca.cert_file.removesuffix(".crt") + ".key"
        key_pem = self.tree.read(key_file)
        key = "n/a (kept in warden)" if key_pem is None else self.key_state(certs[0], key_pem)[0]
        if key == "MISMATCH":
            problems.append(f"{key_file} does not match the CA certificate")
        own = certs[0].issuer == certs[0].subject
        chain = "self-signed" if own and issued_by(certs[0], certs[0]) else "intermediate"
        if own and chain != "self-signed":
            problems.append("self-issued but its signature does not verify")
        return _with(report, problems, warnings, key=key, chain=chain, identity=OK)

    def leaf(self, spec: CertSpec) -> FileReport | None:
        certs = self.tree.certs(spec.cert_file)
        if certs is None:
            return None
        if not certs:
            return FileReport(spec.cert_file, "certificate", problems=("no PEM certificate in the file",))
        report, problems, warnings = self.base(spec.cert_file, "certificate", certs[0])
        key, key_problems = self.key_state(certs[0], self.tree.read(spec.key_file))
        return self.finish(report, spec, certs, key, key_problems + problems, warnings,
                           self.ca_file_for(spec))

    def kubeconfig(self, spec: CertSpec) -> FileReport | None:
        data = self.tree.read(spec.cert_file)
        if data is None:
            return None
        try:
            parsed = parse_kubeconfig(data.decode(), str(self.tree.path(spec.cert_file).parent))
            certs = load_certs(parsed.cert_pem) if parsed.cert_pem else []
        except ValueError as exc:
            return FileReport(spec.cert_file, "kubeconfig", problems=(f"unreadable: {exc}",))
        if not certs:
            missing = f" ({', '.join(parsed.missing)} not found)" if parsed.missing else ""
            return FileReport(spec.cert_file, "kubeconfig", problems=(f"no client certificate{missing}",))
        report, problems, warnings = self.base(spec.cert_file, "kubeconfig", certs[0])
        key, key_problems = self.key_state(certs[0], parsed.key_pem)
        ca_file = "pki/ca.crt"
        tree_ca = self.tree.certs(ca_file)
        if parsed.ca_pem and tree_ca and set(load_certs(parsed.ca_pem)) != set(tree_ca):
            problems.append("its certificate-authority-data is not the CA in pki/ca.crt")
        if not tree_ca and parsed.ca_pem:
            anchors = load_certs(parsed.ca_pem)
            problem = verify_chain(certs[0], certs[1:], anchors, self.now)
            chain_problems = [f"does not verify against its embedded CA: {problem}"] if problem else []
            return _with(report, key_problems + problems + chain_problems, warnings, key=key,
                         chain="ok (embedded CA)" if not problem else "FAILS",
                         identity=_identity(rules.identity_problems(spec, describe(certs[0]), self.opts)))
        return self.finish(report, spec, certs, key, key_problems + problems, warnings, ca_file)

    def finish(self, report: FileReport, spec: CertSpec, certs: list[x509.Certificate], key: str,
               problems: list[str], warnings: list[str], ca_file: str) -> FileReport:
        chain_problem = self.chain(certs[0], certs[1:], ca_file)
        identity = rules.identity_problems(spec, describe(certs[0]), self.opts)
        problems = problems + ([chain_problem] if chain_problem else []) + identity
        chain = f"ok ({ca_file})" if not chain_problem else "FAILS"
        return _with(report, problems, warnings, key=key, chain=chain, identity=_identity(identity))

    def sa(self) -> FileReport | None:
        key_pem = self.tree.read(SA_KEY_FILE)
        if key_pem is None:
            return None
        key = load_private_key(key_pem)
        pub = self.tree.read(SA_PUB_FILE)
        if key is None:
            return FileReport(SA_KEY_FILE, "key-pair", problems=("sa.key cannot be read",))
        if pub is None:
            return FileReport(SA_KEY_FILE, "key-pair", key="no sa.pub", warnings=("sa.pub is missing",))
        if not public_key_matches(key, pub):
            return FileReport(SA_KEY_FILE, "key-pair", key="MISMATCH",
                              problems=("sa.pub is not the public half of sa.key",))
        return FileReport(SA_KEY_FILE, "key-pair", key="match", identity=OK)


def _identity(problems: list[str]) -> str:
    return OK if not problems else "WRONG"


def _with(report: FileReport, problems: list[str], warnings: list[str], **values: Any) -> FileReport:
    return replace(report, problems=tuple(problems), warnings=tuple(warnings), **values)


def check_tree(root: Path, opts: CheckOptions | None = None, now: dt.datetime | None = None) -> Report:
    checker = _Checker(_Tree.locate(root), opts or CheckOptions(), now or dt.datetime.now(dt.UTC))
    found: list[FileReport | None] = [checker.ca(ca) for ca in CAS]
    specs = [cert for _, cert in all_certs()] + list(KUBEADM_ONLY)
    found += [checker.kubeconfig(s) if s.kubeconfig else checker.leaf(s) for s in specs]
    found.append(checker.sa())
    files = tuple(f for f in found if f is not None)
    if not files:
        raise NothingToCheck(f"no Kubernetes certificates found in {root} (expected pki/ca.crt, "
                             "pki/apiserver.crt, admin.conf, ... as kubeadm lays them out)")
    return Report(str(root), files)
