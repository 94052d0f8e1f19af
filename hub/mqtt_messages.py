"""MQTT messages as plain records: what ingest receives (``Inbound``) and what the hub publishes
(``Outbound``: commands, receipts, hub state). No paho here; only ``hub.ingest.worker`` talks to
the broker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Inbound:
    """A message as received: topic, payload and the broker's message id (for manual acks)."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 1


@dataclass(frozen=True)
class Outbound:
    """A message the hub wants published (commands, receipts, hub state)."""

    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 1
