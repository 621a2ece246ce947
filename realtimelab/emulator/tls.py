"""Self-signed TLS for the emulator, because google-genai always connects with wss://.

`ensure_certificate(directory)` writes `emulator-cert.pem` / `emulator-key.pem` (SAN 127.0.0.1,
::1 and localhost, valid for a year) once and reuses them. Point clients at the certificate:
`SSL_CERT_FILE=<cert path>` before creating the SDK client, or
`ssl.create_default_context(cafile=<cert path>)`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertificatePaths:
    cert: Path
    key: Path


def ensure_certificate(directory: str | Path) -> CertificatePaths:
    """Create (or reuse) a self-signed certificate for the loopback addresses in `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    paths = CertificatePaths(folder / "emulator-cert.pem", folder / "emulator-key.pem")
    if paths.cert.exists() and paths.key.exists():
        return paths
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "realtimelab emulator")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.key.chmod(0o600)
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return paths


def server_context(paths: CertificatePaths) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(paths.cert, paths.key)
    return ctx


def client_context(paths: CertificatePaths) -> ssl.SSLContext:
    """A client context that trusts exactly the emulator's certificate."""
    return ssl.create_default_context(cafile=str(paths.cert))
