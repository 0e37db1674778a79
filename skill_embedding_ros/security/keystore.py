"""An SROS2 keystore for a graph, without the ros2 CLI or sros2: the layout that
`ros2 security create_keystore` and `create_enclave` produce, one enclave per node, each with
permissions derived from security/permissions.py's table.

    python -m skill_embedding_ros.security.keystore KEYSTORE --graph train_sim actors:=2

    KEYSTORE/
      public/   ca.cert.pem, identity_ca.cert.pem -> ca.cert.pem, permissions_ca.cert.pem -> ...
      private/  ca.key.pem,  identity_ca.key.pem  -> ca.key.pem,  permissions_ca.key.pem  -> ...
      enclaves/ governance.xml, governance.p7s (signed by the permissions CA)
        skill_embedding_ros/actor_0/safety_gate/
          cert.pem, key.pem            the node's identity (CN=<enclave>), issued by the CA
          permissions.xml, .p7s        what it may publish/subscribe, signed by the CA
          governance.p7s, identity_ca.cert.pem, permissions_ca.cert.pem   links, as sros2 makes

Why this layout: ROS 2's rcl finds a node's security files by exactly these names
(ROS_SECURITY_KEYSTORE + the enclave path), so a keystore made here works with any ROS 2
install, and `ros2 security` can extend it. Keys are ECDSA P-256 (DDS-Security 9.3.1), documents
S/MIME-signed with SHA-256, as sros2 does. One CA serves as identity and permissions CA (sros2's
default); keep private/ off the robots: nodes need only their enclave and public/.

Running it again keeps the CA and each node's key (new actors join the same keystore), and
rewrites governance and permissions, so a changed table or domain takes effect.

`cryptography` is imported only here, lazily: the package works without it, and the pinned
version lives in requirements-dev.txt.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from skill_embedding_ros.security.permissions import (
    Domains,
    Grant,
    governance_xml,
    graph_grants,
    parse_domains,
    permissions_xml,
)

CA_NAME = "sros2CA"
"""The CA's common name, as sros2 names it."""
ENCLAVE_FILES = (
    "cert.pem",
    "key.pem",
    "governance.p7s",
    "permissions.p7s",
    "identity_ca.cert.pem",
    "permissions_ca.cert.pem",
)
"""What rcl loads from an enclave directory (permissions.xml is kept beside for reading)."""


def _crypto():
    """The cryptography modules, or an error that says how to get them."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import pkcs7
    except ImportError:
        raise RuntimeError(
            "generating a keystore needs the `cryptography` package: "
            "pip install cryptography==50.0.2 (pinned in requirements-dev.txt)"
        ) from None
    return x509, hashes, serialization, ec, pkcs7


def _write_private(path: Path, data: bytes) -> None:
    """Owner-only from the first byte: a key must never be readable by others, not even
    between creation and a chmod."""
    if path.is_symlink() or path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _link(dst: Path, target: Path) -> None:
    """A relative symlink dst -> target, as sros2 makes (replacing what is there)."""
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(os.path.relpath(target, dst.parent))


def _key_and_cert(subject: str, days: int, issuer=None, issuer_key=None):
    """A fresh P-256 key and its certificate: self-signed CA when no issuer is given."""
    x509, hashes, _, ec, _ = _crypto()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, subject)])
    ca = issuer is None
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if ca else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=1 if ca else None), critical=ca)
        .sign(key if ca else issuer_key, hashes.SHA256())
    )
    return key, cert


def _pem_key(key) -> bytes:
    _, _, serialization, _, _ = _crypto()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem_cert(cert) -> bytes:
    _, _, serialization, _, _ = _crypto()
    return cert.public_bytes(serialization.Encoding.PEM)


def sign_smime(document: bytes, cert, key) -> bytes:
    """A detached, text-mode S/MIME signature over `document` (what DDS security reads as
    governance.p7s and permissions.p7s; sros2 signs the same way)."""
    _, hashes, serialization, _, pkcs7 = _crypto()
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(document)
        .add_signer(cert, key, hashes.SHA256())
        .sign(
            serialization.Encoding.SMIME,
            [pkcs7.PKCS7Options.Text, pkcs7.PKCS7Options.DetachedSignature],
        )
    )


class Keystore:
    """A keystore directory: its CA (created on first use) and its enclaves."""

    def __init__(self, root: str | Path, domains: Domains = (0, 0), days: int = 3650):
        self.root = Path(root)
        self.domains = domains
        self.days = days
        self.public = self.root / "public"
        self.private = self.root / "private"
        self.enclaves = self.root / "enclaves"
        self.ca_cert, self.ca_key = self._ca()
        self._governance()

    def _ca(self):
        """Load the CA, or create it (and the identity/permissions CA links) if there is none."""
        x509, _, serialization, _, _ = _crypto()
        cert_path, key_path = self.public / "ca.cert.pem", self.private / "ca.key.pem"
        self.public.mkdir(parents=True, exist_ok=True)
        self.private.mkdir(parents=True, exist_ok=True)
        self.private.chmod(0o700)
        self.enclaves.mkdir(parents=True, exist_ok=True)
        if cert_path.is_file() and key_path.is_file():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        else:
            key, cert = _key_and_cert(CA_NAME, self.days)
            _write_private(key_path, _pem_key(key))
            cert_path.write_bytes(_pem_cert(cert))
        for role in ("identity_ca", "permissions_ca"):
            _link(self.public / f"{role}.cert.pem", cert_path)
            _link(self.private / f"{role}.key.pem", key_path)
        return cert, key

    def _governance(self) -> None:
        document = governance_xml(self.domains)
        (self.enclaves / "governance.xml").write_bytes(document)
        signed = sign_smime(document, self.ca_cert, self.ca_key)
        (self.enclaves / "governance.p7s").write_bytes(signed)

    def enclave_dir(self, enclave: str) -> Path:
        return enclave_dir(self.root, enclave)

    def add(self, grant: Grant) -> Path:
        """Create or refresh one enclave: keep its key while the CA vouches for it and it is
        valid, (re)write and sign its permissions."""
        x509, _, _, _, _ = _crypto()
        from cryptography.exceptions import InvalidSignature

        directory = self.enclave_dir(grant.enclave)
        directory.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = directory / "cert.pem", directory / "key.pem"
        cert = None
        if cert_path.is_file() and key_path.is_file():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            try:
                cert.verify_directly_issued_by(self.ca_cert)
            except (ValueError, TypeError, InvalidSignature):  # another CA's: issue a new one
                cert = None
            now = datetime.datetime.now(datetime.timezone.utc)
            if cert is not None and cert.not_valid_after_utc < now + datetime.timedelta(days=1):
                cert = None  # expired or about to: a node would be refused at its next start
        if cert is None:
            key, cert = _key_and_cert(grant.enclave, self.days, self.ca_cert, self.ca_key)
            _write_private(key_path, _pem_key(key))
            cert_path.write_bytes(_pem_cert(cert))
        for name in ("identity_ca.cert.pem", "permissions_ca.cert.pem"):
            _link(directory / name, self.public / name)
        _link(directory / "governance.p7s", self.enclaves / "governance.p7s")
        document = permissions_xml(
            grant, self.domains, cert.not_valid_before_utc, cert.not_valid_after_utc
        )
        (directory / "permissions.xml").write_bytes(document)
        signed = sign_smime(document, self.ca_cert, self.ca_key)
        (directory / "permissions.p7s").write_bytes(signed)
        return directory


def enclave_dir(keystore: str | Path, enclave: str) -> Path:
    """Where rcl looks for an enclave's files: <keystore>/enclaves/<enclave path>."""
    if not enclave.startswith("/") or ".." in enclave.split("/"):
        raise ValueError(f"enclave {enclave!r}: expected an absolute path such as /a/b")
    return Path(keystore) / "enclaves" / enclave.strip("/")


def generate_keystore(
    root: str | Path, grants: Iterable[Grant], domains: Domains = (0, 0), days: int = 3650
) -> list[Path]:
    """Create (or refresh) a keystore with one enclave per grant; returns the enclave dirs."""
    store = Keystore(root, domains, days)
    return [store.add(g) for g in grants]


def security_environment(keystore: str | Path, enclave: str) -> dict[str, str]:
    """The environment a node process needs to run as `enclave` under enforced DDS security.
    Raises FileNotFoundError naming what is missing, so a launcher fails before starting a
    node that would otherwise die inside rcl with a terse error."""
    root = Path(keystore).expanduser().resolve()
    directory = enclave_dir(root, enclave)
    missing = [name for name in ENCLAVE_FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"keystore {root}: enclave {enclave} lacks {missing} (in {directory}); generate it: "
            f"python -m skill_embedding_ros.security.keystore {root} --graph <graph> ..."
        )
    return {
        "ROS_SECURITY_KEYSTORE": str(root),
        "ROS_SECURITY_ENCLAVE_OVERRIDE": enclave,
        "ROS_SECURITY_ENABLE": "true",
        "ROS_SECURITY_STRATEGY": "Enforce",
    }


# ---- command line ----


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("keystore", help="keystore directory (created, or refreshed)")
    parser.add_argument(
        "assignments", nargs="*", metavar="NAME:=VALUE", help="graph arguments, e.g. actors:=2"
    )
    # nargs="+": `KEYSTORE --graph train_sim actors:=2` parses with plain parse_args too (a
    # positional after an option would not), so the CLI hook needs no intermixed parsing.
    parser.add_argument(
        "--graph",
        nargs="+",
        default=["train_sim"],
        metavar=("GRAPH", "NAME:=VALUE"),
        help="graph name under config/graphs (or a path) and its arguments (default train_sim)",
    )
    parser.add_argument(
        "--domain",
        help="ROS_DOMAIN_ID the documents allow: N or MIN-MAX (default: $ROS_DOMAIN_ID or 0)",
    )
    parser.add_argument(
        "--days", type=int, default=3650, help="validity of new certificates (default 3650)"
    )


def run(args: argparse.Namespace) -> int:
    """Exit 0: written; 2: a bad graph, argument or domain; 1: cryptography is missing."""
    from skill_embedding_ros.launch.graph import GraphError

    graph, *assignments = args.graph
    try:
        domains = parse_domains(args.domain)
        grants = graph_grants(graph, [*assignments, *args.assignments])
    except (GraphError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        generate_keystore(args.keystore, grants, domains, args.days)
    except RuntimeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    root = Path(args.keystore).resolve()
    span = f"{domains[0]}" if domains[0] == domains[1] else f"{domains[0]}-{domains[1]}"
    print(f"keystore {root} (ROS_DOMAIN_ID {span}), {len(grants)} enclaves:")
    for g in grants:
        print(f"  {g.enclave}")
    print("a node runs as its enclave with (`skill-embedding launch --keystore` sets these):")
    for key, value in security_environment(root, grants[0].enclave).items():
        print(f"  {key}={value}")
    print(f"keep {root / 'private'} off the robots: nodes need only public/ and their enclave")
    return 0


def add_subcommand(subparsers) -> None:
    """Hook for the `skill-embedding` CLI: `skill-embedding keystore KEYSTORE ...`."""
    parser = subparsers.add_parser(
        "keystore", help="generate an SROS2 keystore for a graph (docs/security.md)"
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m skill_embedding_ros.security.keystore",
        description=__doc__.split("\n\n")[0],
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
