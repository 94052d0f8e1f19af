"""The case state machine: which action may move a case from which state to which, and the
append-only audit record every action leaves.

Seven steps (DESIGN.md section 2) map onto actions as follows:
collect -> ``collect``; file -> ``file``; dispatch -> ``dispatch`` (and ``escalate``);
handle -> ``accept``; feedback -> ``feedback``; verify & close -> ``request_verification`` then
``close`` (or ``reject`` / ``reopen``: rework); evaluate -> ``rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from hub.cases.models import DEADLINE_STATUSES, OPEN_STATUSES, Case, CaseStatus, CaseTransition
from hub.errors import TransitionError

S = CaseStatus

SYSTEM_ACTOR = "system"  # the actor of transitions the hub makes on its own


class Action(StrEnum):
    collect = "collect"
    file = "file"
    void = "void"
    dispatch = "dispatch"
    accept = "accept"
    feedback = "feedback"
    request_verification = "request_verification"
    close = "close"
    reject = "reject"  # the on-site verification failed: back to handling (rework)
    reopen = "reopen"  # an operator sends the result back: rework
    rate = "rate"
    escalate = "escalate"
    park = "park"
    # Records that do not change the status (supervision):
    warn = "warn"
    supervise = "supervise"
    verify_refused = "verify_refused"  # a verification arrived but failed the evidence gate
    verify_pending = "verify_pending"  # a confirmation waits for its photos to be received
    callback = "callback"  # the call back to a hotline caller (回访), before closing
    # Multi-department cases (多部门协同): the lead unit is the case's unit; co-handlers each
    # give their own part (records, no status change)
    co_assign = "co_assign"  # units asked to co-handle
    co_feedback = "co_feedback"  # a co-handler's part done, with its result
    co_release = "co_release"  # an operator lets a co-handler go (its part not needed)
    supervision_response = "supervision_response"  # the unit answers a supervision notice
    supervision_withdraw = "supervision_withdraw"  # an operator withdraws one
    complaint = "complaint"  # a resident's complaint after closing: back to handling (rework)
    return_visit = "return_visit"  # a return visit to the resident (回访), with its outcome
    task_sent = "task_sent"  # a task about the case sent to the grid's handheld
    task_answer = "task_answer"  # the worker's answer to it (text, location, photos)


@dataclass(frozen=True)
class Rule:
    sources: frozenset[CaseStatus | None]
    target: CaseStatus | None  # None: the status does not change
    step: str | None = None  # which of the seven steps this action completes


def _rule(
    sources: set[CaseStatus | None] | frozenset[CaseStatus],
    target: CaseStatus | None,
    step: str | None = None,
) -> Rule:
    return Rule(frozenset(sources), target, step)


RULES: dict[Action, Rule] = {
    Action.collect: _rule({None}, S.pending_acceptance, "collect"),
    Action.file: _rule({S.pending_acceptance}, S.filed, "file"),
    Action.void: _rule({S.pending_acceptance, S.filed, S.parked}, S.voided),
    Action.dispatch: _rule({S.filed, S.parked}, S.dispatched, "dispatch"),
    Action.accept: _rule({S.dispatched}, S.handling, "handle"),
    Action.feedback: _rule({S.handling}, S.feedback, "feedback"),
    Action.request_verification: _rule({S.feedback, S.verifying}, S.verifying, "verify"),
    Action.close: _rule({S.feedback, S.verifying}, S.closed, "close"),
    Action.reject: _rule({S.verifying}, S.handling),
    Action.reopen: _rule({S.feedback, S.verifying, S.closed, S.evaluated}, S.handling),
    Action.rate: _rule({S.closed}, S.evaluated, "evaluate"),
    Action.escalate: _rule({S.dispatched, S.handling}, S.dispatched, "dispatch"),
    Action.park: _rule({S.filed, S.dispatched, S.handling}, S.parked),
    Action.warn: _rule(DEADLINE_STATUSES | {S.parked}, None),
    Action.supervise: _rule(OPEN_STATUSES, None),
    Action.verify_refused: _rule({S.verifying}, None),
    Action.verify_pending: _rule({S.verifying}, None),
    Action.callback: _rule({S.feedback, S.verifying}, None),
    Action.co_assign: _rule(DEADLINE_STATUSES, None),
    Action.co_feedback: _rule(DEADLINE_STATUSES, None),
    Action.co_release: _rule(DEADLINE_STATUSES, None),
    Action.supervision_response: _rule(OPEN_STATUSES, None),
    Action.supervision_withdraw: _rule(OPEN_STATUSES, None),
    Action.complaint: _rule({S.closed, S.evaluated}, S.handling),
    Action.return_visit: _rule({S.closed, S.evaluated}, None),
    Action.task_sent: _rule(OPEN_STATUSES | {S.closed, S.evaluated}, None),
    Action.task_answer: _rule(OPEN_STATUSES | {S.closed, S.evaluated}, None),
}


def allowed_actions(status: CaseStatus | str | None) -> list[Action]:
    """Actions that may be applied to a case in ``status`` (for UIs and error messages)."""
    current = CaseStatus(status) if status is not None else None
    return [action for action, rule in RULES.items() if current in rule.sources]


def check(case: Case, action: Action) -> Rule:
    """Return the rule for ``action`` or raise ``TransitionError`` when the state forbids it."""
    rule = RULES[action]
    current = CaseStatus(case.status) if case.status is not None else None
    if current not in rule.sources:
        allowed = sorted(s.value if s else "new" for s in rule.sources)
        where = current.value if current else "new"
        raise TransitionError(
            f"cannot {action.value} case {case.id} in status {where}; "
            f"{action.value} is allowed from: {', '.join(allowed)}",
            case_id=case.id,
            action=action.value,
            status=where,
        )
    return rule


def record(
    *,
    db_session: Session,
    case: Case,
    action: Action,
    actor: str,
    at: datetime,
    reason: str | None = None,
    evidence: dict[str, Any] | None = None,
) -> CaseTransition:
    """Apply ``action`` to ``case`` (status change, if any) and append its audit row.

    Callers change the case's other fields (unit, deadline, ...) before calling, so the row
    records the level and unit the case is in after the action.
    """
    rule = check(case, action)
    from_status = case.status
    if rule.target is not None:
        case.status = rule.target.value
    case.updated_at = at
    row = CaseTransition(
        case=case,
        at=at,
        actor=actor,
        action=action.value,
        from_status=from_status,
        to_status=case.status,
        level=case.level,
        unit_id=case.unit_id,
        reason=reason,
        evidence=evidence or {},
    )
    db_session.add(row)
    return row
