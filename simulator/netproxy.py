"""A small TCP proxy between devices and the broker, for fault injection.

    proxy = NetProxy("127.0.0.1", broker.port).start()   # devices connect to proxy.port
    proxy.cut()            # drop every live connection and refuse new ones (link down)
    proxy.resume()         # accept again
    proxy.duplicate = True # device -> broker QoS 1 PUBLISH packets are sent twice
    proxy.publish_delay_s = 0.02  # each device -> broker PUBLISH held that long (a slow link)
    proxy.stop()

It runs its own asyncio loop on a daemon thread so sync tests can drive it. The device ->
broker direction is parsed into MQTT packets (fixed header + remaining length) so a PUBLISH is
duplicated whole; the broker -> device direction is copied as is.
"""

from __future__ import annotations

import asyncio
import threading


def _packet_len(buf: bytearray) -> int | None:
    """Total length of the first MQTT packet in buf, or None when it is incomplete."""
    n = 0
    mult = 1
    i = 1
    while True:
        if i >= len(buf):
            return None
        d = buf[i]
        n += (d & 0x7F) * mult
        i += 1
        if not d & 0x80:
            break
        mult *= 128
        if i > 4:
            raise ValueError("bad MQTT remaining length")
    total = i + n
    return total if len(buf) >= total else None


class NetProxy:
    def __init__(
        self, target_host: str, target_port: int, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = port
        self.duplicate = False
        self.publish_delay_s = 0.0
        self.accepting = True
        self.connections = 0
        self.cuts = 0
        self.duplicated = 0
        self.publishes = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()

    # --- control (thread-safe) -------------------------------------------------------------

    def start(self) -> NetProxy:
        self._thread = threading.Thread(target=self._run, name="netproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(5):
            raise RuntimeError("netproxy did not start")
        return self

    def _call(self, fn) -> None:
        if self._loop is None:
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def cut(self) -> None:
        """Drop all live connections now and refuse new ones until resume()."""

        def do() -> None:
            self.accepting = False
            self.cuts += 1
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(do)

    def drop(self) -> None:
        """Drop live connections but keep accepting (a one-off network glitch)."""

        def do() -> None:
            self.cuts += 1
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()

        self._call(do)

    def resume(self) -> None:
        def do() -> None:
            self.accepting = True

        self._call(do)

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        def do() -> None:
            for w in list(self._writers):
                w.transport.abort()
            if self._server is not None:
                self._server.close()
            loop.stop()

        loop.call_soon_threadsafe(do)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def __enter__(self) -> NetProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the loop --------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(
            asyncio.start_server(self._client, self.host, self.port)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)  # connections still piping when stopped
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _client(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        if not self.accepting:
            cw.transport.abort()
            return
        try:
            br, bw = await asyncio.open_connection(*self.target)
        except OSError:
            cw.transport.abort()
            return
        self.connections += 1
        self._writers.update((cw, bw))
        up = asyncio.create_task(self._upstream(cr, bw))
        down = asyncio.create_task(self._pipe(br, cw))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for t in (up, down):
            t.cancel()
        for w in (cw, bw):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while True:
            data = await r.read(65536)
            if not data:
                return
            w.write(data)
            await w.drain()

    async def _upstream(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        buf = bytearray()
        while True:
            data = await r.read(65536)
            if not data:
                return
            buf += data
            while True:
                n = _packet_len(buf)
                if n is None:
                    break
                pkt = bytes(buf[:n])
                del buf[:n]
                if pkt[0] >> 4 == 3 and self.publish_delay_s > 0:
                    await asyncio.sleep(self.publish_delay_s)
                w.write(pkt)
                if pkt[0] >> 4 == 3:
                    self.publishes += 1
                    if self.duplicate and (pkt[0] >> 1) & 3 == 1:
                        w.write(bytes((pkt[0] | 0x08,)) + pkt[1:])  # the copy carries DUP
                        self.duplicated += 1
            await w.drain()
