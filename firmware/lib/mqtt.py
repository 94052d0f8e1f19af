# MQTT 3.1.1 client over asyncio streams, for MicroPython (unix port and boards) and CPython.
#
# A plain client: it never reconnects by itself (that is link.py's job). Every link failure is
# an OSError; the client closes itself on the first one, so `.connected` is the truth.
# QoS 1 publishes are kept by packet id until their PUBACK, so after a reconnect
# resend_inflight() re-sends them with DUP set (persistence across reboots is the outbox's job);
# publish(..., keep=False) opts out for a caller that re-sends from its own store.
# Payloads above 2 KiB are written in 2 KiB slices with a drain() between them.
# Incoming messages larger than max_incoming are skipped in small chunks and counted.
# The receiving half (reader task, packet parsing) is mqtt_rx.Reader, a separate file only to
# keep the compile peak low.
import asyncio
import struct

from compat import const
from mqtt_rx import Reader, ticks_diff, ticks_ms

ECONNRESET = const(104)
ENOTCONN = const(107)
ETIMEDOUT = const(110)

_CONNECT = const(0x10)
_CONNACK = const(2)
_SUBSCRIBE = const(0x82)
_SLICE = const(2048)


class MQTTError(OSError):
    # The broker refused something (CONNACK return code, SUBACK failure).
    pass


class TLSError(OSError):
    # The TLS handshake failed in a way MicroPython's ssl reports as ValueError (mbedTLS: the
    # broker's certificate is not signed by our CA, or does not carry its name). A link
    # failure like any other: the link retries with backoff; the broker's certificate may be
    # replaced while the device waits.
    pass


def _varlen(buf, i, n):
    # Write MQTT remaining length n at buf[i:], return the index after it.
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            b |= 0x80
        buf[i] = b
        i += 1
        if not n:
            return i


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


class MQTTClient(Reader):
    def __init__(
        self,
        client_id,
        host,
        port=1883,
        user=None,
        password=None,
        keepalive=60,
        ssl=None,
        will=None,
        max_incoming=20000,
        max_inflight=16,
    ):
        if keepalive < 0 or keepalive > 65535:
            raise ValueError("keepalive")
        self.client_id = client_id
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.keepalive = keepalive
        self.ssl = ssl
        self.will = will  # (topic, payload_bytes, qos, retain); may be replaced before connect()
        self.max_incoming = max_incoming
        self.max_inflight = max_inflight
        self.connected = False
        self.error = None  # the OSError that closed the last connection
        self.dropped_incoming = 0
        self.dropped_inflight = 0
        self.inflight = {}  # pid -> [topic_bytes, payload, retain, event_or_None, acked]
        self._cb = None
        self._pid = 0
        self._r = None
        self._w = None
        self._task = None
        self._wlock = asyncio.Lock()
        self._closed = asyncio.Event()
        self._ping = None
        self._sub = {}  # pid -> [event, granted]
        self._hdr = bytearray(8)
        self._skip = None
        self._session_present = False
        self.rx_ms = self.tx_ms = 0  # ticks_ms of the last packet received / sent

    def set_callback(self, cb):
        self._cb = cb

    # --- connection ---------------------------------------------------------------------------

    async def connect(self, clean_session=False, timeout=10):
        # Open the connection; return session_present. Raises OSError (MQTTError on refusal,
        # TLSError when the broker's certificate is rejected). A bad client id, will or login
        # is a ValueError / TypeError from building the CONNECT, before any I/O: not retried.
        pkt = self._connect_packet(clean_session)
        self.close()
        self.error = None
        self._closed = asyncio.Event()
        try:
            r, w = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.ssl or None), timeout
            )
        except asyncio.TimeoutError:
            raise OSError(ETIMEDOUT)
        self._r, self._w = r, w
        _nodelay(w)
        try:
            await asyncio.wait_for(self._handshake(pkt), timeout)
        except asyncio.TimeoutError:
            self._fail(OSError(ETIMEDOUT))
            raise OSError(ETIMEDOUT)
        except (OSError, EOFError) as e:
            self._fail(e)
            raise self.error
        except ValueError as e:  # only the TLS handshake raises it here (the packet is built)
            self._fail(TLSError(str(e).strip()))  # mbedTLS wraps it in newlines
            raise self.error
        self.connected = True
        self.rx_ms = self.tx_ms = ticks_ms()
        self._task = asyncio.create_task(self._reader())
        return self._session_present

    def _connect_packet(self, clean):
        flags = 0x02 if clean else 0
        payload = _str(self.client_id)
        if self.will:
            topic, msg, qos, retain = self.will
            flags |= 0x04 | (qos & 3) << 3 | (0x20 if retain else 0)
            payload += _str(topic) + _str(msg)
        if self.user is not None:
            flags |= 0x80
            payload += _str(self.user)
            if self.password is not None:
                flags |= 0x40
                payload += _str(self.password)
        var = b"\x00\x04MQTT\x04" + bytes((flags,)) + struct.pack("!H", self.keepalive)
        hdr = self._hdr
        hdr[0] = _CONNECT
        n = _varlen(hdr, 1, len(var) + len(payload))
        return bytes(hdr[:n]) + var + payload

    async def _handshake(self, pkt):
        self._w.write(pkt)
        await self._w.drain()
        resp = await self._read(4)
        if resp[0] != _CONNACK << 4 or resp[1] != 2:
            raise OSError(ECONNRESET)
        if resp[3]:
            raise MQTTError(resp[3])
        self._session_present = bool(resp[2] & 1)

    def close(self):
        # Drop the connection at once (no DISCONNECT: the broker publishes the will).
        self._fail(None)

    async def disconnect(self):
        # Graceful DISCONNECT (the broker discards the will), then close.
        if self.connected:
            try:
                await self._send(b"\xe0\x00", None, 5)
            except OSError:
                pass
        self.close()

    async def wait_closed(self):
        await self._closed.wait()

    def _fail(self, exc):
        # Close once, remember why, wake everybody who waits for this connection.
        if exc is not None and self.error is None:
            self.error = exc if isinstance(exc, OSError) else OSError(ECONNRESET)
        self.connected = False
        w, self._w, self._r = self._w, None, None
        if w is not None:
            try:
                w.close()
            except Exception:
                pass
        t, self._task = self._task, None
        if t is not None and t is not _current():
            t.cancel()
        for ent in self.inflight.values():
            if ent[3] is not None:
                ent[3].set()
        for ent in self._sub.values():
            ent[0].set()
        if self._ping is not None:
            self._ping.set()
        self._closed.set()

    def _check(self):
        if not self.connected:
            raise self.error or OSError(ENOTCONN)

    # --- sending ------------------------------------------------------------------------------

    async def _send(self, head, payload, timeout):
        # One packet: head (bytes) then payload (any buffer, written without a copy).
        self._check()
        try:
            await asyncio.wait_for(self._write(head, payload), timeout)
        except asyncio.TimeoutError:
            self._fail(OSError(ETIMEDOUT))
        except (OSError, EOFError) as e:
            self._fail(e)
        self._check()

    async def _write(self, head, payload):
        # MicroPython's StreamWriter.write() copies whatever the socket did not take at once
        # into its out_buf (bytes concatenation): a 16 KiB payload could then need a 16 KiB
        # contiguous allocation exactly when the link is slow or dying. Slices of 2 KiB with a
        # drain() between bound that copy to 2 KiB.
        async with self._wlock:
            w = self._w
            if w is None:
                return
            w.write(head)
            if hasattr(payload, "parts"):  # streamed (upload._Frame): each part written, drained
                for part in payload.parts():
                    w.write(part)
                    await w.drain()
                self.tx_ms = ticks_ms()
                return
            n = len(payload) if payload is not None else 0
            if n > _SLICE:
                mv = memoryview(payload)
                i = 0
                while i < n:
                    w.write(mv[i : i + _SLICE])
                    await w.drain()
                    i += _SLICE
            elif n:
                w.write(payload)
            await w.drain()
            self.tx_ms = ticks_ms()

    def idle_ms(self):
        # Milliseconds since the last packet in either direction stopped (the older of the two):
        # the link layer pings only an idle connection.
        now = ticks_ms()
        rx = ticks_diff(now, self.rx_ms)
        tx = ticks_diff(now, self.tx_ms)
        return rx if rx > tx else tx

    def _new_pid(self):
        pid = self._pid
        while True:
            pid = pid % 65535 + 1
            if pid not in self.inflight and pid not in self._sub:
                self._pid = pid
                return pid

    def _pub_head(self, topic, plen, qos, retain, dup, pid):
        head = bytearray(9 + len(topic))
        head[0] = 0x30 | (qos & 3) << 1 | (1 if retain else 0) | (8 if dup else 0)
        n = 2 + len(topic) + plen + (2 if qos else 0)
        if n > 268435455:
            raise ValueError("payload too big")
        i = _varlen(head, 1, n)
        struct.pack_into("!H", head, i, len(topic))
        i += 2
        head[i : i + len(topic)] = topic
        i += len(topic)
        if qos:
            struct.pack_into("!H", head, i, pid)
            i += 2
        return memoryview(head)[:i]

    async def publish(self, topic, payload, qos=0, retain=False, timeout=10, keep=True):
        # Send one message; with qos=1 wait for its PUBACK. OSError on link loss or timeout.
        #
        # A QoS 1 message whose PUBACK did not come stays in .inflight (copied to bytes if the
        # payload was a mutable buffer) and is re-sent with DUP by resend_inflight().
        # keep=False: it is forgotten instead (the caller sends it again from its own store),
        # so a mutable buffer is never copied at the moment the link fails.
        if qos not in (0, 1):
            raise ValueError("qos")
        self._check()
        if isinstance(topic, str):
            topic = topic.encode()
        if isinstance(payload, str):
            payload = payload.encode()
        pid = self._new_pid() if qos else 0
        head = self._pub_head(topic, len(payload), qos, retain, False, pid)
        if not qos:
            await self._send(head, payload, timeout)
            return
        ent = [topic, payload, retain, asyncio.Event(), False]
        self.inflight[pid] = ent
        try:
            await self._send(head, payload, timeout)
            await self._wait(ent[3], timeout)
            if not ent[4]:
                self._check()
        except OSError:
            # act on the entry itself: a reconnect may already have moved it to a new client
            # (adopt_inflight) while we were blocked in drain()
            if keep and not ent[4] and ent[1] is not None:
                # keep it for resend_inflight(); the caller may reuse its buffer after we raise
                if not isinstance(ent[1], bytes):
                    ent[1] = bytes(ent[1])
                ent[3] = None
                if pid in self.inflight:
                    self._trim_inflight()
            raise
        finally:
            if not keep and not ent[4]:
                ent[1] = None  # never re-sent from the caller's (reused) buffer, wherever it is
                if self.inflight.get(pid) is ent:
                    del self.inflight[pid]

    async def _wait(self, ev, timeout):
        try:
            await asyncio.wait_for(ev.wait(), timeout)
        except asyncio.TimeoutError:
            self._fail(OSError(ETIMEDOUT))
            raise OSError(ETIMEDOUT)

    def _trim_inflight(self):
        while len(self.inflight) > self.max_inflight:
            del self.inflight[min(self.inflight, key=self._age)]
            self.dropped_inflight += 1

    def _age(self, pid):
        return (pid - self._pid - 1) % 65535

    def adopt_inflight(self, old):
        # Take over the unacknowledged QoS 1 messages of a previous client object.
        for pid, ent in old.inflight.items():
            if ent[1] is None:  # forgotten by its publisher (keep=False)
                continue
            ent[3] = None
            self.inflight[pid] = ent
        old.inflight = {}
        self._pid = old._pid

    async def resend_inflight(self, timeout=10):
        # Re-send every unacknowledged QoS 1 publish with DUP; return how many were sent.
        #
        # Their PUBACKs are handled by the reader; watch len(client.inflight).
        pids = sorted(self.inflight, key=self._age)
        for pid in pids:
            ent = self.inflight.get(pid)
            if ent is None:
                continue
            if ent[1] is None:  # its publisher gave it up (keep=False): nothing to re-send
                del self.inflight[pid]
                continue
            head = self._pub_head(ent[0], len(ent[1]), 1, ent[2], True, pid)
            await self._send(head, ent[1], timeout)
        return len(pids)

    async def subscribe(self, topic, qos=1, timeout=10):
        # Subscribe and wait for SUBACK; return the granted QoS. MQTTError if refused.
        self._check()
        pid = self._new_pid()
        t = _str(topic)
        n = 2 + len(t) + 1
        head = bytearray(5)
        head[0] = _SUBSCRIBE
        i = _varlen(head, 1, n)
        ent = [asyncio.Event(), None]
        self._sub[pid] = ent
        try:
            await self._send(
                bytes(head[:i]) + struct.pack("!H", pid) + t + bytes((qos,)), None, timeout
            )
            await self._wait(ent[0], timeout)
        finally:
            self._sub.pop(pid, None)
        if ent[1] is None:
            self._check()
        if ent[1] == 0x80:
            raise MQTTError(0x80)
        return ent[1]

    async def ping(self, timeout=10):
        # PINGREQ and wait for PINGRESP (OSError if it does not come within timeout).
        self._check()
        ev = self._ping = asyncio.Event()
        await self._send(b"\xc0\x00", None, timeout)
        await self._wait(ev, timeout)
        self._check()


def _nodelay(w):
    # TCP_NODELAY (IPPROTO_TCP 6, TCP_NODELAY 1 on Linux and lwIP; the unix port's socket module
    # names neither). A packet goes out as two writes (head, then payload): with Nagle on, the
    # payload waited for the broker's (delayed, ~40 ms) ACK of the head, so a QoS 1 publish
    # took ~40 ms to its PUBACK on an idle loopback link. Best effort: TLS sockets may refuse.
    s = getattr(w, "s", None)  # MicroPython's asyncio Stream
    if s is None and hasattr(w, "get_extra_info"):
        s = w.get_extra_info("socket")  # CPython
    try:
        s.setsockopt(6, 1, 1)
    except Exception:
        pass


def _current():
    try:
        return asyncio.current_task()
    except RuntimeError:  # CPython outside a running loop
        return None
