"""The ingest worker over TLS on real Mosquitto TLS listeners (hub.mqtt_tls): it verifies the
broker's CA and name, presents its client certificate when the listener requires one, stores
events; a wrong name, a certificate from another CA or none at all are refused; a bad file is
one InvalidInputError naming its setting, raised when the worker is made."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.errors import InvalidInputError
from hub.events.models import Event
from hub.ingest.worker import IngestWorker
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port
from tests.support.tls import Pki
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path / "pki")


@pytest.fixture
def ports() -> dict[str, int]:
    return {"open": free_port("127.0.0.1"), "strict": free_port("127.0.0.1")}


@pytest.fixture
def broker(tmp_path: Path, pki: Pki, ports: dict[str, int]) -> Iterator[Mosquitto]:
    """Replaces the conftest broker: plain (the test's publisher) plus two TLS listeners."""
    conf = pki.listener(ports["open"]) + "\n" + pki.listener(ports["strict"], True)
    with Mosquitto(workdir=tmp_path / "broker", extra_conf=conf) as mosq:
        yield mosq


@pytest.fixture
def tls_worker(
    settings: Settings, session_factory: sessionmaker[Session], hub_key: Any, store: Any, clock: Any
) -> Iterator[Callable[..., IngestWorker]]:
    workers: list[IngestWorker] = []

    def make(port: int, host: str = "127.0.0.1", **tls: Any) -> IngestWorker:
        s = settings.model_copy(update={"mqtt_tls": True, **tls})
        worker = IngestWorker(
            session_factory=session_factory, hub_key=hub_key, store=store, host=host,
            port=port, clock=clock, settings=s, reconnect_min_s=5, reconnect_max_s=5,
        )  # fmt: skip
        workers.append(worker.start(timeout=10))
        return worker

    yield make
    for w in workers:
        w.stop()


def _stored(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        return int(s.scalar(select(func.count(Event.id))) or 0)


@pytest.mark.parametrize("listener", ["open", "strict"])
def test_the_worker_stores_events_over_tls(
    listener: str,
    ports: dict[str, int],
    pki: Pki,
    broker: Mosquitto,
    tls_worker: Callable[..., IngestWorker],
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-tls")
    dev.register(db_session)
    db_session.commit()
    hub = pki.client("hub")
    cert = {"mqtt_tls_cert": hub["cert_pem"], "mqtt_tls_key": hub["key_pem"]}
    worker = tls_worker(ports[listener], mqtt_tls_ca=pki.ca_pem, **cert)
    assert worker.broker_connected
    with MqttObserver(broker, ()) as wire:  # the plain listener: the device side
        wire.publish(*dev.event("heartbeat", {"bat": 90}))
        wait_until("the event stored", lambda: _stored(session_factory) == 1)
    assert f"on port {ports[listener]}" in broker.log()


def _refused(worker: IngestWorker) -> None:
    assert not worker.broker_connected and worker.subscribed_count == 0


def test_a_wrong_broker_name_is_refused(
    ports: dict[str, int],
    pki: Pki,
    broker: Mosquitto,
    tls_worker: Callable[..., IngestWorker],
) -> None:
    # "localhost" is in the certificate: the name the hub dials is what is checked
    assert tls_worker(ports["open"], host="localhost", mqtt_tls_ca=pki.ca_pem).broker_connected
    other = Pki.create(pki.dir.parent / "named", hosts=["broker.elsewhere.test"])
    conf = other.listener(port := free_port("127.0.0.1"))
    with Mosquitto(workdir=pki.dir.parent / "b2", extra_conf=conf) as named:
        _refused(tls_worker(port, mqtt_tls_ca=other.ca_pem))  # its CA, but not 127.0.0.1
        assert "alert bad certificate" in named.log()  # the hub hung up in the handshake


def test_another_ca_or_no_client_certificate_is_refused_when_required(
    tmp_path: Path,
    ports: dict[str, int],
    pki: Pki,
    broker: Mosquitto,
    tls_worker: Callable[..., IngestWorker],
) -> None:
    _refused(tls_worker(ports["strict"], mqtt_tls_ca=pki.ca_pem))  # no client certificate
    stranger = Pki.create(tmp_path / "other", name="Other CA").client("hub")
    bad = {"mqtt_tls_cert": stranger["cert_pem"], "mqtt_tls_key": stranger["key_pem"]}
    _refused(tls_worker(ports["strict"], mqtt_tls_ca=pki.ca_pem, **bad))
    # and a broker whose certificate another CA signed is refused by the hub
    other = Pki.create(tmp_path / "impostor", name="Impostor CA")
    _refused(tls_worker(ports["open"], mqtt_tls_ca=other.ca_pem))
    log = broker.log()
    assert "peer did not return a certificate" in log and "certificate verify failed" in log


def test_a_bad_file_is_one_error_naming_its_setting(
    tmp_path: Path, ports: dict[str, int], pki: Pki, tls_worker: Callable[..., IngestWorker]
) -> None:
    hub = pki.client("hub")
    other = pki.client("other")

    def error(**tls: Any) -> str:
        with pytest.raises(InvalidInputError) as exc:
            tls_worker(ports["strict"], **tls)
        return str(exc.value)

    missing = tmp_path / "nope.pem"
    assert error(mqtt_tls_ca=missing) == f"mqtt_tls: GRIDLINK_MQTT_TLS_CA={missing}: no such file"
    assert error(mqtt_tls_ca=pki.ca_der).startswith(
        f"mqtt_tls: GRIDLINK_MQTT_TLS_CA={pki.ca_der}: not a PEM CA certificate"
    )
    pair = {"mqtt_tls_cert": hub["cert_pem"], "mqtt_tls_key": other["key_pem"]}
    assert error(mqtt_tls_ca=pki.ca_pem, **pair).startswith(
        f"mqtt_tls: GRIDLINK_MQTT_TLS_CERT={hub['cert_pem']} / GRIDLINK_MQTT_TLS_KEY="
        f"{other['key_pem']}: not a PEM certificate and its private key"
    )
    hub["key_pem"].chmod(0o000)
    unreadable = {"mqtt_tls_cert": hub["cert_pem"], "mqtt_tls_key": hub["key_pem"]}
    import os

    if os.geteuid() != 0:  # root reads any file
        assert "cannot be read" in error(mqtt_tls_ca=pki.ca_pem, **unreadable)
    assert error(mqtt_tls_ca=tmp_path) == (
        f"mqtt_tls: GRIDLINK_MQTT_TLS_CA={tmp_path}: cannot be read (Is a directory)"
    )
