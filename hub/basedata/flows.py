"""Verified ``collect`` and ``visit`` events become base data (the ingest's after-store hook).

A collection updates the record with the same key (a resident's ID number, a house code, an
organisation's credit code) or makes a new one; a visit becomes a ``Visit`` linked to its
house. A body or record that cannot be used is written to ``bd_refusals`` with the field and
the reason, never raised: the event itself is already stored, so nothing is lost and the
other events of the batch go on. A collection captured before the record's last confirmation
(a replayed outbox) changes nothing and is refused as ``stale``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.basedata import forms
from hub.basedata.models import House, Organisation, Refusal, Resident, Visit
from hub.clock import Clock, from_unix
from hub.settings import Settings

logger = logging.getLogger(__name__)

PLACE_KINDS = ("household", "place")


class Refused(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


def _refuse(
    db_session: Session, event: dict[str, Any], kind: str, field: str, reason: str, at: datetime
) -> None:
    body = event["body"] if isinstance(event.get("body"), dict) else {}
    form = body.get("form")
    db_session.add(
        Refusal(
            event_id=event["id"],
            device_id=event["device_id"],
            kind=kind,
            form=form[:32] if isinstance(form, str) else None,
            worker=event.get("worker_id"),
            grid_code=event.get("grid_code"),
            field=field[:64],
            reason=reason[:300],
            at=at,
        )
    )
    logger.info(
        "%s of %s seq %s refused: %s: %s", kind, event["device_id"], event["seq"], field, reason
    )


def refuse_unchecked(
    *, db_session: Session, event: dict[str, Any], clock: Clock, status: str
) -> None:
    """A visit or collection whose worker was not signed in on the handheld (the worker
    check, ``hub.workers``): kept as an event, refused as base data."""
    reason = "not signed in on this handheld" if status == "not_signed_in" else (
        "not a worker of this grid")  # fmt: skip
    _refuse(db_session, event, event["kind"], "worker", reason, clock.now())


def _common(event: dict[str, Any]) -> tuple[str, str]:
    """The worker and grid every body names: the grid must be the device's own."""
    body = event["body"]
    worker = body.get("worker")
    if not isinstance(worker, str) or not worker:
        raise Refused("worker", "a collection or visit names the signed-in worker")
    grid = body.get("grid")
    if event.get("grid_code") is None:
        raise Refused("grid", "the device is bound to no grid")
    if grid != event["grid_code"]:
        raise Refused("grid", "not the grid the device is bound to")
    return worker, grid


def on_collect(
    *, db_session: Session, event: dict[str, Any], clock: Clock, settings: Settings
) -> None:
    now = clock.now()
    try:
        worker, grid = _common(event)
        form = event["body"].get("form")
        parsed = forms.parse(form if isinstance(form, str) else "", event["body"].get("record"))
        captured = from_unix(event["ts"])
        if isinstance(parsed, forms.HouseForm):
            _house(db_session, parsed, grid, worker, event["id"], captured, now)
        elif isinstance(parsed, forms.ResidentForm):
            _resident(db_session, parsed, grid, worker, event["id"], captured, now)
        elif isinstance(parsed, forms.OrganisationForm):
            _organisation(db_session, parsed, grid, worker, event["id"], captured, now)
    except (Refused, forms.FormError) as exc:
        _refuse(db_session, event, "collect", exc.field, exc.reason, now)


def _house_in_grid(db_session: Session, code: str | None, grid: str) -> None:
    if code is None:
        return
    house = db_session.scalar(select(House).where(House.house_code == code))
    if house is None:
        raise Refused("house_code", "no house with this code: collect the house first")
    if house.grid_code != grid:
        raise Refused("house_code", "the house is in another grid")


def _fresh(row: Resident | House | Organisation, captured: datetime) -> None:
    if captured < row.confirmed_at:
        raise Refused("ts", "stale: captured before the record's last collection")


def _house(
    db_session: Session,
    f: forms.HouseForm,
    grid: str,
    worker: str,
    event_id: int,
    captured: datetime,
    now: datetime,
) -> None:
    row = db_session.scalar(select(House).where(House.house_code == f.house_code))
    if row is not None and row.grid_code != grid:
        raise Refused("house_code", "the house is recorded in another grid")
    if row is None:
        row = House(house_code=f.house_code, grid_code=grid, created_at=now, revision=0)
        db_session.add(row)
    else:
        _fresh(row, captured)
    row.address, row.use, row.ownership = f.address, f.use, f.ownership
    row.floors, row.area_m2 = f.floors, f.area_m2
    _stamp(row, worker, event_id, captured)
    db_session.flush()


def _resident(
    db_session: Session,
    f: forms.ResidentForm,
    grid: str,
    worker: str,
    event_id: int,
    captured: datetime,
    now: datetime,
) -> None:
    _house_in_grid(db_session, f.house_code, grid)
    row = db_session.scalar(select(Resident).where(Resident.id_number == f.id_number))
    if row is not None and row.grid_code != grid:
        # never moved nor overwritten from another grid's handheld: a move is an operator's
        raise Refused("id_number", "recorded in another grid: a move is made at the centre")
    if row is None:
        row = Resident(id_number=f.id_number, created_at=now, revision=0)
        db_session.add(row)
    else:
        _fresh(row, captured)  # the same person collected again (or moved): an update
    assert f.birth_date is not None  # the form fills it from the ID number
    row.name, row.gender, row.ethnicity, row.birth_date = (
        f.name,
        f.gender,
        f.ethnicity,
        f.birth_date,
    )
    row.phone, row.relation, row.population_type = f.phone, f.relation, f.population_type
    row.status, row.house_code, row.grid_code = f.status, f.house_code, grid
    _stamp(row, worker, event_id, captured)
    db_session.flush()


def _organisation(
    db_session: Session,
    f: forms.OrganisationForm,
    grid: str,
    worker: str,
    event_id: int,
    captured: datetime,
    now: datetime,
) -> None:
    _house_in_grid(db_session, f.house_code, grid)
    row = db_session.scalar(select(Organisation).where(Organisation.credit_code == f.credit_code))
    if row is not None and row.grid_code != grid:
        raise Refused("credit_code", "recorded in another grid: a move is made at the centre")
    if row is None:
        row = Organisation(credit_code=f.credit_code, created_at=now, revision=0)
        db_session.add(row)
    else:
        _fresh(row, captured)
    row.name, row.kind, row.address, row.grid_code = f.name, f.kind, f.address, grid
    row.house_code, row.contact_name, row.contact_phone = (
        f.house_code,
        f.contact_name,
        f.contact_phone,
    )
    _stamp(row, worker, event_id, captured)
    db_session.flush()


def _stamp(
    row: Resident | House | Organisation, worker: str, event_id: int, captured: datetime
) -> None:
    row.collected_by, row.event_id, row.confirmed_at = worker, event_id, captured
    row.revision = (row.revision or 0) + 1


def _text(body: dict[str, Any], key: str, limit: int, required: bool = True) -> str:
    """The string ``body[key]`` stripped: 1..``limit`` characters (``required``) or 0.."""
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not (value.strip() or not required):
        raise Refused(key, "a non-empty string" if required else "a string or null")
    if len(value) > limit:
        raise Refused(key, f"at most {limit} characters")
    return value.strip()


def on_visit(
    *, db_session: Session, event: dict[str, Any], clock: Clock, settings: Settings
) -> None:
    now = clock.now()
    body = event["body"]
    try:
        worker, grid = _common(event)
        place = body.get("place")
        if not isinstance(place, dict) or place.get("kind") not in PLACE_KINDS:
            raise Refused("place.kind", "household or place")
        ref = place.get("ref")
        if not isinstance(ref, str) or not ref.strip() or len(ref) > 200:
            raise Refused("place.ref", "a house code or a place's name / address (1-200)")
        purpose = _text(body, "purpose", 100)
        outcome = _text(body, "outcome", 100)
        text = _text(body, "text", 2000, required=False)
        lat, lon = _loc(body.get("loc"))
        house_code = None
        if place["kind"] == "household":
            house = db_session.scalar(select(House).where(House.house_code == ref.strip()))
            if house is not None and house.grid_code == grid:
                house_code = house.house_code
        db_session.add(
            Visit(
                event_id=event["id"],
                device_id=event["device_id"],
                worker=worker,
                grid_code=grid,
                place_kind=place["kind"],
                place_ref=ref.strip(),
                house_code=house_code,
                purpose=purpose,
                outcome=outcome,
                text=text,
                lat_e6=lat,
                lon_e6=lon,
                visited_at=from_unix(event["ts"]),
                received_at=now,
            )
        )
        db_session.flush()
    except Refused as exc:
        _refuse(db_session, event, "visit", exc.field, exc.reason, now)


def _loc(loc: object) -> tuple[int | None, int | None]:
    if loc is None:
        return None, None
    if not isinstance(loc, dict):
        raise Refused("loc", "{lat_e6, lon_e6, acc_m} or null")
    lat, lon = loc.get("lat_e6"), loc.get("lon_e6")
    ok = (
        isinstance(lat, int)
        and isinstance(lon, int)
        and not isinstance(lat, bool)
        and -90_000_000 <= lat <= 90_000_000
        and -180_000_000 <= lon <= 180_000_000
    )
    if not ok:
        raise Refused("loc", "lat_e6 / lon_e6 are integer micro-degrees")
    return lat, lon
