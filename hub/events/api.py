"""Events (within the caller's area), rejection counters and hash-chain gaps.

The bodies of ``collect`` and ``visit`` events hold base data: they are graded like the base
data itself (``hub.privacy.policy``: a field the caller may not see is taken out and named in
the body's ``withheld``) and every answer that returns one writes an access-audit row."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from hub.auth.deps import CurrentUser
from hub.auth.models import Role
from hub.auth.service import Principal, require_roles
from hub.bounds import PageOffset, RowId, Seq
from hub.clock import Clock
from hub.deps import ClockDep, SessionDep
from hub.errors import NotFoundError
from hub.events import service
from hub.events.models import Event
from hub.events.schemas import ChainGapRead, EventRead, RejectionRead
from hub.privacy import audit, grants
from hub.privacy.schemas import Purpose

router = APIRouter(prefix="/api", tags=["events"])


@router.get("/events", response_model=list[EventRead])
def list_events(
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    device_id: str | None = None,
    kind: str | None = None,
    grid_code: str | None = None,
    since_seq: Seq | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: PageOffset = 0,
    purpose: Annotated[Purpose | None, Query(description="why (audited; base-data bodies)")] = None,
) -> list[EventRead]:
    require_roles(user, Role.admin, Role.operator)
    rows = service.list_events(
        db_session=db_session,
        scope_code=user.scope_code,
        device_id=device_id,
        kind=kind,
        grid_code=grid_code,
        since_seq=since_seq,
        limit=limit,
        offset=offset,
    )
    return _graded(db_session, user, clock, purpose, rows, "list")


@router.get("/events/rejections", response_model=list[RejectionRead])
def rejections(db_session: SessionDep, user: CurrentUser) -> list[RejectionRead]:
    """Messages the ingest workers rejected, per reason (``duplicate`` is not an error): of the
    devices bound inside the caller's area (unscoped callers also see unattributed messages)."""
    require_roles(user, Role.admin, Role.operator)
    rows = service.list_rejections(db_session=db_session, scope_code=user.scope_code)
    return [RejectionRead.model_validate(r) for r in rows]


@router.get("/events/chain-gaps", response_model=list[ChainGapRead])
def chain_gaps(
    db_session: SessionDep, user: CurrentUser, device_id: str | None = None, open_only: bool = False
) -> list[ChainGapRead]:
    require_roles(user, Role.admin)
    rows = service.list_chain_gaps(
        db_session=db_session, device_id=device_id, open_only=open_only, scope_code=user.scope_code
    )
    return [ChainGapRead.model_validate(g) for g in rows]


@router.get("/events/{event_id}", response_model=EventRead)
def get_event(
    event_id: RowId,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    purpose: Annotated[Purpose | None, Query(description="why (audited; base-data bodies)")] = None,
) -> EventRead:
    require_roles(user, Role.admin, Role.operator)
    event = service.get_event(db_session=db_session, event_id=event_id)
    if event is None or (user.scope_code is not None and not user.covers(event.grid_code)):
        raise NotFoundError(f"event {event_id} not found", code="event_not_found")
    return _graded(db_session, user, clock, purpose, [event], "detail")[0]


def _graded(
    db_session: Session,
    user: Principal,
    clock: Clock,
    purpose: str | None,
    rows: list[Event],
    action: str,
) -> list[EventRead]:
    """The events as ``user`` may see them; one audit row for the base-data bodies among them
    (committed before the answer leaves)."""
    reader = grants.reader_for(
        db_session=db_session, principal=user, purpose=purpose, now=clock.now()
    )
    out: list[EventRead] = []
    ids: list[int] = []
    shown: set[str] = set()
    withheld: set[str] = set()
    for event in rows:
        read = EventRead.model_validate(event)
        masked = reader.mask_event_body(event.kind, event.body or {})
        if masked is not None:
            read.body = masked.body
            ids.append(event.id)
            shown.update(masked.shown)
            withheld.update(masked.withheld)
        out.append(read)
    if ids:
        audit.record(
            db_session=db_session,
            reader=reader,
            action=action,
            kind="event",
            record_ids=ids,
            shown=sorted(shown),
            withheld=sorted(withheld),
            at=clock.now(),
        )
        db_session.commit()
    return out
