"""The ingest processing step: a batch of raw MQTT messages in, stored rows + replies out.

Pure of MQTT (tests feed ``Inbound`` records straight in). Every message is either stored or
rejected with a reason that is logged and counted; one bad message never affects the others,
and nothing here raises to the caller. Events of a batch are written in one transaction; if a
concurrent worker stored one of them first (IntegrityError on the (device, seq) constraint) the
batch is retried one event per transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock, default_clock, from_unix
from hub.devices.models import Device
from hub.devices.service import signed_before_revocation
from hub.errors import HubError
from hub.events import service as events
from hub.events.models import ChainStatus, Event
from hub.ingest import hooks
from hub.ingest.chunks import handle_chunks
from hub.ingest.messages import Inbound, Outbound
from hub.ingest.receipts import build_receipt
from hub.ingest.state import handle_states
from hub.keys import HubKey
from hub.media import service as media
from hub.media.store import BlobStore
from hub.settings import Settings
from protocol import envelope, topics
from protocol.errors import ProtocolError

logger = logging.getLogger(__name__)


@dataclass
class Candidate:
    """An envelope that passed every check except (device, seq) uniqueness."""

    device_id: str
    env: dict[str, Any]
    raw: bytes
    digest: str
    historical: bool
    grid_code: str | None


@dataclass
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    chunks: int = 0
    outbound: list[Outbound] = field(default_factory=list)


class Processor:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        hub_key: HubKey,
        store: BlobStore,
        clock: Clock = default_clock,
        tally: events.RejectionTally | None = None,
        on_event: Callable[[Session, Event], None] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.hub_key = hub_key
        self.store = store
        self.clock = clock
        self.tally = tally or events.RejectionTally()
        self._buffer: list[tuple[str, str | None, str]] | None = None
        self.on_event = on_event or hooks.make_dispatcher(clock, settings)
        # Kinds that need the after-store step (None: all). Others skip its savepoint.
        self.hook_kinds: frozenset[str] | None = (
            None if on_event is not None else frozenset({"ack", *hooks.HOOKS})
        )

    # -- entry point -------------------------------------------------------------------------
    def process(self, batch: Sequence[Inbound]) -> BatchResult:
        result = BatchResult()
        now = self.clock.now()
        by_channel: dict[str, list[tuple[str, Inbound]]] = defaultdict(list)
        for msg in batch:
            try:
                dev, channel, _kind = topics.parse(msg.topic)
            except ProtocolError as exc:
                self._reject(result, exc.reason, None, f"topic {msg.topic!r}: {exc.message}")
                continue
            if channel in ("evt", "ack", "blob", "state"):
                by_channel[channel].append((dev, msg))
            else:
                self._reject(result, "malformed", dev, f"hub does not take {channel} messages")
        touched: dict[str, set[str]] = defaultdict(set)  # device -> blob shas to report
        for step, args in (
            (self._events, by_channel["evt"] + by_channel["ack"]),
            (self._chunks, by_channel["blob"]),
        ):
            if args:
                self._guarded(step, args, now, result, touched)
        if by_channel["state"]:
            births = self._guarded_states(by_channel["state"], now, result)
            for dev in births:
                touched.setdefault(dev, set())
        self._persist_rejections(now)
        if touched:
            result.outbound.extend(self._receipts(touched, now))
        return result

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
                logger.exception("ingest step %s failed", getattr(step, "__name__", step))
                break
            finally:
                buffered, self._buffer = self._buffer, None
            result.stored += trial.stored
            result.chunks += trial.chunks
            for reason, device_id, detail in buffered:
                self._reject(result, reason, device_id, detail)
            return
        for dev, _msg in args:
            self._reject(result, "internal", dev, "could not be stored; awaiting redelivery")

    def _guarded_states(
        self, msgs: list[tuple[str, Inbound]], now: datetime, result: BatchResult
    ) -> list[str]:
        try:
            with self.session_factory() as db_session:
                births = handle_states(
                    db_session=db_session, msgs=msgs, at=now, reject=self._rejector(result)
                )
                db_session.commit()
                return births
        except Exception:  # noqa: BLE001
            logger.exception("state handling failed")
            return []

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

    # -- events ------------------------------------------------------------------------------
    def _events(
        self,
        msgs: list[tuple[str, Inbound]],
        now: datetime,
        result: BatchResult,
        touched: dict[str, set[str]],
    ) -> None:
        now_ts = int(now.timestamp())
        parsed: list[tuple[str, dict[str, Any], bytes]] = []
        for dev, msg in msgs:
            raw = bytes(msg.payload)
            try:
                env = envelope.parse(raw)
            except ProtocolError as exc:
                self._reject(result, exc.reason, dev, exc.message)
                continue
            except Exception as exc:  # noqa: BLE001 - one bad message must not fail its batch
                logger.exception("unexpected parse failure from %s", dev)
                self._reject(result, "malformed", dev, f"unparseable: {exc!r}"[:200])
                continue
            _dev, channel, kind = topics.parse(msg.topic)
            if (
                env["dev"] != dev
                or (kind is not None and env["kind"] != kind)
                or (channel == "ack" and env["kind"] != "ack")
            ):
                self._reject(result, "malformed", dev, "envelope does not match its topic")
                continue
            parsed.append((dev, env, raw))
        if not parsed:
            return
        with self.session_factory() as db_session:
            devices = {
                d.id: d
                for d in db_session.scalars(
                    select(Device).where(Device.id.in_({dev for dev, _e, _r in parsed}))
                )
            }
            fresh: dict[tuple[str, int], Candidate] = {}
            for dev, env, raw in parsed:
                device = devices.get(dev)
                if device is None:
                    self._reject(result, "unknown_device", dev, f"seq {env['seq']}")
                    continue
                try:
                    envelope.verify(env, device.public_key_bytes)
                    envelope.check_skew(env, now_ts)
                except ProtocolError as exc:
                    self._reject(result, exc.reason, dev, f"seq {env['seq']}: {exc.message}")
                    continue
                if not signed_before_revocation(device, env["ts"]):
                    self._reject(
                        result, "revoked", dev, f"seq {env['seq']} signed after revocation"
                    )
                    continue
                cand = Candidate(
                    device_id=dev,
                    env=env,
                    raw=raw,
                    digest=envelope.digest(raw),
                    historical=envelope.is_historical(env, now_ts),
                    grid_code=device.grid_code,
                )
                key = (dev, env["seq"])
                if key in fresh:
                    self._same_or_replay(result, cand, fresh[key].digest)
                    continue
                fresh[key] = cand
            known = events.existing_digests(db_session=db_session, keys=fresh.keys())
            for key, digest in known.items():
                self._same_or_replay(result, fresh.pop(key), digest)
                touched[key[0]]  # noqa: B018 - a resend deserves a receipt too
            for dev, _seq in fresh:
                touched[dev]  # noqa: B018
            cands = list(fresh.values())
            if not cands:
                return
            try:
                self._store(db_session, cands, now, result, touched)
                db_session.commit()
            except IntegrityError:
                db_session.rollback()
                logger.info("batch raced another worker; storing its events one by one")
                for cand in cands:  # a racing worker stored some of them: one by one
                    try:
                        self._store(db_session, [cand], now, result, touched)
                        db_session.commit()
                    except IntegrityError:
                        db_session.rollback()
                        digest = events.existing_digests(
                            db_session=db_session, keys=[(cand.device_id, cand.env["seq"])]
                        ).get((cand.device_id, cand.env["seq"]), "")
                        self._same_or_replay(result, cand, digest)
            self._advance(db_session, {c.device_id for c in cands}, now)

    def _same_or_replay(self, result: BatchResult, cand: Candidate, digest: str) -> None:
        seq = cand.env["seq"]
        if digest == cand.digest:
            self._reject(result, events.DUPLICATE, cand.device_id, f"seq {seq}")
        else:
            self._reject(result, "replayed", cand.device_id, f"seq {seq} with different content")

    def _store(
        self,
        db_session: Session,
        cands: list[Candidate],
        now: datetime,
        result: BatchResult,
        touched: dict[str, set[str]],
    ) -> None:
        stored: list[Event] = []
        for cand in cands:
            env = cand.env
            event = Event(
                device_id=cand.device_id,
                seq=env["seq"],
                kind=env["kind"],
                ts=env["ts"],
                captured_at=from_unix(env["ts"]),
                received_at=now,
                historical=cand.historical,
                grid_code=cand.grid_code,
                body=env["body"],
                blobs=env["blobs"],
                digest=cand.digest,
                prev=env["prev"],
                chain=ChainStatus.pending.value,
                raw=cand.raw,
            )
            db_session.add(event)
            for ref in env["blobs"]:
                media.announce_blob(
                    db_session=db_session,
                    ref=ref,
                    device_id=cand.device_id,
                    grid_code=cand.grid_code,
                    at=now,
                    store=self.store,
                )
                touched[cand.device_id].add(ref["sha256"])
            stored.append(event)
        db_session.flush()  # IntegrityError here: see the caller
        newest: dict[str, int] = {}
        for event in stored:
            newest[event.device_id] = max(newest.get(event.device_id, 0), event.ts)
            self._after_store(db_session, event)
        for device_id in newest:
            db_session.execute(update(Device).where(Device.id == device_id).values(last_seen=now))
        result.stored += len(stored)

    def _after_store(self, db_session: Session, event: Event) -> None:
        """Acks update their command; reports / verifications reach the case workflow.

        Runs in a savepoint: a failing hook is logged and never loses the event itself.
        """
        if self.hook_kinds is not None and event.kind not in self.hook_kinds:
            return
        try:
            with db_session.begin_nested():
                if event.kind == "ack":
                    from hub.commands.service import record_ack

                    record_ack(
                        db_session=db_session,
                        device_id=event.device_id,
                        body=event.body,
                        raw=event.raw,
                        at=event.received_at,
                    )
                self.on_event(db_session, event)
        except HubError:
            pass  # already logged by the hook; the event stays stored
        except Exception:  # noqa: BLE001
            logger.exception("after-store hook failed for %s seq %d", event.device_id, event.seq)

    def _advance(self, db_session: Session, device_ids: set[str], now: datetime) -> None:
        for device_id in sorted(device_ids):
            try:
                events.advance_chain(db_session=db_session, device_id=device_id, at=now)
                db_session.commit()
            except Exception:  # noqa: BLE001 - the next batch advances it
                db_session.rollback()
                logger.exception("chain advance failed for %s", device_id)

    # -- media chunks ------------------------------------------------------------------------
    def _chunks(
        self,
        msgs: list[tuple[str, Inbound]],
        now: datetime,
        result: BatchResult,
        touched: dict[str, set[str]],
    ) -> None:
        result.chunks += handle_chunks(
            session_factory=self.session_factory,
            store=self.store,
            msgs=msgs,
            at=now,
            reject=self._rejector(result),
            touched=touched,
        )

    # -- receipts ----------------------------------------------------------------------------
    def _receipts(self, touched: dict[str, set[str]], now: datetime) -> list[Outbound]:
        out: list[Outbound] = []
        ts = int(now.timestamp())
        try:
            with self.session_factory() as db_session:
                for dev, shas in sorted(touched.items()):
                    device = db_session.get(Device, dev)
                    if device is None:
                        continue
                    data = build_receipt(
                        db_session=db_session,
                        device=device,
                        touched=shas,
                        ts=ts,
                        hub_seed=self.hub_key.seed,
                    )
                    out.append(Outbound(topics.rcpt(dev), data))
        except Exception:  # noqa: BLE001
            logger.exception("building receipts failed")
        return out

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
