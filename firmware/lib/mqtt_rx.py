# The receiving half of mqtt.MQTTClient: the reader task and packet parsing.
#
# A separate module only to halve the compile-time peak when the firmware runs from source
# (importing mqtt.py must fit a 64 KB heap); mqtt.MQTTClient is the only user.
# Incoming PUBLISH bodies over max_incoming are skipped through one 256-byte buffer.
import struct

import log
from compat import const

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython
    import time

    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b


ECONNRESET = const(104)
_PUBLISH = const(3)
_PUBACK = const(4)
_SUBACK = const(9)
_PINGRESP = const(13)
_SKIP_BUF = const(256)
_MAX_TOPIC = const(512)

_log = log.getLogger("mqtt")


class Reader:
    async def _read(self, n):
        try:
            return await self._r.readexactly(n)
        except EOFError:
            raise OSError(ECONNRESET)

    async def _skip_bytes(self, n):
        # Discard n bytes through one small buffer: oversized messages never sit in RAM.
        r = self._r
        if self._skip is None:
            self._skip = bytearray(_SKIP_BUF)
        mv = memoryview(self._skip)
        readinto = getattr(r, "readinto", None)
        while n:
            k = n if n < _SKIP_BUF else _SKIP_BUF
            if readinto is not None:
                got = await readinto(mv[:k])
                if got is None:
                    continue
            else:
                got = len(await r.read(k))
            if not got:
                raise OSError(ECONNRESET)
            n -= got

    async def _reader(self):
        try:
            while True:
                await self._read_packet()
        except (OSError, EOFError) as e:
            self._fail(e)
        except Exception as e:  # a malformed packet: log it, let the link reconnect
            _log.exc(e, "reader failed")
            self._fail(OSError(ECONNRESET))

    async def _read_packet(self):
        b = (await self._read(1))[0]
        self.rx_ms = ticks_ms()
        n = 0
        sh = 0
        while True:
            d = (await self._read(1))[0]
            n |= (d & 0x7F) << sh
            sh += 7
            if not d & 0x80:
                break
            if sh > 21:
                raise OSError(ECONNRESET)
        typ = b >> 4
        if typ == _PUBLISH:
            await self._read_publish(b, n)
        elif typ == _PUBACK or typ == _SUBACK:
            data = await self._read(n)
            pid = data[0] << 8 | data[1]
            if typ == _PUBACK:
                ent = self.inflight.pop(pid, None)
                if ent is not None:
                    ent[4] = True
                    if ent[3] is not None:
                        ent[3].set()
            else:
                ent = self._sub.get(pid)
                if ent is not None:
                    ent[1] = data[2] if n > 2 else 0x80
                    ent[0].set()
        elif typ == _PINGRESP:
            if self._ping is not None:
                self._ping.set()
        elif n:
            await self._skip_bytes(n)

    async def _read_publish(self, b, n):
        qos = (b >> 1) & 3
        tl = await self._read(2)
        tlen = tl[0] << 8 | tl[1]
        n -= 2
        if tlen > _MAX_TOPIC or tlen > n:
            topic = None
            await self._skip_bytes(tlen)
        else:
            topic = await self._read(tlen)
        n -= tlen
        pid = 0
        if qos:
            p = await self._read(2)
            pid = p[0] << 8 | p[1]
            n -= 2
        if topic is not None:
            try:
                topic = topic.decode()
            except UnicodeError:
                topic = None
        if topic is None or n > self.max_incoming:
            await self._skip_bytes(n)
            self.dropped_incoming += 1
        else:
            payload = await self._read(n) if n else b""
            if self._cb is not None:
                try:
                    self._cb(topic, payload)
                except Exception as e:  # a bad message must not take the link down
                    _log.exc(e, "callback failed on %s", topic)
        if qos == 1:
            await self._send(b"\x40\x02" + struct.pack("!H", pid), None, 10)
