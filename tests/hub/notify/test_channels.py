"""The two channels against real local receivers: the webhook's Standard Webhooks signature
checked by that spec's own library, the e-mail through a real SMTP server; what fails is
classed as worth retrying or not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from hub.notify.channels import DeliveryFailed, Message
from hub.notify.mail import EmailChannel
from hub.notify.service import new_secret
from hub.notify.webhook import WebhookChannel
from hub.settings import Settings
from tests.support.net import free_port
from tests.support.receivers import Mailbox, WebhookReceiver


def _message(address: str, secret: str | None = None) -> Message:
    return Message(
        delivery_id=7,
        notification_id=3,
        channel="webhook" if "://" in address else "email",
        kind="one_key_report",
        created_at=datetime(2026, 1, 5, 1, 0, tzinfo=UTC),
        subject="【网格通】一键上报：案件 12 垃圾 | One-key report: case 12",
        body="一键上报\n案件编号：12\n\nOne-key report: case 12\n",
        data={"case": {"id": 12, "text": "小区东门垃圾堆放"}},
        address=address,
        secret=secret,
    )


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def box() -> Iterator[Mailbox]:
    with Mailbox() as mailbox:
        yield mailbox


def test_a_webhook_is_signed_so_the_spec_library_verifies_it(hook: WebhookReceiver) -> None:
    secret = new_secret()
    channel = WebhookChannel(timeout_s=5)
    try:
        assert channel.send(_message(hook.url, secret)) == "HTTP 200"
    finally:
        channel.close()
    (got,) = hook.requests
    assert got.headers["webhook-id"] == "gl_3_7"
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "case.one_key_report"
    assert payload["data"]["case"]["text"] == "小区东门垃圾堆放"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(got.body, got.headers)  # another secret
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"12", b"13"), got.headers)  # changed body


@pytest.mark.parametrize(("status", "permanent"), [(503, False), (429, False), (410, True),
                                                   (400, True), (401, False)])  # fmt: skip
def test_a_refusal_is_retried_unless_it_is_final(
    hook: WebhookReceiver, status: int, permanent: bool
) -> None:
    hook.answers = [status]
    channel = WebhookChannel(timeout_s=5)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            channel.send(_message(hook.url, new_secret()))
    finally:
        channel.close()
    assert failed.value.permanent is permanent
    assert failed.value.detail.startswith(f"HTTP {status}")


def test_a_receiver_that_is_down_is_worth_retrying() -> None:
    channel = WebhookChannel(timeout_s=2)
    try:
        with pytest.raises(DeliveryFailed) as failed:
            channel.send(_message(f"http://127.0.0.1:{free_port()}/x", new_secret()))
    finally:
        channel.close()
    assert not failed.value.permanent and "ConnectError" in failed.value.detail


def test_an_email_arrives_whole_in_chinese_and_english(box: Mailbox, settings: Settings) -> None:
    channel = EmailChannel(settings.model_copy(update=box.settings()))
    answer = channel.send(_message("liaison@unit.example.org"))
    assert answer.startswith("SMTP accepted")
    (mail,) = box.messages
    assert mail.rcpt_tos == ["liaison@unit.example.org"]
    assert mail.envelope_from == "gridlink@hub.example.org"
    assert mail.message["Subject"] == "【网格通】一键上报：案件 12 垃圾 | One-key report: case 12"
    assert mail.message["X-Gridlink-Notification"] == "one_key_report"
    assert "gl_3_7" in mail.message["Message-ID"]
    text = mail.message.get_content()
    assert "案件编号：12" in text and "One-key report: case 12" in text


def test_a_refused_mailbox_is_final_and_a_down_server_is_not(
    box: Mailbox, settings: Settings
) -> None:
    box.refuse.add("gone@unit.example.org")
    channel = EmailChannel(settings.model_copy(update=box.settings()))
    with pytest.raises(DeliveryFailed) as refused:
        channel.send(_message("gone@unit.example.org"))
    assert refused.value.permanent and "550" in refused.value.detail
    down = EmailChannel(settings.model_copy(update={**box.settings(), "smtp_port": free_port()}))
    with pytest.raises(DeliveryFailed) as failed:
        down.send(_message("liaison@unit.example.org"))
    assert not failed.value.permanent
    assert box.messages == []
