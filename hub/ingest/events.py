"""Envelopes from ``gl/v1/{dev}/evt/...`` and ``.../ack``: parse, verify, dedupe, store, chain.

``EventIngest.handle`` takes one batch of messages of the event channels. Every message ends up
stored or passed to ``reject`` with a reason. Events of a batch are written in one transaction;
if a concurrent worker stored one of them first (IntegrityError on the (device, seq) constraint)
the batch is retried one event per transaction. After each event is stored, acks update their
command and the ``on_event`` hook (the case workflow) runs in a savepoint.

An event is stored ``historical`` when the device marked it so (the signed ``hist`` flag: it was
captured while the device's link or the hub was down) or when it arrived more than
``LIVE_WINDOW_S`` after its capture time (``envelope.is_historical``). Historical events are
recorded and filed; the flows take no live action on them.

Signatures are checked with the device's current key and, within the overlap after a rotation,
its previous one (``hub.ingest.verify``); a ``key`` event verified earlier in the same batch
makes its new key count for the device's later messages of the batch. A revoked device's
envelopes above its watermark are rejected as ``revoked`` whatever their ``ts``; those at or
below it are kept when they link into the known chain (``verify.drop_unlinked``), and its acks
never change a command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from hub.devices import service as devices
from hub.devices.models import Device
from hub.errors import HubError
from hub.events import service as events
from hub.events.models import ChainStatus, Event
from hub.ingest import batch, verify
from hub.ingest.candidate import Candidate
from hub.ingest.hooks import EventHook
from hub.ingest.verifier import Check, Pending, Verifier
from hub.media.store import BlobStore
from hub.mqtt_messages import Inbound
from protocol import bundle, envelope, sealed, topics
from protocol.errors import ProtocolError, SignatureError

if TYPE_CHECKING:
    from protocol.envelope import Envelope

logger = logging.getLogger(__name__)

Reject = Callable[[str, str | None, str], None]
# built once (an expanding IN): what the checks read of the batch's devices
_KEYS = select(Device.id, Device.grid_code, *devices.KEY_COLUMNS).where(
    Device.id.in_(bindparam("ids", expanding=True))
)


@dataclass
class Prepared:
    """A batch's event messages parsed, and their signature checks under way
    (``EventIngest.prepare``)."""

    # repr=False: a log line that names a step must not print a batch's envelopes
    parsed: list[tuple[str, Envelope, bytes]] = field(repr=False)
    rejects: list[tuple[str, str | None, str]] = field(repr=False)  # said again by handle
    keys: list[tuple[bytes, ...]] = field(default_factory=list, repr=False)  # each check's
    pending: Pending | None = field(default=None, repr=False)
    _signed: list[int] | None = field(default=None, repr=False)

    def take(self) -> list[int]:
        """The checks' results (waited for once; a retried attempt reuses them)."""
        if self._signed is None:
            assert self.pending is not None
            self._signed = self.pending.result()
        return self._signed


class EventIngest:
    """Stores event and ack envelopes; ``hook_kinds`` (None: all) limits which kinds run the
    after-store step, so the others skip its savepoint."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        store: BlobStore,
        on_event: EventHook,
        hook_kinds: frozenset[str] | None,
        verifier: Verifier | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.store = store
        self.on_event = on_event
        self.hook_kinds = hook_kinds
        self.verifier = verifier

    def prepare(self, msgs: list[tuple[str, Inbound]], now: datetime) -> Prepared:
        """Parse ``msgs`` and start their signature checks at the verifier's helper, to be
        stored later by ``handle(..., prepared=)``: the ingest worker prepares the next batch
        before it stores the current one, so the helper checks while the worker writes. The
        keys are read now; ``handle`` reads them again and checks anew, here, any message whose
        device's keys changed in between (a rotation, a registration, the end of an overlap)."""
        rejects: list[tuple[str, str | None, str]] = []
        parsed = self._parse(msgs, lambda r, d, m: rejects.append((r, d, m)))
        prepared = Prepared(parsed, rejects)
        if self.verifier is None or any(env["kind"] == "key" for _d, env, _r in parsed):
            return prepared
        with self.session_factory() as db_session:
            devices_by_id = self._devices(db_session, parsed)
        checks = self._checks(parsed, devices_by_id, now)
        prepared.keys = [keys for _m, _s, keys in checks]
        prepared.pending = self.verifier.submit(checks)
        return prepared

    def handle(
        self,
        msgs: list[tuple[str, Inbound]],
        now: datetime,
        reject: Reject,
        touched: dict[str, set[str]],
        prepared: Prepared | None = None,
    ) -> int:
        """Store what is new among ``msgs`` (or among ``prepared``, made of them by
        ``prepare``); returns how many events were stored."""
        if prepared is None:
            parsed = self._parse(msgs, reject)
        else:
            parsed = prepared.parsed
            for reason, device_id, detail in prepared.rejects:  # again on a retried attempt
                reject(reason, device_id, detail)
        if not parsed:
            return 0
        with self.session_factory() as db_session:
            fresh, watermarks = self._verify(db_session, parsed, now, reject, prepared)
            if not fresh:
                return 0
            if not watermarks:  # the batch path (hub.ingest.batch); the careful one on doubt
                try:
                    outcome = batch.store_batch(
                        db_session,
                        dict(fresh),
                        now,
                        touched,
                        store=self.store,
                        on_event=self.on_event,
                        hook_kinds=self.hook_kinds,
                    )
                except batch.BatchAborted as exc:
                    logger.info("batch path gave up (%s); storing the careful way", exc)
                else:
                    for reason, device_id, detail in outcome.rejects:
                        reject(reason, device_id, detail)
                    return outcome.stored
        with self.session_factory() as db_session:
            known = events.existing_digests(db_session=db_session, keys=fresh.keys())
            for key, digest in known.items():
                _same_or_replay(reject, fresh.pop(key), digest)
                touched[key[0]]  # noqa: B018 - a resend deserves a receipt too
            if watermarks:
                self._drop_unlinked(db_session, fresh, watermarks, reject)
            for dev, _seq in fresh:
                touched[dev]  # noqa: B018
            cands = list(fresh.values())
            if not cands:
                return 0
            stored = 0
            try:
                stored += self._store(db_session, cands, now, touched)
                db_session.commit()
            except IntegrityError:
                db_session.rollback()
                logger.info("batch raced another worker; storing its events one by one")
                for cand in cands:  # a racing worker stored some of them: one by one
                    try:
                        stored += self._store(db_session, [cand], now, touched)
                        db_session.commit()
                    except IntegrityError:
                        db_session.rollback()
                        digest = events.existing_digests(
                            db_session=db_session, keys=[(cand.device_id, cand.env["seq"])]
                        ).get((cand.device_id, cand.env["seq"]), "")
                        _same_or_replay(reject, cand, digest)
            self._advance(db_session, {c.device_id for c in cands}, now)
            return stored

    def _parse(
        self, msgs: list[tuple[str, Inbound]], reject: Reject
    ) -> list[tuple[str, Envelope, bytes]]:
        parsed: list[tuple[str, Envelope, bytes]] = []
        for dev, msg in msgs:
            raw = bytes(msg.payload)
            try:
                env = envelope.parse(raw)
            except ProtocolError as exc:
                reject(exc.reason, dev, exc.message)
                continue
            except Exception as exc:  # noqa: BLE001 - one bad message must not fail its batch
                logger.exception("unexpected parse failure from %s", dev)
                reject("malformed", dev, f"unparseable: {exc!r}"[:200])
                continue
            _dev, channel, kind = topics.parse(msg.topic)
            if (
                env["dev"] != dev
                or (kind is not None and env["kind"] != kind)
                or (channel == "ack" and env["kind"] != "ack")
            ):
                reject("malformed", dev, "envelope does not match its topic")
                continue
            parsed.append((dev, env, raw))
        return parsed

    def _verify(
        self,
        db_session: Session,
        parsed: list[tuple[str, Envelope, bytes]],
        now: datetime,
        reject: Reject,
        prepared: Prepared | None = None,
    ) -> tuple[dict[tuple[str, int], Candidate], dict[str, int]]:
        """Signature, clock skew, key event and watermark checks; returns the candidates by
        (device, seq) and the watermarks of the revoked devices among them."""
        now_ts = int(now.timestamp())
        devices_by_id = self._devices(db_session, parsed)
        fresh: dict[tuple[str, int], Candidate] = {}
        watermarks: dict[str, int] = {}
        new_keys: dict[str, bytes] = {}  # announced by a key event earlier in this batch
        if prepared is not None and prepared.pending is not None:
            signed: list[int] | None = prepared.take()
            checked = prepared.keys
        else:
            signed, checked = self._signers(parsed, devices_by_id, now), None
        for i, (dev, env, raw) in enumerate(parsed):
            device = devices_by_id.get(dev)
            if device is None:
                reject("unknown_device", dev, f"seq {env['seq']}")
                continue
            keys = devices.verifying_keys(device, now)
            current = new_keys.get(dev, keys[0])
            if dev in new_keys:
                keys.append(current)
            try:
                if signed is None or (checked is not None and checked[i] != tuple(keys)):
                    key = verify.signer(env, keys)  # in order, or its keys changed since
                elif (index := signed[i]) < 0:
                    raise SignatureError("signature does not verify")
                else:
                    key = keys[index]
                envelope.check_skew(env, now_ts)
                pub = verify.key_event_pub(env) if env["kind"] == "key" else None
                if env["kind"] == "ota":
                    bundle.check_event_body(env["body"])
            except ProtocolError as exc:
                reject(exc.reason, dev, f"seq {env['seq']}: {exc.message}")
                continue
            if pub is not None and key != current and pub != current.hex():
                reject("bad_signature", dev, f"seq {env['seq']}: key event not by the current key")
                continue
            mark = devices.watermark(device)
            if mark is not None:
                if env["seq"] > mark:
                    reject(
                        "revoked",
                        dev,
                        f"seq {env['seq']} (ts {env['ts']}) above the watermark {mark}",
                    )
                    continue
                watermarks[dev] = mark
            elif pub is not None and pub != current.hex():
                new_keys[dev] = bytes.fromhex(pub)
            cand = Candidate(
                device_id=dev,
                env=env,
                raw=raw,
                digest=envelope.digest(raw),
                historical=envelope.is_historical(env, now_ts),
                grid_code=device.grid_code,
                revoked=mark is not None,
            )
            key_seq = (dev, env["seq"])
            if key_seq in fresh:
                _same_or_replay(reject, cand, fresh[key_seq].digest)
                continue
            fresh[key_seq] = cand
        return fresh, watermarks

    def _signers(
        self,
        parsed: list[tuple[str, Envelope, bytes]],
        devices_by_id: Mapping[str, devices.KeyView],
        now: datetime,
    ) -> list[int] | None:
        """The batch's signature checks at once (``hub.ingest.verifier``, shared with a helper
        process): per message the index of the key that verified it, -1 for none. None (each
        is checked in order in ``_verify``) without a verifier or when the batch holds a
        ``key`` event, whose new key counts for the device's later messages of the batch."""
        if self.verifier is None or any(env["kind"] == "key" for _d, env, _r in parsed):
            return None
        return self.verifier.signers(self._checks(parsed, devices_by_id, now))

    @staticmethod
    def _checks(
        parsed: list[tuple[str, Envelope, bytes]],
        devices_by_id: Mapping[str, devices.KeyView],
        now: datetime,
    ) -> list[Check]:
        checks: list[Check] = []
        for dev, env, _raw in parsed:
            device = devices_by_id.get(dev)
            keys = tuple(devices.verifying_keys(device, now)) if device is not None else ()
            sig = bytes.fromhex(env["sig"])  # sealed.parse checked: 128 lower-case hex
            checks.append((sealed.signing_message(env, envelope.DOMAIN), sig, keys))
        return checks

    @staticmethod
    def _devices(db_session: Session, parsed: list[tuple[str, Envelope, bytes]]) -> dict[str, Any]:
        """What the checks read of the batch's devices (its columns only: no ORM objects)."""
        ids = sorted({dev for dev, _e, _r in parsed})
        out: dict[str, Any] = {}
        for i in range(0, len(ids), 500):
            rows = db_session.connection().execute(_KEYS, {"ids": ids[i : i + 500]})
            out.update({row.id: row for row in rows})
        return out

    def _drop_unlinked(
        self,
        db_session: Session,
        fresh: dict[tuple[str, int], Candidate],
        watermarks: dict[str, int],
        reject: Reject,
    ) -> None:
        """A revoked device's new envelopes at or below its watermark are kept only when they
        link into the known chain (``verify.unlinked``); the others are rejected ``revoked``."""
        links = {k: (c.env["prev"], c.digest) for k, c in fresh.items() if k[0] in watermarks}
        for dev, seq in verify.unlinked(db_session, links, list(watermarks)):
            del fresh[(dev, seq)]
            reject(
                "revoked",
                dev,
                f"seq {seq} <= watermark {watermarks[dev]} does not link into the known chain",
            )

    def _store(
        self,
        db_session: Session,
        cands: list[Candidate],
        now: datetime,
        touched: dict[str, set[str]],
    ) -> int:
        stored: list[Event] = []
        for cand in cands:
            event = Event(**batch.event_row(cand, now, ChainStatus.pending.value))
            db_session.add(event)
            batch.announce_blobs(db_session, cand, now, self.store, touched)
            stored.append(event)
        db_session.flush()  # IntegrityError here: see the caller
        top: dict[str, int] = {}
        for cand, event in zip(cands, stored, strict=True):
            top[event.device_id] = max(top.get(event.device_id, 0), event.seq)
            if not (cand.revoked and event.kind == "ack"):  # its commands failed at revocation
                self._after_store(db_session, event)
        for device_id, seq in top.items():  # the seqs it showed count for a later watermark
            db_session.execute(
                update(Device)
                .where(Device.id == device_id)
                .values(
                    last_seen=now,
                    announced_seq=case(
                        (Device.announced_seq < seq, seq), else_=Device.announced_seq
                    ),
                    # in the insert's transaction: max_seq is never below a stored seq, which
                    # the batch path (hub.ingest.batch) relies on to skip the digest lookup
                    max_seq=case((Device.max_seq < seq, seq), else_=Device.max_seq),
                )
            )
        return len(stored)

    def _after_store(self, db_session: Session, event: Event) -> None:
        """Acks update their command; reports / verifications reach the case workflow.

        Runs in a savepoint: a failing hook is logged and never loses the event itself.
        """
        if self.hook_kinds is not None and event.kind not in self.hook_kinds:
            return
        try:
            with db_session.begin_nested():
                batch.run_hooks(db_session, event, self.on_event)
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


def _same_or_replay(reject: Reject, cand: Candidate, digest: str) -> None:
    seq = cand.env["seq"]
    if digest == cand.digest:
        reject(events.DUPLICATE, cand.device_id, f"seq {seq}")
    else:
        reject("replayed", cand.device_id, f"seq {seq} with different content")
