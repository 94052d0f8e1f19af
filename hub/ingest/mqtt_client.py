"""The ingest worker's paho client: the same paho-mqtt 2 client, reading its socket in bulk.

paho reads a packet with a ``recv`` system call for the command byte, one per byte of the
remaining length, and one for the rest, and handles one packet per turn of its loop (another
``select``). At thousands of messages a second that is most of the worker's MQTT cost.
``IngestClient`` changes two things and nothing of the protocol:

- ``BufferedSocket`` serves paho's small reads from one ``recv`` of up to 64 KiB and reports
  what it holds through ``pending()``, which paho's loop already asks of TLS sockets (and then
  does not wait in ``select``), so no buffered byte is ever left unread;
- ``loop_read`` handles up to ``READ_BURST`` packets per turn instead of one (paho stops at the
  first read that would block, as before);
- ``ack_many`` acknowledges a batch's QoS 1 messages with one write: the PUBACK packets paho's
  ``ack`` would queue one by one (4 bytes each, reason "success" implied), queued together, so
  a batch of 500 is one wake-up of paho's loop and one ``send`` instead of 500 of each;
- ``publish_many`` sends QoS 0 messages as PUBLISH packets framed here and queued as one
  write, for the same reason (receipts stay at QoS 1, hub.ingest.receipts says why).

Writes, TLS (the buffer wraps the TLS socket, whose own ``pending()`` is added), keepalive,
reconnects and acknowledgements are paho's own.
"""

from __future__ import annotations

import struct
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes

READ_BURST = 256  # packets handled per turn of paho's loop
RECV_SIZE = 65536


class BufferedSocket:
    """A non-blocking socket whose small reads come from one large one."""

    def __init__(self, sock: Any, size: int = RECV_SIZE) -> None:
        self._sock = sock
        self._size = size
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        pos = self._pos
        if pos >= len(self._buf):
            data: bytes = self._sock.recv(max(n, self._size))
            if len(data) <= n:
                self._buf, self._pos = b"", 0
                return data
            self._buf, self._pos = data, n
            return data[:n]
        end = min(pos + n, len(self._buf))  # a short read: what is held, pending() stays >= 0
        self._pos = end
        return self._buf[pos:end]

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._buf) - self._pos + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:  # send, fileno, close, setblocking, ...
        return getattr(self._sock, name)


class IngestClient(mqtt.Client):
    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport == "websockets":  # has its own framing; left as paho has it
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's ``loop_read`` for up to ``READ_BURST`` packets (paho 2's own ignores its
        ``max_packets`` and handles one packet per turn while nothing of its own is in flight);
        it stops, as paho's does, at the first read that would block."""
        for _ in range(max(max_packets, READ_BURST)):
            if self._sock is None:
                return MQTTErrorCode.MQTT_ERR_NO_CONN
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
            if rc == MQTTErrorCode.MQTT_ERR_AGAIN:
                break
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_many(self, mids: list[int]) -> MQTTErrorCode:
        """PUBACK every QoS 1 message id of ``mids`` (``manual_ack``), in one write."""
        if not mids or not self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        puback = PacketTypes.PUBACK << 4
        packet = b"".join(struct.pack("!BBH", puback, 2, mid) for mid in mids)
        return self._packet_queue(puback, packet, 0, 1)

    def publish_many(self, msgs: list[tuple[str, bytes]]) -> MQTTErrorCode:
        """Publish ``(topic, payload)`` pairs at QoS 0, not retained, in one write. Dropped
        when not connected (as paho drops QoS 0), MQTT_ERR_NO_CONN then."""
        if not msgs:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        if not self.is_connected():
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        v5 = self._protocol == mqtt.MQTTv5
        packet = b"".join(_publish_qos0(topic.encode(), payload, v5) for topic, payload in msgs)
        # command 0: a run of packets, so paho's per-packet bookkeeping (the QoS 0 on_publish
        # callback) does not apply; the bytes are plain PUBLISH packets
        return self._packet_queue(0, packet, 0, 0)


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def _publish_qos0(topic: bytes, payload: bytes, v5: bool) -> bytes:
    """A QoS 0 PUBLISH packet: topic, (v5: empty properties), payload."""
    body = struct.pack("!H", len(topic)) + topic + (b"\x00" if v5 else b"") + payload
    return bytes([PacketTypes.PUBLISH << 4]) + _remaining_length(len(body)) + body


class WindowedClient(IngestClient):
    """An ``IngestClient`` for a publisher that keeps its own window: it never has more QoS 1
    messages unacknowledged than ``max_inflight_messages``, so paho queues none. paho's
    ``_update_inflight`` walks every unacknowledged message on each PUBACK, looking for a
    queued one to send: with a window of 1,000 that walk was half of the receipt helper's CPU
    (104 against 54 µs a message, measured against Mosquitto). With nothing queued it returns
    at once here; anything paho did queue (the window was overrun) is sent as paho would."""

    def _update_inflight(self) -> MQTTErrorCode:
        if len(self._out_messages) <= self._inflight_messages:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        result: MQTTErrorCode = super()._update_inflight()
        return result
