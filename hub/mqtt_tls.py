"""TLS for the hub's MQTT clients (owned by the TLS branch, i10-tls; this copy carries the
contract's interface only so that hub.broker_admin runs on i10-broker: take i10-tls's file
when merging)."""

from __future__ import annotations

import ssl

import paho.mqtt.client as paho

from hub.settings import Settings


def configure(client: paho.Client, settings: Settings) -> None:
    if not settings.mqtt_tls:
        return
    client.tls_set(
        ca_certs=str(settings.mqtt_tls_ca) if settings.mqtt_tls_ca else None,
        certfile=str(settings.mqtt_tls_cert) if settings.mqtt_tls_cert else None,
        keyfile=str(settings.mqtt_tls_key) if settings.mqtt_tls_key else None,
        cert_reqs=ssl.CERT_REQUIRED,
    )
