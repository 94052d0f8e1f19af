"""The webhook channel: an HTTP POST of JSON signed per the Standard Webhooks specification
(https://www.standardwebhooks.com), so a receiver checks it with any of that spec's libraries.

Headers ``webhook-id`` (stable across retries), ``webhook-timestamp`` (unix seconds of this
attempt) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 over ``id.timestamp.body``
with the liaison's secret). The body is ``{"type": "case.<kind>", "timestamp", "data"}``.
A 2xx answer is delivered; a redirect is not followed.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from hub.notify.channels import DeliveryFailed, Message

# Answers that say this message will never be taken; anything else is tried again.
PERMANENT_STATUSES = frozenset({400, 404, 405, 410, 413, 415, 422})
USER_AGENT = "Gridlink-Hub (notifications)"


def payload(message: Message) -> str:
    return json.dumps(
        {
            "type": f"case.{message.kind}",
            "timestamp": message.created_at.isoformat(),
            "data": message.data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


class WebhookChannel:
    def __init__(self, *, timeout_s: float, client: httpx.Client | None = None) -> None:
        self._client = client or httpx.Client(
            timeout=timeout_s, follow_redirects=False, headers={"user-agent": USER_AGENT}
        )

    def close(self) -> None:
        self._client.close()

    def send(self, message: Message) -> str:
        if not message.secret:
            raise DeliveryFailed("the liaison has no signing secret", permanent=True)
        body = payload(message)
        now = datetime.fromtimestamp(int(time.time()), UTC)  # transport time, not the clock's
        signature = Webhook(message.secret).sign(message.message_id, now, body)
        headers = {
            "content-type": "application/json; charset=utf-8",
            "webhook-id": message.message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        }
        try:
            answer = self._client.post(message.address, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if 200 <= answer.status_code < 300:
            return f"HTTP {answer.status_code}"
        detail = f"HTTP {answer.status_code}: {answer.text[:200]}"
        raise DeliveryFailed(detail, permanent=answer.status_code in PERMANENT_STATUSES)
