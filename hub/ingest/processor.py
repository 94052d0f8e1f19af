"""The ingest processing step: a batch of raw MQTT messages in, stored rows + replies out.

Pure of MQTT (tests feed ``Inbound`` records straight in). Messages are sorted by channel and
handed to the channel's handler (``events``, ``chunks``, ``state``); every message is either
stored or rejected with a reason that is logged and counted; one bad message never affects the
others, and nothing here raises to the caller. Receipts for the touched devices come last,
or, with ``process(batch, receipts=False)``, are left to the caller: ``result.touched`` names the
devices (and blobs) to answer and ``read_receipts(touched)`` reads them later from what is stored
then (the ingest worker coalesces them, ``hub.ingest.receipts.ReceiptCoalescer``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock
from hub.events import service as events
from hub.ingest import hooks
from hub.ingest.chunks import handle_chunks
from hub.ingest.events import EventIngest, Prepared
from hub.ingest.hooks import EventHook
from hub.ingest.receipts import Receipt, read_receipts, receipts_for
from hub.ingest.state import handle_states
from hub.ingest.verifier import Verifier
from hub.keys import HubKey
from hub.media.store import BlobStore
from hub.mqtt_messages import Inbound, Outbound
from hub.settings import Settings
from protocol import topics
from protocol.errors import ProtocolError

logger = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What a batch did; every message fed is counted in exactly one of the counters
    (``handled``)."""

    stored: int = 0  # events and acks
    duplicates: int = 0  # events and acks already stored (QoS 1 redeliveries)
    rejected: int = 0
    chunks: int = 0  # media chunks stored
    chunk_duplicates: int = 0  # media chunks already held
    states: int = 0  # births and wills applied, or ignored as older than the device's session
    outbound: list[Outbound] = field(default_factory=list)
    # device -> blob shas a receipt should mention (every device the batch touched)
    touched: dict[str, set[str]] = field(default_factory=dict)

    @property
    def handled(self) -> int:
        return (
            self.stored
            + self.duplicates
            + self.rejected
            + self.chunks
            + self.chunk_duplicates
            + self.states
        )


class Processor:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        hub_key: HubKey,
        store: BlobStore,
        *,
        clock: Clock,
        settings: Settings | None = None,
        on_event: EventHook | None = None,
        tally: events.RejectionTally | None = None,
        verifier: Verifier | None = None,
    ) -> None:
        """``on_event`` runs after each event is stored; by default the case workflow's hook
        (``hooks.make_dispatcher``), which needs ``settings``."""
        self.session_factory = session_factory
        self.hub_key = hub_key
        self.store = store
        self.clock = clock
        self.tally = tally or events.RejectionTally()
        self._buffer: list[tuple[str, str | None, str]] | None = None
        self.on_blob = (
            hooks.make_blob_hook(clock=clock, settings=settings) if settings is not None else None
        )
        self.on_birth = hooks.make_birth_hook(clock=clock) if on_event is None else None
        if on_event is None:
            if settings is None:
                raise TypeError("Processor needs settings for the case workflow hook, or on_event")
            # Only acks and the kinds the flows take need the after-store step's savepoint.
            self.event_ingest = EventIngest(
                session_factory,
                store,
                hooks.make_dispatcher(clock=clock, settings=settings),
                frozenset({"ack", *hooks.FLOWS}),
                verifier,
            )
        else:
            self.event_ingest = EventIngest(session_factory, store, on_event, None, verifier)

    # -- entry point -------------------------------------------------------------------------
    def prepare(self, batch: Sequence[Inbound]) -> Prepared | None:
        """Parse the batch's events and start their signature checks (``EventIngest.prepare``)
        for a later ``process(batch, prepared=)``; None when there is nothing to start or the
        database could not be read (``process`` then does it all itself)."""
        by_channel = self._sorted(batch, None)
        msgs = by_channel["evt"] + by_channel["ack"]
        if not msgs:
            return None
        try:
            return self.event_ingest.prepare(msgs, self.clock.now())
        except Exception:  # noqa: BLE001 - process() parses and checks it again
            logger.exception("preparing a batch failed; it is checked when stored")
            return None

    def process(
        self,
        batch: Sequence[Inbound],
        *,
        receipts: bool = True,
        prepared: Prepared | None = None,
    ) -> BatchResult:
        """Store the batch (``prepared``: by ``prepare`` from this same batch). With
        ``receipts`` its receipts are in ``result.outbound``; without, the caller sends them
        (``result.touched``, ``read_receipts()``), after this returns."""
        result = BatchResult()
        now = self.clock.now()
        by_channel = self._sorted(batch, result)
        touched: dict[str, set[str]] = defaultdict(set)  # device -> blob shas to report
        for step, args in (
            (partial(self._events, prepared=prepared), by_channel["evt"] + by_channel["ack"]),
            (self._chunks, by_channel["blob"]),
        ):
            if args:
                self._guarded(step, args, now, result, touched)
        if by_channel["state"]:
            births = self._guarded_states(by_channel["state"], now, result)
            for dev in births:
                touched.setdefault(dev, set())
        self._persist_rejections(now)
        result.touched = dict(touched)
        if touched and receipts:
            result.outbound.extend(self._receipts(touched, now))
        return result

    def _sorted(
        self, batch: Sequence[Inbound], result: BatchResult | None
    ) -> dict[str, list[tuple[str, Inbound]]]:
        """The batch's messages by channel, in arrival order; the others rejected into
        ``result`` (None: not counted, as when preparing)."""
        by_channel: dict[str, list[tuple[str, Inbound]]] = defaultdict(list)
        for msg in batch:
            try:
                dev, channel, _kind = topics.parse(msg.topic)
            except ProtocolError as exc:
                if result is not None:
                    self._reject(result, exc.reason, None, f"topic {msg.topic!r}: {exc.message}")
                continue
            if channel in ("evt", "ack", "blob", "state"):
                by_channel[channel].append((dev, msg))
            elif result is not None:
                self._reject(result, "malformed", dev, f"hub does not take {channel} messages")
        return by_channel

    def _guarded(
        self, step: Any, args: Any, now: datetime, result: BatchResult, touched: dict[str, set[str]]
    ) -> None:
        """Run a step; retry it on database errors. Its counts and rejections are kept only
        from the attempt that finished, so a retry never counts a message twice."""
        for attempt in range(3):
            trial, self._buffer = BatchResult(), []
            try:
                step(args, now, trial, touched)
            except OperationalError as exc:  # database busy / connection lost: retry the step
                logger.warning("database error (attempt %d): %s", attempt + 1, exc)
                continue
            except Exception:  # noqa: BLE001 - never crash the worker
                name = getattr(getattr(step, "func", step), "__name__", "?")  # a partial too
                logger.exception("ingest step %s failed", name)
                break
            finally:
                buffered, self._buffer = self._buffer, None
            result.stored += trial.stored
            result.chunks += trial.chunks
            result.chunk_duplicates += trial.chunk_duplicates
            for reason, device_id, detail in buffered:
                self._reject(result, reason, device_id, detail)
            return
        for dev, _msg in args:
            self._reject(result, "internal", dev, "could not be stored; awaiting redelivery")

    def _guarded_states(
        self, msgs: list[tuple[str, Inbound]], now: datetime, result: BatchResult
    ) -> list[str]:
        """Apply the state messages in one transaction; on failure count them ``internal``
        (a retained birth is redelivered on the next subscription)."""
        self._buffer = []
        try:
            with self.session_factory() as db_session:
                births = handle_states(
                    db_session=db_session,
                    msgs=msgs,
                    at=now,
                    reject=self._rejector(result),
                    on_birth=self.on_birth,
                )
                db_session.commit()
        except Exception:  # noqa: BLE001
            logger.exception("state handling failed")
            self._buffer = None
            for dev, _msg in msgs:
                self._reject(result, "internal", dev, "state message could not be applied")
            return []
        buffered, self._buffer = self._buffer, None
        result.states += len(msgs) - len(buffered)
        for reason, device_id, detail in buffered:
            self._reject(result, reason, device_id, detail)
        return births

    def _rejector(self, result: BatchResult) -> Callable[[str, str | None, str], None]:
        def reject(reason: str, device_id: str | None, detail: str) -> None:
            self._reject(result, reason, device_id, detail)

        return reject

    def _reject(self, result: BatchResult, reason: str, device_id: str | None, detail: str) -> None:
        if self._buffer is not None:  # inside a guarded step: counted once it succeeds
            self._buffer.append((reason, device_id, detail))
            return
        if reason == events.DUPLICATE:
            result.duplicates += 1
            logger.debug("duplicate from %s: %s", device_id, detail)
        else:
            result.rejected += 1
            logger.info("rejected %s from %s: %s", reason, device_id, detail)
        self.tally.add(reason, device_id, detail)

    # -- steps -----------------------------------------------------------------------------
    def _events(
        self,
        msgs: list[tuple[str, Inbound]],
        now: datetime,
        result: BatchResult,
        touched: dict[str, set[str]],
        prepared: Prepared | None = None,
    ) -> None:
        result.stored += self.event_ingest.handle(
            msgs, now, self._rejector(result), touched, prepared
        )

    def _chunks(
        self,
        msgs: list[tuple[str, Inbound]],
        now: datetime,
        result: BatchResult,
        touched: dict[str, set[str]],
    ) -> None:
        stored, duplicates = handle_chunks(
            session_factory=self.session_factory,
            store=self.store,
            msgs=msgs,
            at=now,
            reject=self._rejector(result),
            touched=touched,
            on_complete=self.on_blob,
        )
        result.chunks += stored
        result.chunk_duplicates += duplicates

    # -- replies -----------------------------------------------------------------------------
    def read_receipts(self, touched: dict[str, set[str]]) -> list[Receipt]:
        """What the receipts for ``touched`` say, from the rows committed now (cumulative:
        "stored through" the device's last contiguous seq), to be sealed later
        (``hub.ingest.receipts.ReceiptSender``). Raises on database errors (the caller keeps
        them)."""
        with self.session_factory() as db_session:
            return read_receipts(db_session=db_session, touched=touched)

    def _receipts(self, touched: dict[str, set[str]], now: datetime) -> list[Outbound]:
        try:
            with self.session_factory() as db_session:
                return receipts_for(
                    db_session=db_session,
                    touched=touched,
                    ts=int(now.timestamp()),
                    hub_seed=self.hub_key.seed,
                )
        except Exception:  # noqa: BLE001
            logger.exception("building receipts failed")
            return []

    def persist_rejections(self) -> None:
        """Write the rejection counters added from outside a batch (firmware requests)."""
        self._persist_rejections(self.clock.now())

    def _persist_rejections(self, now: datetime) -> None:
        pending, last = self.tally.drain()
        if not pending:
            return
        try:
            with self.session_factory() as db_session:
                events.persist_rejections(db_session=db_session, counts=pending, last=last, at=now)
                db_session.commit()
        except Exception:  # noqa: BLE001 - keep them for the next batch
            logger.exception("persisting rejection counters failed")
            self.tally.restore(pending)
