"""Demo data: a city above one district, two streets, two communities each, grids, workers,
units, categories and API tokens (``seed_demo``, used by ``gridlink hub seed-demo`` and by tests),
and the smart compound ``make demo`` shows at its gates (``seed_compound``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from hub.access import faces, people
from hub.access.models import PersonKind
from hub.access.schemas import PersonPut, SchedulePut, VehiclePut, VisitorPassCreate
from hub.areas import service
from hub.areas.models import Unit
from hub.auth.models import Role
from hub.auth.service import create_token
from hub.cases.categories import upsert_category
from hub.cases.routing import add_responsibility, create_unit
from hub.clock import Clock
from hub.workers.models import WorkerPin
from hub.workers.pins import make_record

CITY = "3301"  # Hangzhou (GB/T 2260: its districts' codes start with it)
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
    ("illegal_construction", "Illegal construction", 24),  # a two-unit case (see the units)
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
    service.create_area(db_session=db_session, code=CITY, name="Hangzhou City")
    service.create_area(db_session=db_session, code=DISTRICT, name="Shangcheng District")
    for code, name in STREETS.items():
        service.create_area(db_session=db_session, code=code, name=name)
    for code, name in COMMUNITIES.items():
        service.create_area(db_session=db_session, code=code, name=name)

    def unit(name: str, area: str, categories: list[str | None]) -> None:
        # the catch-all unit of an area is its territorial one (属地); the others functional
        kind = "territorial" if None in categories else "functional"
        row = create_unit(
            db_session=db_session, name=name, area_code=area, kind=kind, categories=categories
        )
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
        unit(f"{name} property & sanitation", code, ["garbage", "illegal_parking",
                                                      "illegal_construction"])  # fmt: skip
        # illegal construction is led by the functional unit, co-handled by the territorial
        # office (多部门协同: each gives its own feedback, the lead closes)
        office = db_session.get(Unit, data.units[f"{name} office"])
        assert office is not None
        add_responsibility(db_session=db_session, unit=office, area_code=code,
                           category_code="illegal_construction", lead=False)  # fmt: skip
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
    unit("City command centre", CITY, [None])  # where a district's case escalates to

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
    token("city-operator", Role.operator, CITY)
    db_session.flush()
    return data


# --- the smart compound (智慧小区) of ``make demo`` -------------------------------------------

COMPOUND = "330102001001"  # Qinghefang Community: its gates stand in grid 1
COMPOUND_GRID = f"{COMPOUND}01"
COMPOUND_SCHEDULE = "s-work"  # staff: Monday to Saturday, 06:00-22:00 local time
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋"
_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟"]


@dataclass
class CompoundPerson:
    """A person of the compound with the plaintext credentials the demo's rush presents (the
    hub holds the card number and only the SHA-256 of the PIN)."""

    id: str
    name: str
    kind: str
    card: str | None = None
    pin: str | None = None
    qr: str | None = None


@dataclass
class CompoundData:
    community: str
    grid: str
    residents: list[CompoundPerson] = field(default_factory=list)  # in force
    staff: list[CompoundPerson] = field(default_factory=list)  # on schedule COMPOUND_SCHEDULE
    moved_out: list[CompoundPerson] = field(default_factory=list)  # validity ended: expired
    visitor: CompoundPerson | None = None  # an operator's visitor pass (QR), a day long
    face_consented: list[str] = field(default_factory=list)  # person ids, consent recorded
    plates: list[str] = field(default_factory=list)  # residents' vehicles in force
    expired_plates: list[str] = field(default_factory=list)
    black_plates: list[str] = field(default_factory=list)


DEMO_PIN = "1234"  # the demo's grid workers only: a PIN this easy is refused through the API


def seed_pins(
    *, db_session: Session, workers: list[str], clock: Clock, iterations: int, pin: str = DEMO_PIN
) -> None:
    """Give the demo's workers a PIN on the hub, so the hub sends each grid's handheld its
    worker list (``hub.commands.worker_sync``). Flushes; the caller commits."""
    for worker_id in workers:
        salt, n, digest = make_record(pin, iterations)
        row = WorkerPin(worker_id=worker_id, salt_hex=salt, iterations=n, hash_hex=digest)
        row.set_at, row.set_by = clock.now(), "system:demo"
        db_session.merge(row)
    db_session.flush()


def gate_pin_hash(pin: str) -> str:
    """What a gate list holds for a PIN: sha256 hex of ``"pin:<pin>"`` (docs/access.md)."""
    return hashlib.sha256(f"pin:{pin}".encode()).hexdigest()


def seed_compound(
    *,
    db_session: Session,
    clock: Clock,
    residents: int = 24,
    face_consents: int = 4,
    recorded_by: str = "物业前台 property office",
) -> CompoundData:
    """Put the demo compound in the access lists of community ``COMPOUND``: residents with a
    card and a PIN (the first ``face_consents`` with face consent recorded, to be enrolled at
    a face terminal by the hub's ``enrol`` command), two staff on a work schedule, a resident
    who moved out, an operator's visitor pass, residents' vehicles with Chinese plates (one
    expired, one blacklisted). Deterministic. Needs ``seed_demo`` first; caller commits."""
    now = clock.now()
    unix = int(now.timestamp())
    data = CompoundData(community=COMPOUND, grid=COMPOUND_GRID)
    people.put_schedule(
        db_session=db_session,
        community=COMPOUND,
        schedule_id=COMPOUND_SCHEDULE,
        data=SchedulePut(days=[1, 2, 3, 4, 5, 6], from_hm="06:00", to_hm="22:00"),
        at=now,
    )

    def person(pid: str, i: int, kind: PersonKind, **put: object) -> CompoundPerson:
        name = _SURNAMES[i % len(_SURNAMES)] + _GIVEN[(i * 5) % len(_GIVEN)]
        card, pin = f"0A5E{i + 1:04X}", f"{2600 + i}"
        people.put_person(
            db_session=db_session,
            community=COMPOUND,
            person_id=pid,
            data=PersonPut.model_validate(
                {
                    "kind": kind,
                    "name": name,
                    "cards": [card],
                    "pins": [gate_pin_hash(pin)],
                    **put,
                }
            ),
            at=now,
        )
        return CompoundPerson(pid, name, kind.value, card=card, pin=pin)

    for i in range(residents):
        data.residents.append(person(f"r-{i + 1:03d}", i, PersonKind.resident))
    for j in range(2):
        i = residents + j
        data.staff.append(person(f"s-{j + 1:03d}", i, PersonKind.staff, schedule=COMPOUND_SCHEDULE))
    data.moved_out.append(
        person(f"r-{residents + 3:03d}", residents + 2, PersonKind.resident,
               valid_to=unix - 7 * 86400)
    )  # fmt: skip
    for row in data.residents[:face_consents]:
        faces.record_consent(
            db_session=db_session,
            community=COMPOUND,
            person_id=row.id,
            purpose="小区门禁人脸识别 face recognition at the compound gates",
            recorded_by=recorded_by,
            at=now,
        )
        data.face_consented.append(row.id)
    visitor = CompoundPerson("v-0001", "访客 赵先生", PersonKind.visitor.value, qr="qr-visit-0001")
    people.issue_visitor_pass(
        db_session=db_session,
        community=COMPOUND,
        data=VisitorPassCreate(
            id=visitor.id,
            name=visitor.name,
            valid_to=int((now + timedelta(days=1)).timestamp()),
            qr=[visitor.qr or ""],
        ),
        issued_by=recorded_by,
        at=now,
    )
    data.visitor = visitor
    for k, owner in enumerate(data.residents[: residents // 2]):
        digits = f"{(k * 7919 + 3106) % 100000:05d}"
        plate = f"浙AD{digits}" if k % 4 == 2 else f"浙A{digits}"  # D: a new-energy plate
        expired, black = k == 5, k == 7
        people.put_vehicle(
            db_session=db_session,
            community=COMPOUND,
            plate=plate,
            data=VehiclePut(
                person=owner.id, valid_to=unix - 86400 if expired else None, black=black
            ),
            at=now,
        )
        (data.black_plates if black else data.expired_plates if expired else data.plates).append(
            plate
        )
    db_session.flush()
    return data
