"""A throw-away CA with a server certificate and client certificates, for the TLS tests.

The server certificate names ``127.0.0.1`` and ``localhost`` (IP and DNS SANs): the SDK and
aiohttp check the host they connect to against them. A client certificate's CN is the worker id
the gateway reads from it (``WORKER_AUTH_MODE``).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server: Pair
    folder: Path
    _ca_cert: x509.Certificate
    _ca_key: ec.EllipticCurvePrivateKey

    def client(self, common_name: str) -> Pair:
        """A client certificate for ``common_name``, signed by the CA."""
        return _issue(self, common_name, client=True)

    def client_context(self, pair: Pair | None = None) -> ssl.SSLContext:
        """What a client of the gateway uses: trusts the CA, presents ``pair`` if given."""
        context = ssl.create_default_context(cafile=str(self.ca))
        if pair is not None:
            context.load_cert_chain(str(pair.cert), str(pair.key))
        return context


def make_pki(folder: Path, ca_name: str = "avtomat test CA") -> Pki:
    """A new CA and server certificate in ``folder`` (PEM files)."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    ca = folder / "ca.pem"
    ca.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki = Pki(ca, Pair(ca, ca), folder, cert, key)  # the server pair is made next, with the CA
    return Pki(ca, _issue(pki, "localhost", client=False), folder, cert, key)


def _issue(pki: Pki, common_name: str, *, client: bool) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(pki._ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(pki._ca_key.public_key()), critical=False)
    )
    if not client:
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(pki._ca_key, hashes.SHA256())
    stem = pki.folder / ("client-" + common_name if client else "server")
    pair = Pair(stem.with_suffix(".pem"), stem.with_suffix(".key"))
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pair
