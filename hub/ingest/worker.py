"""The ingest worker: paho-mqtt 2 at the edge, a processing thread behind a queue.

This is the only hub module that takes device traffic (hub.broker_admin makes short admin
connections, hub.mqtt_tls configures TLS). paho's callbacks only put messages on a queue;
the processing thread verifies and stores them in batches (``Processor``), acknowledges the
messages to the broker (manual PUBACK) only once their rows are committed, and publishes
commands and receipts. Receipts are coalesced per device (``ReceiptCoalescer``: at most one per
``receipt_interval_s``, the trailing one sent on a timer of the processing loop even when no
further message arrives, and at shutdown) and built from the committed rows when sent, so a
receipt never covers a row that is not durable. Several workers share the load
through MQTT v5 shared subscriptions (``$share/<group>/...``); with ``mqtt_v5=False`` (MQTT
3.1.1 brokers such as the embedded demo broker) the subscriptions are plain and one worker
must run alone.

The session is persistent (MQTT v5 clean start off with ``session_expiry_s``, 3.1.1 clean
session off) under a stable ``client_id``: while the worker is away (killed, restarting,
the link down) the broker keeps its subscriptions and queues its messages, including those
it had sent and not yet seen acknowledged. The link is paho's own loop thread: ``start()``
never fails for an unreachable broker, paho retries with backoff (``reconnect_min_s`` doubling
up to ``reconnect_max_s``), and every change of the link is one log line.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.orm import Session, sessionmaker

from hub import mqtt_tls
from hub.clock import Clock
from hub.commands.dispatcher import Dispatcher
from hub.events.service import RejectionTally
from hub.ingest.events import Prepared
from hub.ingest.hooks import EventHook
from hub.ingest.mqtt_client import IngestClient
from hub.ingest.processor import BatchResult, Processor
from hub.ingest.receipt_process import BrokerParams, ReceiptProcess
from hub.ingest.receipts import ReceiptCoalescer, ReceiptSender
from hub.ingest.verifier import Verifier
from hub.keys import HubKey
from hub.media.store import BlobStore, FileBlobStore
from hub.mqtt_messages import Inbound, Outbound
from hub.ota.serving import FirmwareServer
from hub.settings import Settings, receipt_process, verify_processes
from protocol import command, topics
from protocol.errors import ProtocolError

logger = logging.getLogger(__name__)

SHARE_GROUP = "gridlink-ingest"
QUEUE_MAX = 2000  # messages received but not yet processed (at most ~64 MB of envelopes)
SHARED_FILTERS = (topics.EVT_ALL, topics.BLOB_ALL, topics.ACK_ALL, topics.FWREQ_ALL)
# State messages are retained, and brokers never send retained messages on shared
# subscriptions; every worker takes them (applying one is idempotent).
PLAIN_FILTERS = (topics.STATE_ALL, topics.HUB_STATE)


SESSION_EXPIRY_S = 7 * 24 * 3600  # how long the broker queues for a worker that is away
RECEIPT_INTERVAL_MS_DEFAULT: int = Settings.model_fields["receipt_interval_ms"].default


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
    fw_served: int = 0  # firmware chunks sent (hub.ota.serving)
    fw_refused: int = 0  # firmware requests refused or malformed


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
        session_expiry_s: int = SESSION_EXPIRY_S,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        username: str | None = None,
        password: str | None = None,
        share_group: str = SHARE_GROUP,
        mqtt_v5: bool = True,
        batch_size: int = 500,
        receipt_interval_s: float | None = None,
        dispatch_interval_s: float = 1.0,
        retry_interval_s: float = 30.0,
        max_retries: int = 5,
        on_event: EventHook | None = None,
        settings: Settings | None = None,
        ota_store: BlobStore | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.clock = clock
        self.hub_key = hub_key
        self.share_group = share_group
        self.mqtt_v5 = mqtt_v5
        self.batch_size = batch_size
        self.dispatch_interval_s = dispatch_interval_s
        if receipt_interval_s is None:  # the setting, else its default
            ms = settings.receipt_interval_ms if settings else RECEIPT_INTERVAL_MS_DEFAULT
            receipt_interval_s = ms / 1000
        self._receipts = ReceiptCoalescer(receipt_interval_s)
        self.tally = RejectionTally()
        self.verifier = Verifier(verify_processes(settings))
        self.processor = Processor(
            session_factory,
            hub_key,
            store,
            clock=clock,
            tally=self.tally,
            on_event=on_event,
            settings=settings,
            verifier=self.verifier,
        )
        if ota_store is None and settings is not None:
            ota_store = FileBlobStore(settings.ota_dir)
        self.firmware = FirmwareServer(session_factory, ota_store, store)
        self.dispatcher = Dispatcher(
            session_factory,
            hub_key,
            clock=clock,
            retry_interval_s=retry_interval_s,
            max_retries=max_retries,
        )
        self.stats = WorkerStats()
        # A persistent session needs the same id after a restart (hub.ingest.runner gives
        # "<prefix>-<index>"). Without a given id the session ends with the connection: a
        # random id is never resumed, and an abandoned session would stay a member of the
        # share group, queuing its share of the traffic until it expires.
        self.persistent = client_id is not None
        self.client_id = client_id or f"gl-ingest-{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.session_expiry_s = session_expiry_s if self.persistent else 0
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        # Bounded: when processing falls behind, paho's network thread waits here and TCP
        # pushes back on the broker, instead of the hub's memory growing without limit
        # (QoS 0 floods are not bounded by the broker's in-flight window).
        self._queue: queue.Queue[tuple[int, Inbound]] = queue.Queue(maxsize=QUEUE_MAX)
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._attempted = threading.Event()  # the first connection attempt has an outcome
        self._connected = False
        self._link_state = "new"  # new | up | lost | unreachable | refused (one log line each)
        self._next_delay: float | None = None  # paho's next reconnect wait, mirrored
        self.subscribed_count = 0  # subscriptions acknowledged (1 + reconnects)
        self._generation = 0  # bumps per connection: never PUBACK a mid of an older one
        self._thread: threading.Thread | None = None
        self._hub_session = int(time.time() * 1000)
        self.client = IngestClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if mqtt_v5 else mqtt.MQTTv311,
            clean_session=None if mqtt_v5 else not self.persistent,  # v5: see start()
            manual_ack=True,
        )
        if username:
            self.client.username_pw_set(username, password)
        if settings is not None:  # TLS; a bad file raises here, not later on paho's thread
            mqtt_tls.configure(self.client, settings)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)  # type: ignore[arg-type]
        self.client.will_set(topics.HUB_STATE, self._hub_state(False), qos=1, retain=True)
        self._published_lock = threading.Lock()  # _publish runs on two threads
        helper = None
        if receipt_process(settings):
            params = BrokerParams(host, port, f"{self.client_id}-rcpt", username, password,
                                  mqtt_v5, settings)  # fmt: skip
            helper = partial(ReceiptProcess, params, hub_key.seed)
        self._sender = ReceiptSender(self._publish, hub_key.seed, helper, self._count_published)

    def warm(self) -> None:
        """Start the helper processes now (signature checks, receipts), not with the first
        flood."""
        self.verifier.warm()
        self._sender.warm()

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def broker_connected(self) -> bool:
        """True while the broker link is up (CONNACK accepted, not yet disconnected)."""
        return self._connected

    def start(self, timeout: float = 10.0) -> IngestWorker:
        """Start the link and the processing thread. Waits up to ``timeout`` s for the
        subscriptions, but returns as soon as the first attempt failed: an unreachable
        broker is retried in the background (``broker_connected`` tells)."""
        if self.mqtt_v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
            props.SessionExpiryInterval = self.session_expiry_s
            self.client.connect_async(
                self.host,
                self.port,
                keepalive=30,
                clean_start=not self.persistent,
                properties=props,
            )
        else:
            self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        self._thread = threading.Thread(
            target=self._run, name=f"ingest-{self.client_id}", daemon=True
        )
        self._thread.start()
        self.start_wait(timeout)
        return self

    def start_wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the subscriptions; give up early once the first
        attempt failed (the link keeps retrying). True when subscribed."""
        deadline = time.monotonic() + timeout
        while not self._subscribed.is_set() and time.monotonic() < deadline:
            if self._attempted.is_set() and not self._connected:
                break  # unreachable or refused: the link retries, the caller goes on
            self._subscribed.wait(0.05)
        return self._subscribed.is_set()

    def request_stop(self) -> None:
        """Stop taking new messages and stop answering other workers' offline state (the
        first step of ``stop()``; ``IngestHandle.stop`` calls it on every worker first)."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain: process the messages already received (their rows committed, receipts
        published, PUBACKs sent), publish the retained hub state offline, then disconnect
        normally, so the broker does not publish the last will and keeps the session."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._sender.close(timeout)  # the drained batches' receipts, before the hub state
        if self._connected:
            try:
                info = self.client.publish(
                    topics.HUB_STATE, self._hub_state(False), qos=1, retain=True
                )
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                    info.wait_for_publish(2.0)  # after it: the acks and receipts written before
            except (RuntimeError, ValueError, OSError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self._connected = False
        self.verifier.close()

    def __enter__(self) -> IngestWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- paho callbacks (paho's thread: enqueue only) ----------------------------------------
    def _link(self, state: str, level: int, msg: str, *args: object) -> None:
        """Log a link change once; repeated attempts in the same state stay at DEBUG."""
        line = f"broker {self.host}:{self.port} {msg % args}"
        if state == self._link_state:
            logger.debug("%s", line)
            return
        self._link_state = state
        logger.log(level, "%s", line)

    def _retry_in(self) -> float:
        """The wait paho's reconnect loop takes next (``reconnect_delay_set``: the minimum,
        doubled per failed attempt up to the maximum, the minimum again after a CONNACK)."""
        delay = self._next_delay
        delay = self.reconnect_min_s if delay is None else min(delay * 2, self.reconnect_max_s)
        self._next_delay = delay
        return delay

    def _on_connect(
        self, client: mqtt.Client, _ud: Any, flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        self._attempted.set()
        if reason.is_failure:
            self._link("refused", logging.ERROR, "refused the connection: %s", reason)
            return
        self._next_delay = None
        self._generation += 1
        self._connected = True
        resumed = bool(getattr(flags, "session_present", False))
        self._link(
            "up",
            logging.INFO,
            "connected as %s (%s)",
            self.client_id,
            "session resumed" if resumed else "new session",
        )
        if self.mqtt_v5:
            subs = [(f"$share/{self.share_group}/{f}", 1) for f in SHARED_FILTERS]
        else:
            subs = [(f, 1) for f in SHARED_FILTERS]
        subs += [(f, 1) for f in PLAIN_FILTERS]
        client.subscribe(subs)
        client.publish(topics.HUB_STATE, self._hub_state(True), qos=1, retain=True)

    def _on_connect_fail(self, _c: mqtt.Client, _ud: Any) -> None:
        self._connected = False
        self._attempted.set()
        self._link(
            "unreachable", logging.WARNING, "unreachable, retrying in %g s", self._retry_in()
        )

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
        self._connected = False
        if self._stop.is_set():
            return
        if getattr(reason, "value", None) == 0x8E:  # session taken over
            logger.error(
                "broker %s:%d: another client connected as %s and took this session over; "
                "every process needs its own GRIDLINK_MQTT_CLIENT_ID",
                self.host,
                self.port,
                self.client_id,
            )
        delay = self._retry_in()
        if self._link_state != "refused":  # a refusal was said already; its close is not news
            self._link(
                "lost", logging.WARNING, "connection lost (%s), retrying in %g s", reason, delay
            )

    # -- processing thread -------------------------------------------------------------------
    def _run(self) -> None:
        """Batches go through two steps: one is prepared (parsed, its signature checks started
        at the verifier's helper, ``Processor.prepare``) and then, once the next batch is
        prepared too or none is waiting, stored and acknowledged (``_handle``). So the helper
        checks a batch while this thread stores the one before it; a lone message waits for
        nothing (the next take does not block while a batch is prepared)."""
        next_dispatch = 0.0
        ahead: tuple[list[tuple[int, Inbound]], Prepared | None] | None = None
        while True:
            # wake for the next coalesced receipt: the last batch of a stream is answered
            # even when nothing else arrives
            wait = self._receipts.wait_s(time.monotonic())
            timeout = 0.1 if wait is None else min(0.1, max(wait, 0.005))
            batch = self._take_batch(0.0 if ahead else timeout)
            try:
                current, ahead = ahead, ((batch, self._prepare(batch)) if batch else None)
                if current:
                    self._handle(*current)
                elif not batch and self._stop.is_set():
                    self._send_receipts(self._receipts.drain())  # drain: every one pending
                    return
                self._send_receipts(self._receipts.due(time.monotonic()))
                if time.monotonic() >= next_dispatch:
                    self._publish(self.dispatcher.tick())
                    next_dispatch = time.monotonic() + self.dispatch_interval_s
            except Exception:  # noqa: BLE001 - the worker thread must never die
                logger.exception("ingest loop error")
                time.sleep(0.5)

    def _prepare(self, batch: list[tuple[int, Inbound]]) -> Prepared | None:
        msgs = _for_processor(batch)
        return self.processor.prepare(msgs) if msgs else None

    def _take_batch(self, timeout: float = 0.1) -> list[tuple[int, Inbound]]:
        """What is waiting, up to ``batch_size`` messages: blocks only for the first one (at
        most ``timeout`` s), never to let a batch fill, so a lone message is stored at once
        and a flood makes big batches by itself."""
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _handle(self, batch: list[tuple[int, Inbound]], prepared: Prepared | None = None) -> None:
        fwreqs = [m for _g, m in batch if _is_fwreq(m.topic)]
        msgs = _for_processor(batch)  # as _prepare made them: the prepared batch is of these
        for _g, m in batch:
            if m.topic == topics.HUB_STATE:
                self._check_hub_state(m.payload)
        try:
            result = BatchResult()
            if fwreqs:
                self._serve_firmware(fwreqs)
            if msgs:
                result = self.processor.process(msgs, receipts=False, prepared=prepared)
            elif fwreqs:
                self.processor.persist_rejections()
            self._receipts.add(result.touched)  # sent by _run once due (rows committed now)
            self._publish(result.outbound)
            if any(m.topic.endswith(("/state", "/ack")) for m in msgs):
                # a birth: send what waits for it; an ack: the device's next command
                self._publish(self.dispatcher.tick())
        finally:
            # PUBACK only now that the batch is in the database (or was rejected for good).
            mids = [m.mid for g, m in batch if m.qos == 1 and g == self._generation]
            self.client.ack_many(mids)
            for generation, m in batch:  # QoS 2 (no device sends it): paho's own PUBCOMP
                if m.qos == 2 and generation == self._generation:
                    self.client.ack(m.mid, m.qos)
        s = self.stats
        s.batches += 1
        s.stored += result.stored
        s.duplicates += result.duplicates
        s.rejected += result.rejected
        s.chunks += result.chunks

    def _serve_firmware(self, reqs: list[Inbound]) -> None:
        """Answer firmware download requests (hub.ota.serving); refusals are counted."""

        def reject(reason: str, device_id: str | None, detail: str) -> None:
            self.stats.fw_refused += 1
            logger.info("rejected %s from %s: %s", reason, device_id, detail)
            self.tally.add(reason, device_id, detail)

        try:
            out = self.firmware.handle(reqs, reject)
        except Exception:  # noqa: BLE001 - the device asks again after its timeout
            logger.exception("serving %d firmware request(s) failed", len(reqs))
            return
        self.stats.fw_served += sum(1 for o in out if not o.payload.startswith(b"{"))
        self._publish(out)

    def _send_receipts(self, taken: dict[str, set[str]]) -> None:
        """Read the receipts for ``taken`` from the committed rows; the sender thread seals
        and publishes them (``ReceiptSender``)."""
        if not taken:
            return
        try:
            receipts = self.processor.read_receipts(taken)
        except Exception:
            self._receipts.restore(taken)  # sent once the database answers again
            raise
        self._sender.send(receipts, int(self.clock.now().timestamp()))

    def _count_published(self, n: int) -> None:
        with self._published_lock:
            self.stats.published += n

    def _publish(self, out: list[Outbound]) -> None:
        """Publish ``out`` (the processing thread and the receipt sender's)."""
        sent = 0
        bulk = [(m.topic, m.payload) for m in out if m.qos == 0 and not m.retain]
        if bulk:  # QoS 0 messages: one write for all of them (hub.ingest.mqtt_client)
            rc = self.client.publish_many(bulk)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                logger.info("%d QoS 0 message(s) not sent (%s)", len(bulk), rc)
            else:
                sent += len(bulk)
        for msg in out:
            if msg.qos == 0 and not msg.retain:
                continue
            info = self.client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                logger.warning("publish to %s failed: %s", msg.topic, info.rc)
            else:
                sent += 1
        with self._published_lock:
            self.stats.published += sent

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


def _for_processor(batch: list[tuple[int, Inbound]]) -> list[Inbound]:
    """The messages of ``batch`` the processor takes: all but the hub's own state and the
    firmware requests (the worker answers those itself)."""
    return [m for _g, m in batch if m.topic != topics.HUB_STATE and not _is_fwreq(m.topic)]


def _is_fwreq(topic: str) -> bool:
    """A firmware download request: the ``fwreq`` channel (``gl/v1/{dev}/fwreq``), not any
    topic that merely ends in it (``gl/v1/{dev}/evt/fwreq`` is an event topic)."""
    try:
        return topics.parse(topic)[1] == "fwreq"
    except ProtocolError:
        return False
