"""Certificates for Basic256Sha256 SignAndEncrypt: a server and a client application certificate.

``make_pki(directory)`` writes (once; reused if present and valid)::

    server_cert.der  server_key.pem     the OPC UA server's application instance certificate
    client_cert.der  client_key.pem     the workbench client's certificate
    trusted/         certificates the server trusts (the client's is copied in; add others here)

The client pins ``server_cert.der`` (config ``server_certificate``); the server accepts only clients whose
certificate is in ``trusted/``. Nothing here skips certificate validation.

Example
-------
>>> import tempfile
>>> pki = make_pki(tempfile.mkdtemp())
>>> pki.server_cert.name, pki.client_uri
('server_cert.der', 'urn:line-workbench:client')
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key, generate_self_signed_app_certificate
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

SERVER_URI = "urn:line-workbench:server"
CLIENT_URI = "urn:line-workbench:client"


@dataclass(frozen=True)
class Pki:
    directory: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    trusted: Path
    server_uri: str = SERVER_URI
    client_uri: str = CLIENT_URI


def _valid(cert_path: Path, key_path: Path) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    cert = x509.load_der_x509_certificate(cert_path.read_bytes())
    return cert.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)


def _make(cert_path: Path, key_path: Path, uri: str, use, hosts: list[str]) -> None:
    key = generate_private_key()
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = generate_self_signed_app_certificate(key, uri, {"organizationName": "Line Workbench"}, sans, extended=[use], days=365)
    key_path.write_bytes(dump_private_key_as_pem(key))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))


def make_pki(directory: str | Path, hosts: list[str] | None = None) -> Pki:
    """Create (or reuse) server and client certificates under ``directory``; see the module docstring."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    hosts = hosts or ["127.0.0.1", "localhost", socket.gethostname()]
    pki = Pki(d, d / "server_cert.der", d / "server_key.pem", d / "client_cert.der", d / "client_key.pem",
              d / "trusted")
    if not _valid(pki.server_cert, pki.server_key):
        _make(pki.server_cert, pki.server_key, SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH, hosts)
    if not _valid(pki.client_cert, pki.client_key):
        _make(pki.client_cert, pki.client_key, CLIENT_URI, ExtendedKeyUsageOID.CLIENT_AUTH, hosts)
    pki.trusted.mkdir(exist_ok=True)
    shutil.copyfile(pki.client_cert, pki.trusted / "client_cert.der")
    return pki


def certificate_uri(cert_path: str | Path) -> str | None:
    """The application URI in a certificate's subjectAltName (what the client must announce)."""
    data = Path(cert_path).read_bytes()
    cert = x509.load_der_x509_certificate(data) if data[:1] == b"\x30" else x509.load_pem_x509_certificate(data)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


__all__ = ["Pki", "make_pki", "certificate_uri", "SERVER_URI", "CLIENT_URI"]
