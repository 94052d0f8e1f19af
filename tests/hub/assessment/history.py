"""A known week of one grid worker, through the real ingest (signed envelopes) and the case
workflow, and the figures it must give. Monday 5 January 2026 09:00 local (ISO week 2026-W02).

w00100101 (grid 33010200100101, Qingbo Street) on handheld hh-0001:
- 5 reports: A; B (same problem as A: voided as duplicate); C (voided as invalid);
  D (voided as out of scope: still a valid report); E (closed, rated 4 by the resident);
- 2 visits and 1 collection;
- 2 verifications of A: one answered 10 minutes after the task (on time), one 30 hours after.
w00200101 (grid 33010200200101, the other street) on hh-0201: 1 visit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.flows import unit_feedback
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.builders import GRID, GRID_LAT, GRID_LON, OTHER_STREET_GRID, PHOTO, store_blob

WORKER, OTHER = "w00100101", "w00200101"
OPERATOR = "operator:district-operator"


RESIDENT = {"id_number": "330102198503120014", "name": "张伟", "gender": "1"}


def visit_body(worker: str, grid: str, ref: str) -> dict[str, Any]:
    return {"worker": worker, "grid": grid, "place": {"kind": "household", "ref": ref},
            "purpose": "care", "outcome": "met", "text": "", "loc": None}  # fmt: skip


def send(processor: Processor, dev: TestDevice, kind: str, body: dict[str, Any]) -> None:
    result = processor.process([Inbound(*dev.event(kind, body))])
    assert not result.rejected, result.rejected


def report(
    processor: Processor,
    dev: TestDevice,
    category: str,
    lat_step: int,
    worker: str = WORKER,
    grid: str = GRID,
) -> None:
    loc = {"lat_e6": GRID_LAT + lat_step * 3_000, "lon_e6": GRID_LON, "acc_m": 8}
    send(
        processor,
        dev,
        "report",
        {
            "category": category,
            "text": f"{category} here",
            "grid": grid,
            "worker": worker,
            "loc": loc,
        },
    )


def _case(db_session: Session, category: str, nth: int = 0) -> Case:
    cases = db_session.scalars(
        select(Case).where(Case.category_code == category).order_by(Case.id)
    ).all()
    return cases[nth]


def week_of_work(
    db_session: Session,
    processor: Processor,
    clock: FrozenClock,
    settings: Settings,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
) -> tuple[dict[str, int], TestDevice]:
    """Play the week (see the module docstring); returns the case ids by letter and the
    worker's handheld."""
    hh = device_factory("hh-0001")
    hh.register(db_session, GRID)
    other = device_factory("hh-0201")
    other.register(db_session, OTHER_STREET_GRID)
    store_blob(db_session, store, at=clock.now())
    db_session.commit()

    # the workers sign in on their handhelds first: a report of a worker not signed in is
    # flagged and never valid (hub.workers)
    send(processor, hh, "signin", {"worker": WORKER, "grid": GRID, "ok": True})
    send(processor, other, "signin", {"worker": OTHER, "grid": OTHER_STREET_GRID, "ok": True})
    report(processor, hh, "road_damage", 0)  # A
    clock.advance(minutes=2)
    report(processor, hh, "road_damage", 0)  # B: duplicate of A
    clock.advance(minutes=2)
    report(processor, hh, "garbage", 1)  # C
    clock.advance(minutes=2)
    report(processor, hh, "street_light", 2)  # D
    clock.advance(minutes=2)
    report(processor, hh, "illegal_parking", 3)  # E
    clock.advance(minutes=2)
    for _ in range(2):
        send(processor, hh, "visit", visit_body(WORKER, GRID, "3-201"))
        clock.advance(minutes=2)
    send(processor, hh, "collect", {"worker": WORKER, "grid": GRID, "form": "resident",
                                    "record": RESIDENT})  # fmt: skip
    # a form the hub refuses (no such house yet) is no collection
    no_house = {**RESIDENT, "house_code": "330102001001-9999"}
    send(processor, hh, "collect", {"worker": WORKER, "grid": GRID, "form": "resident",
                                    "record": no_house})  # fmt: skip
    send(processor, other, "visit", visit_body(OTHER, OTHER_STREET_GRID, "1"))

    db_session.expire_all()
    a, b = _case(db_session, "road_damage"), _case(db_session, "road_damage", 1)
    assert b.duplicate_of_id == a.id
    c, d, e = (_case(db_session, k) for k in ("garbage", "street_light", "illegal_parking"))
    now = clock.now()
    for case, why in ((c, "invalid"), (d, "out_of_scope")):
        actions.park(
            db_session=db_session,
            case=case,
            actor=OPERATOR,
            at=now,
            review_at=now + timedelta(days=1),
            reason="to be judged",
        )
        actions.void(db_session=db_session, case=case, actor=OPERATOR, at=now, reason=why)
    actions.accept(db_session=db_session, case=e, actor="unit:x", at=now)
    unit_feedback.submit_feedback(
        db_session=db_session, case=e, actor="unit:x", text="moved", clock=clock, settings=settings
    )
    actions.close(
        db_session=db_session,
        case=e,
        actor=OPERATOR,
        at=now,
        settings=settings,
        taken_at=now,
        loc={"lat_e6": e.lat_e6, "lon_e6": e.lon_e6},
        blobs=[PHOTO],
    )
    actions.rate(db_session=db_session, case=e, actor=OPERATOR, at=now, score=4)
    actions.accept(db_session=db_session, case=a, actor="unit:x", at=now)
    unit_feedback.submit_feedback(
        db_session=db_session, case=a, actor="unit:x", text="filled", clock=clock, settings=settings
    )
    db_session.commit()

    for wait in (timedelta(minutes=10), timedelta(hours=30)):  # on time, then late
        clock.advance(wait)
        db_session.expire_all()
        task = db_session.get(Case, a.id).verify_task_id  # type: ignore[union-attr]
        assert task is not None
        send(
            processor,
            hh,
            "verify",
            {
                "case_id": a.id,
                "task_id": task,
                "result": "reject",
                "worker": WORKER,
                "text": "not fixed",
            },
        )
        db_session.expire_all()
        case = db_session.get(Case, a.id)
        assert case is not None and case.status == "handling"
        unit_feedback.submit_feedback(
            db_session=db_session,
            case=case,
            actor="unit:x",
            text="again",
            clock=clock,
            settings=settings,
        )
        db_session.commit()
    return {"A": a.id, "B": b.id, "C": c.id, "D": d.id, "E": e.id}, hh
