"""Statistics per level, per unit and per worker-month, checked against a known history."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.flows import device_events, unit_feedback
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from hub.stats import service
from tests.hub.builders import (
    GRID_LAT,
    OTHER_STREET_GRID,
    PHOTO,
    add_handheld,
    report_event,
    store_blob,
)


def _close(
    db_session: Session,
    case: Case,
    clock: FrozenClock,
    settings: Settings,
    score: int | None = None,
) -> None:
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session, case=case, actor="unit", text="done", clock=clock, settings=settings
    )
    actions.close(
        db_session=db_session,
        case=case,
        actor="operator",
        at=clock.now(),
        settings=settings,
        taken_at=clock.now(),
        loc={"lat_e6": case.lat_e6, "lon_e6": case.lon_e6},
        blobs=[PHOTO],
    )
    if score is not None:
        actions.rate(
            db_session=db_session, case=case, actor="operator", at=clock.now(), score=score
        )


def test_figures(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    client: TestClient,
    store: FileBlobStore,
) -> None:
    add_handheld(db_session, at=clock.now())
    store_blob(db_session, store, at=clock.now())

    def report(seq: int, **kw: object) -> Case:
        return device_events.on_report(
            db_session=db_session,
            event=report_event(seq=seq, at=clock.now(), lat_e6=GRID_LAT + seq * 3_000, **kw),  # type: ignore[arg-type]
            clock=clock,
            settings=settings,
        )

    on_time = report(1)
    _close(db_session, on_time, clock, settings, score=5)
    reworked = report(2)
    actions.accept(db_session=db_session, case=reworked, actor="u", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session, case=reworked, actor="u", text="x", clock=clock, settings=settings
    )
    device_events.on_verify(
        db_session=db_session,
        event={
            "device_id": "hh-0001",
            "seq": 50,
            "ts": int(clock.now().timestamp()),
            "kind": "verify",
            "body": {
                "case_id": reworked.id,
                "task_id": reworked.verify_task_id,
                "result": "reject",
                "text": "not fixed",
            },
            "blobs": [PHOTO],
            "worker_id": "w00100101",
        },
        clock=clock,
        settings=settings,
    )
    late = report(3)
    open_case = report(4)
    dup = device_events.on_report(
        db_session=db_session,
        event=report_event(seq=5, at=clock.now(), lat_e6=GRID_LAT + 4 * 3_000),
        clock=clock,
        settings=settings,
    )
    assert dup.duplicate_of_id == open_case.id
    elsewhere = report(6, grid=OTHER_STREET_GRID, worker="w00200101")
    clock.advance(days=5)  # everything still open is now overdue
    _close(db_session, late, clock, settings, score=2)
    db_session.commit()
    now = clock.now()

    district = service.area_figures(db_session=db_session, code="330102", now=now)
    assert (district.total, district.closed, district.closed_on_time, district.closed_late) == (
        5,
        2,
        1,
        1,
    )
    assert district.open == 3 and district.overdue == 3
    assert district.on_time_rate == 0.5 and district.satisfaction == 3.5 and district.rated == 2
    assert district.rework_count == 1 and district.duplicates == 1
    assert [(c.code, c.total) for c in district.children] == [("330102001", 4), ("330102002", 1)]
    street = service.area_figures(db_session=db_session, code="330102001", now=now)
    assert street.level == "street" and street.overdue == 2
    assert [c.level for c in street.children] == ["community", "community"]
    community = service.area_figures(db_session=db_session, code="330102001001", now=now)
    assert community.children[0].code == "33010200100101" and community.children[0].total == 4

    units = {f.name: f for f in service.unit_figures(db_session=db_session, now=now)}
    office = units["Qinghefang Community office"]
    assert office.rework_count == 1 and office.closed == 2 and office.overdue == 2

    month = service.worker_month(db_session=db_session, month="2026-01")
    by_id = {r.worker_id: r for r in month}
    assert by_id["w00100101"].reports == 5 and by_id["w00100101"].cases == 4
    assert by_id["w00100101"].verifications == 1  # the rejection on site
    assert by_id["w00200101"].reports == 1
    assert month[0].worker_id == "w00100101" and month[0].rank == 1
    assert service.worker_month(db_session=db_session, month="2026-02")[0].reports == 0
    assert elsewhere.grid_code == OTHER_STREET_GRID

    # Over HTTP, scoped: the street operator cannot read the other street's figures.
    headers = {"Authorization": f"Bearer {demo.tokens['street-330102001-operator']}"}
    resp = client.get("/api/stats/areas/330102001", headers=headers)
    assert resp.status_code == 200 and resp.json()["total"] == 4
    assert client.get("/api/stats/areas/330102002", headers=headers).status_code == 404
    workers = client.get("/api/stats/workers?month=2026-01", headers=headers).json()
    assert "w00200101" not in {w["worker_id"] for w in workers}
    assert client.get("/api/stats/units", headers=headers).status_code == 200
