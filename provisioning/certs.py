"""The deployment's certificate authority: ECDSA P-256 / SHA-256 certificates for TLS to the broker.

    ca = create_ca(Path("pki"))                        # pki/ca.pem, ca.key (0600), ca.der
    ca = load_ca(Path("pki"))
    ca.issue_server(Path("pki"), ["broker.city.example", "10.0.0.5"])   # server.pem, server.key
    cert = ca.issue_client("hh-0001")                  # CN = device id ("hub" for the hub)

P-256 because mbedTLS (the TLS stack of MicroPython) and OpenSSL (Mosquitto, paho) both handle
it, and its keys and signatures are small on a device's flash. The firmware reads only DER
(``ClientCert.cert_der`` / ``key_der``, ``CA.cert_der``); the broker and the hub read PEM. Private
keys are written 0600 and never leave the directory they are written to except as a device's
client key, which goes into the device's flash only. docs/tls.md says where each file goes.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_VALID_DAYS = 10 * 365 + 2  # ten years (with the leap days)
LEAF_VALID_DAYS = 2 * 365 + 1  # two years: servers and devices are re-issued before then
BACKDATE = datetime.timedelta(minutes=5)  # a device clock a little behind still accepts it
CA_CERT, CA_KEY, CA_DER = "ca.pem", "ca.key", "ca.der"
SERVER_CERT, SERVER_KEY = "server.pem", "server.key"


class CertError(Exception):
    """A CA directory or a request that cannot be used; str(exc) is one line naming it."""


@dataclass(frozen=True)
class ClientCert:
    """A client certificate and its key, PEM (the hub) and DER (a device's flash)."""

    name: str
    cert_pem: bytes
    key_pem: bytes
    cert_der: bytes
    key_der: bytes

    def write(self, out: Path) -> dict[str, Path]:
        """Write <name>.pem / .key (PEM) and <name>.crt.der / .key.der into ``out``; keys 0600."""
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "cert_pem": (out / f"{self.name}.pem", self.cert_pem, 0o644),
            "key_pem": (out / f"{self.name}.key", self.key_pem, 0o600),
            "cert_der": (out / f"{self.name}.crt.der", self.cert_der, 0o644),
            "key_der": (out / f"{self.name}.key.der", self.key_der, 0o600),
        }
        for path, data, mode in files.values():
            _write(path, data, mode)
        return {k: v[0] for k, v in files.items()}


class CA:
    """A loaded certificate authority: its certificate and signing key."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        self.cert = cert
        self._key = key
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)

    @property
    def name(self) -> str:
        return _common_name(self.cert.subject)

    def issue_server(self, dir: Path, hosts: list[str]) -> tuple[Path, Path]:
        """The broker's certificate for ``hosts`` (DNS names and IP addresses, each a SAN;
        the first is also the CN): ``dir``/server.pem and server.key (0600)."""
        if not hosts:
            raise CertError("a server certificate needs at least one host name or IP address")
        sans: list[x509.GeneralName] = []
        for host in hosts:
            sans.append(_san(host))
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._leaf(hosts[0], key)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        cert = builder.sign(self._key, hashes.SHA256())
        dir.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = dir / SERVER_CERT, dir / SERVER_KEY
        _write(key_path, _key_pem(key), 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return cert_path, key_path

    def issue_client(self, name: str) -> ClientCert:
        """A client certificate with CN ``name`` (the device id, or "hub"), clientAuth only.
        Nothing is written: the caller puts it where it belongs (``ClientCert.write``)."""
        if not name or len(name) > 64 or any(c in name for c in "/\\\0\n"):
            raise CertError(f"client certificate name {name!r}: want 1-64 characters, no / or \\")
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            self._leaf(name, key)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        return ClientCert(
            name=name,
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(key),
            cert_der=cert.public_bytes(serialization.Encoding.DER),
            # mbedTLS parses SEC1 ("EC PRIVATE KEY") DER and PKCS#8; SEC1 is what it documents
            key_der=key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )

    def _leaf(self, cn: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=LEAF_VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        )


def create_ca(dir: Path, name: str = "Gridlink CA") -> CA:
    """A new CA in ``dir``: ca.pem, ca.key (0600) and ca.der (for the devices). Refuses to
    overwrite an existing one: every certificate it signed would stop verifying."""
    if (dir / CA_KEY).exists() or (dir / CA_CERT).exists():
        raise CertError(f"{dir} already holds a CA ({CA_CERT} / {CA_KEY}); not overwritten")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    dir.mkdir(parents=True, exist_ok=True)
    _write(dir / CA_KEY, _key_pem(key), 0o600)
    ca = CA(cert, key)
    _write(dir / CA_CERT, ca.cert_pem, 0o644)
    _write(dir / CA_DER, ca.cert_der, 0o644)
    return ca


def load_ca(dir: Path) -> CA:
    """The CA in ``dir`` (ca.pem + ca.key); CertError naming the file that is missing or bad."""
    cert_path, key_path = dir / CA_CERT, dir / CA_KEY
    for path in (cert_path, key_path):
        if not path.is_file():
            raise CertError(
                f"{path}: no such file (create the CA with `gridlink provision ca init`)"
            )
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError as exc:
        raise CertError(f"{cert_path}: not a PEM certificate ({exc})") from None
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise CertError(f"{key_path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertError(f"{key_path}: not an EC private key")
    if key.public_key().public_numbers() != _ec_public(cert, cert_path).public_numbers():
        raise CertError(f"{key_path} is not the key of {cert_path}")
    return CA(cert, key)


def _ec_public(cert: x509.Certificate, path: Path) -> ec.EllipticCurvePublicKey:
    pub = cert.public_key()
    if not isinstance(pub, ec.EllipticCurvePublicKey):
        raise CertError(f"{path}: not an EC certificate")
    return pub


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    ok = all(
        0 < len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) and label.isascii()
        for label in labels
    )
    if not ok or len(host) > 253:
        raise CertError(f"server host {host!r}: want a DNS name or an IP address")
    return x509.DNSName(host.rstrip(".").lower())


def _common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode()


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode`` from the start (a key is never readable by
    others, not even for a moment), replacing the file atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is masked by the umask; keys are exactly 0600
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
