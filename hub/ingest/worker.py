"""The ingest worker: paho-mqtt 2 at the edge, a processing thread behind a queue.

This is the only hub module that imports paho. paho's callbacks only put messages on a queue;
the processing thread verifies and stores them in batches (``Processor``), publishes receipts
and commands, and only then acknowledges the messages to the broker (manual PUBACK), so a
message is never acknowledged before it is in the database. Several workers share the load
through MQTT v5 shared subscriptions (``$share/<group>/...``); with ``mqtt_v5=False`` (MQTT
3.1.1 brokers such as the embedded demo broker) the subscriptions are plain and one worker
must run alone.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock
from hub.commands.dispatcher import Dispatcher
from hub.events.service import RejectionTally
from hub.ingest.hooks import EventHook
from hub.ingest.processor import BatchResult, Processor
from hub.keys import HubKey
from hub.media.store import BlobStore
from hub.mqtt_messages import Inbound, Outbound
from hub.settings import Settings
from protocol import command, topics

logger = logging.getLogger(__name__)

SHARE_GROUP = "gridlink-ingest"
QUEUE_MAX = 2000  # messages received but not yet processed (at most ~64 MB of envelopes)
SHARED_FILTERS = (topics.EVT_ALL, topics.BLOB_ALL, topics.ACK_ALL)
# State messages are retained, and brokers never send retained messages on shared
# subscriptions; every worker takes them (applying one is idempotent).
PLAIN_FILTERS = (topics.STATE_ALL, topics.HUB_STATE)


class IngestError(Exception):
    """The worker could not connect or subscribe."""


@dataclass
class WorkerStats:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    chunks: int = 0
    batches: int = 0
    published: int = 0


class IngestWorker:
    """One MQTT connection plus one processing thread. ``start()`` returns once subscribed."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        hub_key: HubKey,
        store: BlobStore,
        host: str = "127.0.0.1",
        port: int = 1883,
        clock: Clock,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        share_group: str = SHARE_GROUP,
        mqtt_v5: bool = True,
        batch_size: int = 200,
        batch_wait_s: float = 0.02,
        dispatch_interval_s: float = 1.0,
        retry_interval_s: float = 30.0,
        max_retries: int = 5,
        on_event: EventHook | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.clock = clock
        self.hub_key = hub_key
        self.share_group = share_group
        self.mqtt_v5 = mqtt_v5
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.dispatch_interval_s = dispatch_interval_s
        self.tally = RejectionTally()
        self.processor = Processor(
            session_factory,
            hub_key,
            store,
            clock=clock,
            tally=self.tally,
            on_event=on_event,
            settings=settings,
        )
        self.dispatcher = Dispatcher(
            session_factory,
            hub_key,
            clock=clock,
            retry_interval_s=retry_interval_s,
            max_retries=max_retries,
        )
        self.stats = WorkerStats()
        self.client_id = client_id or f"gl-ingest-{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        # Bounded: when processing falls behind, paho's network thread waits here and TCP
        # pushes back on the broker, instead of the hub's memory growing without limit
        # (QoS 0 floods are not bounded by the broker's in-flight window).
        self._queue: queue.Queue[tuple[int, Inbound]] = queue.Queue(maxsize=QUEUE_MAX)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self.subscribed_count = 0  # subscriptions acknowledged (1 + reconnects)
        self._generation = 0  # bumps per connection: never PUBACK a mid of an older one
        self._thread: threading.Thread | None = None
        self._hub_session = int(time.time() * 1000)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if mqtt_v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.reconnect_delay_set(0.2, 5)  # type: ignore[arg-type]  # paho takes floats
        self.client.will_set(topics.HUB_STATE, self._hub_state(False), qos=1, retain=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> IngestWorker:
        try:
            if self.mqtt_v5:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
                props.SessionExpiryInterval = 0
                self.client.connect(
                    self.host, self.port, keepalive=30, clean_start=True, properties=props
                )
            else:
                self.client.connect(self.host, self.port, keepalive=30)
        except OSError as exc:
            raise IngestError(f"cannot reach the broker at {self.host}:{self.port}: {exc}") from exc
        self.client.loop_start()
        self._thread = threading.Thread(
            target=self._run, name=f"ingest-{self.client_id}", daemon=True
        )
        self._thread.start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise IngestError(f"no subscription acknowledged by {self.host}:{self.port}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Drain what was received, publish hub offline, disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        try:
            info = self.client.publish(topics.HUB_STATE, self._hub_state(False), qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                info.wait_for_publish(2.0)
        except (RuntimeError, ValueError, OSError):
            pass
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> IngestWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- paho callbacks (paho's thread: enqueue only) ----------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _ud: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            logger.error("broker refused the connection: %s", reason)
            return
        self._generation += 1
        if self.mqtt_v5:
            subs = [(f"$share/{self.share_group}/{f}", 1) for f in SHARED_FILTERS]
        else:
            subs = [(f, 1) for f in SHARED_FILTERS]
        subs += [(f, 1) for f in PLAIN_FILTERS]
        client.subscribe(subs)
        client.publish(topics.HUB_STATE, self._hub_state(True), qos=1, retain=True)

    def _on_subscribe(
        self, _c: mqtt.Client, _ud: Any, _mid: int, codes: list[ReasonCode], _props: Any
    ) -> None:
        failed = [c for c in codes if c.is_failure]
        if failed:
            logger.error("subscription refused: %s", failed)
        else:
            self.subscribed_count += 1
            self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        item = (self._generation, Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos))
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        # stopping: the message is not acknowledged, so the broker delivers it again

    def _on_disconnect(
        self, _c: mqtt.Client, _ud: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if not self._stop.is_set():
            logger.warning("disconnected from broker (%s); paho reconnects", reason)

    # -- processing thread -------------------------------------------------------------------
    def _run(self) -> None:
        next_dispatch = 0.0
        while True:
            batch = self._take_batch()
            try:
                if batch:
                    self._handle(batch)
                elif self._stop.is_set():
                    return
                if time.monotonic() >= next_dispatch:
                    self._publish(self.dispatcher.tick())
                    next_dispatch = time.monotonic() + self.dispatch_interval_s
            except Exception:  # noqa: BLE001 - the worker thread must never die
                logger.exception("ingest loop error")
                time.sleep(0.5)

    def _take_batch(self) -> list[tuple[int, Inbound]]:
        try:
            first = self._queue.get(timeout=0.1)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.batch_wait_s
        while len(batch) < self.batch_size:
            left = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[tuple[int, Inbound]]) -> None:
        msgs = [m for _g, m in batch if m.topic != topics.HUB_STATE]
        for _g, m in batch:
            if m.topic == topics.HUB_STATE:
                self._check_hub_state(m.payload)
        try:
            result: BatchResult = self.processor.process(msgs) if msgs else BatchResult()
            self._publish(result.outbound)
            if any(m.topic.endswith("/state") for m in msgs):
                self._publish(self.dispatcher.tick())  # a birth: send what waits for it
        finally:
            # PUBACK only now that the batch is in the database (or was rejected for good).
            for generation, m in batch:
                if m.qos > 0 and generation == self._generation:
                    self.client.ack(m.mid, m.qos)
        s = self.stats
        s.batches += 1
        s.stored += result.stored
        s.duplicates += result.duplicates
        s.rejected += result.rejected
        s.chunks += result.chunks

    def _publish(self, out: list[Outbound]) -> None:
        for msg in out:
            info = self.client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                logger.warning("publish to %s failed: %s", msg.topic, info.rc)
            else:
                self.stats.published += 1

    # -- hub state ---------------------------------------------------------------------------
    def _hub_state(self, online: bool) -> bytes:
        ts = int(self.clock.now().timestamp())
        data: bytes = command.seal_state(None, online, self._hub_session, ts, self.hub_key.seed)
        return data

    def _check_hub_state(self, payload: bytes) -> None:
        """Another worker's will said "offline" while this one runs: say "online" again."""
        if self._stop.is_set() or not payload:
            return
        try:
            online = command.open_state(bytes(payload), self.hub_key.public_key)["online"]
        except ValueError:
            logger.warning("unverifiable message on %s", topics.HUB_STATE)
            online = False
        if not online:
            self._publish([Outbound(topics.HUB_STATE, self._hub_state(True), retain=True)])
