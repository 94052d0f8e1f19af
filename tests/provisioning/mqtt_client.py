"""A paho MQTT v5 client that records what the broker answers: CONNACK, SUBACK and PUBACK
reason codes, deliveries, disconnects. For the ACL tests, which assert on refusals."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import paho.mqtt.client as paho

from tests.support.waiting import wait_until


class Client:
    def __init__(
        self,
        target: Any,
        account: tuple[str, str] | None,
        client_id: str,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        self.target = target
        self.c = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5
        )
        if account:
            self.c.username_pw_set(*account)
        tls = getattr(target, "tls", None)  # a tests.provisioning Target, or a plain broker
        if tls:
            self.c.tls_set(**tls)
        if will:
            self.c.will_set(will[0], will[1], qos=1, retain=True)
        self.connack: str | None = None
        self.connected = threading.Event()
        self.answered = threading.Event()
        self.disconnects: list[tuple[float, str]] = []
        self.messages: list[paho.MQTTMessage] = []
        self.lock = threading.Lock()
        self._subacks: queue.Queue[list[str]] = queue.Queue()
        self._pubacks: dict[int, str] = {}
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_subscribe = lambda c, u, mid, rcs, p=None: self._subacks.put(
            [str(r) for r in rcs]
        )
        self.c.on_publish = self._on_publish
        self.c.on_message = self._on_message

    def _on_connect(self, c: paho.Client, u: Any, f: Any, rc: Any, p: Any = None) -> None:
        self.connack = str(rc)
        if not rc.is_failure:
            self.connected.set()
        self.answered.set()

    def _on_disconnect(self, c: paho.Client, u: Any, f: Any, rc: Any, p: Any = None) -> None:
        self.connected.clear()
        self.disconnects.append((time.monotonic(), str(rc)))

    def _on_publish(self, c: paho.Client, u: Any, mid: int, rc: Any, p: Any = None) -> None:
        with self.lock:
            self._pubacks[mid] = str(rc)

    def _on_message(self, c: paho.Client, u: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(msg)

    # ---------------------------------------------------------------------------------------

    def connect(self, timeout: float = 10) -> str:
        """Connect once (no automatic reconnect); return the CONNACK reason."""
        self.c.connect(self.target.host, self.target.port, keepalive=30)
        self.c.loop_start()
        if not self.answered.wait(timeout):
            raise AssertionError(f"no CONNACK within {timeout} s")
        if self.connack != "Success":
            self.stop()
        return str(self.connack)

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def subscribe(self, topic: str, timeout: float = 10) -> str:
        self.c.subscribe(topic, 1)
        (reason,) = self._subacks.get(timeout=timeout)
        return reason

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> str:
        """Publish at QoS 1; return the PUBACK reason (Mosquitto answers a denied publish
        with "Not authorized" in MQTT v5 and drops it)."""
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        wait_until("the PUBACK", lambda: info.mid in self._pubacks, 10)
        with self.lock:
            return self._pubacks[info.mid]

    def received(self, topic_filter: str = "#") -> list[tuple[str, bytes]]:
        with self.lock:
            return [
                (m.topic, bytes(m.payload))
                for m in self.messages
                if paho.topic_matches_sub(topic_filter, m.topic)
            ]
