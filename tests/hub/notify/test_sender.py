"""The sender over the real outbox tables and real receivers, on a frozen clock: retries with
doubling waits and a delivery log, giving up, a manual retry, two senders never sending one
delivery twice, a removed liaison."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from hub.clock import FrozenClock
from hub.notify import service
from hub.notify.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Liaison,
    Notification,
    NotificationKind,
)
from hub.notify.sender import Sender, backoff_s
from hub.seed import DemoData
from hub.settings import Settings
from tests.support.receivers import Mailbox, WebhookReceiver

UNIT = "Qinghefang Community property & sanitation"


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _liaison(db_session: Session, demo: DemoData, settings: Settings, address: str,
             channel: str = "webhook", *, at: datetime) -> Liaison:  # fmt: skip
    unit = service.get_unit(db_session=db_session, unit_id=demo.units[UNIT])
    row = service.create_liaison(db_session=db_session, unit=unit, name="王联络", channel=channel,
                                 address=address, kinds=[], settings=settings, at=at)  # fmt: skip
    db_session.commit()
    return row


def _notice(db_session: Session, demo: DemoData, clock: FrozenClock, n: int = 1) -> list[int]:
    ids = []
    for i in range(n):
        note = service.notify(
            db_session=db_session,
            kind=NotificationKind.dispatch,
            unit_id=demo.units[UNIT],
            at=clock.now(),
            subject=f"案件 {i} | case {i}",
            body="新派遣案件\n\nCase dispatched to you\n",
            data={"case": {"id": i}},
        )
        ids.append(note.id)
    db_session.commit()
    return ids


def _deliveries(db_session: Session) -> list[Delivery]:
    db_session.expire_all()
    return list(db_session.scalars(select(Delivery).order_by(Delivery.id)))


def _sender(factory: sessionmaker[Session], settings: Settings, clock: FrozenClock) -> Sender:
    return Sender(factory=factory, settings=settings, clock=clock)


def test_a_failing_receiver_is_retried_with_doubling_waits_until_it_takes_it(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings,
    clock: FrozenClock, demo: DemoData, hook: WebhookReceiver,
) -> None:  # fmt: skip
    liaison = _liaison(db_session, demo, settings, hook.url, at=clock.now())
    _notice(db_session, demo, clock)
    hook.answers = [503, 500, 200]
    sender = _sender(session_factory, settings, clock)
    try:
        assert sender.run_once() == 1
        (d,) = _deliveries(db_session)
        assert (d.status, d.attempts) == ("pending", 1)
        assert d.next_attempt_at == clock.now() + timedelta(seconds=settings.notify_retry_base_s)
        assert sender.run_once() == 0  # not due yet
        clock.advance(timedelta(seconds=2))
        assert sender.run_once() == 1
        (d,) = _deliveries(db_session)
        assert d.next_attempt_at == clock.now() + timedelta(seconds=4)  # doubled
        assert d.last_error is not None and d.last_error.startswith("HTTP 500")
        clock.advance(timedelta(seconds=3))
        assert sender.run_once() == 0
        clock.advance(timedelta(seconds=1))
        assert sender.run_once() == 1
    finally:
        sender.stop()
    (d,) = _deliveries(db_session)
    assert (d.status, d.attempts, d.delivered_at) == ("delivered", 3, clock.now())
    log = db_session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)).all()
    assert [(a.ok, a.detail[:8]) for a in log] == [(False, "HTTP 503"), (False, "HTTP 500"),
                                                   (True, "HTTP 200")]  # fmt: skip
    ids = {r.headers["webhook-id"] for r in hook.requests}
    assert len(hook.requests) == 3 and len(ids) == 1  # one message id across the retries
    assert liaison.secret is not None
    Webhook(liaison.secret).verify(hook.requests[-1].body, hook.requests[-1].headers)


def test_backoff_is_capped() -> None:
    s = Settings(env="development", notify_retry_base_s=2, notify_retry_max_s=60)
    assert [backoff_s(s, n) for n in (1, 2, 3, 5, 6, 20)] == [2, 4, 8, 32, 60, 60]


def test_after_the_last_attempt_it_fails_and_a_retry_sends_it_again(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings,
    clock: FrozenClock, demo: DemoData, hook: WebhookReceiver,
) -> None:  # fmt: skip
    settings = settings.model_copy(update={"notify_max_attempts": 3})
    _liaison(db_session, demo, settings, hook.url, at=clock.now())
    _notice(db_session, demo, clock)
    hook.answers = [503]
    sender = _sender(session_factory, settings, clock)
    try:
        for _ in range(5):
            sender.run_once()
            clock.advance(timedelta(minutes=5))
        (d,) = _deliveries(db_session)
        assert (d.status, d.attempts, d.next_attempt_at) == ("failed", 3, None)
        hook.answers = [200]
        service.retry_delivery(db_session=db_session, delivery_id=d.id, at=clock.now())
        db_session.commit()
        assert sender.run_once() == 1
    finally:
        sender.stop()
    (d,) = _deliveries(db_session)
    assert d.status == "delivered" and len(hook.requests) == 4


def test_a_final_refusal_is_not_retried(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings,
    clock: FrozenClock, demo: DemoData, hook: WebhookReceiver,
) -> None:  # fmt: skip
    _liaison(db_session, demo, settings, hook.url, at=clock.now())
    _notice(db_session, demo, clock)
    hook.answers = [410]
    sender = _sender(session_factory, settings, clock)
    try:
        sender.run_once()
    finally:
        sender.stop()
    (d,) = _deliveries(db_session)
    assert (d.status, d.attempts) == ("failed", 1) and "410" in (d.last_error or "")


def test_two_senders_never_send_one_delivery_twice(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings,
    clock: FrozenClock, demo: DemoData, hook: WebhookReceiver,
) -> None:  # fmt: skip
    _liaison(db_session, demo, settings, hook.url, at=clock.now())
    _notice(db_session, demo, clock, n=40)
    senders = [_sender(session_factory, settings, clock) for _ in range(2)]
    start = threading.Barrier(2)

    def drain(sender: Sender) -> None:
        start.wait()
        while sender.run_once():
            pass

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        for s in senders:
            s.stop()
    assert {d.status for d in _deliveries(db_session)} == {"delivered"}
    ids = [r.headers["webhook-id"] for r in hook.requests]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert all(d.attempts == 1 for d in _deliveries(db_session))


def test_a_removed_or_switched_off_liaison_is_given_up(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings,
    clock: FrozenClock, demo: DemoData, hook: WebhookReceiver,
) -> None:  # fmt: skip
    gone = _liaison(db_session, demo, settings, hook.url, at=clock.now())
    off = _liaison(db_session, demo, settings, hook.url + "/2", at=clock.now())
    _notice(db_session, demo, clock)
    service.delete_liaison(db_session=db_session, liaison=gone)
    service.update_liaison(db_session=db_session, liaison=off, settings=settings, at=clock.now(),
                           active=False)  # fmt: skip
    db_session.commit()
    sender = _sender(session_factory, settings, clock)
    try:
        sender.run_once()
    finally:
        sender.stop()
    rows = _deliveries(db_session)
    assert [(d.status, d.liaison_id) for d in rows] == [("failed", None), ("failed", off.id)]
    assert hook.requests == []
    assert db_session.scalar(select(Notification.id)) is not None  # the notice stays in the log


def test_a_notice_follows_the_liaisons_kinds_and_an_inactive_one_gets_none(
    db_session: Session, settings: Settings, clock: FrozenClock, demo: DemoData
) -> None:
    every = _liaison(db_session, demo, settings, "http://127.0.0.1:9/a", at=clock.now())
    urgent = _liaison(db_session, demo, settings, "http://127.0.0.1:9/b", at=clock.now())
    service.update_liaison(db_session=db_session, liaison=urgent, settings=settings,
                           at=clock.now(), kinds=["one_key_report"])  # fmt: skip
    off = _liaison(db_session, demo, settings, "http://127.0.0.1:9/c", at=clock.now())
    service.update_liaison(db_session=db_session, liaison=off, settings=settings, at=clock.now(),
                           active=False)  # fmt: skip
    _notice(db_session, demo, clock)  # a dispatch
    assert [d.liaison_id for d in _deliveries(db_session)] == [every.id]


def test_an_email_liaison_is_delivered_to_a_real_mailbox(
    db_session: Session, session_factory: sessionmaker[Session], settings: Settings,
    clock: FrozenClock, demo: DemoData,
) -> None:  # fmt: skip
    with Mailbox() as box:
        settings = settings.model_copy(update=box.settings())
        _liaison(db_session, demo, settings, "wang@unit.example.org", channel="email",
                 at=clock.now())  # fmt: skip
        _notice(db_session, demo, clock)
        sender = _sender(session_factory, settings, clock)
        try:
            assert sender.run_once() == 1
        finally:
            sender.stop()
        (mail,) = box.messages
    assert mail.rcpt_tos == ["wang@unit.example.org"]
    (d,) = _deliveries(db_session)
    assert d.status == DeliveryStatus.delivered
