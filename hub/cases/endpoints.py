"""The case actions the API offers, as one table: action -> allowed roles, body schema and what
to run. ``hub.cases.api.actions`` serves each row as ``POST /api/cases/{case_id}/<path>``, and
the case detail offers as next actions only the allowed actions that have a row here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from hub.auth.models import Role
from hub.auth.service import Principal
from hub.cases import actions, hotline
from hub.cases.evidence import require_visible
from hub.cases.flows.unit_feedback import submit_feedback
from hub.cases.models import Case, CaseStatus
from hub.cases.queries import get_case
from hub.cases.schemas import (
    BlobRef,
    CallbackBody,
    CloseBody,
    CoAssignBody,
    CoFeedbackBody,
    ComplaintBody,
    CoReleaseBody,
    DispatchBody,
    EscalateBody,
    FeedbackBody,
    FileBody,
    ParkBody,
    RateBody,
    ReasonBody,
    RequiredReasonBody,
    ReturnVisitBody,
    SuperviseBody,
    VoidBody,
)
from hub.cases.workflow import Action, allowed_actions
from hub.clock import Clock
from hub.errors import InvalidInputError, PermissionDeniedError
from hub.settings import Settings

OPERATORS = (Role.admin, Role.operator)
ANYONE = (Role.admin, Role.operator, Role.unit)

B = TypeVar("B", bound=BaseModel)


@dataclass(frozen=True)
class ActionContext:
    """What an action endpoint runs with: the request's session, caller, time and settings."""

    db_session: Session
    user: Principal
    now: datetime
    clock: Clock
    settings: Settings


Run = Callable[[ActionContext, Case, BaseModel | None], object]


@dataclass(frozen=True)
class ActionEndpoint:
    action: Action
    path: str  # the last segment of the URL
    name: str  # the operation's name (the OpenAPI summary falls back on it)
    roles: tuple[Role, ...]
    body: type[BaseModel] | None  # None: the endpoint takes no request body
    run: Run
    summary: str | None = None
    aliases: tuple[str, ...] = ()  # older paths still served, hidden from the OpenAPI


def _row(
    action: Action,
    roles: tuple[Role, ...],
    body: type[B],
    run: Callable[[ActionContext, Case, B], object],
    summary: str | None = None,
    aliases: tuple[str, ...] = (),
    path: str | None = None,
) -> ActionEndpoint:
    def typed(ctx: ActionContext, case: Case, payload: BaseModel | None) -> object:
        assert isinstance(payload, body)
        return run(ctx, case, payload)

    return ActionEndpoint(
        action, path or action.value, f"{action.value}_case", roles, body, typed, summary, aliases
    )


# What a unit that only co-handles a case may do on it: give its own part.
CO_HANDLER_ACTIONS = frozenset({Action.co_feedback})


def _file(ctx: ActionContext, case: Case, body: FileBody) -> object:
    return actions.file(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        category_code=body.category_code,
        reason=body.reason,
    )


def _void(ctx: ActionContext, case: Case, body: VoidBody) -> object:
    first = None
    if body.duplicate_of is not None:
        first = get_case(db_session=ctx.db_session, case_id=body.duplicate_of, principal=ctx.user)
    return actions.void(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        reason=body.reason,
        note=body.note,
        duplicate_of=first,
    )


def _dispatch(ctx: ActionContext, case: Case, body: DispatchBody) -> object:
    return actions.dispatch(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        settings=ctx.settings,
        unit_id=body.unit_id,
        reason=body.reason,
        co_unit_ids=body.co_unit_ids,
    )


def _co_assign(ctx: ActionContext, case: Case, body: CoAssignBody) -> object:
    return actions.co_assign(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        settings=ctx.settings,
        unit_ids=list(body.unit_ids),
        reason=body.reason,
    )


def _co_feedback(ctx: ActionContext, case: Case, body: CoFeedbackBody) -> object:
    if ctx.user.role == Role.unit:
        if body.unit_id not in (None, ctx.user.unit_id):
            raise PermissionDeniedError("a unit gives its own part only")
        unit_id = ctx.user.unit_id
    elif body.unit_id is None:
        raise InvalidInputError("name the co-handling unit (unit_id) whose part this is")
    else:
        unit_id = body.unit_id
    assert unit_id is not None
    return actions.co_feedback(
        db_session=ctx.db_session,
        case=case,
        unit_id=unit_id,
        actor=ctx.user.actor,
        at=ctx.now,
        text=body.text,
        blobs=_cited(ctx, body.blobs),
    )


def _co_release(ctx: ActionContext, case: Case, body: CoReleaseBody) -> object:
    return actions.co_release(
        db_session=ctx.db_session,
        case=case,
        unit_id=body.unit_id,
        actor=ctx.user.actor,
        at=ctx.now,
        reason=body.reason,
    )


def _accept(ctx: ActionContext, case: Case, body: ReasonBody) -> object:
    return actions.accept(
        db_session=ctx.db_session, case=case, actor=ctx.user.actor, at=ctx.now, reason=body.reason
    )


def _cited(ctx: ActionContext, blobs: list[BlobRef]) -> list[dict[str, Any]]:
    cited = [b.model_dump() for b in blobs]
    require_visible(db_session=ctx.db_session, principal=ctx.user, blobs=cited)
    return cited


def _feedback(ctx: ActionContext, case: Case, body: FeedbackBody) -> object:
    return submit_feedback(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        text=body.text,
        blobs=_cited(ctx, body.blobs),
        clock=ctx.clock,
        settings=ctx.settings,
    )


def _request_verification(ctx: ActionContext, case: Case, _body: BaseModel | None) -> object:
    return actions.request_verification(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        settings=ctx.settings,
        clock=ctx.clock,
    )


def _close(ctx: ActionContext, case: Case, body: CloseBody) -> object:
    return actions.close(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        settings=ctx.settings,
        taken_at=body.taken_at or ctx.now,
        loc=body.loc.model_dump() if body.loc else None,
        blobs=_cited(ctx, body.blobs),
        text=body.text,
    )


def _reopen(ctx: ActionContext, case: Case, body: RequiredReasonBody) -> object:
    return actions.rework(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        reason=body.reason,
        action=Action.reopen,
        settings=ctx.settings,
    )


def _complaint(ctx: ActionContext, case: Case, body: ComplaintBody) -> object:
    return actions.complain(db_session=ctx.db_session, case=case, actor=ctx.user.actor,
                            at=ctx.now, settings=ctx.settings, text=body.text,
                            channel=body.channel)  # fmt: skip


def _return_visit(ctx: ActionContext, case: Case, body: ReturnVisitBody) -> object:
    return actions.return_visit(db_session=ctx.db_session, case=case, actor=ctx.user.actor,
                                at=ctx.now, outcome=body.outcome, note=body.note)  # fmt: skip


def _callback(ctx: ActionContext, case: Case, body: CallbackBody) -> object:
    hotline.record_callback(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        outcome=body.outcome,
        note=body.note,
    )
    return None


def _rate(ctx: ActionContext, case: Case, body: RateBody) -> object:
    return actions.rate(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        score=body.score,
        comment=body.comment,
        settings=ctx.settings,
    )


def _escalate(ctx: ActionContext, case: Case, body: EscalateBody) -> object:
    return actions.escalate(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        settings=ctx.settings,
        reason=body.reason,
        unit_id=body.unit_id,
    )


def _park(ctx: ActionContext, case: Case, body: ParkBody) -> object:
    return actions.park(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        review_at=body.review_at,
        reason=body.reason,
    )


def _supervise(ctx: ActionContext, case: Case, body: SuperviseBody) -> object:
    return actions.supervise(
        db_session=ctx.db_session,
        case=case,
        actor=ctx.user.actor,
        at=ctx.now,
        level=body.level,
        settings=ctx.settings,
        reason=body.reason,
        deadline_at=body.deadline_at,
    )


ACTION_ENDPOINTS: tuple[ActionEndpoint, ...] = (
    _row(Action.file, OPERATORS, FileBody, _file),
    _row(Action.void, OPERATORS, VoidBody, _void),
    _row(Action.dispatch, OPERATORS, DispatchBody, _dispatch),
    _row(Action.accept, ANYONE, ReasonBody, _accept, "The unit starts handling", ("handle",)),
    _row(
        Action.feedback,
        ANYONE,
        FeedbackBody,
        _feedback,
        "The unit's result; pushes verification to the grid's handheld",
    ),
    ActionEndpoint(
        Action.request_verification,
        "request-verification",
        "request_verification",
        OPERATORS,
        None,
        _request_verification,
    ),
    _row(
        Action.close,
        OPERATORS,
        CloseBody,
        _close,
        "Close with on-site evidence (photo, location, time)",
    ),
    _row(
        Action.callback,
        OPERATORS,
        CallbackBody,
        _callback,
        "Record the call back to a hotline caller (before closing)",
    ),
    _row(Action.reopen, OPERATORS, RequiredReasonBody, _reopen, "Back to handling (rework)"),
    _row(Action.rate, OPERATORS, RateBody, _rate, "Satisfaction 1-5 (a low score reopens)"),
    _row(
        Action.complaint,
        OPERATORS,
        ComplaintBody,
        _complaint,
        "A resident's complaint after closing: back to handling (rework)",
    ),
    _row(
        Action.return_visit,
        OPERATORS,
        ReturnVisitBody,
        _return_visit,
        "A return visit to the resident (回访), with its outcome",
        path="return-visit",
    ),
    _row(
        Action.escalate,
        ANYONE,
        EscalateBody,
        _escalate,
        "One level up (the unit cannot solve it)",
    ),
    _row(Action.park, OPERATORS, ParkBody, _park, "Park with a review date"),
    _row(
        Action.co_assign,
        OPERATORS,
        CoAssignBody,
        _co_assign,
        "Ask units to co-handle the case beside its lead unit",
        path="co-assign",
    ),
    _row(
        Action.co_feedback,
        ANYONE,
        CoFeedbackBody,
        _co_feedback,
        "A co-handling unit's part of the case, with its result",
        path="co-feedback",
    ),
    _row(
        Action.co_release,
        OPERATORS,
        CoReleaseBody,
        _co_release,
        "Let a co-handling unit go before its part is done",
        path="co-release",
    ),
    _row(
        Action.supervise,
        OPERATORS,
        SuperviseBody,
        _supervise,
        "Put under supervision (reminder ... listed)",
    ),
)

_OFFERED = frozenset(row.action for row in ACTION_ENDPOINTS)


def offered_actions(status: CaseStatus | str | None) -> list[Action]:
    """The actions allowed in ``status`` that the API has an endpoint for (the next actions)."""
    return [action for action in allowed_actions(status) if action in _OFFERED]
