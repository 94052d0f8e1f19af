"""Receipts sealed and published by a process of their own, off the ingest worker's GIL.

With thousands of devices nearly every event in a batch is from another device, so there is a
receipt per event, and a receipt costs the process that sends it ~80 µs of Python: two canonical
encodings, the Ed25519 signature and paho's QoS 1 publish and PUBACK. In the worker's process
that time is taken from the thread that parses and stores, so throughput fell as devices grew
(docs/ingest.md, "Performance"). Here the worker still reads what each receipt says from the
committed rows (``read_receipts``: a receipt never covers a row that is not durable) and hands
the plain records over a pipe; this helper seals and publishes them, in the order given, on its
own MQTT connection (the hub's account, client id ``<worker id>-rcpt``, clean session: nothing
of it needs keeping, receipts are cumulative).

    publisher = ReceiptProcess(params, hub_seed)   # spawned; its broker link comes up on its own
    publisher.deliver(receipts, ts)                # False: not taken (gone): seal them here
    publisher.close(timeout)                       # what it was given is published first

A helper that died is the caller's to replace (``hub.ingest.receipts.ReceiptSender(...,
helper=...)``): receipts then go out from the worker's own connection, and a new helper is
tried ``receipts.REST_S`` later. What a dying helper had not yet
published is lost, which a later receipt of the same device covers (or the device's re-send
after its next reconnect).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import select
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from hub.ingest.receipts import Receipt, seal
from hub.ingest.verifier import die_with_parent
from hub.settings import Settings

logger = logging.getLogger(__name__)

FLUSH_S = 5.0  # at close: how long the helper waits for the broker's last PUBACKs
DELIVER_S = 10.0  # a helper whose pipe stays full this long is given up
CONNECT_S = 30  # the first connection: not made by then, the helper ends (the worker seals)
INFLIGHT = 100  # QoS 1 receipts unacknowledged at once (the broker allows 1,000)


@dataclass(frozen=True)
class BrokerParams:
    """How the helper reaches the broker: the worker's own settings (TLS included)."""

    host: str
    port: int
    client_id: str
    username: str | None
    password: str | None
    mqtt_v5: bool
    settings: Settings | None


def _main(conn: Connection, params: BrokerParams, hub_seed: bytes) -> None:  # pragma: no cover
    """The helper: receive ``(ts, [(device, seq, blobs), ...])``, seal, publish; None ends it
    after the broker acknowledged what was published (or ``FLUSH_S`` passed)."""
    die_with_parent()  # the ReceiptSender's thread started it and closes it before it ends
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from hub import mqtt_tls
    from hub.ingest.mqtt_client import WindowedClient
    from protocol import canonical, crypto
    from protocol.cjson import CJsonCodec
    from protocol.ossl import CryptographyBackend

    crypto.set_backend(CryptographyBackend())
    canonical.set_codec(CJsonCodec())
    client = WindowedClient(
        CallbackAPIVersion.VERSION2,
        client_id=params.client_id,
        protocol=mqtt.MQTTv5 if params.mqtt_v5 else mqtt.MQTTv311,
        clean_session=None if params.mqtt_v5 else True,
    )
    client.max_inflight_messages_set(INFLIGHT)
    client.max_queued_messages_set(100_000)  # the broker away: held, then dropped (cumulative)
    if params.username:
        client.username_pw_set(params.username, params.password)
    if params.settings is not None:
        mqtt_tls.configure(client, params.settings)
    window = threading.Condition()
    outstanding = [0]  # published, no PUBACK yet: kept under INFLIGHT (WindowedClient)

    def on_publish(*_args: Any) -> None:  # a PUBACK (paho's thread)
        with window:
            outstanding[0] = max(0, outstanding[0] - 1)
            window.notify()

    client.on_publish = on_publish

    connected = threading.Event()
    links = [0]  # connections made: a new one means paho re-sends its backlog first

    def on_connect(_c: Any, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:  # the account cannot publish here: the worker seals them itself
            logger.error("receipt helper: the broker refused the connection: %s", reason)
            os._exit(2)
        links[0] += 1
        connected.set()

    def on_disconnect(*_args: Any) -> None:
        connected.clear()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.reconnect_delay_set(1, 30)
    client.connect_async(params.host, params.port, keepalive=30)
    client.loop_start()

    def give_up(why: str) -> None:
        # the worker sees the helper gone and seals its receipts itself (receipts.py)
        logger.error("receipt helper: %s; ending", why)
        os._exit(3)

    # nothing is published before the first connection: paho sends what it queued while not
    # connected in no guaranteed order, and a device's receipts must arrive in order
    if not connected.wait(CONNECT_S):
        give_up(f"no broker connection in {CONNECT_S} s")
    conn.send("ready")  # from now on the worker hands receipts over
    link = links[0]
    try:
        while True:
            item = conn.recv()
            if item is None:
                break
            ts, rows = item
            for device_id, seq, blobs in rows:
                if not connected.wait(CONNECT_S):
                    give_up(f"broker link down for {CONNECT_S} s")
                with window:
                    if links[0] != link:  # reconnected: paho's re-sends go first, in order
                        if not window.wait_for(lambda: outstanding[0] <= 0, timeout=FLUSH_S):
                            give_up("re-sent receipts not acknowledged after a reconnect")
                        link = links[0]
                    if not window.wait_for(lambda: outstanding[0] < INFLIGHT, timeout=CONNECT_S):
                        give_up(f"no PUBACK for {CONNECT_S} s")
                    outstanding[0] += 1
                try:
                    out = seal(Receipt(device_id, seq, blobs), ts, hub_seed)
                    info = client.publish(out.topic, out.payload, qos=out.qos)
                except Exception:  # noqa: BLE001 - a later (cumulative) receipt covers it
                    logger.exception("receipt for %s not sent", device_id)
                    with window:
                        outstanding[0] -= 1
                    continue
                if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # paho's queue full: no PUBACK to come
                    logger.warning("receipt for %s dropped: paho's queue is full", device_id)
                    with window:
                        outstanding[0] -= 1
        with window:  # the broker's PUBACKs for what is published
            window.wait_for(lambda: outstanding[0] <= 0, timeout=FLUSH_S)
    except (EOFError, OSError) as exc:  # the worker went away: nothing to answer
        logger.debug("receipt helper: the worker's pipe closed (%s)", exc)
    finally:
        client.disconnect()
        client.loop_stop()
    try:
        conn.send("done")
    except OSError as exc:
        logger.debug("receipt helper: could not say done (%s)", exc)


class ReceiptProcess:
    """The worker's side of one helper process (see the module docstring). Used from one
    thread (the ``ReceiptSender``'s); ``kill()`` from any."""

    def __init__(self, params: BrokerParams, hub_seed: bytes) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_main, args=(child, params, hub_seed), name="gridlink-receipts", daemon=True
        )
        self._proc.start()
        child.close()
        self._ready = False

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    @property
    def said_ready(self) -> bool:
        """What ``ready()`` found last (no pipe I/O: safe from any thread)."""
        return self._ready

    def ready(self) -> bool:
        """True once the helper is connected to the broker (it said so); until then the
        caller seals its receipts itself, so none wait in a pipe the helper may never read."""
        if not self._ready:
            try:
                if self._conn.poll(0):
                    self._ready = self._conn.recv() == "ready"
            except (OSError, EOFError) as exc:
                logger.debug("receipt helper gone before it was ready: %s", exc)
        return self._ready

    def _writable(self, timeout: float) -> bool:
        try:
            return bool(select.select([], [self._conn.fileno()], [], timeout)[1])
        except (OSError, ValueError):
            return False

    def deliver(self, receipts: list[Receipt], ts: int) -> bool:
        """Hand ``receipts`` over; False when the helper is gone or has not read its pipe for
        ``DELIVER_S`` (then nothing of them was taken)."""
        if not self._proc.is_alive() or not self._writable(DELIVER_S):
            return False
        rows = [(r.device_id, r.last_seq, r.blobs) for r in receipts]
        try:
            self._conn.send((ts, rows))
        except (OSError, ValueError):  # the pipe is closed: the helper died
            return False
        return True

    def kill(self) -> None:
        """End the helper at once (what it holds is lost: later receipts cover it)."""
        if self._proc.is_alive():
            self._proc.kill()

    def close(self, timeout: float = 10.0) -> None:
        """Publish what was handed over (the helper waits up to ``FLUSH_S`` for the PUBACKs),
        then end it; one that does not finish in ``timeout`` is killed."""
        try:
            if self._proc.is_alive() and self._writable(timeout):
                self._conn.send(None)
                if self._conn.poll(timeout):
                    self._conn.recv()
        except (OSError, EOFError, ValueError) as exc:
            logger.debug("receipt helper did not finish cleanly: %s", exc)
        self._proc.join(timeout=2.0)
        if self._proc.is_alive():
            logger.warning("receipt helper did not end in %g s: killed", timeout)
            self._proc.kill()
            self._proc.join(timeout=2.0)
        self._conn.close()
