"""The hub's MQTT 3.1.1 mode against the embedded demo broker (amqtt), as `make demo` runs it."""

from __future__ import annotations

import socket
import subprocess
import sys
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
from tests.support.net import free_port
from tests.support.waiting import wait_until


@pytest.fixture
def embedded_broker() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridlink.broker", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def listening() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    try:
        wait_until("the embedded broker to listen", listening, timeout=30)
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
        tally = handle.workers[0].tally

        def seqs() -> list[int]:
            with session_factory() as s:
                return [e.seq for e in s.scalars(select(Event).order_by(Event.seq))]

        # the tampered copy comes last: once it is refused and three are stored, nothing more
        # is on its way
        wait_until(
            "three events stored and the tampered one refused",
            lambda: tally.snapshot().get("bad_signature") and len(seqs()) >= 3,
        )
        assert seqs() == [1, 2, 3]
        assert tally.snapshot().get("bad_signature") == 1
    finally:
        pub.loop_stop()
        pub.disconnect()
        handle.stop()
