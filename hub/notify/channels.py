"""The one small interface every channel implements, and what a delivery hands it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One delivery of one notification, as a channel sends it."""

    delivery_id: int
    notification_id: int
    channel: str  # hub.notify.models.Channel
    kind: str
    created_at: datetime
    subject: str
    body: str
    data: dict[str, Any]
    address: str
    secret: str | None  # the webhook signing secret

    @property
    def message_id(self) -> str:
        """Stable across retries, so a receiver drops a repeat (Standard Webhooks' webhook-id)."""
        return f"gl_{self.notification_id}_{self.delivery_id}"


class DeliveryFailed(Exception):
    """The receiver did not take the message. ``permanent``: trying again cannot help (the
    receiver refused this message or address for good), so the delivery is given up."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail[:500]
        self.permanent = permanent


class Channel(Protocol):
    def send(self, message: Message) -> str:
        """Deliver ``message``; returns what the receiver answered (for the delivery log).
        Raises ``DeliveryFailed``."""
        ...
