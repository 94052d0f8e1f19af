"""The dashboard's statistics: the board (totals, child areas, cases by status and level),
units and workers of a month, and their CSV / XLSX exports, checked against a hand-made
history, scoped, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.areas.models import Worker, WorkerGrid
from hub.cases import actions
from hub.cases.flows import device_events, unit_feedback
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.db import make_engine, make_session_factory
from hub.media.store import FileBlobStore
from hub.migrations.runner import upgrade
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from hub.stats import board, export, service
from tests.hub.builders import (
    GRID,
    GRID_LAT,
    OTHER_STREET_GRID,
    PHOTO,
    add_handheld,
    report_event,
    store_blob,
    verify_event,
)
from tests.hub.conftest import START
from tests.hub.test_postgres import postgres_url  # noqa: F401 - the fixture

STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"
SNEAKY = '=HYPERLINK("http://x","y")'  # a name a spreadsheet must not run


def _close(db_session: Session, case: Case, clock: FrozenClock, settings: Settings) -> None:
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


def history(
    db_session: Session, clock: FrozenClock, settings: Settings, store: FileBlobStore
) -> None:
    """In January 2026: street A (330102001) gets 5 reports from w00100101, one a duplicate:
    one closed on time and rated 5, one closed late and rated 2, one reworked (rejected on
    site), one left open (overdue); street B one open report. A worker with a formula for a
    name in street A. One report in February."""
    add_handheld(db_session, at=clock.now())
    store_blob(db_session, store, at=clock.now())
    db_session.add(Worker(id="w-eq", name=SNEAKY, created_at=clock.now()))
    db_session.add(WorkerGrid(worker_id="w-eq", grid_code=GRID))

    def report(seq: int, **kw: object) -> Case:
        return device_events.on_report(
            db_session=db_session,
            event=report_event(seq=seq, at=clock.now(), lat_e6=GRID_LAT + seq * 3_000, **kw),  # type: ignore[arg-type]
            clock=clock,
            settings=settings,
        )

    on_time = report(1)
    _close(db_session, on_time, clock, settings)
    actions.rate(db_session=db_session, case=on_time, actor="operator", at=clock.now(), score=5)
    reworked = report(2)
    actions.accept(db_session=db_session, case=reworked, actor="u", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session, case=reworked, actor="u", text="x", clock=clock, settings=settings
    )
    device_events.on_verify(
        db_session=db_session,
        event=verify_event(
            seq=50,
            at=clock.now(),
            case_id=reworked.id,
            task_id=reworked.verify_task_id or "",
            result="reject",
        ),
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
    report(6, grid=OTHER_STREET_GRID, worker="w00200101")
    clock.advance(days=5)  # the open ones are overdue now
    _close(db_session, late, clock, settings)
    actions.rate(db_session=db_session, case=late, actor="operator", at=clock.now(), score=2)
    clock.set(START + timedelta(days=31))  # 5 February
    report(7)
    db_session.commit()


def check_service(db_session: Session, now_clock: FrozenClock) -> None:
    now = now_clock.now()
    since, until = service.month_bounds("2026-01")
    everywhere = board.board(
        db_session=db_session, scope_code=None, now=now, since=since, until=until
    )
    f = everywhere.figures
    assert (f.total, f.open, f.overdue, f.closed, f.closed_on_time, f.closed_late) == (
        5,
        3,
        3,
        2,
        1,
        1,
    )
    assert (f.on_time_rate, f.satisfaction, f.rated, f.rework_count, f.duplicates) == (
        0.5,
        3.5,
        2,
        1,
        1,
    )
    assert [(c.code, c.name, c.level, c.total) for c in f.children] == [
        ("3301", "Hangzhou City", "city", 5)  # the top areas: the cities (else the districts)
    ]
    city = board.board(db_session=db_session, scope_code="3301", now=now, since=since, until=until)
    assert [(c.code, c.name, c.total) for c in city.figures.children] == [
        ("330102", "Shangcheng District", 5)
    ]
    # the duplicate (voided) is left out of the status and level counts, like the total
    assert everywhere.by_status == {"evaluated": 2, "dispatched": 2, "handling": 1}
    assert everywhere.by_level == {"community": 5}
    street = board.board(
        db_session=db_session, scope_code="330102001", now=now, since=since, until=until
    )
    assert street.figures.total == 4 and street.figures.name == "Qingbo Street"
    assert [(c.code, c.level, c.total, c.overdue) for c in street.figures.children] == [
        ("330102001001", "community", 4, 2)
    ]
    assert board.board(db_session=db_session, scope_code=None, now=now).figures.total == 6
    feb = board.board(db_session=db_session, scope_code=None, now=now, **dict(zip(
        ("since", "until"), service.month_bounds("2026-02"), strict=True)))  # fmt: skip
    assert feb.figures.total == 1 and feb.by_status == {"dispatched": 1}

    units = {
        u.name: u
        for u in service.unit_figures(
            db_session=db_session, now=now, scope_code="330102001", since=since, until=until
        )
    }
    office = units["Qinghefang Community office"]
    assert (office.total, office.closed, office.overdue, office.rework_count) == (4, 2, 2, 1)
    assert "Xihu Community office" not in units
    workers = service.worker_month(db_session=db_session, month="2026-01", scope_code="330102001")
    first = workers[0]
    assert (first.worker_id, first.rank, first.reports, first.cases) == ("w00100101", 1, 5, 4)
    assert "w00200101" not in {w.worker_id for w in workers}


def test_board_units_workers_by_hand(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
) -> None:
    history(db_session, clock, settings, store)
    check_service(db_session, clock)


def _csv(resp) -> list[list[str]]:  # type: ignore[no-untyped-def]
    assert resp.content.startswith("\ufeff".encode()), resp.content[:10]
    return list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))


def test_board_and_exports_over_http(
    client: TestClient,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
) -> None:
    history(db_session, clock, settings, store)
    a = {"Authorization": f"Bearer {demo.tokens[STREET_A]}"}
    b = {"Authorization": f"Bearer {demo.tokens[STREET_B]}"}
    mine = client.get("/api/stats/board?month=2026-01", headers=a)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["scope_code"] == "330102001" and body["figures"]["total"] == 4
    assert body["figures"]["on_time_rate"] == 0.5 and body["figures"]["overdue"] == 2
    assert body["by_status"] == {"evaluated": 2, "dispatched": 1, "handling": 1}
    assert {"status": "handling", "level": "community", "count": 1} in body["matrix"]
    theirs = client.get("/api/stats/board?month=2026-01", headers=b).json()
    assert theirs["figures"]["total"] == 1 and theirs["scope_code"] == "330102002"
    ranking = client.get("/api/stats/workers?month=2026-01", headers=a).json()
    second = client.get("/api/stats/workers?month=2026-01&offset=1&limit=1", headers=a).json()
    assert second == [ranking[1]] and second[0]["rank"] == 2
    units = client.get("/api/stats/units?month=2026-01", headers=a).json()
    assert sum(u["total"] for u in units) == 4
    both = client.get("/api/stats/units?month=2026-01&since=2026-01-01T00:00:00Z", headers=a)
    assert both.status_code == 422 and both.json()["message"] == (
        "give month, or since / until, not both"
    )

    # CSV: BOM, Chinese headers with English beside, the numbers of the JSON
    resp = client.get("/api/stats/workers/export?month=2026-01&format=csv", headers=a)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"] == (
        'attachment; filename="gridlink-workers-2026-01.csv"'
    )
    rows = _csv(resp)
    assert rows[0][:4] == [
        "排名 (Rank)",
        "网格员编号 (Worker ID)",
        "姓名 (Name)",
        "上报数 (Reports)",
    ]
    by_id = {r[1]: r for r in rows[1:]}
    assert by_id["w00100101"][0] == "1" and by_id["w00100101"][3:6] == [
        "5",
        "4",
        "1",
    ]  # 1: the rejection on site
    assert "w00200101" not in by_id  # the other street's worker
    assert by_id["w-eq"][2] == "'" + SNEAKY  # text, not a formula
    units_csv = _csv(client.get("/api/stats/units/export?month=2026-01&format=csv", headers=a))
    office = next(r for r in units_csv if r[1] == "Qinghefang Community office")
    head = units_csv[0]
    assert office[head.index("案件数 (Cases)")] == "4"
    assert office[head.index("按期结案率 (On-time rate)")] == "0.5"
    assert office[head.index("返工 (Rework)")] == "1"
    assert not any(r[1] == "Xihu Community office" for r in units_csv)

    # XLSX opened back: a title row, the header, the rows; rates as percentages; text as text
    resp = client.get("/api/stats/board/export?month=2026-01&format=xlsx", headers=a)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == export.MIME["xlsx"]
    book = openpyxl.load_workbook(io.BytesIO(resp.content))
    sheet = book.worksheets[0]
    assert sheet.title == "区域案件统计"
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "区域案件统计 2026-01 · 330102001"
    assert values[1][:4] == (
        "区域编码 (Area code)",
        "区域名称 (Area)",
        "层级 (Level)",
        "案件数 (Cases)",
    )
    assert values[2][:5] == ("330102001001", "Qinghefang Community", "community", 4, 2)
    rate = sheet.cell(row=3, column=values[1].index("按期结案率 (On-time rate)") + 1)
    assert rate.value == 0.5 and rate.number_format == "0.0%"
    workers = openpyxl.load_workbook(
        io.BytesIO(
            client.get("/api/stats/workers/export?month=2026-01&format=xlsx", headers=a).content
        )
    ).worksheets[0]
    sneaky = next(r for r in workers.iter_rows(min_row=3) if r[1].value == "w-eq")
    assert sneaky[2].value == SNEAKY and sneaky[2].data_type == "s"

    # refusals: a bad format or month is a 422 in one line; units and strangers get nothing
    bad = client.get("/api/stats/workers/export?month=2026-01&format=pdf", headers=a)
    assert bad.status_code == 422 and "\n" not in bad.json()["message"]
    assert "format" in bad.json()["message"]
    assert client.get("/api/stats/workers/export?format=csv", headers=a).status_code == 422
    assert client.get(
        "/api/stats/nothing/export?month=2026-01&format=csv", headers=a
    ).status_code in (
        404,
        422,
    )
    unit = {"Authorization": f"Bearer {demo.tokens['unit-330102001001-office']}"}
    assert client.get("/api/stats/board?month=2026-01", headers=unit).status_code == 403
    assert (
        client.get("/api/stats/units/export?month=2026-01&format=csv", headers=unit).status_code
        == 403
    )
    assert client.get("/api/stats/board?month=2026-01").status_code == 401
    assert client.get("/api/stats/workers/export?month=2026-01&format=csv").status_code == 401


def test_board_on_postgres(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    try:
        clock = FrozenClock(START)
        settings = Settings(
            env="development",
            data_dir=tmp_path,
            database_url=postgres_url,
            verify_distance_m=100,
            verify_window_s=3600,
            warn_before_deadline_ratio=0.75,
        )
        with make_session_factory(engine)() as db_session:
            seed_demo(db_session=db_session, clock=clock)
            db_session.commit()
            history(db_session, clock, settings, FileBlobStore(settings.media_dir))
            check_service(db_session, clock)
            rows = service.worker_month(db_session=db_session, month="2026-01")
            data = export.to_xlsx(export.WORKERS, [vars(r) for r in rows], title="t")
            sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
            assert sheet.cell(row=3, column=2).value == rows[0].worker_id
    finally:
        engine.dispose()
