"""Multi-department cases (issue 15, item 3): a lead unit (主办) and co-handling units (协办),
picked by routing from the category's responsibilities in the area, each co-handler giving its
own feedback, the lead's feedback moving the case on once every part is in, and the case closed
on the lead's result."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.auth.models import Role
from hub.auth.service import create_token
from hub.cases.flows import device_events
from hub.cases.models import CaseTransition
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.notify.models import Notification
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import GRID_LAT, GRID_LON, PHOTO, add_handheld, report_event, store_blob

LEAD = "Qinghefang Community property & sanitation"  # functional (属事)
OFFICE = "Qinghefang Community office"  # territorial (属地)
OTHER_OFFICE = "Xihu Community office"  # another street's


def _as(demo: DemoData, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[token]}"}


@pytest.fixture
def lead_token(db_session: Session, clock: FrozenClock, demo: DemoData) -> dict[str, str]:
    _row, secret = create_token(db_session=db_session, name="sanitation", role=Role.unit,
                                scope_code="330102001001", unit_id=demo.units[LEAD],
                                clock=clock)  # fmt: skip
    add_handheld(db_session, at=clock.now())
    db_session.commit()
    return {"Authorization": f"Bearer {secret}"}


def _two_unit_case(db_session: Session, clock: FrozenClock, settings: Settings) -> int:
    case = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                   event=report_event(seq=1, at=clock.now(),
                                                      category="illegal_construction",
                                                      text="楼顶违章搭建"))  # fmt: skip
    db_session.commit()
    return case.id


def test_a_two_unit_case_each_part_recorded_and_closed_on_the_leads_result(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    demo: DemoData, lead_token: dict[str, str], store: FileBlobStore,
) -> None:  # fmt: skip
    store_blob(db_session, store, at=clock.now())
    db_session.commit()
    case_id = _two_unit_case(db_session, clock, settings)
    op, office = _as(demo, "district-operator"), _as(demo, "unit-330102001001-office")
    d = client.get(f"/api/cases/{case_id}", headers=op).json()
    assert d["status"] == "dispatched" and d["unit_id"] == demo.units[LEAD]
    assert d["unit_kind"] == "functional"
    assert [(u["name"], u["kind"], u["status"]) for u in d["co_units"]] == [
        (OFFICE, "territorial", "assigned")]  # fmt: skip
    # the co-handler sees the case in its queue and may only give its part
    queue = client.get("/api/cases", headers=office).json()
    assert case_id in [c["id"] for c in queue["items"]]
    mine = client.get(f"/api/cases/{case_id}", headers=office).json()
    assert mine["allowed_actions"] == ["co_feedback"]
    refused = client.post(f"/api/cases/{case_id}/accept", headers=office, json={})
    assert refused.status_code == 403 and "co-feedback" in refused.json()["message"]

    # the lead accepts; its feedback waits for the co-handler's part
    assert client.post(f"/api/cases/{case_id}/accept", headers=lead_token, json={}
                       ).status_code == 200  # fmt: skip
    lead_view = client.get(f"/api/cases/{case_id}", headers=lead_token).json()
    assert "co_feedback" not in lead_view["allowed_actions"]
    early = client.post(f"/api/cases/{case_id}/feedback", headers=lead_token,
                        json={"text": "已拆除"})  # fmt: skip
    assert early.status_code == 409 and early.json()["code"] == "co_feedback_pending"
    assert str(demo.units[OFFICE]) in early.json()["message"]

    part = client.post(
        f"/api/cases/{case_id}/co-feedback",
        headers=office,
        json={"text": "社区已上门劝导，业主同意自行拆除", "blobs": [PHOTO]},
    )
    assert part.status_code == 200, part.text
    (co,) = part.json()["co_units"]
    assert co["status"] == "done" and co["feedback"].startswith("社区已上门劝导")
    assert co["done_by"] == "unit:unit-330102001001-office"
    assert part.json()["allowed_actions"] == ["co_feedback"]  # it may still correct its part

    fed = client.post(f"/api/cases/{case_id}/feedback", headers=lead_token,
                      json={"text": "违建已拆除", "blobs": [PHOTO]})  # fmt: skip
    assert fed.status_code == 200, fed.text
    assert fed.json()["status"] == "verifying"
    closed = client.post(f"/api/cases/{case_id}/close", headers=op,
                         json={"loc": {"lat_e6": GRID_LAT, "lon_e6": GRID_LON},
                               "blobs": [PHOTO]})  # fmt: skip
    assert closed.status_code == 200, closed.text
    trail = db_session.scalars(select(CaseTransition).where(CaseTransition.case_id == case_id)
                               .order_by(CaseTransition.id)).all()  # fmt: skip
    steps = [(t.action, t.actor) for t in trail if t.action != "request_verification"]
    assert steps == [
        ("collect", "worker:w00100101"),
        ("file", "system"),
        ("dispatch", "system"),
        ("co_assign", "system"),
        ("accept", "unit:sanitation"),
        ("co_feedback", "unit:unit-330102001001-office"),
        ("feedback", "unit:sanitation"),
        ("close", "operator:district-operator"),
    ]
    # both units were told: the lead of its dispatch, the office of its co-handling
    told = db_session.scalars(select(Notification).where(Notification.case_id == case_id)
                              .order_by(Notification.id)).all()  # fmt: skip
    assert [(n.kind, n.unit_id) for n in told] == [
        ("dispatch", demo.units[LEAD]), ("dispatch", demo.units[OFFICE])]  # fmt: skip
    assert "协办" in told[1].body


def test_an_operator_picks_the_co_handlers_and_releases_one(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    demo: DemoData, lead_token: dict[str, str],
) -> None:  # fmt: skip
    manual = settings.model_copy(update={"auto_dispatch_reports": False})
    case_id = _two_unit_case(db_session, clock, manual)
    op, office = _as(demo, "district-operator"), _as(demo, "unit-330102001001-office")
    assert client.post(f"/api/cases/{case_id}/file", headers=op, json={}).status_code == 200
    outside = client.post(f"/api/cases/{case_id}/dispatch", headers=op,
                          json={"co_unit_ids": [demo.units[OTHER_OFFICE]]})  # fmt: skip
    assert outside.status_code == 422 and outside.json()["code"] == "unit_not_responsible"
    alone = client.post(f"/api/cases/{case_id}/dispatch", headers=op, json={"co_unit_ids": []})
    assert alone.status_code == 200 and alone.json()["co_units"] == []
    assert "co_release" not in alone.json()["allowed_actions"]
    assert client.get(f"/api/cases/{case_id}", headers=office).status_code == 404

    asked = client.post(
        f"/api/cases/{case_id}/co-assign",
        headers=op,
        json={"unit_ids": [demo.units[OFFICE]], "reason": "需社区配合"},
    )
    assert asked.status_code == 200 and asked.json()["co_units"][0]["status"] == "assigned"
    lead = client.post(f"/api/cases/{case_id}/co-assign", headers=op,
                       json={"unit_ids": [demo.units[LEAD]]})  # fmt: skip
    assert lead.status_code == 422 and "leads" in lead.json()["message"]
    assert client.get(f"/api/cases/{case_id}", headers=office).status_code == 200
    nobody = client.post(f"/api/cases/{case_id}/co-feedback", headers=op, json={"text": "x"})
    assert nobody.status_code == 422 and "unit_id" in nobody.json()["message"]
    other = client.post(f"/api/cases/{case_id}/co-feedback", headers=office,
                        json={"text": "x", "unit_id": demo.units[LEAD]})  # fmt: skip
    assert other.status_code == 403

    released = client.post(
        f"/api/cases/{case_id}/co-release",
        headers=op,
        json={"unit_id": demo.units[OFFICE], "reason": "不需要社区配合"},
    )
    assert released.status_code == 200, released.text
    assert released.json()["co_units"][0]["released_reason"] == "不需要社区配合"
    assert client.get(f"/api/cases/{case_id}", headers=office).status_code == 404
    again = client.post(f"/api/cases/{case_id}/co-release", headers=op,
                        json={"unit_id": demo.units[OFFICE], "reason": "again"})  # fmt: skip
    assert again.status_code == 409
    assert client.post(f"/api/cases/{case_id}/accept", headers=lead_token, json={}
                       ).status_code == 200  # fmt: skip
    fed = client.post(f"/api/cases/{case_id}/feedback", headers=lead_token, json={"text": "好"})
    assert fed.status_code == 200, fed.text  # nothing pending: the lead moves it on


def test_routing_names_the_co_handlers_only_where_the_category_asks_for_them(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    demo: DemoData,
) -> None:  # fmt: skip
    garbage = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                      event=report_event(seq=1, at=clock.now(),
                                                         category="garbage"))  # fmt: skip
    db_session.commit()
    d = client.get(f"/api/cases/{garbage.id}", headers=_as(demo, "district-operator")).json()
    assert d["co_units"] == [] and d["unit_kind"] == "functional"
    units = client.get("/api/units", headers=_as(demo, "district-operator")).json()
    office = next(u for u in units if u["name"] == OFFICE)
    assert office["kind"] == "territorial" and office["categories"] == [None]
    assert office["co_categories"] == ["illegal_construction"]
