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
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from hub.ingest.receipts import Receipt, seal
from hub.settings import Settings

logger = logging.getLogger(__name__)

FLUSH_S = 10.0  # at close: how long the helper waits for the broker's last PUBACKs
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


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _main(conn: Connection, params: BrokerParams, hub_seed: bytes) -> None:  # pragma: no cover
    """The helper: receive ``(ts, [(device, seq, blobs), ...])``, seal, publish; None ends it
    after the broker acknowledged what was published (or ``FLUSH_S`` passed)."""
    _die_with_parent()
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

    def on_connect(_c: Any, _ud: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:  # the account cannot publish here: the worker seals them itself
            logger.error("receipt helper: the broker refused the connection: %s", reason)
            os._exit(2)
        connected.set()

    client.on_connect = on_connect
    client.reconnect_delay_set(1, 30)
    client.connect_async(params.host, params.port, keepalive=30)
    client.loop_start()
    # nothing is published before the first connection: paho sends what it queued while not
    # connected in no guaranteed order, and a device's receipts must arrive in order
    if not connected.wait(CONNECT_S):
        logger.error("receipt helper: no broker connection in %d s", CONNECT_S)
        os._exit(3)
    try:
        while True:
            item = conn.recv()
            if item is None:
                break
            ts, rows = item
            for device_id, seq, blobs in rows:
                with window:  # room in the window; the link down so long: paho queues it
                    window.wait_for(lambda: outstanding[0] < INFLIGHT, timeout=CONNECT_S)
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
                    with window:
                        outstanding[0] -= 1
        with window:  # the broker's PUBACKs for what is published
            window.wait_for(lambda: outstanding[0] <= 0, timeout=FLUSH_S)
    except (EOFError, OSError):  # the worker went away
        pass
    finally:
        client.disconnect()
        client.loop_stop()
    try:
        conn.send("done")
    except OSError:
        pass


class ReceiptProcess:
    """The worker's side of one helper process (see the module docstring)."""

    def __init__(self, params: BrokerParams, hub_seed: bytes) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_main, args=(child, params, hub_seed), name="gridlink-receipts", daemon=True
        )
        self._proc.start()
        child.close()
        self._lock = threading.Lock()

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def deliver(self, receipts: list[Receipt], ts: int) -> bool:
        """Hand ``receipts`` over; False when the helper is gone (nothing of them taken)."""
        rows = [(r.device_id, r.last_seq, r.blobs) for r in receipts]
        with self._lock:
            if not self._proc.is_alive():
                return False
            try:
                self._conn.send((ts, rows))
            except (OSError, ValueError):  # the pipe is closed: the helper died
                return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Publish what was handed over (the helper waits for the PUBACKs), then end it. A
        helper that does not finish in ``timeout`` (a full pipe it no longer reads) is killed:
        closing never hangs the worker's stop."""

        def finish() -> None:
            try:
                self._conn.send(None)
                if self._conn.poll(timeout):
                    self._conn.recv()
            except (OSError, EOFError, ValueError):
                pass

        with self._lock:
            done = threading.Thread(target=finish, name="receipts-close", daemon=True)
            done.start()
            done.join(timeout + 1.0)
            self._proc.join(timeout=2.0)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(timeout=2.0)
            done.join(2.0)
            self._conn.close()
