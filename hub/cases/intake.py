"""Intake: the case row for a report, a hotline call or an operator's entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from hub.areas.boundaries import grid_at
from hub.areas.models import Grid
from hub.cases.models import Case, Category
from hub.errors import InvalidInputError
from hub.media.service import add_refs
from hub.settings import Settings


def new_case(
    *,
    db_session: Session,
    source: str,
    category_code: str | None,
    text: str,
    grid_code: str | None,
    reported_at: datetime,
    now: datetime,
    settings: Settings,
    loc: dict[str, Any] | None = None,
    media: list[dict[str, Any]] | None = None,
    reporter_worker_id: str | None = None,
    device_id: str | None = None,
    event_seq: int | None = None,
    historical: bool = False,
    one_key: bool = False,
) -> Case:
    """Create the case row (status is set by the ``collect`` transition); its grid now
    references its media (``hub.media.service.add_refs``)."""
    if category_code is not None and db_session.get(Category, category_code) is None:
        category_code = None  # unknown category: an operator classifies it when filing
    if grid_code is not None and db_session.get(Grid, grid_code) is None:
        grid_code = None
    loc = loc or {}
    case = Case(
        source=source,
        category_code=category_code,
        text=text,
        grid_code=grid_code,
        level=settings.escalation_chain[0].value,  # the chain's lowest level
        lat_e6=_int_or_none(loc.get("lat_e6")),
        lon_e6=_int_or_none(loc.get("lon_e6")),
        acc_m=_int_or_none(loc.get("acc_m")),
        media=list(media or []),
        reporter_worker_id=reporter_worker_id,
        device_id=device_id,
        event_seq=event_seq,
        historical=historical,
        one_key=one_key,
        reported_at=reported_at,
        created_at=now,
        updated_at=now,
    )
    shas = [str(m.get("sha256")) for m in case.media if isinstance(m, dict)]
    add_refs(db_session=db_session, shas=shas, grid_code=grid_code, at=now)  # before the case
    db_session.add(case)  # is pending: its status comes with ``collect``
    return case


def grid_for(*, db_session: Session, grid_code: str | None, loc: dict[str, Any] | None) -> str:
    """The grid an intake item belongs to (属地): the grid whose boundary in force holds its
    location, else the one it names; ``InvalidInputError`` when neither gives one."""
    lat, lon = _int_or_none((loc or {}).get("lat_e6")), _int_or_none((loc or {}).get("lon_e6"))
    if lat is not None and lon is not None:
        located = grid_at(db_session=db_session, lat_e6=lat, lon_e6=lon)
        if located is not None:
            return located
    if grid_code is None:
        raise InvalidInputError(
            "name the grid (grid_code), or give a location (loc) inside a grid's boundary"
            + ("" if lat is None or lon is None else f": no grid holds {lat / 1e6}, {lon / 1e6}")
        )
    return grid_code


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
