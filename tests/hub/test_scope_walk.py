"""Scope everywhere: every GET endpoint of the OpenAPI, walked as the operators of two streets
with data in both. No answer to street A names anything of street B (device, grid, area,
worker, unit, case, event, blob, command, text), and B's objects answer 404 to A.

The endpoints come from the OpenAPI document, so a new endpoint is walked automatically; one
with a path or required query parameter this test cannot fill fails it (add it to PARAMS).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas import boundaries
from hub.areas.models import Area, Grid, Unit, Worker, WorkerGrid
from hub.assessment import inspection, weekly
from hub.assessment.periods import week
from hub.assessment.schemas import InspectionIn
from hub.auth.models import Role
from hub.auth.service import Principal
from hub.basedata.models import Organisation, Resident
from hub.cases import actions, field_tasks
from hub.cases.flows import unit_feedback
from hub.cases.models import Case
from hub.cases.routing import route
from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.events.models import Event
from hub.ingest.processor import Processor
from hub.mqtt_messages import Inbound
from hub.notify import service as notify_service
from hub.notify.models import Liaison, Notification
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.builders import GRID, GRID_LAT, GRID_LON, OTHER_STREET_GRID

STREETS = {"A": ("330102001", GRID), "B": ("330102002", OTHER_STREET_GRID)}
QUERY = {
    "month": "2026-01",
    "reason": "scope walk: audited view",
    "day": "2026-01-05",
    "format": "csv",
    "period": "2026-01",
}
ID_KEYS = {"case_id", "duplicate_of_id", "event_id", "unit_id", "id", "duplicates"}
# per street: a valid ID number (GB 11643) and unified social credit code (GB 32100)
BASE_DATA = {"A": ("330102198503120014", "91330102MA2B3C4D5K"),
             "B": ("330102200101200038", "91330102MA2H7K8L9Y")}  # fmt: skip


@dataclass
class Street:
    """What one street holds: its identifiers, and one object of each kind for detail paths."""

    code: str
    strings: set[str] = field(default_factory=set)
    ints: dict[str, set[int]] = field(default_factory=dict)  # kind -> ids
    params: dict[str, str] = field(default_factory=dict)  # path parameter -> one of its objects


def _seed_street(
    label: str,
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
    settings: Settings,
) -> Street:
    code, grid = STREETS[label]
    liaison = _seed_liaison(label, db_session, clock, grid, settings)
    dev = device_factory(f"hh-walk-{label.lower()}")
    dev.register(db_session, grid)
    db_session.commit()
    photo = os.urandom(4000)
    loc = {"lat_e6": GRID_LAT, "lon_e6": GRID_LON, "acc_m": 5}
    worker = f"w{grid[6:]}"
    body = {"category": "garbage", "text": f"marker-{label}-report", "loc": loc, "worker": worker}
    msgs = [
        dev.event("signin", {"worker": worker, "grid": grid, "ok": True}),
        dev.event("report", body, blobs=[dev.media(photo)]),
        *dev.chunks(photo),
        (f"gl/v1/{dev.device_id}/evt/report", b"not json"),  # a rejection counted for dev
        *_base_data_events(label, dev, grid, worker),
    ]
    processor.process([Inbound(t, p) for t, p in msgs])
    case = db_session.scalars(select(Case).where(Case.device_id == dev.device_id)).one()
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session,
        case=case,
        actor="unit",
        text=f"marker-{label}-feedback",
        clock=clock,
        settings=settings,
    )
    db_session.commit()
    person, capture = _seed_gate(label, db_session, clock, grid, settings)
    command = db_session.scalars(select(Command).where(Command.device_id == dev.device_id)).one()
    event = db_session.scalars(
        select(Event).where(Event.device_id == dev.device_id, Event.kind == "report")
    ).one()
    rollout = _seed_rollout(label, db_session, clock, settings, dev.device_id)
    street = Street(code)
    street.strings |= {code, dev.device_id, dev.media(photo)["sha256"], command.id}
    street.strings |= {f"marker-{label}-report", f"marker-{label}-feedback", person, capture}
    street.strings |= {liaison.address, liaison.name}
    notice = db_session.scalars(select(Notification).where(Notification.case_id == case.id)).one()
    task = field_tasks.create_task(
        db_session=db_session,
        grid_code=grid,
        title=f"marker-{label}-task",
        text="",
        actor="operator:walk",
        clock=clock,
        case=case,
    )
    west = GRID_LON / 1e6 + (0.0 if label == "A" else 0.01)  # side by side, never overlapping
    square = [[west, 30.25], [west + 0.002, 30.25], [west + 0.002, 30.252], [west, 30.252]]
    grid_row = db_session.get(Grid, grid)
    assert grid_row is not None
    proposal = boundaries.propose(
        db_session=db_session, grid=grid_row, actor="admin:walk-1", at=clock.now(),
        geometry={"type": "Polygon", "coordinates": [[*square, square[0]]]},
        reason=f"marker-{label}-boundary",
    )  # fmt: skip
    boundaries.approve(db_session=db_session, grid=grid_row, row=proposal,
                       actor="admin:walk-2", at=clock.now(), note=None)  # fmt: skip
    db_session.commit()
    reviewer = Principal(name=f"street-{code}-operator", role=Role.operator, scope_code=code)
    verdict = InspectionIn(case_id=case.id, verdict="unqualified", reason=f"marker-{label}-verdict")
    inspection.review(db_session=db_session, principal=reviewer, data=verdict, at=clock.now())
    db_session.commit()
    street.strings |= {task.task_id, task.title, f"marker-{label}-boundary"}
    street.strings |= {f"marker-{label}-verdict"}
    assert notice.deliveries  # the case's dispatch, to the street's liaison
    street.strings |= set(db_session.scalars(select(Grid.code).where(Grid.code.startswith(code))))
    street.strings |= set(db_session.scalars(select(Area.code).where(Area.code.startswith(code))))
    workers = select(WorkerGrid.worker_id).where(WorkerGrid.grid_code.startswith(code))
    street.strings |= set(db_session.scalars(workers))
    units = list(db_session.scalars(select(Unit).where(Unit.area_code.startswith(code))))
    street.strings |= {u.name for u in units}
    assert worker in street.strings and db_session.get(Worker, worker) is not None
    id_number, credit = BASE_DATA[label]
    house = f"H-{label}-0101"
    street.strings |= {id_number, credit, house, f"marker-{label}-resident",
                       f"marker-{label}-organisation", f"marker-{label}-place"}  # fmt: skip
    resident = db_session.scalars(select(Resident).where(Resident.id_number == id_number)).one()
    organisation = db_session.scalars(
        select(Organisation).where(Organisation.credit_code == credit)
    ).one()
    street.ints = {
        "case": {case.id},
        "event": {event.id},
        "unit": {u.id for u in units},
        "notification": {notice.id},
    }
    street.params = {
        "case_id": str(case.id),
        "code": grid,
        "worker_id": worker,
        "device_id": dev.device_id,
        "command_id": command.id,
        "event_id": str(event.id),
        "sha256": dev.media(photo)["sha256"],
        "community": grid[:12],
        "person_id": person,
        "capture_sha256": capture,
        "bundle_id": rollout.bundle_id,
        "rollout_id": rollout.id,
        "table": "workers",
        "unit_id": str(liaison.unit_id),
        "notification_id": str(notice.id),
        "task_id": task.task_id,
        "week": "2026-W01",  # stored below (hub.assessment.weekly)
        "house_code": house,
        "resident_id": str(resident.id),
        "organisation_id": str(organisation.id),
    }
    return street


def _base_data_events(
    label: str, dev: TestDevice, grid: str, worker: str
) -> list[tuple[str, bytes]]:
    """A house, a resident and an organisation collected in the street, and two visits."""
    id_number, credit = BASE_DATA[label]
    house = f"H-{label}-0101"
    forms = [
        ("house", {"house_code": house, "address": f"marker-{label}-address", "use": "mixed"}),
        ("resident", {"id_number": id_number, "name": f"marker-{label}-resident",
                      "gender": "1", "phone": "13800138000", "house_code": house}),
        ("organisation", {"credit_code": credit, "name": f"marker-{label}-organisation",
                          "kind": "enterprise", "address": "x", "house_code": house}),
    ]  # fmt: skip
    out = [
        dev.event("collect", {"grid": grid, "worker": worker, "form": f, "record": r})
        for f, r in forms
    ]
    for kind, ref in (("household", house), ("place", f"marker-{label}-place")):
        body = {"grid": grid, "worker": worker, "place": {"kind": kind, "ref": ref},
                "purpose": "care", "outcome": "met", "text": "", "loc": None}  # fmt: skip
        out.append(dev.event("visit", body))
    return out


def _seed_liaison(
    label: str, db_session: Session, clock: FrozenClock, grid: str, settings: Settings
) -> Liaison:
    """A webhook liaison of the unit the street's garbage report is dispatched to."""
    unit = route(db_session=db_session, category_code="garbage", grid_code=grid, level="community")
    assert unit is not None
    liaison = notify_service.create_liaison(
        db_session=db_session, unit=unit, name=f"marker-{label}-liaison", channel="webhook",
        address=f"https://marker-{label.lower()}.example.org/hook", kinds=[], settings=settings,
        at=clock.now(),
    )  # fmt: skip
    db_session.commit()
    return liaison


def _seed_rollout(
    label: str, db_session: Session, clock: FrozenClock, settings: Settings, device_id: str
) -> Any:
    """A firmware bundle (its own version per street) rolled out to the street's device."""
    from hub.media.store import FileBlobStore
    from hub.ota import service
    from protocol import crypto
    from tests.hub.ota.conftest import OPS_SEED, make_glb

    ota = settings.model_copy(update={"ota_ops_key": crypto.public_key(OPS_SEED).hex()})
    version = "0.2.0" if label == "A" else "0.3.0"
    store = FileBlobStore(ota.ota_dir)
    glb = make_glb(version=version)
    bundle, _ = service.upload_bundle(
        db_session=db_session, store=store, data=glb, settings=ota, clock=clock
    )
    rollout = service.create_rollout(
        db_session=db_session, clock=clock, bundle_id=bundle.id,
        target={"devices": [device_id]}, stages=[100], auto_advance=False,
        advance_success_percent=90, pause_failure_percent=20, pause_min_done=1,
        device_timeout_s=900,
    )  # fmt: skip
    db_session.commit()
    return rollout


def _seed_gate(
    label: str, db_session: Session, clock: FrozenClock, grid: str, settings: Settings
) -> tuple[str, str]:
    """A face terminal of the street's first grid, a person, and one logged face capture."""
    from hub.access import people
    from hub.access.schemas import PersonPut
    from hub.access.service import record_batch
    from hub.media.store import FileBlobStore
    from tests.hub.access.conftest import add_gate
    from tests.hub.builders import store_blob

    at = clock.now()
    person = f"p-walk-{label.lower()}"
    people.put_person(
        db_session=db_session,
        community=grid[:12],
        person_id=person,
        data=PersonPut(cards=[f"CAFE{ord(label):04X}"]),
        at=at,
    )
    gate = add_gate(db_session, f"face-walk-{label.lower()}", "face", at=at, grid=grid)
    media = FileBlobStore(settings.media_dir)
    ref = store_blob(db_session, media, at=at, data=os.urandom(3000), grid=grid, device_id=gate.id)
    event = {
        "ev": "granted",
        "ts": int(at.timestamp()),
        "ms": 0,
        "door": "d1",
        "dir": "in",
        "by": "face",
        "person": person,
        "score": 95,
        "blob": 0,
    }
    record_batch(
        db_session=db_session,
        device=gate,
        seq=1,
        body={"events": [event]},
        blobs=[ref],
        historical=False,
        at=at,
    )
    db_session.commit()
    return person, ref["sha256"]


def _leaves(data: Any, key: str = "", depth: int = 0) -> Iterator[tuple[str, int, Any]]:
    """(key, depth of the object holding it, value); a page's ``items`` do not count."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, k, depth + (k != "items"))
    elif isinstance(data, list):
        for item in data:
            yield from _leaves(item, key, depth)
    else:
        yield key, depth, data


def _kind_of_id(path: str, key: str, depth: int) -> str | None:
    """Which kind of object an integer under ``key`` identifies in ``path``'s answer."""
    if key in ("case_id", "duplicate_of_id", "duplicates"):
        return "case"
    if key in ("event_id",):
        return "event"
    if key == "unit_id":
        return "unit"
    if key == "id" and depth == 1:  # the endpoint's own objects, not e.g. a timeline row
        for prefix, kind in (
            ("/api/cases", "case"),
            ("/api/events", "event"),
            ("/api/units", "unit"),
            ("/api/notifications", "notification"),
        ):
            if path.startswith(prefix):
                return kind
    return None


def _leaks(path: str, data: Any, other: Street) -> list[str]:
    found = []
    for key, depth, value in _leaves(data):
        if isinstance(value, str):
            found += [f"{key}={value!r}" for s in other.strings if s in value]
            if path == "/api/stats/units" and key == "code" and value.isdigit():
                if int(value) in other.ints["unit"]:
                    found.append(f"unit {value}")
        elif isinstance(value, int) and not isinstance(value, bool) and key in ID_KEYS:
            kind = _kind_of_id(path, key, depth)
            if kind is not None and value in other.ints[kind]:
                found.append(f"{kind} id {key}={value}")
    return found


def _fill(path: str, street: Street) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in street.params, f"{path}: add path parameter {name!r} to Street.params"
        return street.params[name]

    return re.sub(r"\{(\w+)\}", one, path)


def test_every_get_endpoint_is_limited_to_the_callers_street(
    client: TestClient,
    demo: DemoData,
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    streets = {
        label: _seed_street(label, processor, db_session, device_factory, clock, settings)
        for label in STREETS
    }
    weekly.store_week(
        db_session=db_session,
        settings=settings,
        period=week("2026-W01", settings),
        at=clock.now(),
        by="admin:walk",
    )
    db_session.commit()
    tokens = {label: demo.tokens[f"street-{s.code}-operator"] for label, s in streets.items()}
    paths = client.get("/openapi.json").json()["paths"]
    walked = 0
    leaked: dict[str, list[str]] = {}
    for path, operations in sorted(paths.items()):
        if "get" not in operations:
            continue
        if "text/event-stream" in operations["get"]["responses"].get("200", {}).get("content", {}):
            continue  # a stream never ends here: tests/hub/live walks its scope
        query = {}
        for param in operations["get"].get("parameters", []):
            if param["in"] == "query" and param.get("required"):
                assert param["name"] in QUERY, f"{path}: add query parameter {param['name']!r}"
                query[param["name"]] = QUERY[param["name"]]
        for me, other in (("A", "B"), ("B", "A")):
            headers = {"Authorization": f"Bearer {tokens[me]}"}
            own = client.get(_fill(path, streets[me]), params=query, headers=headers)
            if "{" in path and _fill(path, streets[me]) != _fill(path, streets[other]):
                foreign = client.get(_fill(path, streets[other]), params=query, headers=headers)
                if own.status_code == 403:  # the role may not use it at all
                    assert foreign.status_code == 403, (path, foreign.text)
                else:
                    assert own.status_code == 200, (path, me, own.text)
                    assert foreign.status_code == 404, (path, me, foreign.text)
            assert own.status_code in (200, 403), (path, me, own.text)
            if own.headers.get("content-type", "").startswith("application/json"):
                leaks = _leaks(path, own.json(), streets[other])
            else:  # a CSV export: none of the other street's strings anywhere in it
                leaks = sorted(x for x in streets[other].strings if x in own.text)
            if leaks:
                leaked[f"{path} as {me}"] = leaks
            walked += 1
    assert not leaked, leaked  # every leaking endpoint at once
    assert walked >= 2 * 25  # every GET endpoint, both ways
