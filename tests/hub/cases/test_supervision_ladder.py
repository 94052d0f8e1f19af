"""Supervision with teeth (issue 15, item 4), on a frozen clock: each notice a record with
issuer, target unit, deadline, response and outcome; a reminder unmet by its deadline climbs to
a rectification notice, that one unmet to listed supervision, each step recorded and notified;
a response or the unit's result in time stops the climb; the unit's figures count them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases.flows import device_events
from hub.cases.flows.supervision import run_supervision
from hub.cases.models import CaseTransition, Supervision
from hub.clock import FrozenClock
from hub.notify import service as notify_service
from hub.notify.models import Notification
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import report_event

OFFICE = "Qinghefang Community office"  # the catch-all unit "other" problems go to
MONDAY_9 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 local (UTC+8)


def _as(demo: DemoData, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[token]}"}


def _case(db_session: Session, clock: FrozenClock, settings: Settings, demo: DemoData) -> int:
    unit = notify_service.get_unit(db_session=db_session, unit_id=demo.units[OFFICE])
    notify_service.create_liaison(db_session=db_session, unit=unit, name="联络员",
                                  channel="webhook", address="https://office.example.org/hook",
                                  kinds=[], settings=settings, at=clock.now())  # fmt: skip
    case = device_events.on_report(db_session=db_session, clock=clock, settings=settings,
                                   event=report_event(seq=1, at=clock.now(), category="other",
                                                      text="小区围墙倒塌隐患"))  # fmt: skip
    db_session.commit()
    assert case.unit_id == demo.units[OFFICE]
    return case.id


def _pass(db_session: Session, clock: FrozenClock, settings: Settings) -> None:
    # a pass runs in a fresh transaction, as the hub's supervision loop does: a read left open
    # by the test would keep SQLite's snapshot from before the API's writes
    db_session.rollback()
    db_session.expire_all()
    run_supervision(db_session=db_session, clock=clock, settings=settings)
    db_session.commit()


def test_reminder_climbs_to_rectification_then_listed_each_recorded_and_notified(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    demo: DemoData,
) -> None:  # fmt: skip
    clock.set(MONDAY_9)
    case_id = _case(db_session, clock, settings, demo)
    op = _as(demo, "district-operator")
    issued = client.post(f"/api/cases/{case_id}/supervise", headers=op,
                         json={"level": "reminder", "reason": "请加快处置"})  # fmt: skip
    assert issued.status_code == 200, issued.text
    (reminder,) = issued.json()["supervisions"]
    assert (reminder["kind"], reminder["status"], reminder["issued_by"]) == (
        "reminder", "open", "operator:district-operator")  # fmt: skip
    assert reminder["target_unit_id"] == demo.units[OFFICE]
    assert reminder["deadline_at"] == "2026-01-05T05:00:00Z"  # 4 working hours: 13:00 local

    clock.set(MONDAY_9 + timedelta(hours=4, minutes=1))  # the reminder's deadline passed unmet
    _pass(db_session, clock, settings)
    clock.set(datetime(2026, 1, 7, 5, 1, tzinfo=UTC))  # Wednesday 13:01: 16 working hours on
    _pass(db_session, clock, settings)
    clock.advance(timedelta(days=1))
    _pass(db_session, clock, settings)  # at the top of the ladder it stays open

    rows = db_session.scalars(select(Supervision).where(Supervision.case_id == case_id)
                              .order_by(Supervision.id)).all()  # fmt: skip
    assert [(r.kind, r.status, r.automatic) for r in rows] == [
        ("reminder", "escalated", False),
        ("rectification", "escalated", True),
        ("listed", "open", True),
    ]
    assert rows[1].previous_id == rows[0].id and rows[2].previous_id == rows[1].id
    assert rows[1].issued_by == rows[2].issued_by == "system:supervision"
    assert rows[1].deadline_at == datetime(2026, 1, 7, 5, 1, tzinfo=UTC)  # Wed 13:01 local
    detail = client.get(f"/api/cases/{case_id}", headers=op).json()
    assert detail["supervision_level"] == "listed" and detail["supervised"] is True
    trail = db_session.scalars(select(CaseTransition).where(
        CaseTransition.case_id == case_id, CaseTransition.action == "supervise")
        .order_by(CaseTransition.id)).all()  # fmt: skip
    assert [t.evidence["supervision_level"] for t in trail] == ["reminder", "rectification",
                                                                 "listed"]  # fmt: skip
    told = db_session.scalars(select(Notification).where(
        Notification.case_id == case_id, Notification.kind == "supervision")
        .order_by(Notification.id)).all()  # fmt: skip
    assert [n.data["supervision_level"] for n in told] == ["reminder", "rectification", "listed"]
    assert ["催办" in told[0].subject, "整改通知" in told[1].subject, "挂牌督办" in told[2].subject
            ] == [True, True, True]  # fmt: skip
    assert all(len(n.deliveries) == 1 for n in told)
    assert "答复期限" in told[1].body

    # the unit's figures count them, by kind
    month = client.get("/api/stats/units", headers=op, params={"month": "2026-01"}).json()
    office = next(u for u in month if u["name"] == OFFICE)
    assert office["supervisions"] == 3
    assert office["supervisions_by_kind"] == {"reminder": 1, "rectification": 1, "listed": 1}
    listed = client.get("/api/supervisions", headers=op,
                        params={"case_id": case_id, "status": "open"}).json()  # fmt: skip
    assert [i["kind"] for i in listed["items"]] == ["listed"]


def test_a_response_meets_a_reminder_and_the_result_meets_a_rectification_notice(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    demo: DemoData,
) -> None:  # fmt: skip
    clock.set(MONDAY_9)
    case_id = _case(db_session, clock, settings, demo)
    op, unit = _as(demo, "district-operator"), _as(demo, "unit-330102001001-office")
    detail = client.post(f"/api/cases/{case_id}/supervise", headers=op,
                         json={"level": "reminder"}).json()  # fmt: skip
    reminder = detail["supervisions"][0]["id"]
    other = _as(demo, "street-330102002-operator")
    assert client.post(f"/api/supervisions/{reminder}/respond", headers=other,
                       json={"text": "x"}).status_code == 404  # fmt: skip
    answered = client.post(f"/api/supervisions/{reminder}/respond", headers=unit,
                           json={"text": "已安排施工队周二进场"})  # fmt: skip
    assert answered.status_code == 200, answered.text
    row = answered.json()["supervisions"][0]
    assert (row["status"], row["responded_by"]) == ("met", "unit:unit-330102001001-office")
    again = client.post(f"/api/supervisions/{reminder}/respond", headers=unit, json={"text": "y"})
    assert again.status_code == 409

    # a rectification notice with its own deadline; a response alone does not meet it
    due = (MONDAY_9 + timedelta(days=2)).isoformat()
    notice = client.post(f"/api/cases/{case_id}/supervise", headers=op,
                         json={"level": "rectification", "deadline_at": due}).json()  # fmt: skip
    rect = notice["supervisions"][-1]
    assert rect["deadline_at"] == "2026-01-07T01:00:00Z"
    client.post(f"/api/supervisions/{rect['id']}/respond", headers=unit, json={"text": "整改中"})
    assert client.get(f"/api/cases/{case_id}", headers=op).json()["supervisions"][-1][
        "status"] == "open"  # fmt: skip
    for action, body in (("accept", {}), ("feedback", {"text": "围墙已加固"})):
        assert client.post(f"/api/cases/{case_id}/{action}", headers=unit,
                           json=body).status_code == 200  # fmt: skip
    clock.advance(timedelta(hours=1))
    _pass(db_session, clock, settings)
    rows = db_session.scalars(select(Supervision).where(Supervision.case_id == case_id)
                              .order_by(Supervision.id)).all()  # fmt: skip
    assert [(r.kind, r.status) for r in rows] == [("reminder", "met"), ("rectification", "met")]
    clock.advance(timedelta(days=5))
    _pass(db_session, clock, settings)
    assert db_session.scalar(select(Supervision).where(Supervision.kind == "listed")) is None


def test_bad_supervision_input_is_one_clear_error_and_a_withdrawal_is_recorded(
    client: TestClient, db_session: Session, clock: FrozenClock, settings: Settings,
    demo: DemoData,
) -> None:  # fmt: skip
    clock.set(MONDAY_9)
    case_id = _case(db_session, clock, settings, demo)
    op = _as(demo, "district-operator")
    past = client.post(f"/api/cases/{case_id}/supervise", headers=op,
                       json={"level": "rectification",
                             "deadline_at": "2026-01-01T00:00:00Z"})  # fmt: skip
    assert past.status_code == 422 and "future" in past.json()["message"]
    naive = client.post(
        f"/api/cases/{case_id}/supervise",
        headers=op,
        json={"level": "summons", "deadline_at": "2026-01-09T09:00:00"},
    )
    assert naive.status_code == 422
    made = client.post(f"/api/cases/{case_id}/supervise", headers=op,
                       json={"level": "summons"}).json()  # fmt: skip
    sid = made["supervisions"][0]["id"]
    unit = _as(demo, "unit-330102001001-office")
    assert client.post(f"/api/supervisions/{sid}/withdraw", headers=unit,
                       json={"reason": "x"}).status_code == 403  # fmt: skip
    gone = client.post(f"/api/supervisions/{sid}/withdraw", headers=op,
                       json={"reason": "误发"})  # fmt: skip
    assert gone.status_code == 200
    assert gone.json()["supervisions"][0]["status"] == "withdrawn"
    assert gone.json()["supervised"] is False and gone.json()["supervision_level"] is None
    assert gone.json()["timeline"][-1]["action"] == "supervision_withdraw"
    assert client.post("/api/supervisions/999999/respond", headers=op,
                       json={"text": "x"}).status_code == 404  # fmt: skip
