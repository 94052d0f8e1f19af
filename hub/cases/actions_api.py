"""Cases API: one POST per workflow action. Thin: ``actions`` / ``flows`` do the work."""

from __future__ import annotations

from fastapi import APIRouter

from hub.api.deps import ClockDep, CurrentUser, SessionDep, SettingsDep
from hub.cases import actions, flows, service
from hub.cases.api import ANYONE, OPERATORS
from hub.cases.api import act as _act  # shared "load, check role, do, commit"
from hub.cases.models import Case
from hub.cases.schemas import (
    CaseDetail,
    CloseBody,
    DispatchBody,
    EscalateBody,
    FeedbackBody,
    FileBody,
    ParkBody,
    RateBody,
    ReasonBody,
    RequiredReasonBody,
    SuperviseBody,
    VoidBody,
)
from hub.cases.workflow import Action

router = APIRouter(prefix="/api/cases", tags=["case actions"])


@router.post("/{case_id}/file", response_model=CaseDetail)
def file_case(
    case_id: int, body: FileBody, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: actions.file(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            category_code=body.category_code,
            reason=body.reason,
        ),
    )


@router.post("/{case_id}/void", response_model=CaseDetail)
def void_case(
    case_id: int, body: VoidBody, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    def do(case: Case) -> None:
        first = None
        if body.duplicate_of is not None:
            first = service.get_case(
                db_session=db_session, case_id=body.duplicate_of, principal=user
            )
        actions.void(
            db_session=db_session,
            case=case,
            actor=user.actor,
            at=clock.now(),
            reason=body.reason,
            note=body.note,
            duplicate_of=first,
        )

    return _act(db_session, user, clock, case_id, OPERATORS, do)


@router.post("/{case_id}/dispatch", response_model=CaseDetail)
def dispatch_case(
    case_id: int,
    body: DispatchBody,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: actions.dispatch(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            settings=settings,
            unit_id=body.unit_id,
            reason=body.reason,
        ),
    )


@router.post("/{case_id}/handle", response_model=CaseDetail, include_in_schema=False)
@router.post("/{case_id}/accept", response_model=CaseDetail, summary="The unit starts handling")
def accept_case(
    case_id: int, body: ReasonBody, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        ANYONE,
        lambda c: actions.accept(
            db_session=db_session, case=c, actor=user.actor, at=clock.now(), reason=body.reason
        ),
    )


@router.post(
    "/{case_id}/feedback",
    response_model=CaseDetail,
    summary="The unit's result; pushes verification to the grid's handheld",
)
def feedback_case(
    case_id: int,
    body: FeedbackBody,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        ANYONE,
        lambda c: flows.submit_feedback(
            db_session=db_session,
            case=c,
            actor=user.actor,
            text=body.text,
            blobs=[b.model_dump() for b in body.blobs],
            clock=clock,
            settings=settings,
        ),
    )


@router.post("/{case_id}/request-verification", response_model=CaseDetail)
def request_verification(
    case_id: int, db_session: SessionDep, user: CurrentUser, clock: ClockDep, settings: SettingsDep
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: flows.request_verification(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            settings=settings,
            clock=clock,
        ),
    )


@router.post(
    "/{case_id}/close",
    response_model=CaseDetail,
    summary="Close with on-site evidence (photo, location, time)",
)
def close_case(
    case_id: int,
    body: CloseBody,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    now = clock.now()
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: actions.close(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=now,
            settings=settings,
            taken_at=body.taken_at or now,
            loc=body.loc.model_dump() if body.loc else None,
            blobs=[b.model_dump() for b in body.blobs],
            text=body.text,
        ),
    )


@router.post("/{case_id}/reopen", response_model=CaseDetail, summary="Back to handling (rework)")
def reopen_case(
    case_id: int,
    body: RequiredReasonBody,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: actions.rework(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            reason=body.reason,
            action=Action.reopen,
        ),
    )


@router.post("/{case_id}/rate", response_model=CaseDetail, summary="Satisfaction 1-5")
def rate_case(
    case_id: int, body: RateBody, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: actions.rate(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            score=body.score,
            comment=body.comment,
        ),
    )


@router.post(
    "/{case_id}/escalate",
    response_model=CaseDetail,
    summary="One level up (the unit cannot solve it)",
)
def escalate_case(
    case_id: int,
    body: EscalateBody,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    settings: SettingsDep,
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        ANYONE,
        lambda c: actions.escalate(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            settings=settings,
            reason=body.reason,
            unit_id=body.unit_id,
        ),
    )


@router.post("/{case_id}/park", response_model=CaseDetail, summary="Park with a review date")
def park_case(
    case_id: int, body: ParkBody, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: actions.park(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            review_at=body.review_at,
            reason=body.reason,
        ),
    )


@router.post(
    "/{case_id}/supervise",
    response_model=CaseDetail,
    summary="Put under supervision (reminder ... listed)",
)
def supervise_case(
    case_id: int, body: SuperviseBody, db_session: SessionDep, user: CurrentUser, clock: ClockDep
) -> CaseDetail:
    return _act(
        db_session,
        user,
        clock,
        case_id,
        OPERATORS,
        lambda c: actions.supervise(
            db_session=db_session,
            case=c,
            actor=user.actor,
            at=clock.now(),
            level=body.level,
            reason=body.reason,
        ),
    )
