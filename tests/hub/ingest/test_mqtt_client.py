"""The ingest worker's paho client (hub.ingest.mqtt_client) on a real Mosquitto: PUBACKs of a
batch in one write, receipts as hand-framed QoS 0 PUBLISH packets, bulk reads that never strand
a message, over plain TCP and TLS, MQTT v5 and 3.1.1.

The clients log in as the broker's ``observer`` (tests/support/mosquitto.py: all of
``gl/v1/#``), so the locked-down production configuration is what they talk to.
"""

from __future__ import annotations

import fcntl
import random
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.ingest import mqtt_client
from hub.ingest.mqtt_client import BufferedSocket, IngestClient
from tests.support.mosquitto import Mosquitto
from tests.support.tls import Pki
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

V5, V311 = mqtt.MQTTv5, mqtt.MQTTv311
PROTOCOLS = pytest.mark.parametrize("protocol", [V5, V311], ids=["v5", "v311"])


@dataclass
class Got:
    topic: str
    payload: bytes
    qos: int
    mid: int
    dup: bool
    retain: bool


@dataclass
class Client:
    """An IngestClient with what it received, started on paho's loop thread."""

    c: IngestClient
    got: list[Got] = field(default_factory=list)
    connects: list[bool] = field(default_factory=list)  # session_present of each CONNACK
    subscribed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payloads(self) -> list[bytes]:
        with self.lock:
            return [g.payload for g in self.got]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """Locked down, and packets up to 3 MB: the 4-byte remaining length."""
    with Mosquitto(workdir=tmp_path / "broker", max_packet_size=3_000_000) as mosq:
        yield mosq


def make_client(
    broker: Any,
    client_id: str,
    protocol: int,
    *,
    persistent: bool = False,
    port: int | None = None,
    ca: Path | None = None,
) -> Client:
    c = IngestClient(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        clean_session=None if protocol == V5 else not persistent,
        manual_ack=True,
    )
    assert broker.observer_account
    c.username_pw_set(*broker.observer_account)
    if ca is not None:
        c.tls_set(ca_certs=str(ca))
    client = Client(c)

    def on_connect(_c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        assert not reason.is_failure, reason
        client.connects.append(bool(flags.session_present))

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        got = Got(msg.topic, bytes(msg.payload), msg.qos, msg.mid, bool(msg.dup), msg.retain)
        with client.lock:
            client.got.append(got)

    c.on_connect = on_connect
    c.on_message = on_message
    c.on_subscribe = lambda *_a: client.subscribed.set()
    kwargs: dict[str, Any] = {"keepalive": 60}  # a stranded message would wait for a ping
    if protocol == V5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600 if persistent else 0
        kwargs.update(clean_start=not persistent, properties=props)
    c.connect(broker.host, port or broker.port, **kwargs)
    c.loop_start()
    wait_until(f"{client_id} connected", lambda: client.connects and c.is_connected())
    return client


@pytest.fixture
def clients() -> Iterator[Callable[..., Client]]:
    made: list[Client] = []

    def make(*args: Any, **kwargs: Any) -> Client:
        client = make_client(*args, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.c.disconnect()
        client.c.loop_stop()


def subscribe(client: Client, topic: str, qos: int) -> None:
    client.subscribed.clear()
    client.c.subscribe(topic, qos)
    assert client.subscribed.wait(10), f"no SUBACK for {topic}"


def pubacks_logged(broker: Mosquitto, client_id: str) -> int:
    return broker.log().count(f"Received PUBACK from {client_id} ")


# -- remaining length and PUBLISH framing ---------------------------------------------------


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16383, "ff7f"),
        (16384, "808001"),
        (2097151, "ffff7f"),
        (2097152, "80808001"),
        (268435455, "ffffff7f"),
    ],
)
def test_remaining_length_is_the_mqtt_varint(n: int, encoded: str) -> None:
    assert mqtt_client._remaining_length(n).hex() == encoded  # MQTT 3.1.1 / 5 section 2.2.3


def _target_payload(topic: str, remaining: int, protocol: int) -> bytes:
    """A payload that makes the PUBLISH packet's remaining length exactly ``remaining``."""
    head = 2 + len(topic.encode()) + (1 if protocol == V5 else 0)
    n = remaining - head
    assert n >= 0
    return bytes(random.Random(remaining).randrange(256) for _ in range(min(n, 64))) * (
        n // 64
    ) + bytes(n % 64)


@PROTOCOLS
def test_publish_many_delivers_qos0_byte_for_byte(
    protocol: int, broker: Mosquitto, clients: Callable[..., Client]
) -> None:
    pub = clients(broker, f"pm-pub-{protocol}", protocol)
    sub = MqttObserver(broker, ("gl/v1/+/rcpt",)).start()
    try:
        msgs: list[tuple[str, bytes]] = [("gl/v1/pm-empty/rcpt", b"")]
        for i, remaining in enumerate([126, 127, 128, 129, 16383, 16384, 2097151, 2097152]):
            topic = f"gl/v1/pm-{i}-{'x' * i}/rcpt"
            msgs.append((topic, _target_payload(topic, remaining, protocol)))
        msgs.append(("gl/v1/pm-dévice/rcpt", "ünïcode".encode()))  # topic length in bytes
        assert pub.c.publish_many(msgs) == MQTTErrorCode.MQTT_ERR_SUCCESS
        # after the hand-framed run paho's own packets still line up: QoS 1 is acknowledged
        info = pub.c.publish("gl/v1/pm-after/rcpt", b"after", qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
        wait_until("every message delivered", lambda: len(sub.all) >= len(msgs) + 1, timeout=20)
        got = [(m.topic, bytes(m.payload), m.qos, bool(m.retain)) for m in sub.all]
        want = [(t, p, 0, False) for t, p in msgs] + [("gl/v1/pm-after/rcpt", b"after", 1, False)]
        assert got == want
        assert pub.c.is_connected()
        assert f"Client pm-pub-{protocol} disconnected" not in broker.log()
    finally:
        sub.stop()


def test_publish_many_needs_a_connection(broker: Mosquitto) -> None:
    c = IngestClient(CallbackAPIVersion.VERSION2, client_id="pm-nc", protocol=V5)
    assert c.publish_many([]) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert c.publish_many([("gl/v1/x/rcpt", b"x")]) == MQTTErrorCode.MQTT_ERR_NO_CONN
    assert not c._out_packet  # nothing queued for a later connection


# -- ack_many -------------------------------------------------------------------------------


@PROTOCOLS
def test_ack_many_acknowledges_and_the_broker_redelivers_only_the_rest(
    protocol: int, broker: Mosquitto, clients: Callable[..., Client]
) -> None:
    cid = f"pm-ack-{protocol}"
    topic = f"gl/v1/{cid}/evt/heartbeat"
    sub = clients(broker, cid, protocol, persistent=True)
    subscribe(sub, topic, 1)
    pub = MqttObserver(broker, ()).start()
    try:
        payloads = [f"m{i:02d}".encode() for i in range(20)]
        pub.publish_all([(topic, p) for p in payloads])
        wait_until("20 received", lambda: len(sub.payloads()) == 20)
        with sub.lock:
            by_payload = {g.payload: g for g in sub.got}
        assert {g.qos for g in by_payload.values()} == {1}
        acked = payloads[::2]
        assert sub.c.ack_many([by_payload[p].mid for p in acked]) == 0
        assert sub.c.ack_many([]) == MQTTErrorCode.MQTT_ERR_SUCCESS
        wait_until("10 PUBACKs at the broker", lambda: pubacks_logged(broker, cid) == 10)
        sub.c.disconnect()
        sub.c.loop_stop()
        # the same session again: what was not acknowledged comes back, and only that
        again = clients(broker, cid, protocol, persistent=True)
        assert again.connects == [True]  # session present
        pub.publish(topic, b"sentinel")  # queued behind the redeliveries
        wait_until("the sentinel", lambda: b"sentinel" in again.payloads())
        with again.lock:
            redelivered = [g for g in again.got if g.payload != b"sentinel"]
        assert sorted(g.payload for g in redelivered) == payloads[1::2]
        assert all(g.dup for g in redelivered)
        again.c.ack_many([g.mid for g in again.got])
        wait_until("11 more PUBACKs", lambda: pubacks_logged(broker, cid) == 21)
    finally:
        pub.stop()


def test_ack_many_without_manual_ack_sends_nothing(broker: Mosquitto) -> None:
    c = IngestClient(CallbackAPIVersion.VERSION2, client_id="pm-auto", protocol=V5)
    assert c.ack_many([1, 2, 3]) == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert not c._out_packet  # paho acknowledges by itself then


# -- BufferedSocket -------------------------------------------------------------------------


def test_buffered_socket_serves_small_reads_from_one_large_one() -> None:
    a, b = socket.socketpair()
    try:
        a.setblocking(False)
        buf = BufferedSocket(a, size=8)
        with pytest.raises(BlockingIOError):
            buf.recv(1)
        b.sendall(b"0123456789AB")
        assert buf.recv(1) == b"0"  # one recv of 8 bytes
        assert buf.pending() == 7
        assert buf.recv(3) == b"123"
        assert buf.recv(10) == b"4567"  # a short read: what is held, never a wait
        assert buf.pending() == 0
        assert buf.recv(2) == b"89"
        assert buf.pending() == 2
        b.sendall(b"C" * 20)
        assert buf.recv(2) == b"AB"
        assert buf.recv(20) == b"C" * 20  # larger than the buffer: straight through
        assert buf.pending() == 0
        assert buf.fileno() == a.fileno()  # the rest is the socket's
        b.close()
        assert buf.recv(1) == b""  # the peer closed
    finally:
        a.close()


class _TlsLike:
    """A socket that holds decrypted bytes of its own (``ssl.SSLSocket.pending``)."""

    def __init__(self, data: bytes, held: int) -> None:
        self.data, self.held = data, held

    def recv(self, n: int) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        return out

    def pending(self) -> int:
        return self.held


def test_buffered_socket_pending_adds_what_the_tls_layer_holds() -> None:
    buf = BufferedSocket(_TlsLike(b"abcdef", held=5), size=4)
    assert buf.pending() == 5  # nothing buffered here yet, but TLS holds bytes: read on
    assert buf.recv(1) == b"a"
    assert buf.pending() == 3 + 5


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path / "pki")


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_a_burst_of_small_messages_all_arrive_without_more_traffic(
    transport: str, tmp_path: Path, pki: Pki, clients: Callable[..., Client]
) -> None:
    """Thousands of messages of mixed sizes (many per recv, some across two), then silence:
    every one is handled at once, none waits in the buffer for the next packet or a ping."""
    with Mosquitto(workdir=tmp_path / "tls-broker", tls=pki) as broker:
        if transport == "tls":
            assert broker.tls_port
            sub = clients(broker, "pm-burst", V5, port=broker.tls_port, ca=pki.ca_pem)
        else:
            sub = clients(broker, "pm-burst", V5)
        assert isinstance(sub.c._sock, BufferedSocket)
        subscribe(sub, "gl/v1/pm-burst/#", 0)
        rng = random.Random(4)
        sizes = [rng.choice([1, 7, 60, 200, 1000]) for _ in range(3000)] + [70_000, 3]
        msgs = [(f"gl/v1/pm-burst/{i}", bytes([i % 256]) * n) for i, n in enumerate(sizes)]
        pub = MqttObserver(broker, ()).start()
        try:
            for topic, payload in msgs:
                pub.c.publish(topic, payload, qos=0)
            last = pub.c.publish("gl/v1/pm-burst/last", b"", qos=1)
            last.wait_for_publish(10)
            started = time.monotonic()
            wait_until(
                "the whole burst",
                lambda: len(sub.payloads()) == len(msgs) + 1,
                timeout=15,
                detail=lambda: f"{len(sub.payloads())} of {len(msgs) + 1}",
            )
            assert time.monotonic() - started < 15  # far below the 60 s keepalive
            with sub.lock:
                got = [(g.topic, g.payload) for g in sub.got]
            assert got == [*msgs, ("gl/v1/pm-burst/last", b"")]
            # a backlog already waiting in the socket when the client reads again: one recv
            # takes in far more packets than a loop turn handles, then the socket is silent
            gate, held = threading.Event(), threading.Event()
            handler = sub.c.on_message

            def blocking(c: Any, u: Any, msg: mqtt.MQTTMessage) -> None:
                if msg.topic == "gl/v1/pm-burst/gate":
                    held.set()
                    gate.wait(20)
                handler(c, u, msg)

            sub.c.on_message = blocking
            pub.c.publish("gl/v1/pm-burst/gate", b"", qos=0)
            assert held.wait(10)  # paho's thread is in the callback, reading nothing
            tiny = [(f"gl/v1/pm-burst/t{i:04d}", b"%c" % (i % 256)) for i in range(2000)]
            for topic, payload in tiny:
                pub.c.publish(topic, payload, qos=0)
            packet = 1 + 1 + 2 + len(tiny[0][0]) + 1 + 1  # to a v5 subscriber: properties 0
            raw = sub.c._sock._sock
            wait_until("the backlog in the socket", lambda: _readable_bytes(raw) >= 2000 * packet)
            mark = len(sub.payloads())
            gate.set()
            wait_until(
                "the whole backlog",
                lambda: len(sub.payloads()) == mark + 1 + len(tiny),
                timeout=15,
                detail=lambda: f"{len(sub.payloads()) - mark} of {len(tiny) + 1}",
            )
            with sub.lock:
                assert [(g.topic, g.payload) for g in sub.got[mark + 1 :]] == tiny
        finally:
            pub.stop()


def _readable_bytes(sock: Any) -> int:
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]


def test_loop_read_handles_a_burst_of_packets_per_turn(broker: Mosquitto) -> None:
    """``loop_read`` handles up to READ_BURST packets per call (paho's own handles one: it
    ignores its ``max_packets``), so a burst costs one turn of paho's loop, not one each."""
    c = IngestClient(CallbackAPIVersion.VERSION2, client_id="pm-turn", protocol=V311)
    assert broker.observer_account
    c.username_pw_set(*broker.observer_account)
    got: list[bytes] = []
    c.on_message = lambda _c, _u, msg: got.append(bytes(msg.payload))
    subscribed = threading.Event()
    c.on_subscribe = lambda *_a: subscribed.set()
    c.connect(broker.host, broker.port, keepalive=60)
    deadline = time.monotonic() + 10
    while not c.is_connected() and time.monotonic() < deadline:
        c.loop(0.1)
    c.subscribe("gl/v1/pm-turn/#", 0)
    while not subscribed.is_set() and time.monotonic() < deadline:
        c.loop(0.1)
    assert subscribed.is_set()
    topic, n = "gl/v1/pm-turn/x", 50
    pub = MqttObserver(broker, ()).start()
    try:
        for i in range(n):
            pub.c.publish(topic, b"%03d" % i, qos=0)
        packet = 1 + 1 + 2 + len(topic) + 3  # QoS 0 PUBLISH to a 3.1.1 subscriber
        wait_until("the burst in the socket", lambda: _readable_bytes(c.socket()) >= n * packet)
        assert c.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
        assert len(got) == min(n, mqtt_client.READ_BURST)
        while len(got) < n:
            assert c.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
        assert got == [b"%03d" % i for i in range(n)]
    finally:
        pub.stop()
        c.disconnect()


@pytest.mark.parametrize("paced", [True, False], ids=["within-window", "overrun"])
def test_windowed_client_delivers_every_qos1_message_in_order(
    broker: Mosquitto, paced: bool
) -> None:
    """WindowedClient skips paho's walk for a queued message when none is queued; a publisher
    that overruns its window still gets every message out, in order, through paho's queue."""
    wire = MqttObserver(broker, ["gl/v1/hh-win/rcpt"]).start()
    assert broker.observer_account is not None
    client = mqtt_client.WindowedClient(CallbackAPIVersion.VERSION2, client_id="t-window",
                                        protocol=V5)  # fmt: skip
    client.username_pw_set(*broker.observer_account)
    client.max_inflight_messages_set(10)
    room = threading.Semaphore(10)
    acked: list[int] = []

    def on_publish(*_args: Any) -> None:
        acked.append(1)
        room.release()

    client.on_publish = on_publish
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for i in range(300):
            if paced:
                assert room.acquire(timeout=10)
            info = client.publish("gl/v1/hh-win/rcpt", b"%d" % i, qos=1)
            assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
        wait_until("every PUBACK", lambda: len(acked) == 300, timeout=20)
        wait_until("every message seen", lambda: len(wire.messages("gl/v1/hh-win/rcpt")) == 300)
        assert [int(m) for m in wire.messages("gl/v1/hh-win/rcpt")] == list(range(300))
    finally:
        client.disconnect()
        client.loop_stop()
        wire.stop()
