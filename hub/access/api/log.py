"""The access log (search within the caller's area), community figures, and face / plate
captures served with a stated reason and an audit row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, BinaryIO, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from hub.access import captures, search
from hub.access.api.common import PREFIX, CommunityPath, require_community_access
from hub.access.schemas import (
    AccessLogPage,
    AccessLogRead,
    CaptureAuditRead,
    CommunityFigures,
    HourFigures,
    Reason,
    VehicleInside,
)
from hub.auth.deps import AdminUser, CurrentUser
from hub.auth.models import Role
from hub.auth.service import require_roles
from hub.bounds import Instant, PageOffset
from hub.clock import ensure_utc
from hub.deps import ClockDep, SessionDep
from hub.errors import NotFoundError
from hub.media.content import content_headers
from hub.media.deps import MediaStoreDep

router = APIRouter(prefix=PREFIX, tags=["access"])
READ_SIZE = 64 * 1024
FIGURES_DEFAULT_RANGE = timedelta(hours=24)
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{64}$")]


@router.get("/log", response_model=AccessLogPage, summary="Search the access log")
def search_log(
    db_session: SessionDep,
    user: CurrentUser,
    community: Annotated[str | None, Query(pattern=r"^\d{6,12}$")] = None,
    device_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = None,
    person: Annotated[str | None, Query(max_length=64)] = None,
    plate: Annotated[str | None, Query(max_length=16)] = None,
    door: Annotated[str | None, Query(max_length=32)] = None,
    direction: Literal["in", "out"] | None = None,
    ev: Annotated[str | None, Query(pattern=r"^[a-z_]{1,24}$")] = None,
    alarms_only: bool = False,
    historical: Annotated[
        bool | None, Query(description="false: live events only (the live alarms)")
    ] = None,
    since: Instant | None = None,
    until: Instant | None = None,
    offset: PageOffset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AccessLogPage:
    """Newest capture first. ``community`` may be any area code (a street, a district)."""
    require_roles(user, Role.admin, Role.operator)
    flt = search.LogFilter(
        community=community,
        device_id=device_id,
        person_id=person,
        plate=plate,
        door=door,
        direction=direction,
        ev=ev,
        alarms_only=alarms_only,
        historical=historical,
        since=ensure_utc(since) if since else None,
        until=ensure_utc(until) if until else None,
    )
    rows, total = search.search_log(
        db_session=db_session, scope_code=user.scope_code, flt=flt, offset=offset, limit=limit
    )
    return AccessLogPage(items=[AccessLogRead.model_validate(r) for r in rows], total=total)


@router.get("/communities/{community}/figures", response_model=CommunityFigures)
def community_figures(
    community: CommunityPath,
    db_session: SessionDep,
    user: CurrentUser,
    clock: ClockDep,
    since: Instant | None = None,
    until: Instant | None = None,
) -> CommunityFigures:
    """In / out by hour, alarms by kind and denials by reason over ``[since, until)`` (at
    most 31 days; default: the 24 hours up to now), and the vehicles inside now."""
    require_community_access(user, community)
    until = ensure_utc(until) if until is not None else clock.now()
    since = ensure_utc(since) if since is not None else until - FIGURES_DEFAULT_RANGE
    found = search.figures(db_session=db_session, community=community, since=since, until=until)
    return CommunityFigures(
        community=community,
        since=since,
        until=until,
        hours=[
            HourFigures(hour=h, people_in=a, people_out=b, vehicles_in=c, vehicles_out=d)
            for h, a, b, c, d in found.hours
        ],
        vehicles_inside=[
            VehicleInside(plate=p, since=at, door=door, person_id=person)
            for p, at, door, person in found.vehicles_inside
        ],
        alarms=found.alarms,
        denied=found.denied,
    )


def _stream(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_SIZE):
            yield chunk


@router.get("/captures/{capture_sha256}/content", response_class=StreamingResponse)
def capture_content(
    capture_sha256: Sha256,
    reason: Annotated[Reason, Query(description="why you need this capture (audited)")],
    db_session: SessionDep,
    store: MediaStoreDep,
    user: CurrentUser,
    clock: ClockDep,
) -> StreamingResponse:
    """A gate's face or plate capture (a photo inline, any other announced type as an opaque
    download, with ``nosniff`` and a sandbox CSP). The view is written to the access audit
    (who, when, which capture and event, the reason) before a byte is sent."""
    require_roles(user, Role.admin, Role.operator)
    blob, _audit = captures.open_capture(
        db_session=db_session, user=user, sha256=capture_sha256, reason=reason, at=clock.now()
    )
    try:
        handle = store.open(blob.sha256)
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"capture {blob.sha256} is missing from storage", code="blob_missing"
        ) from exc
    db_session.commit()
    # the device names the type: only a photo is shown inline, anything else is a download
    media_type, headers = content_headers(blob)
    headers |= {"Content-Length": str(blob.size), "Cache-Control": "no-store"}
    return StreamingResponse(_stream(handle), media_type=media_type, headers=headers)


@router.get("/captures/audits", response_model=list[CaptureAuditRead])
def capture_audits(
    db_session: SessionDep,
    user: AdminUser,
    sha256: Annotated[str | None, Query(pattern=r"^[0-9a-fA-F]{64}$")] = None,
    offset: PageOffset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CaptureAuditRead]:
    """Who viewed which capture and why (admins; scoped admins see their area's captures)."""
    rows = captures.audits_of(
        db_session=db_session, scope_code=user.scope_code, sha256=sha256, offset=offset, limit=limit
    )
    return [CaptureAuditRead.model_validate(r) for r in rows]
