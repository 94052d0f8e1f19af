"""The one MQTT test observer: a plain paho client that records what crosses the broker.

It is an observer (and, where a test plays an attacker, a publisher), never a stand-in for the
hub: what a HIL test asserts on is what the real hub stored. The observer answers questions
the hub cannot, such as "which chunk frames were on the wire, how many times".

    wire = MqttObserver(broker, topics=("gl/v1/#",)).start()   # returns once subscribed
    wire.wait("3 chunks", lambda: len(wire.chunks(dev)) >= 3)
    wire.frames(sha)           # Counter: chunk index -> frames seen
    wire.envelopes(dev)        # every evt / ack envelope seen (parsed, not verified), repeats too
    wire.states(dev)           # births and wills
    wire.messages(topic)       # payloads seen on exactly that topic
    wire.get(), wire.get_topic(topic), wire.publish(topic, payload), wire.publish_all(msgs)
    wire.stop()

Every message is kept in ``all`` (paho messages) and, for ``get()``, in the ``msgs`` queue.

On a locked-down broker it logs in as ``observer`` (``broker.observer_account``: all of
``gl/v1/#``, see tests/support/mosquitto.py) unless given ``account=(username, password)``; a
subscription the broker refuses makes ``start()`` raise, so a test never waits on a topic it
was not allowed to read.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import paho.mqtt.client as paho

from protocol import chunking, command, envelope
from tests.support.waiting import wait_until

T = TypeVar("T")


class _Broker(Protocol):
    host: str
    port: int


class SubscribeRefusedError(AssertionError):
    pass


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    at: float  # time.monotonic() on arrival
    retain: bool


class MqttObserver:
    def __init__(
        self,
        broker: _Broker,
        topics: Iterable[str] = ("#",),
        client_id: str = "",
        clean: bool = True,
        account: tuple[str, str] | None = None,
    ) -> None:
        self.broker = broker
        self.topics = tuple(topics)
        self.msgs: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.all: list[paho.MQTTMessage] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self._subscribed: queue.Queue[list[str]] = queue.Queue()
        self.c = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean
        )
        account = account or getattr(broker, "observer_account", None)
        if account:
            self.c.username_pw_set(*account)
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.reconnect_delay_set(0.05, 0.2)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10) -> MqttObserver:
        self.c.connect(self.broker.host, self.broker.port, keepalive=30)
        self.c.loop_start()
        self.wait_subscribed(timeout)
        return self

    def wait_subscribed(self, timeout: float = 10) -> None:
        for _ in self.topics:
            refused = self._subscribed.get(timeout=timeout)
            if refused:
                raise SubscribeRefusedError(f"the broker refused subscriptions: {refused}")

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def __enter__(self) -> MqttObserver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_connect(self, c: paho.Client, userdata: Any, flags: Any, rc: Any, props=None) -> None:
        for t in self.topics:
            c.subscribe(t, 1)

    def _on_subscribe(self, c: paho.Client, userdata: Any, mid: int, rcs: Any, props=None) -> None:
        self._subscribed.put([str(rc) for rc in rcs if rc.is_failure])

    def _on_message(self, c: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        seen = Seen(msg.topic, bytes(msg.payload), time.monotonic(), bool(msg.retain))
        with self.lock:
            self.all.append(msg)
            self.seen.append(seen)
        self.msgs.put(msg)

    # --- plain access ----------------------------------------------------------------------

    def get(self, timeout: float = 10) -> paho.MQTTMessage:
        return self.msgs.get(timeout=timeout)

    def get_topic(self, topic: str, timeout: float = 10) -> paho.MQTTMessage:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.msgs.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg.topic == topic:
                return msg

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos, retain).wait_for_publish(10)

    def publish_all(self, messages: Iterable[tuple[str, bytes]]) -> None:
        """Publish every (topic, payload) at QoS 1, then wait for all the PUBACKs."""
        infos = [self.c.publish(t, p, 1) for t, p in messages]
        for info in infos:
            info.wait_for_publish(10)

    def messages(self, topic: str) -> list[bytes]:
        """The payloads seen on exactly ``topic``, in arrival order."""
        with self.lock:
            return [m.payload for m in self.seen if m.topic == topic]

    def mark(self) -> int:
        """A position in the record: pass it as ``since`` to look only at later messages."""
        with self.lock:
            return len(self.seen)

    def matching(self, topic_filter: str, since: int = 0) -> list[Seen]:
        with self.lock:
            seen = self.seen[since:]
        return [m for m in seen if paho.topic_matches_sub(topic_filter, m.topic)]

    def wait(self, what: str, probe: Callable[[], T], timeout: float = 30) -> T:
        return wait_until(what, probe, timeout, detail=self.summary)

    def summary(self) -> str:
        with self.lock:
            topics = Counter(m.topic for m in self.seen)
        return f"on the wire: {dict(topics)}"

    # --- gridlink topics (parsed, not verified: the hub is the one that verifies) ----------

    def chunk_log(self, dev: str = "+", since: int = 0) -> list[tuple[str, int]]:
        """(sha256, index) of every chunk frame seen, in arrival order."""
        out = []
        for m in self.matching(f"gl/v1/{dev}/blob", since):
            sha, index, _total, _payload = chunking.parse_frame(m.payload)
            out.append((sha, index))
        return out

    def frames(self, sha: str, since: int = 0) -> Counter[int]:
        """chunk index -> how many frames of blob ``sha`` were seen."""
        return Counter(i for s, i in self.chunk_log(since=since) if s == sha)

    def envelopes(self, dev: str, kind: str | None = None, since: int = 0) -> list[dict]:
        """Every event / ack envelope of ``dev`` seen, repeats included, in arrival order."""
        with self.lock:
            seen = self.seen[since:]
        envs = [
            envelope.parse(m.payload)
            for m in seen
            if paho.topic_matches_sub(f"gl/v1/{dev}/evt/+", m.topic)
            or m.topic == f"gl/v1/{dev}/ack"
        ]
        return [e for e in envs if kind is None or e["kind"] == kind]

    def deliveries(self, dev: str, since: int = 0) -> Counter[int]:
        """seq -> copies of ``dev``'s envelope seen on the wire."""
        return Counter(e["seq"] for e in self.envelopes(dev, since=since))

    def states(self, dev: str, since: int = 0) -> list[dict]:
        """Births (``online: true``) and wills of ``dev`` seen, retained ones included."""
        return [
            command.open_state(m.payload)
            for m in self.matching(f"gl/v1/{dev}/state", since)
            if m.payload
        ]

    def online(self, dev: str, since: int = 0) -> bool:
        return any(s["online"] for s in self.states(dev, since))

    def offline(self, dev: str, since: int = 0) -> bool:
        """A will of ``dev`` seen: the broker noticed its connection end (after everything the
        device had sent on that connection was forwarded)."""
        return any(not s["online"] for s in self.states(dev, since))
