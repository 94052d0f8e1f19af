"""Timer trigger: deadline supervision (督办), warnings before a deadline, escalation after it.

``run_supervision`` is called periodically (by ``gridlink hub run``, or by tests with a
``FrozenClock``). It is idempotent for a given instant: a warning is recorded once per
deadline, an overdue case climbs one level per run, and a case overdue at district level is
put under listed supervision once. It also judges the on-site confirmations still waiting for
their photos whose blobs have all arrived (``blob_arrival.resolve_pending``: the safety net of
the ingest's blob-completion trigger).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.deadlines import warning_due_at
from hub.cases.flows.blob_arrival import resolve_pending
from hub.cases.models import SupervisionLevel
from hub.cases.queries import open_cases_with_deadline, parked_for_review
from hub.cases.routing import next_level
from hub.clock import Clock
from hub.settings import Settings

logger = logging.getLogger(__name__)

ACTOR = "system:supervision"


@dataclass
class SupervisionReport:
    warned: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    supervised: list[int] = field(default_factory=list)
    review_due: list[int] = field(default_factory=list)  # parked cases whose review date came
    verified: list[int] = field(default_factory=list)  # pending verifications resolved

    @property
    def changed(self) -> int:
        lists = (self.warned, self.escalated, self.supervised, self.review_due, self.verified)
        return sum(len(items) for items in lists)


def run_supervision(*, db_session: Session, clock: Clock, settings: Settings) -> SupervisionReport:
    """One supervision pass over every case whose unit's deadline is running. Flushes only."""
    now = clock.now()
    report = SupervisionReport()
    for case in open_cases_with_deadline(db_session=db_session):
        assert case.deadline_at is not None
        if now > case.deadline_at:
            overdue_by = now - case.deadline_at
            reason = f"overdue: deadline {case.deadline_at.isoformat()} passed by {overdue_by}"
            if next_level(case.level) is not None:
                actions.escalate(
                    db_session=db_session,
                    case=case,
                    actor=ACTOR,
                    at=now,
                    settings=settings,
                    reason=reason,
                    overdue=True,
                )
                report.escalated.append(case.id)
            elif case.supervision_level != SupervisionLevel.listed:  # a reminder is not enough
                actions.supervise(
                    db_session=db_session,
                    case=case,
                    actor=ACTOR,
                    at=now,
                    level=SupervisionLevel.listed,
                    settings=settings,
                    reason=reason,
                )
                report.supervised.append(case.id)
            continue
        due = warning_due_at(case, settings)
        if due is not None and now >= due and case.warned_at is None:
            actions.warn(db_session=db_session, case=case, actor=ACTOR, at=now, settings=settings)
            report.warned.append(case.id)
    for case in parked_for_review(db_session=db_session, now=now):
        actions.warn(db_session=db_session, case=case, actor=ACTOR, at=now, settings=settings)
        report.review_due.append(case.id)
    report.verified = resolve_pending(db_session=db_session, clock=clock, settings=settings)
    db_session.flush()
    if report.changed:
        logger.info("supervision: %s", report)
    return report
