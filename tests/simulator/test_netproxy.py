"""The fault-injection proxy against a real Mosquitto: passes traffic, cuts, duplicates."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest

from simulator import NetProxy
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


@pytest.fixture
def broker():
    with Mosquitto() as b:
        yield b


def client(port, cid, account):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    c.username_pw_set(*account)
    c.reconnect_delay_set(0.05, 0.5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_duplicates_and_cut(broker):
    topic = "gl/v1/dev-pub/evt/t"  # a device account publishing through the proxy
    with MqttObserver(broker, (topic,)) as sub, NetProxy(broker.host, broker.port) as proxy:

        def got(payload: bytes) -> int:
            return [m.payload for m in sub.matching(topic)].count(payload)

        pub = client(proxy.port, "dev-pub", broker.device_account("dev-pub"))
        try:
            wait_until("the publisher connected through the proxy", pub.is_connected, 10)
            pub.publish(topic, b"one", qos=1).wait_for_publish(5)
            proxy.duplicate = True
            pub.publish(topic, b"two", qos=1).wait_for_publish(5)
            sub.wait("both copies of 'two'", lambda: got(b"two") >= 2, 10)
            assert got(b"one") == 1 and got(b"two") == 2
            assert proxy.duplicated == 1
            proxy.cut()
            wait_until("the publisher to notice the cut", lambda: not pub.is_connected(), 10)
            proxy.resume()
            wait_until("the publisher to reconnect", pub.is_connected, 10)
            assert proxy.connections >= 2
        finally:
            pub.loop_stop()
            pub.disconnect()
