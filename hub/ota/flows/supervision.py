"""The OTA timer (``gridlink hub run``'s supervision loop): devices past their timeout fail,
running rollouts advance / pause / complete, their stage's commands are queued."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from hub.clock import Clock
from hub.ota import rollouts

logger = logging.getLogger(__name__)


def run_ota_supervision(*, db_session: Session, clock: Clock) -> int:
    """One pass; returns the devices timed out. The caller commits."""
    n = rollouts.supervise(db_session=db_session, clock=clock)
    if n:
        logger.warning("ota: %d device(s) timed out", n)
    return n
