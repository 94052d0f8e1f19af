"""Unit trigger: the responsible unit reports its result (over HTTP), then verification is
pushed to the handheld of the case's grid when there is one. Flushes only."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.models import Case
from hub.cases.workflow import SYSTEM_ACTOR
from hub.clock import Clock
from hub.errors import ConflictError, InvalidInputError
from hub.settings import Settings

logger = logging.getLogger(__name__)


def submit_feedback(
    *,
    db_session: Session,
    case: Case,
    actor: str,
    text: str,
    clock: Clock,
    settings: Settings,
    blobs: list[dict[str, Any]] | None = None,
) -> Case:
    """The unit's result; then push verification to the grid's handheld when there is one."""
    now = clock.now()
    actions.feedback(db_session=db_session, case=case, actor=actor, at=now, text=text, blobs=blobs)
    try:
        actions.request_verification(
            db_session=db_session,
            case=case,
            actor=SYSTEM_ACTOR,
            at=now,
            settings=settings,
            clock=clock,
        )
    except (ConflictError, InvalidInputError) as exc:
        logger.warning("case %s: verification not pushed yet: %s", case.id, exc)
    db_session.flush()
    return case
