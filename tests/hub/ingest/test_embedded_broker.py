"""The hub's MQTT 3.1.1 mode against the embedded demo broker (amqtt), as `make demo` runs it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.events.models import Event
from hub.ingest import runner
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.ingest.conftest import wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def embedded_broker() -> Iterator[int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridlink.broker", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.1)
        else:
            pytest.fail("embedded broker did not start listening")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_ingest_over_mqtt_311_with_the_embedded_broker(
    settings: Settings,
    embedded_broker: int,
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-embedded")
    dev.register(db_session)
    db_session.commit()
    configured = settings.model_copy(
        update={"mqtt_port": embedded_broker, "mqtt_protocol": "3.1.1"}
    )
    with pytest.raises(ValueError, match="shared subscriptions"):
        runner.start(configured, workers=2)
    handle = runner.start(configured)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    pub.connect("127.0.0.1", embedded_broker)
    pub.loop_start()
    try:
        for seq in range(3):
            pub.publish(*dev.event("report", {"text": f"第{seq}号"}), qos=1).wait_for_publish(5)
        tampered_topic, tampered = dev.event("report", {"text": "x"})
        pub.publish(tampered_topic, tampered.replace(b'"x"', b'"y"'), qos=1).wait_for_publish(5)
        with session_factory() as s:
            wait_for(lambda: len(s.scalars(select(Event)).all()) == 3)
            time.sleep(0.3)
            assert [e.seq for e in s.scalars(select(Event).order_by(Event.seq))] == [1, 2, 3]
        assert handle.workers[0].tally.snapshot().get("bad_signature") == 1
    finally:
        pub.loop_stop()
        pub.disconnect()
        handle.stop()
