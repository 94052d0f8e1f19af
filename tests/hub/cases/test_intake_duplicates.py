"""The duplicate check for every source (docs/workflow.md, "Hotline work orders"): an
operator's entry about a problem already open is voided as a duplicate and linked to the first
case, as a grid worker's report and a hotline order are."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID, GRID_LAT, GRID_LON, report_event


def _as(demo: DemoData, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[token]}"}


def test_an_operators_entry_near_an_open_case_of_its_category_is_a_duplicate(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    first = device_events.on_report(
        db_session=db_session, event=report_event(seq=1, at=clock.now()), clock=clock,
        settings=settings,
    )  # fmt: skip
    db_session.commit()
    assert first.category_code == "road_damage" and first.duplicate_of_id is None
    clock.advance(minutes=30)
    op = _as(demo, "district-operator")
    near = {"lat_e6": GRID_LAT + 100, "lon_e6": GRID_LON}  # ~11 m away

    entered = client.post("/api/cases", headers=op, json={
        "category_code": "road_damage", "text": "路面坑洞 (市民来电)", "grid_code": GRID,
        "loc": near, "source": "hotline"})  # fmt: skip
    assert entered.status_code == 201, entered.text
    dup = entered.json()
    assert (dup["status"], dup["void_reason"], dup["duplicate_of_id"]) == (
        "voided", "duplicate", first.id)  # fmt: skip
    assert [t["action"] for t in dup["timeline"]] == ["collect", "void"]
    assert f"same problem as case {first.id}" in dup["timeline"][-1]["reason"]
    linked = client.get(f"/api/cases/{first.id}", headers=op).json()
    assert linked["duplicates"] == [dup["id"]] and linked["status"] == "dispatched"

    # another category at the same place, or no place at all: a case of its own
    other = client.post("/api/cases", headers=op, json={
        "category_code": "garbage", "text": "垃圾", "grid_code": GRID, "loc": near})  # fmt: skip
    unplaced = client.post("/api/cases", headers=op, json={
        "category_code": "road_damage", "text": "路面坑洞", "grid_code": GRID})  # fmt: skip
    for answer in (other, unplaced):
        assert answer.status_code == 201, answer.text
        assert answer.json()["status"] == "pending_acceptance"
        assert answer.json()["duplicate_of_id"] is None
