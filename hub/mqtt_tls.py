"""TLS for the hub's MQTT connections (the ingest workers, broker administration).

    client = mqtt.Client(...)
    mqtt_tls.configure(client, settings)   # before connect; nothing when settings.mqtt_tls is off

With ``mqtt_tls`` on, the broker's certificate must chain to ``mqtt_tls_ca`` (PEM; not set: the
system's CAs) and name the host the client dials (``mqtt_host``, a DNS name or IP address among
its subject alternative names); with ``mqtt_tls_cert`` / ``mqtt_tls_key`` the hub presents its
client certificate (PEM) to a broker with ``require_certificate true``. Every file is read here,
before the connection starts: a missing, unreadable or unusable file is one ``InvalidInputError``
line naming its setting, raised to whoever starts the client, not a traceback on paho's thread.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from hub.errors import InvalidInputError
from hub.settings import Settings

if TYPE_CHECKING:  # the client is the caller's; this module only configures it
    import paho.mqtt.client as mqtt

CODE = "mqtt_tls"
SETTING_CA = "GRIDLINK_MQTT_TLS_CA"
SETTING_CERT = "GRIDLINK_MQTT_TLS_CERT"
SETTING_KEY = "GRIDLINK_MQTT_TLS_KEY"


def configure(client: mqtt.Client, settings: Settings) -> None:
    """Turn TLS on for ``client`` as ``settings`` say: CERT_REQUIRED, the hostname checked,
    TLS 1.2 or later. Nothing when ``settings.mqtt_tls`` is off. Raises ``InvalidInputError``
    (code ``mqtt_tls``) naming the setting whose file cannot be used."""
    if not settings.mqtt_tls:
        return
    ca, cert, key = settings.mqtt_tls_ca, settings.mqtt_tls_cert, settings.mqtt_tls_key
    check_files(ca, cert, key)
    try:
        client.tls_set(
            ca_certs=str(ca) if ca else None,
            certfile=str(cert) if cert else None,
            keyfile=str(key) if key else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    except (ssl.SSLError, ValueError) as exc:  # ValueError: paho, TLS set twice on one client
        raise InvalidInputError(f"MQTT TLS: {exc}", code=CODE) from None
    client.tls_insecure_set(False)  # the broker's name is checked (PROTOCOL_TLS_CLIENT does)


def check_files(ca: Path | None, cert: Path | None, key: Path | None) -> None:
    """Load each file into a scratch context, so that a bad one is named by its setting."""
    for setting, path in ((SETTING_CA, ca), (SETTING_CERT, cert), (SETTING_KEY, key)):
        if path is not None:
            _readable(setting, path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cert is not None:
        try:
            ctx.load_cert_chain(str(cert), str(key) if key else None)
        except ssl.SSLError as exc:
            raise InvalidInputError(
                f"{SETTING_CERT}={cert} / {SETTING_KEY}={key}: not a PEM certificate and its "
                f"private key ({exc.reason or exc})",
                code=CODE,
            ) from None
    if ca is not None:
        try:
            ctx.load_verify_locations(cafile=str(ca))
        except ssl.SSLError as exc:
            raise InvalidInputError(
                f"{SETTING_CA}={ca}: not a PEM CA certificate ({exc.reason or exc})", code=CODE
            ) from None


def _readable(setting: str, path: Path) -> None:
    try:
        with path.open("rb") as f:
            f.read(1)
    except FileNotFoundError:
        raise InvalidInputError(f"{setting}={path}: no such file", code=CODE) from None
    except OSError as exc:  # a directory, no permission
        raise InvalidInputError(
            f"{setting}={path}: cannot be read ({exc.strerror})", code=CODE
        ) from None
