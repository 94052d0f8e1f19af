"""Duplicate detection: a new report of the same problem near an open case links to it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import LEVEL_CODE_LENGTH, Level
from hub.cases.geo import degrees_e6_for_metres, haversine_m
from hub.cases.models import OPEN_STATUSES, Case
from hub.settings import Settings

# A new report can only be a duplicate of a case that is still being worked on; a problem that
# comes back after closing is a new case.
LINKABLE_STATUSES = OPEN_STATUSES
COMMUNITY_CODE = LEVEL_CODE_LENGTH[Level.community]


def find_duplicate_of(*, db_session: Session, case: Case, settings: Settings) -> Case | None:
    """The earliest open case of the same category within the duplicate distance and time, in
    the same community (a link never crosses into an area whose readers could not see it)."""
    if case.category_code is None or case.lat_e6 is None or case.lon_e6 is None:
        return None
    if case.grid_code is None:
        return None
    window = timedelta(seconds=settings.duplicate_window_s)
    dlat, dlon = degrees_e6_for_metres(settings.duplicate_distance_m, case.lat_e6)
    candidates = db_session.scalars(
        select(Case)
        .where(
            Case.category_code == case.category_code,
            Case.grid_code.startswith(case.grid_code[:COMMUNITY_CODE], autoescape=True),
            Case.status.in_([s.value for s in LINKABLE_STATUSES]),
            Case.duplicate_of_id.is_(None),
            Case.reported_at >= case.reported_at - window,
            Case.reported_at <= case.reported_at + window,
            Case.lat_e6.between(case.lat_e6 - dlat, case.lat_e6 + dlat),
            Case.lon_e6.between(case.lon_e6 - dlon, case.lon_e6 + dlon),
            Case.id != case.id if case.id is not None else True,
        )
        .order_by(Case.reported_at, Case.id)
    )
    for other in candidates:
        assert other.lat_e6 is not None and other.lon_e6 is not None
        distance = haversine_m(case.lat_e6, case.lon_e6, other.lat_e6, other.lon_e6)
        if distance <= settings.duplicate_distance_m:
            return other
    return None


def duplicates_of(*, db_session: Session, case_id: int) -> list[Case]:
    return list(
        db_session.scalars(select(Case).where(Case.duplicate_of_id == case_id).order_by(Case.id))
    )
