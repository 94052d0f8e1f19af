# The connectivity layer (after Peter Hinch's mqtt_as): keeps one MQTT connection up forever.
#
# Every link failure is an OSError caught here, in run(), and turned into exactly one reconnect
# (exponential backoff with jitter). The application sees only "up / down" (link.up,
# wait_up()), its on_up(client) hook after each (re)connect (resubscribe, publish the birth) and
# on_message(topic, payload); link.publish() raises OSError while down, so the caller keeps the
# message in its outbox and tries again after the next on_up.
#
#   link = Link(lambda: mqtt.MQTTClient(dev, host, will=make_will()), on_up=up, on_message=msg)
#   asyncio.create_task(link.run())
#
# client_factory() is called before every connection attempt (so a fresh will, e.g. with a new
# session number, can be signed each time); unacknowledged QoS 1 publishes are carried over to
# the new client and re-sent with DUP before on_up runs.
import asyncio
import random

import log
from mqtt_rx import ticks_diff, ticks_ms

_log = log.getLogger("link")


class Link:
    def __init__(
        self,
        client_factory,
        on_up=None,
        on_message=None,
        backoff_min_ms=500,
        backoff_max_ms=30000,
        clean_session=False,
    ):
        if backoff_min_ms <= 0 or backoff_max_ms < backoff_min_ms:
            raise ValueError("backoff")
        self._factory = client_factory
        self._on_up = on_up
        self._on_message = on_message
        self._bmin = backoff_min_ms
        self._bmax = backoff_max_ms
        self.clean_session = clean_session
        self.client = None
        self.up = asyncio.Event()
        self.reconnects = 0  # successful connections after the first one
        self.failures = 0  # connection attempts or connections that ended in an OSError
        self.connects = 0
        self._stopped = False
        self._wake = asyncio.Event()

    async def wait_up(self):
        await self.up.wait()

    def is_up(self):
        c = self.client
        if self.up.is_set() and (c is None or not c.connected):
            self.up.clear()  # the supervisor has not run yet; do not let callers spin
        return self.up.is_set()

    async def publish(self, topic, payload, qos=1, retain=False, timeout=10, keep=True):
        # Publish on the current connection; OSError when the link is down or fails.
        #
        # After an OSError, link.up is already cleared, so `await link.wait_up()` blocks until
        # the next connection (run() does the reconnecting).
        if not self.is_up():
            raise OSError(107)  # ENOTCONN
        try:
            await self.client.publish(topic, payload, qos, retain, timeout, keep)
        except OSError:
            self.up.clear()
            raise

    def stop(self):
        # End run(): drop the connection at once (the broker publishes the will).
        self._stopped = True
        self.up.clear()
        if self.client is not None:
            self.client.close()
        self._wake.set()

    async def shutdown(self):
        # Graceful end: DISCONNECT (no will), then stop().
        self._stopped = True
        self.up.clear()
        if self.client is not None:
            await self.client.disconnect()
        self.stop()

    def _dispatch(self, topic, payload):
        if self._on_message is not None:
            self._on_message(topic, payload)

    async def run(self):
        delay = self._bmin
        while not self._stopped:
            old = self.client
            c = self._factory()
            if old is not None:
                c.adopt_inflight(old)
                c.dropped_incoming += old.dropped_incoming
            c.set_callback(self._dispatch)
            self.client = c
            try:
                await c.connect(clean_session=self.clean_session)
                if self._stopped:  # stop() ran while we were connecting
                    break
                self.connects += 1
                if self.connects > 1:
                    self.reconnects += 1
                n = await c.resend_inflight()
                _log.info("up %s:%d resent=%d", c.host, c.port, n)
                if self._on_up is not None:
                    await self._on_up(c)
                self.up.set()
                up_at = ticks_ms()
                try:
                    await self._supervise(c)
                finally:
                    # Back off afresh only after a connection that lasted: a broker that accepts
                    # and then drops us (refused subscription, a clashing client id) must not
                    # become a reconnect loop that wears the flash with session numbers.
                    if ticks_diff(ticks_ms(), up_at) >= self._bmax:
                        delay = self._bmin
            except OSError as e:
                if not self._stopped:
                    self.failures += 1
                    _log.warning("down: %r", e)
            except MemoryError:
                # no heap for this connection's work (the birth's signature, a connect buffer)
                # on a small device: like a link failure, dropped and tried again after the
                # backoff, never the end of the runtime
                if not self._stopped:
                    self.failures += 1
                    _log.warning("down: no heap for the connection")
            self.up.clear()
            c.close()
            if self._stopped:
                break
            ms = delay // 2 + random.getrandbits(16) % (delay // 2 + 1)
            delay = min(delay * 2, self._bmax)
            self._wake = asyncio.Event()
            try:
                await asyncio.wait_for(self._wake.wait(), ms / 1000)
            except asyncio.TimeoutError:
                pass
        self.up.clear()
        if self.client is not None:
            self.client.close()

    async def _supervise(self, c):
        # Returns only on stop(), else raises OSError: ping a connection idle for keepalive/2
        # (any packet in both directions proves it alive), notice a dead reader at once.
        every = c.keepalive / 2 if c.keepalive else 30
        while True:
            try:
                await asyncio.wait_for(c.wait_closed(), every)
            except asyncio.TimeoutError:
                if c.idle_ms() >= every * 900:
                    await c.ping(timeout=every if every < 10 else 10)
                continue
            if self._stopped:
                return
            raise c.error or OSError(104)
