"""Reopening (issue 15, item 6): a satisfaction score under the threshold, or a resident's
complaint within the period, sends a closed case back to handling as rework for its unit, with
a fresh deadline; return visits (回访) are recorded with their outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID_LAT, GRID_LON, PHOTO, add_handheld, report_event, store_blob

UNIT = "Qinghefang Community property & sanitation"


@pytest.fixture
def op(demo: DemoData) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens['district-operator']}"}


def _closed(client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
            store: FileBlobStore, op: dict[str, str], seq: int = 1) -> int:  # fmt: skip
    if seq == 1:
        add_handheld(db_session, at=clock.now())
        store_blob(db_session, store, at=clock.now())
    case = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                   event=report_event(seq=seq, at=clock.now(), category="garbage",
                                                      lat_e6=GRID_LAT + seq * 2000))  # fmt: skip
    db_session.commit()
    for action, body in (("accept", {}), ("feedback", {"text": "已清运", "blobs": [PHOTO]}),
                         ("close", {"loc": {"lat_e6": GRID_LAT + seq * 2000, "lon_e6": GRID_LON},
                                    "blobs": [PHOTO]})):  # fmt: skip
        answer = client.post(f"/api/cases/{case.id}/{action}", headers=op, json=body)
        assert answer.status_code == 200, (action, answer.text)
    return case.id


def _rework(client: TestClient, op: dict[str, str], unit_id: int) -> int:
    rows = client.get("/api/stats/units", headers=op, params={"month": "2026-01"}).json()
    return int(next(u for u in rows if u["code"] == str(unit_id))["rework_count"])


def test_a_low_rating_reopens_the_case_and_counts_rework_for_the_unit(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    store: FileBlobStore, demo: DemoData, op: dict[str, str],
) -> None:  # fmt: skip
    case_id = _closed(client, db_session, clock, settings, store, op)
    assert _rework(client, op, demo.units[UNIT]) == 0
    clock.advance(timedelta(days=2))
    rated = client.post(f"/api/cases/{case_id}/rate", headers=op,
                        json={"score": 2, "comment": "垃圾又堆起来了"})  # fmt: skip
    assert rated.status_code == 200, rated.text
    d = rated.json()
    assert (d["status"], d["rework_count"], d["satisfaction"]) == ("handling", 1, 2)
    assert [(t["action"], t["actor"]) for t in d["timeline"][-2:]] == [
        ("rate", "operator:district-operator"), ("reopen", "system")]  # fmt: skip
    assert "satisfaction 2 below 3" in d["timeline"][-1]["reason"]
    assert d["timeline"][-1]["rework"] is True
    assert d["deadline_at"] > clock.now().isoformat()  # a fresh deadline, not the spent one
    assert d["overdue"] is False
    assert _rework(client, op, demo.units[UNIT]) == 1
    # a fair score does not reopen
    other = _closed(client, db_session, clock, settings, store, op, seq=2)
    fair = client.post(f"/api/cases/{other}/rate", headers=op, json={"score": 3}).json()
    assert fair["status"] == "evaluated" and fair["rework_count"] == 0


def test_a_complaint_within_the_period_reopens_and_after_it_is_refused(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    store: FileBlobStore, demo: DemoData, op: dict[str, str],
) -> None:  # fmt: skip
    case_id = _closed(client, db_session, clock, settings, store, op)
    assert client.post(f"/api/cases/{case_id}/rate", headers=op, json={"score": 5}
                       ).json()["status"] == "evaluated"  # fmt: skip
    clock.advance(timedelta(days=settings.complaint_window_days - 1))
    complained = client.post(f"/api/cases/{case_id}/complaint", headers=op,
                             json={"channel": "hotline", "text": "清运后又出现堆放"})  # fmt: skip
    assert complained.status_code == 200, complained.text
    d = complained.json()
    assert d["status"] == "handling" and d["rework_count"] == 1
    assert d["timeline"][-1]["action"] == "complaint"
    assert d["timeline"][-1]["reason"] == "[hotline] 清运后又出现堆放"
    assert _rework(client, op, demo.units[UNIT]) == 1

    late_id = _closed(client, db_session, clock, settings, store, op, seq=2)
    clock.advance(timedelta(days=settings.complaint_window_days, seconds=1))
    late = client.post(f"/api/cases/{late_id}/complaint", headers=op, json={"text": "又脏了"})
    assert late.status_code == 409 and late.json()["code"] == "complaint_window_passed"
    assert "new case" in late.json()["message"]
    unit = {"Authorization": f"Bearer {demo.tokens['unit-330102001001-office']}"}
    assert client.post(f"/api/cases/{case_id}/complaint", headers=unit,
                       json={"text": "x"}).status_code in (403, 404)  # fmt: skip


def test_a_return_visit_is_recorded_with_its_outcome(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    store: FileBlobStore, demo: DemoData, op: dict[str, str],
) -> None:  # fmt: skip
    case_id = _closed(client, db_session, clock, settings, store, op)
    visit = client.post(f"/api/cases/{case_id}/return-visit", headers=op,
                        json={"outcome": "unsatisfied", "note": "居民认为清运不及时"})  # fmt: skip
    assert visit.status_code == 200, visit.text
    last = visit.json()["timeline"][-1]
    assert (last["action"], last["evidence"]["outcome"]) == ("return_visit", "unsatisfied")
    assert visit.json()["status"] == "closed"  # recorded; reopening is the operator's call
    bad = client.post(f"/api/cases/{case_id}/return-visit", headers=op, json={"outcome": "meh"})
    assert bad.status_code == 422


def test_with_the_threshold_off_no_score_reopens(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    store: FileBlobStore, demo: DemoData, op: dict[str, str],
) -> None:  # fmt: skip
    app_settings = client.app.state.settings  # type: ignore[attr-defined]
    client.app.state.settings = app_settings.model_copy(  # type: ignore[attr-defined]
        update={"reopen_below_satisfaction": 0})  # fmt: skip
    case_id = _closed(client, db_session, clock, settings, store, op)
    d = client.post(f"/api/cases/{case_id}/rate", headers=op, json={"score": 1}).json()
    assert d["status"] == "evaluated" and d["rework_count"] == 0
