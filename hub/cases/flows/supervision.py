"""Timer trigger: deadline supervision (督办), warnings before a deadline, escalation after it.

``run_supervision`` is called periodically (by ``gridlink hub run``, or by tests with a
``FrozenClock``). It is idempotent for a given instant: a warning is recorded once per
deadline, an overdue case climbs one level of the escalation chain per run, and a case
overdue at the top of the chain (the city by default) is put under listed supervision once.
Supervision notices climb their ladder: one whose deadline passed unmet is ended as escalated
and the next kind issued (``_climb``). It also judges the on-site confirmations still waiting
for their photos whose blobs have all arrived (``blob_arrival.resolve_pending``: the safety
net of the ingest's blob-completion trigger).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from hub.cases import actions, supervisions
from hub.cases.deadlines import warning_due_at
from hub.cases.flows.blob_arrival import resolve_pending
from hub.cases.models import OPEN_STATUSES, Case, SupervisionLevel, SupervisionStatus
from hub.cases.queries import open_cases_with_deadline, parked_for_review
from hub.cases.routing import upper_level
from hub.clock import Clock
from hub.settings import Settings

logger = logging.getLogger(__name__)

ACTOR = "system:supervision"


@dataclass
class SupervisionReport:
    warned: list[int] = field(default_factory=list)
    notices_met: list[int] = field(default_factory=list)  # supervision ids met by the result
    notices_climbed: list[int] = field(default_factory=list)  # ids escalated to the next kind
    escalated: list[int] = field(default_factory=list)
    supervised: list[int] = field(default_factory=list)
    review_due: list[int] = field(default_factory=list)  # parked cases whose review date came
    verified: list[int] = field(default_factory=list)  # pending verifications resolved

    @property
    def changed(self) -> int:
        lists = (self.warned, self.escalated, self.supervised, self.review_due, self.verified,
                 self.notices_met, self.notices_climbed)  # fmt: skip
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
            if upper_level(db_session=db_session, case=case, settings=settings) is not None:
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
                    automatic=True,
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
    _climb(db_session, now, settings, report)
    report.verified = resolve_pending(db_session=db_session, clock=clock, settings=settings)
    db_session.flush()
    if report.changed:
        logger.info("supervision: %s", report)
    return report


def _climb(
    db_session: Session, now: datetime, settings: Settings, report: SupervisionReport
) -> None:
    """Each open supervision notice: met once the unit's result is in before its deadline;
    past its deadline unmet, ended as ``escalated`` and the ladder's next kind issued (at the
    top it stays open, overdue, for the centre to act on)."""
    for notice in supervisions.open_supervisions(db_session=db_session):
        case = db_session.get(Case, notice.case_id)
        assert case is not None
        if supervisions.result_in_time(notice, case):
            supervisions.end(notice, SupervisionStatus.met, now, "the unit's result came in time")
            report.notices_met.append(notice.id)
            continue
        if notice.deadline_at is None or now <= notice.deadline_at:
            continue
        upper = supervisions.next_kind(notice.kind, settings)
        if upper is None or case.status not in OPEN_STATUSES:
            continue
        heaviest = supervisions.heaviest_open(db_session=db_session, case_id=case.id)
        if heaviest is not None and supervisions.ORDER.index(heaviest) >= supervisions.ORDER.index(
            upper
        ):
            supervisions.end(notice, SupervisionStatus.escalated, now, f"{heaviest} is open")
            report.notices_climbed.append(notice.id)
            continue  # the case is already under a heavier notice: nothing lighter is issued
        supervisions.end(notice, SupervisionStatus.escalated, now, f"deadline passed: {upper}")
        actions.supervise(
            db_session=db_session,
            case=case,
            actor=ACTOR,
            at=now,
            level=SupervisionLevel(upper),
            settings=settings,
            reason=f"{notice.kind} {notice.id} unmet by {notice.deadline_at.isoformat()}",
            automatic=True,
            previous=notice,
        )
        report.notices_climbed.append(notice.id)
