"""A verified envelope on its way into the events table (``hub.ingest.events`` makes them,
``hub.ingest.batch`` and the careful path store them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protocol.envelope import Envelope


@dataclass
class Candidate:
    """An envelope that passed every check except (device, seq) uniqueness."""

    device_id: str
    env: Envelope
    raw: bytes
    digest: str
    historical: bool  # the envelope's hist flag, or a late arrival
    grid_code: str | None
    revoked: bool = False  # from a revoked device (at or below its watermark)
