"""Demo data: one district, two streets, two communities each, grids, workers, units,
categories and API tokens. Used by ``gridlink hub seed-demo`` and by tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from hub.areas import service
from hub.auth.models import Role
from hub.auth.service import create_token
from hub.cases.categories import upsert_category
from hub.cases.routing import create_unit
from hub.clock import Clock

DISTRICT = "330102"
STREETS = {"330102001": "Qingbo Street", "330102002": "Hubin Street"}
COMMUNITIES = {
    "330102001001": "Qinghefang Community",
    "330102001002": "Dingxiang Community",
    "330102002001": "Xihu Community",
    "330102002002": "Yanan Community",
}
CATEGORIES = [
    ("road_damage", "Damaged road or pavement", 16),
    ("garbage", "Garbage or litter", 8),
    ("illegal_parking", "Illegal parking", 4),
    ("street_light", "Broken street light", 24),
    ("other", "Other problem", 40),
]
BASE_LAT_E6, BASE_LON_E6 = 30_250_000, 120_170_000


@dataclass
class DemoData:
    grids: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    units: dict[str, int] = field(default_factory=dict)  # name -> id
    tokens: dict[str, str] = field(default_factory=dict)  # label -> plaintext


def seed_demo(*, db_session: Session, clock: Clock) -> DemoData:
    """Create the demo area tree and return what was made (tokens in plaintext, once)."""
    now = clock.now()
    data = DemoData()
    for code, name, hours in CATEGORIES:
        upsert_category(db_session=db_session, code=code, name=name, deadline_hours=hours)
    service.create_area(db_session=db_session, code=DISTRICT, name="Shangcheng District")
    for code, name in STREETS.items():
        service.create_area(db_session=db_session, code=code, name=name)
    for code, name in COMMUNITIES.items():
        service.create_area(db_session=db_session, code=code, name=name)

    def unit(name: str, area: str, categories: list[str | None]) -> None:
        row = create_unit(db_session=db_session, name=name, area_code=area, categories=categories)
        data.units[name] = row.id

    unit("District command centre", DISTRICT, [None])
    unit("District roads bureau", DISTRICT, ["road_damage", "street_light"])
    for index, (code, name) in enumerate(COMMUNITIES.items()):
        lat = BASE_LAT_E6 + index * 4_000
        for g in (1, 2):
            grid_code = f"{code}{g:02d}"
            service.create_grid(
                db_session=db_session,
                code=grid_code,
                name=f"{name} grid {g}",
                lat_e6=lat + g * 1_000,
                lon_e6=BASE_LON_E6 + g * 1_000,
            )
            data.grids.append(grid_code)
            worker_id = f"w{grid_code[6:]}"
            service.create_worker(
                db_session=db_session,
                worker_id=worker_id,
                name=f"Worker {grid_code[6:]}",
                now=now,
                grid_codes=[grid_code],
            )
            data.workers.append(worker_id)
        unit(f"{name} office", code, [None])
        unit(f"{name} property & sanitation", code, ["garbage", "illegal_parking"])
    # An assistant serving both grids of the first community (workers <-> grids many-to-many).
    first = next(iter(COMMUNITIES))
    service.create_worker(
        db_session=db_session,
        worker_id="a0010101",
        name="Assistant Li",
        now=now,
        role="assistant",
        grid_codes=[f"{first}01", f"{first}02"],
    )
    data.workers.append("a0010101")
    for code, name in STREETS.items():
        unit(f"{name} urban management", code, [None])

    def token(label: str, role: Role, scope: str | None, unit_id: int | None = None) -> None:
        _row, plaintext = create_token(
            db_session=db_session,
            name=label,
            role=role,
            scope_code=scope,
            unit_id=unit_id,
            clock=clock,
        )
        data.tokens[label] = plaintext

    token("district-admin", Role.admin, DISTRICT)
    token("district-operator", Role.operator, DISTRICT)
    for code in STREETS:
        token(f"street-{code}-operator", Role.operator, code)
    token(f"community-{first}-operator", Role.operator, first)
    token(f"unit-{first}-office", Role.unit, first, data.units[f"{COMMUNITIES[first]} office"])
    db_session.flush()
    return data
