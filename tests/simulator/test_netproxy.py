"""The fault-injection proxy against a real Mosquitto: passes traffic, cuts, duplicates."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import pytest

from simulator import NetProxy
from tests.support.mosquitto import Mosquitto


@pytest.fixture
def broker():
    with Mosquitto() as b:
        yield b


def client(port, cid):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_duplicates_and_cut(broker):
    got = []
    sub = client(broker.port, "sub")
    sub.on_message = lambda c, u, m: got.append(m.payload)
    sub.subscribe("t/#", 1)
    with NetProxy(broker.host, broker.port) as proxy:
        pub = client(proxy.port, "pub")
        time.sleep(0.3)
        pub.publish("t/a", b"one", qos=1).wait_for_publish(5)
        proxy.duplicate = True
        pub.publish("t/a", b"two", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while got.count(b"two") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert got.count(b"one") == 1 and got.count(b"two") == 2
        assert proxy.duplicated == 1
        proxy.cut()
        time.sleep(0.3)
        assert not pub.is_connected()
        proxy.resume()
        deadline = time.monotonic() + 10
        while not pub.is_connected() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pub.is_connected() and proxy.connections >= 2
        pub.loop_stop()
        pub.disconnect()
    sub.loop_stop()
    sub.disconnect()
