"""The sender: delivers the due notifications from the outbox, retrying with backoff.

A pass claims up to ``4 x notify_concurrency`` due deliveries (``pending``, ``next_attempt_at``
passed, no live lease) by setting a lease with a conditional UPDATE, so two hub processes never
send the same delivery at once; it sends them ``notify_concurrency`` at a time outside any
transaction, then records each attempt (``DeliveryAttempt``) and the delivery's new state in
its own short transaction. A failed attempt is due again after ``notify_retry_base_s`` doubled
per failure (at most ``notify_retry_max_s``); after ``notify_max_attempts`` tries, or a
permanent refusal, the delivery is ``failed`` (``POST /api/notifications/deliveries/{id}/retry``
sends it again). A sender that dies mid-send leaves a lease that runs out: the delivery is
sent again, with the same ``webhook-id`` / Message-ID so the receiver can drop the repeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.clock import Clock
from hub.db import session_scope
from hub.notify.channels import Channel, DeliveryFailed, Message
from hub.notify.mail import EmailChannel
from hub.notify.models import (
    Channel as ChannelKind,
)
from hub.notify.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Liaison,
    Notification,
)
from hub.notify.webhook import WebhookChannel
from hub.settings import Settings

logger = logging.getLogger(__name__)


def backoff_s(settings: Settings, attempts: int) -> float:
    """The wait after the ``attempts``-th failed try (1: the base)."""
    wait = settings.notify_retry_base_s * 2 ** (attempts - 1)
    return float(min(settings.notify_retry_max_s, wait))


@dataclass(frozen=True)
class _Outcome:
    delivery_id: int
    ok: bool
    detail: str
    permanent: bool
    duration_ms: int


def default_channels(settings: Settings) -> dict[str, Channel]:
    return {
        ChannelKind.webhook.value: WebhookChannel(timeout_s=settings.notify_timeout_s),
        ChannelKind.email.value: EmailChannel(settings),
    }


class Sender:
    def __init__(
        self,
        *,
        factory: sessionmaker[Session],
        settings: Settings,
        clock: Clock,
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        self._factory = factory
        self._settings = settings
        self._clock = clock
        self._channels = dict(channels) if channels is not None else default_channels(settings)
        self._pool = ThreadPoolExecutor(settings.notify_concurrency, thread_name_prefix="notify")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass ------------------------------------------------------------------------

    def _claim(self, db_session: Session, now: datetime) -> list[Message | int]:
        """Lease the due deliveries; each is its Message, or its id when it has nobody left
        to go to (given up on in ``run_once``)."""
        limit = 4 * self._settings.notify_concurrency
        due = db_session.scalars(
            select(Delivery.id)
            .where(
                Delivery.status == DeliveryStatus.pending.value,
                Delivery.next_attempt_at <= now,
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
        ).all()
        lease = now + timedelta(seconds=2 * self._settings.notify_timeout_s + 30)
        claimed: list[Message | int] = []
        for delivery_id in due:
            taken = db_session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.status == DeliveryStatus.pending.value,
                    or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
                )
                .values(lease_until=lease)
            )
            if getattr(taken, "rowcount", 0) != 1:
                continue  # another sender took it
            delivery = db_session.get(Delivery, delivery_id)
            assert delivery is not None
            note = db_session.get(Notification, delivery.notification_id)
            liaison = db_session.get(Liaison, delivery.liaison_id) if delivery.liaison_id else None
            if note is None or liaison is None or not liaison.active:
                claimed.append(delivery_id)
                continue
            claimed.append(
                Message(
                    delivery_id=delivery.id,
                    notification_id=note.id,
                    channel=delivery.channel,
                    kind=note.kind,
                    created_at=note.created_at,
                    subject=note.subject,
                    body=note.body,
                    data=note.data,
                    address=delivery.address,
                    secret=liaison.secret,
                )
            )
        return claimed

    def _send(self, message: Message) -> _Outcome:
        started = time.monotonic()
        channel = self._channels.get(message.channel)
        try:
            if channel is None:
                raise DeliveryFailed("no such channel on this hub", permanent=True)
            detail, ok, permanent = channel.send(message), True, False
        except DeliveryFailed as exc:
            detail, ok, permanent = exc.detail, False, exc.permanent
        except Exception as exc:  # noqa: BLE001 - a channel's bug is this delivery's failure
            logger.exception("notification channel failed on delivery %s", message.delivery_id)
            detail, ok, permanent = f"{type(exc).__name__}: {exc}", False, False
        duration_ms = int((time.monotonic() - started) * 1000)
        return _Outcome(message.delivery_id, ok, detail[:500], permanent, duration_ms)

    def _record(self, outcome: _Outcome) -> None:
        with session_scope(self._factory) as db_session:
            now = self._clock.now()
            delivery = db_session.get(Delivery, outcome.delivery_id)
            if delivery is None:
                return
            delivery.attempts += 1
            delivery.lease_until = None
            db_session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    at=now,
                    ok=outcome.ok,
                    duration_ms=outcome.duration_ms,
                    detail=outcome.detail,
                )
            )
            if outcome.ok:
                delivery.status = DeliveryStatus.delivered.value
                delivery.delivered_at = now
                delivery.next_attempt_at = None
                delivery.last_error = None
                return
            delivery.last_error = outcome.detail
            if outcome.permanent or delivery.attempts >= self._settings.notify_max_attempts:
                delivery.status = DeliveryStatus.failed.value
                delivery.next_attempt_at = None
                logger.warning(
                    "notification delivery %s to %s failed for good after %d attempt(s): %s",
                    delivery.id, delivery.address, delivery.attempts, outcome.detail,
                )  # fmt: skip
            else:
                wait = backoff_s(self._settings, delivery.attempts)
                delivery.next_attempt_at = now + timedelta(seconds=wait)
                logger.info(
                    "notification delivery %s to %s failed (%s); again in %.0f s",
                    delivery.id, delivery.address, outcome.detail, wait,
                )  # fmt: skip

    def _give_up(self, delivery_id: int) -> None:
        self._record(_Outcome(delivery_id, False, "the liaison was removed or switched off",
                              True, 0))  # fmt: skip

    def run_once(self) -> int:
        """One pass: claim what is due, send it, record it. Returns the attempts made."""
        with session_scope(self._factory) as db_session:
            claimed = self._claim(db_session, self._clock.now())
        messages = [m for m in claimed if isinstance(m, Message)]
        for gone in (m for m in claimed if isinstance(m, int)):
            self._give_up(gone)
        for outcome in self._pool.map(self._send, messages):
            self._record(outcome)
        return len(claimed)

    # --- the thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() > 0
            except Exception:  # noqa: BLE001 - the next pass retries; the error is logged
                logger.exception("notification pass failed")
                busy = False
            if not busy:
                self._stop.wait(self._settings.notify_poll_s)

    def start(self) -> Sender:
        self._thread = threading.Thread(target=self._loop, name="notify-sender", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop after the pass under way (its attempts are recorded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._pool.shutdown(wait=True)
        for channel in self._channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()
