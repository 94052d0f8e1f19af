"""A test PKI (provisioning.certs) for Mosquitto's TLS listeners.

    pki = Pki.create(tmp_path / "pki")                   # CA, broker cert for localhost + 127.0.0.1
    broker = Mosquitto(tls=pki)                          # + broker.tls_port, broker.mtls_port
    files = pki.client("hh-1")                           # PEM + DER of a client certificate

``Mosquitto(tls=pki)`` writes its TLS listeners with the production writer
(``provisioning.broker.Listener``); ``listener()`` here is the same block as text, used only by
the anonymous test broker (``Mosquitto(secure=False, tls=pki)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioning.certs import CA, create_ca

SERVER_HOSTS = ["localhost", "127.0.0.1", "broker.gridlink.test"]


@dataclass
class Pki:
    dir: Path
    ca: CA
    server_cert: Path
    server_key: Path

    @classmethod
    def create(cls, dir: Path, hosts: list[str] | None = None, name: str = "Gridlink CA") -> Pki:
        ca = create_ca(dir, name)
        cert, key = ca.issue_server(dir, hosts or SERVER_HOSTS)
        return cls(dir, ca, cert, key)

    @property
    def ca_pem(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def ca_der(self) -> Path:
        return self.dir / "ca.der"

    def client(self, name: str) -> dict[str, Path]:
        """Issue and write a client certificate: keys cert_pem, key_pem, cert_der, key_der."""
        return self.ca.issue_client(name).write(self.dir / "clients")

    def listener(
        self, port: int, require_certificate: bool = False, host: str = "127.0.0.1"
    ) -> str:
        return "\n".join(
            [
                f"listener {port} {host}",
                f"cafile {self.ca_pem}",
                f"certfile {self.server_cert}",
                f"keyfile {self.server_key}",
                f"require_certificate {'true' if require_certificate else 'false'}",
                "tls_version tlsv1.2",
            ]
        )
