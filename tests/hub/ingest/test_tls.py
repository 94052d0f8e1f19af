"""The ingest worker over TLS on the locked-down Mosquitto's TLS listeners
(``Mosquitto(tls=pki)``, hub.mqtt_tls): it logs in with the hub's account, verifies the broker's
CA and name, presents its client certificate when the listener requires one, stores events a
device published over TLS with its own account; a wrong name, a certificate from another CA or
none at all are refused; a bad file is one InvalidInputError naming its setting, raised when the
worker is made."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.errors import InvalidInputError
from hub.events.models import Event
from hub.ingest.worker import IngestWorker
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.support.mosquitto import Mosquitto
from tests.support.tls import Pki
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

Listener = Literal["tls", "mtls"]
NO_CERT = {"mqtt_tls_cert": None, "mqtt_tls_key": None}


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path / "pki")


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[Mosquitto]:
    """Replaces the conftest broker: locked down, plain plus the two TLS listeners."""
    with Mosquitto(workdir=tmp_path / "broker", tls=pki) as mosq:
        yield mosq


@pytest.fixture
def tls_worker(
    broker: Mosquitto,
    settings: Settings,
    session_factory: sessionmaker[Session],
    hub_key: Any,
    store: Any,
    clock: Any,
) -> Iterator[Callable[..., IngestWorker]]:
    """make(listener, ...): a worker on that TLS listener of ``on`` (default: the broker) with
    the hub's account (or ``account``) and the settings ``on.hub_settings_kwargs`` gives,
    ``tls`` overriding them (e.g. another CA, no client certificate)."""
    workers: list[IngestWorker] = []

    def make(
        listener: Listener,
        host: str = "127.0.0.1",
        on: Mosquitto | None = None,
        client_cert: dict[str, Path] | None = None,
        account: tuple[str, str] | None = None,
        timeout: float = 10,
        **tls: Any,
    ) -> IngestWorker:
        on = on or broker
        kw = on.hub_settings_kwargs(tls=listener, client_cert=client_cert)
        fields = {k: v for k, v in kw.items() if k.startswith("mqtt_tls")}
        s = settings.model_copy(update={**fields, **tls})
        assert on.hub_account
        user, password = account or on.hub_account
        worker = IngestWorker(
            session_factory=session_factory, hub_key=hub_key, store=store, host=host,
            port=kw["mqtt_port"], clock=clock, settings=s, username=user, password=password,
            reconnect_min_s=5, reconnect_max_s=5,
        )  # fmt: skip
        workers.append(worker.start(timeout=timeout))
        return worker

    yield make
    for w in workers:
        w.stop()


def _stored(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        return int(s.scalar(select(func.count(Event.id))) or 0)


def _device_over_tls(broker: Mosquitto, listener: Listener, device_id: str) -> MqttObserver:
    """A client with the device's own account and client id on that TLS listener (and, on
    "mtls", its client certificate): the honest device's side of the wire."""
    assert broker.pki
    port = broker.tls_listener_port(listener)
    target = SimpleNamespace(host=broker.host, port=port)
    wire = MqttObserver(target, (), client_id=device_id, account=broker.device_account(device_id))
    cert = broker.client_cert(device_id) if listener == "mtls" else None
    wire.c.tls_set(
        ca_certs=str(broker.pki.ca_pem),
        certfile=str(cert["cert_pem"]) if cert else None,
        keyfile=str(cert["key_pem"]) if cert else None,
    )
    return wire


@pytest.mark.parametrize("listener", ["tls", "mtls"])
def test_the_worker_stores_events_over_tls(
    listener: Listener,
    broker: Mosquitto,
    tls_worker: Callable[..., IngestWorker],
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-tls")
    dev.register(db_session)
    db_session.commit()
    # on "tls" the hub presents its certificate too (a listener that does not ask ignores it)
    worker = tls_worker(listener, client_cert=broker.client_cert("hub"))
    assert worker.broker_connected
    with _device_over_tls(broker, listener, "hh-tls") as wire:
        wire.publish(*dev.event("heartbeat", {"bat": 90}))
        wait_until("the event stored", lambda: _stored(session_factory) == 1)
    port = broker.tls_listener_port(listener)
    log = broker.log()
    assert f"on port {port}" in log and "u'hh-tls'" in log


def _refused(worker: IngestWorker) -> None:
    assert not worker.broker_connected and worker.subscribed_count == 0


def test_a_wrong_broker_name_is_refused(
    pki: Pki, broker: Mosquitto, tls_worker: Callable[..., IngestWorker]
) -> None:
    # "localhost" is in the certificate: the name the hub dials is what is checked
    assert tls_worker("tls", host="localhost").broker_connected
    other = Pki.create(pki.dir.parent / "named", hosts=["broker.elsewhere.test"])
    with Mosquitto(workdir=pki.dir.parent / "b2", tls=other) as named:
        _refused(tls_worker("tls", on=named))  # its CA, but not 127.0.0.1
        # the hub hung up in the handshake (the broker's log line may follow the refusal)
        wait_until("bad certificate", lambda: "alert bad certificate" in named.log())


def test_another_ca_or_no_client_certificate_is_refused_when_required(
    tmp_path: Path, broker: Mosquitto, tls_worker: Callable[..., IngestWorker]
) -> None:
    # the broker hangs up after the hub's side of the handshake (TLS 1.3): the worker sees a
    # dropped connection, not a failed attempt, so wait on the broker's log for the reason
    bare = tls_worker("mtls", timeout=1, **NO_CERT)  # no client certificate
    wait_until("no certificate", lambda: "peer did not return a certificate" in broker.log())
    _refused(bare)
    stranger = Pki.create(tmp_path / "other", name="Other CA").client("hub")
    foreign = tls_worker("mtls", timeout=1, client_cert=stranger)
    wait_until("another CA", lambda: "certificate verify failed" in broker.log())
    _refused(foreign)
    # and a broker whose certificate another CA signed is refused by the hub
    other = Pki.create(tmp_path / "impostor", name="Impostor CA")
    _refused(tls_worker("tls", mqtt_tls_ca=other.ca_pem))
    # a good client certificate does not stand for the account: a wrong password is refused
    assert broker.hub_account
    user, password = broker.hub_account
    _refused(tls_worker("mtls", account=(user, password + "x")))
    log = broker.log()
    assert "peer did not return a certificate" in log and "certificate verify failed" in log


def test_a_bad_file_is_one_error_naming_its_setting(
    tmp_path: Path, pki: Pki, tls_worker: Callable[..., IngestWorker]
) -> None:
    hub = pki.client("hub")
    other = pki.client("other")

    def error(**tls: Any) -> str:
        with pytest.raises(InvalidInputError) as exc:
            tls_worker("mtls", **tls)
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
    if os.geteuid() != 0:  # root reads any file
        assert "cannot be read" in error(mqtt_tls_ca=pki.ca_pem, **unreadable)
    assert error(mqtt_tls_ca=tmp_path) == (
        f"mqtt_tls: GRIDLINK_MQTT_TLS_CA={tmp_path}: cannot be read (Is a directory)"
    )
