"""Hub receipts: "stored through seq N" plus the missing chunks of the device's blobs.

A receipt must fit ``MAX_COMMAND_BYTES`` (the device refuses bigger ones), so the missing-chunk
lists are shortened until it does, then blobs are left out (complete ones first); the device
asks again after re-sending what it was told and later receipts mention the rest.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from hub.devices.models import Device
from hub.media import service as media
from hub.mqtt_messages import Outbound
from protocol import command, topics
from protocol.limits import MAX_COMMAND_BYTES

logger = logging.getLogger(__name__)

IN_CHUNK = 500  # device ids per IN (...) list
REST_S = 30.0  # how long a failed receipt helper is left alone before another is started
# Receipts go at QoS 1: the broker keeps the last ones for a device that is away, and a device
# restarted in the middle of a photo resumes from the one waiting for it on reconnecting (at
# QoS 0 it re-sent chunks the hub held until the answer to its birth came; tests/hil
# test_handheld's power loss test). QoS 0 would save the PUBACK round per receipt.
RECEIPT_QOS = 1
_HEADS = select(Device.id, Device.last_seq).where(Device.id.in_(bindparam("ids", expanding=True)))


@dataclass(frozen=True)
class Receipt:
    """What one receipt will say, read from the committed rows; ``seal`` makes it a message."""

    device_id: str
    last_seq: int
    blobs: dict[str, list[int]]  # sha -> missing chunk indexes (may be shortened by seal)


def seal(receipt: Receipt, ts: int, hub_seed: bytes) -> Outbound:
    """The signed receipt, within ``MAX_COMMAND_BYTES``: the missing-chunk lists are shortened
    until it fits, then blobs left out (complete ones first). Pure: no database."""
    blobs = receipt.blobs
    limit = media.MAX_MISSING_IN_RECEIPT
    while True:
        data: bytes = command.seal_receipt(receipt.device_id, receipt.last_seq, blobs, ts, hub_seed)
        if len(data) <= MAX_COMMAND_BYTES:
            return Outbound(topics.rcpt(receipt.device_id), data, qos=RECEIPT_QOS)
        if limit > 1:
            limit //= 2
            blobs = {sha: missing[:limit] for sha, missing in blobs.items()}
            continue
        # Still too big: keep the blobs with missing chunks (the device must re-send those)
        # ahead of the complete ones, and halve how many are mentioned.
        order = sorted(blobs, key=lambda sha: (not blobs[sha], sha))
        blobs = {sha: blobs[sha] for sha in order[: len(order) // 2]}


def read_receipts(*, db_session: Session, touched: dict[str, set[str]]) -> list[Receipt]:
    """One receipt per touched device (its blobs ``touched[dev]`` mentioned first, then its
    partial ones). The devices' heads and partial blobs are read with one query each per
    ``IN_CHUNK`` devices, whatever their number."""
    out: list[Receipt] = []
    devs = sorted(touched)
    for i in range(0, len(devs), IN_CHUNK):
        part = devs[i : i + IN_CHUNK]
        heads: dict[str, int] = {dev: seq for dev, seq in db_session.execute(_HEADS, {"ids": part})}
        partial = media.partial_blobs(db_session=db_session, device_ids=part)
        for dev in part:
            if dev not in heads:
                continue
            shas = media.receipt_shas(touched[dev], partial.get(dev, ()))
            blobs = media.missing_for_receipt(db_session=db_session, shas=shas) if shas else {}
            out.append(Receipt(dev, heads[dev], blobs))
    return out


def receipts_for(
    *, db_session: Session, touched: dict[str, set[str]], ts: int, hub_seed: bytes
) -> list[Outbound]:
    """``read_receipts`` sealed here and now."""
    return [seal(r, ts, hub_seed) for r in read_receipts(db_session=db_session, touched=touched)]


class Helper(Protocol):
    """A process that seals and publishes receipts (``hub.ingest.receipt_process``)."""

    @property
    def alive(self) -> bool: ...

    @property
    def said_ready(self) -> bool: ...

    def ready(self) -> bool: ...

    def deliver(self, receipts: list[Receipt], ts: int) -> bool: ...

    def kill(self) -> None: ...

    def close(self, timeout: float = 10.0) -> None: ...


class ReceiptSender:
    """Seals and publishes receipts on a thread of its own, in the order they are given.

    The ingest worker's processing thread reads what each receipt says from the database
    (``read_receipts``) and hands it here, and goes on with the next batch. With ten thousand
    devices nearly every event is from another device, so there is a receipt per event. With
    ``helper`` (a factory of ``hub.ingest.receipt_process.ReceiptProcess``) the receipts are
    handed to a helper process that seals and publishes them on its own broker connection, off
    this process's GIL; without one, or while none runs (it died or could not start: another is
    tried ``REST_S`` later), they are sealed here and published through ``publish``. One thread
    and one FIFO keep each device's receipts in order (they are cumulative, so order is all
    that matters). The queue is bounded: if sealing falls behind, ``send`` waits, and the worker
    with it. ``close()`` sends everything given before it returns. The helper is started,
    used and closed by this thread alone (it is tied to the thread that started it: Linux's
    ``PR_SET_PDEATHSIG``); until it says it is connected, receipts are sealed here.
    """

    def __init__(
        self,
        publish: Callable[[list[Outbound]], None],
        hub_seed: bytes,
        helper: Callable[[], Helper] | None = None,
        handed: Callable[[int], None] | None = None,
    ) -> None:
        self._publish = publish
        self._seed = hub_seed
        self._make_helper = helper
        self._handed = handed  # counts receipts handed to the helper (the worker's stats)
        self._helper: Helper | None = None
        self._resting_until = 0.0
        self._closed = False
        self._close_timeout = 10.0
        self._queue: queue.Queue[tuple[list[Receipt], int] | None] = queue.Queue(maxsize=64)
        self._thread = threading.Thread(target=self._run, name="receipts", daemon=True)
        self._thread.start()

    def warm(self) -> None:
        """Start the helper now (in the background), not with the first receipts."""
        self._queue.put(([], 0))

    def _current_helper(self) -> Helper | None:
        if self._make_helper is None or time.monotonic() < self._resting_until:
            return None
        if self._helper is None and not self._closed:  # closing: no new one
            try:
                self._helper = self._make_helper()
            except Exception as exc:  # noqa: BLE001 - receipts go out from here meanwhile
                self._helper_failed(exc)
        return self._helper

    def _helper_failed(self, exc: object) -> None:
        logger.warning(
            "receipt helper process failed (%s); sealing receipts here, restarting it in %d s",
            exc,
            REST_S,
        )
        self._resting_until = time.monotonic() + REST_S
        helper, self._helper = self._helper, None
        if helper is not None:
            helper.kill()
            helper.close(timeout=0.5)

    def using_helper(self) -> bool:
        """True while receipts go to a helper that said it is connected (tests, stats)."""
        helper = self._helper
        return helper is not None and helper.alive and helper.said_ready

    def send(self, receipts: list[Receipt], ts: int) -> None:
        if receipts:
            self._queue.put((receipts, ts))

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                helper, self._helper = self._helper, None
                if helper is not None:  # here, while this thread lives (PR_SET_PDEATHSIG)
                    helper.close(self._close_timeout)
                return
            receipts, ts = item
            helper = self._current_helper()
            if not receipts:  # warm()
                continue
            if helper is not None and not helper.alive:
                self._helper_failed("it is gone")
            elif helper is not None and helper.ready():
                if helper.deliver(receipts, ts):
                    if self._handed is not None:
                        self._handed(len(receipts))
                    continue
                self._helper_failed("it stopped taking receipts")
            out: list[Outbound] = []
            for receipt in receipts:
                try:
                    out.append(seal(receipt, ts, self._seed))
                except Exception:  # noqa: BLE001 - a later (cumulative) receipt covers it
                    logger.exception("sealing the receipt for %s failed", receipt.device_id)
            try:
                self._publish(out)
            except Exception:  # noqa: BLE001 - the thread must go on; the next one covers it
                logger.exception("publishing %d receipt(s) failed", len(out))

    def close(self, timeout: float = 10.0) -> None:
        """Send what was given (the helper publishes what it was handed and ends), then end
        the thread. Never hangs: a thread still stuck after ``timeout`` (a helper that stopped
        reading) has its helper killed, which frees it."""
        self._closed = True
        self._close_timeout = timeout
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout)
            except queue.Full:
                logger.warning("receipt queue still full at close")
            self._thread.join(timeout + 3.0)
        helper = self._helper
        if self._thread.is_alive() and helper is not None:
            logger.warning("receipt thread stuck at close: killing its helper")
            helper.kill()
            self._thread.join(3.0)


class ReceiptCoalescer:
    """At most one receipt per device per ``interval_s``, and never a receipt left unsent.

    The worker ``add()``s the devices (and blob shas) each stored batch touched, then sends
    what ``due()`` returns: a device that had no receipt within the interval gets one at once
    (leading edge: a lone event is answered without delay); during a stream its batches only
    gather here and one receipt goes out when the interval since the last one is over
    (trailing edge), built then from the rows committed by then, so it covers every batch that
    gathered. Receipts are cumulative ("stored through seq N" plus the missing chunks of the
    blobs named), so the ones left out lose nothing. ``wait_s()`` tells the worker loop how
    long it may block before the next one is due, so the last batch of a stream is answered
    even when no further message arrives; ``drain()`` takes everything at shutdown.

    Not thread-safe: the worker's processing thread alone uses it. ``interval_s`` 0 sends one
    receipt per batch (every ``due()`` returns all that is pending).
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = max(0.0, interval_s)
        self._pending: dict[str, set[str]] = {}
        self._sent: dict[str, float] = {}  # device -> when its last receipt was taken (monotonic)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, touched: dict[str, set[str]]) -> None:
        for dev, shas in touched.items():
            self._pending.setdefault(dev, set()).update(shas)

    def due(self, now: float) -> dict[str, set[str]]:
        """Take the pending devices whose interval is over (marked sent at ``now``)."""
        out: dict[str, set[str]] = {}
        for dev in list(self._pending):
            last = self._sent.get(dev)
            if last is None or now - last >= self.interval_s:
                out[dev] = self._pending.pop(dev)
                self._sent[dev] = now
        if len(self._sent) > 4 * len(self._pending) + 64:  # forget devices long quiet
            self._sent = {
                d: t for d, t in self._sent.items() if now - t < self.interval_s or d in out
            }
        return out

    def wait_s(self, now: float) -> float | None:
        """Seconds until the next pending receipt is due (0: now), None with none pending."""
        if not self._pending:
            return None
        first = min(self._sent.get(dev, now - self.interval_s) for dev in self._pending)
        return max(0.0, first + self.interval_s - now)

    def restore(self, taken: dict[str, set[str]]) -> None:
        """Put back receipts taken but not built (a database error): due again one interval on."""
        for dev, shas in taken.items():
            self._pending.setdefault(dev, set()).update(shas)

    def drain(self) -> dict[str, set[str]]:
        """Everything pending, due or not (the worker is stopping)."""
        out, self._pending = self._pending, {}
        return out
