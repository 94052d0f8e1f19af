"""The stream's publisher: a minimal MQTT v5 client that only connects and publishes at QoS 1.

Why not paho, as before: paho spends ~90 µs of Python per QoS 1 message (building the packet,
its in-flight bookkeeping, the PUBACK callback), so at 5,000 events/s the load generator alone
took almost half of one of the machine's two cores from the systems being measured. Here every
PUBLISH packet is encoded before the clock starts, a flood is written in slices of ``SLICE``
packets with one ``sendall`` each, and a reader thread counts the PUBACKs; the in-flight window
is the broker's Receive Maximum (from its CONNACK) capped at ``WINDOW``, as paho's
``max_inflight_messages`` was. The broker sees the same QoS 1 publishes from one client.

    flood = Flood(host, port, ("user", "password"))      # connects; MqttRefused if refused
    sent = flood.publish([(topic, payload), ...], rate)  # monotonic time each was handed over
    flood.wait_acked(len(messages), timeout)             # -> how many the broker acknowledged
    flood.close()
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from itertools import count

SLICE = 64  # packets per write in a flood
WINDOW = 1000  # most messages not yet acknowledged (and the Receive Maximum's cap)

# CONNACK property ids and the size of their values (-1: 2-byte length + data, -2: two such)
_PROPS = {
    0x11: 4, 0x21: 2, 0x24: 1, 0x25: 1, 0x27: 4, 0x12: -1, 0x22: 2, 0x1F: -1, 0x26: -2,
    0x28: 1, 0x29: 1, 0x2A: 1, 0x13: 2, 0x1A: -1, 0x1C: -1, 0x15: -1, 0x16: -1,
}  # fmt: skip
RECEIVE_MAXIMUM = 0x21


class MqttRefused(Exception):
    """The broker refused the connection or closed it."""


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """One MQTT v5 PUBLISH at QoS 1, no properties."""
    body = _str(topic) + struct.pack("!H", packet_id) + b"\x00" + payload
    return b"\x32" + _varint(len(body)) + body


def _connect_packet(client_id: str, account: tuple[str, str] | None) -> bytes:
    flags = 0x02  # clean start
    payload = _str(client_id)
    if account:
        flags |= 0xC0
        payload += _str(account[0]) + _str(account[1])
    body = _str("MQTT") + bytes([5, flags]) + struct.pack("!H", 600) + b"\x00" + payload
    return b"\x10" + _varint(len(body)) + body


class _Reader:
    """Reads whole packets from the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise MqttRefused("the broker closed the connection")
        self.buf += data

    def packet(self) -> tuple[int, bytes]:
        while True:
            if len(self.buf) >= 2:
                length, shift, i = 0, 0, 1
                while i < len(self.buf):
                    byte = self.buf[i]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    i += 1
                    if not byte & 0x80:
                        if len(self.buf) >= i + length:
                            kind = self.buf[0] >> 4
                            body = bytes(self.buf[i : i + length])
                            del self.buf[: i + length]
                            return kind, body
                        break
            self._fill()


def _receive_maximum(connack: bytes) -> int:
    """The Receive Maximum a CONNACK's properties give (65,535 when absent)."""
    length, shift, i = 0, 0, 2
    while True:
        byte = connack[i]
        length |= (byte & 0x7F) << shift
        shift += 7
        i += 1
        if not byte & 0x80:
            break
    end = i + length
    while i < end:
        prop = connack[i]
        i += 1
        size = _PROPS.get(prop)
        if size is None:
            raise MqttRefused(f"CONNACK property 0x{prop:02x} unknown")
        if prop == RECEIVE_MAXIMUM:
            return int(struct.unpack_from("!H", connack, i)[0])
        for _ in range(-size if size < 0 else 0):
            i += 2 + struct.unpack_from("!H", connack, i)[0]
        if size > 0:
            i += size
    return 65535


class Flood:
    def __init__(self, host: str, port: int, account: tuple[str, str] | None) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(_connect_packet(f"bench-flood-{id(self):x}", account))
        reader = _Reader(self.sock)
        kind, body = reader.packet()
        if kind != 2 or len(body) < 2 or body[1] != 0:
            raise MqttRefused(f"connection refused (packet {kind}, {body[:2].hex()})")
        self.window = min(WINDOW, _receive_maximum(body))
        self.sock.settimeout(None)
        self._reader = reader
        self._acked = 0
        self._refused = 0
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._ids = count()
        self._thread = threading.Thread(target=self._read, name="flood-acks", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                kind, body = self._reader.packet()
                if kind != 4:  # PUBACK; anything else (a DISCONNECT) ends the run
                    raise MqttRefused(f"unexpected packet {kind} from the broker")
                with self._cond:
                    if len(body) > 2 and body[2] >= 0x80:
                        self._refused += 1
                    else:
                        self._acked += 1
                    self._cond.notify_all()
        except (OSError, MqttRefused) as exc:
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def _wait_window(self, sent: int) -> None:
        with self._cond:
            while sent - self._acked - self._refused >= self.window and self._error is None:
                self._cond.wait(1.0)
            if self._error is not None:
                raise MqttRefused(str(self._error))

    def publish(self, messages: list[tuple[str, bytes]], rate: float | None) -> list[float]:
        """Publish every message (as fast as the window allows, or paced at ``rate``/s);
        return when each was handed to the socket (``time.monotonic``)."""
        packets = [publish_packet(t, p, next(self._ids) % 65535 + 1) for t, p in messages]
        sent: list[float] = []
        start = time.monotonic()
        i = 0
        while i < len(packets):
            if rate:
                due = start + i / rate
                while (wait := due - time.monotonic()) > 0:
                    time.sleep(min(wait, 0.002) if wait > 0.0005 else 0)
                n = 1
            else:
                n = min(SLICE, len(packets) - i, self.window)
            self._wait_window(i + n - 1)
            sent.extend([time.monotonic()] * n)
            self.sock.sendall(b"".join(packets[i : i + n]))
            i += n
        return sent

    def wait_acked(self, total: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._acked + self._refused < total and self._error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
            return self._acked

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT, normal
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(2)
