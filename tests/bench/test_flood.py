"""The bench's own MQTT v5 publisher (``bench.ingest_peers.flood``) against a real locked-down
Mosquitto: every message arrives byte for byte and in order at a subscriber, every one is
acknowledged, a paced run keeps its pace, and a refused account is one clear error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bench.ingest_peers.flood import Flood, MqttRefused
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    with Mosquitto(log_types=("error", "warning")) as b:
        yield b


def _subscriber(broker: Mosquitto, got: list[tuple[str, bytes]]) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    assert broker.observer_account
    client.username_pw_set(*broker.observer_account)
    subscribed = threading.Event()
    client.on_connect = lambda c, *_a: c.subscribe("gl/v1/#", qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_message = lambda _c, _u, m: got.append((m.topic, bytes(m.payload)))
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert subscribed.wait(10)
    return client


def test_a_flood_arrives_whole_and_in_order_and_is_acknowledged(broker: Mosquitto) -> None:
    got: list[tuple[str, bytes]] = []
    sub = _subscriber(broker, got)
    messages = [
        (f"gl/v1/fl-{i % 7:03d}/evt/track", b"x" * (i % 300) + str(i).encode()) for i in range(5000)
    ]
    assert broker.observer_account
    flood = Flood(broker.host, broker.port, broker.observer_account)
    try:
        sent = flood.publish(messages, None)
        assert len(sent) == len(messages) and sent == sorted(sent)
        assert flood.wait_acked(len(messages), 30) == len(messages)
        wait_until("all delivered", lambda: len(got) >= len(messages), timeout=30)
    finally:
        flood.close()
        sub.loop_stop()
        sub.disconnect()
    assert got == messages


def test_a_paced_run_keeps_its_rate(broker: Mosquitto) -> None:
    assert broker.observer_account
    flood = Flood(broker.host, broker.port, broker.observer_account)
    try:
        t0 = time.monotonic()
        sent = flood.publish([("gl/v1/fl-001/evt/track", b"{}")] * 200, 400.0)
        assert flood.wait_acked(200, 10) == 200
    finally:
        flood.close()
    assert sent[-1] - t0 >= 199 / 400 - 0.01  # not faster than asked
    assert sent[-1] - t0 < 2.0


def test_a_refused_account_is_one_clear_error(broker: Mosquitto) -> None:
    with pytest.raises(MqttRefused, match="refused"):
        Flood(broker.host, broker.port, ("observer", "wrong password"))
