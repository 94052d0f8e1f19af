"""provisioning.certs and ``gridlink provision ca``: what the certificates say, the files and
their modes, and that OpenSSL verifies the chains (the same library the broker uses)."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from provisioning.certs import CA_VALID_DAYS, LEAF_VALID_DAYS, CertError, create_ca, load_ca
from provisioning.cli_ca import app


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _days(cert: x509.Certificate) -> int:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).days


def test_ca_server_and_client_certificates(tmp_path: Path) -> None:
    ca = create_ca(tmp_path, "City CA")
    assert _mode(tmp_path / "ca.key") == 0o600
    assert (tmp_path / "ca.der").read_bytes() == ca.cert_der
    assert x509.load_der_x509_certificate(ca.cert_der) == x509.load_pem_x509_certificate(
        ca.cert_pem
    )
    bc = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    assert ca.cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert isinstance(ca.cert.public_key(), ec.EllipticCurvePublicKey)
    assert ca.cert.public_key().curve.name == "secp256r1"
    assert ca.cert.signature_hash_algorithm is not None
    assert ca.cert.signature_hash_algorithm.name == "sha256"
    assert _days(ca.cert) == CA_VALID_DAYS  # 10 years (the backdating is inside the span)

    cert_path, key_path = ca.issue_server(tmp_path, ["broker.city.example", "10.0.0.5"])
    assert _mode(key_path) == 0o600
    server = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.city.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _days(server) == LEAF_VALID_DAYS
    server.verify_directly_issued_by(ca.cert)

    client = ca.issue_client("hh-0001")
    leaf = x509.load_der_x509_certificate(client.cert_der)
    assert leaf.subject.rfc4514_string() == "CN=hh-0001"
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    leaf.verify_directly_issued_by(ca.cert)
    files = client.write(tmp_path / "dev")
    assert _mode(files["key_der"]) == 0o600 and _mode(files["key_pem"]) == 0o600
    # OpenSSL takes the pair and the chain (what Mosquitto and paho do)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(files["cert_pem"], files["key_pem"])
    ctx.load_verify_locations(cadata=ca.cert_der)


def test_load_ca_and_its_errors(tmp_path: Path) -> None:
    ca = create_ca(tmp_path / "a")
    assert load_ca(tmp_path / "a").cert_der == ca.cert_der
    with pytest.raises(CertError, match="already holds a CA"):
        create_ca(tmp_path / "a")
    with pytest.raises(CertError, match=r"ca.pem: no such file"):
        load_ca(tmp_path / "none")
    create_ca(tmp_path / "b")
    (tmp_path / "a" / "ca.key").write_bytes((tmp_path / "b" / "ca.key").read_bytes())
    with pytest.raises(CertError, match="is not the key of"):
        load_ca(tmp_path / "a")
    with pytest.raises(CertError, match="want a DNS name or an IP address"):
        ca.issue_server(tmp_path, ["bad host"])
    with pytest.raises(CertError, match="at least one host"):
        ca.issue_server(tmp_path, [])
    with pytest.raises(CertError, match="want 1-64 characters"):
        ca.issue_client("../x")


def test_the_ca_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    pki = tmp_path / "pki"
    r = runner.invoke(app, ["init", "--dir", str(pki)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["server", "--dir", str(pki), "--host", "localhost", "--host", "::1"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["client", "--dir", str(pki), "--name", "hh-1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in tmp_path.glob("hh-1*")) == [
        "hh-1.crt.der", "hh-1.key", "hh-1.key.der", "hh-1.pem",
    ]  # fmt: skip
    r = runner.invoke(app, ["init", "--dir", str(pki)])
    assert r.exit_code == 1 and "already holds a CA" in r.output
    r = runner.invoke(app, ["client", "--dir", str(tmp_path / "x"), "--name", "a", "--out", "o"])
    assert r.exit_code == 1 and "no such file" in r.output
