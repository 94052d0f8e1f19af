"""Cases over HTTP: area scoping, the lifecycle through the action endpoints, filters,
pagination, overdue and escalation."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.cases.flows import device_events
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import (
    GRID,
    GRID_LAT,
    GRID_LON,
    OTHER_STREET_GRID,
    PHOTO,
    UNSTORED_PHOTO,
    add_handheld,
    report_event,
    store_blob,
)

STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def make_reports(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> tuple[int, int]:
    with session_factory() as db_session:
        mine = device_events.on_report(
            db_session=db_session,
            event=report_event(seq=1, at=clock.now()),
            clock=clock,
            settings=settings,
        )
        other = device_events.on_report(
            db_session=db_session,
            event=report_event(
                seq=1,
                at=clock.now(),
                grid=OTHER_STREET_GRID,
                device_id="hh-9",
                lat_e6=GRID_LAT + 20_000,
            ),
            clock=clock,
            settings=settings,
        )
        db_session.commit()
        return mine.id, other.id


def test_street_operator_sees_only_its_own_street(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    mine, other = make_reports(session_factory, clock, settings)
    a = auth(demo, STREET_A)
    assert client.get(f"/api/cases/{mine}", headers=a).status_code == 200
    denied = client.get(f"/api/cases/{other}", headers=a)
    assert denied.status_code == 404
    assert denied.json() == {"code": "not_found", "message": f"case {other} not found"}
    listed = client.get("/api/cases", headers=a).json()
    assert [c["id"] for c in listed["items"]] == [mine] and listed["total"] == 1
    # Acting on another street's case is refused the same way.
    resp = client.post(f"/api/cases/{other}/accept", json={}, headers=a)
    assert resp.status_code == 404
    # The other street sees its own; the district operator sees both.
    assert client.get(f"/api/cases/{other}", headers=auth(demo, STREET_B)).status_code == 200
    assert client.get(f"/api/cases/{mine}", headers=auth(demo, STREET_B)).status_code == 404
    both = client.get("/api/cases", headers=auth(demo, "district-operator")).json()
    assert {c["id"] for c in both["items"]} == {mine, other}
    # Grids and workers follow the same scope.
    grids = client.get("/api/grids", headers=a).json()
    assert grids and all(g["code"].startswith("330102001") for g in grids)
    assert client.get(f"/api/grids/{OTHER_STREET_GRID}", headers=a).status_code == 404
    workers = client.get("/api/workers", headers=a).json()
    assert {w["id"] for w in workers} >= {"w00100101", "a0010101"}
    assert "w00200101" not in {w["id"] for w in workers}
    assert client.get("/api/workers/w00200101", headers=a).status_code == 404


def test_case_lifecycle_over_http(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    store: FileBlobStore,
) -> None:
    with session_factory() as db_session:
        add_handheld(db_session, at=clock.now())
        store_blob(db_session, store, at=clock.now())  # the photo the unit and operator cite
        db_session.commit()
    op = auth(demo, STREET_A)
    created = client.post(
        "/api/cases",
        headers=op,
        json={
            "text": "broken light at the gate",
            "grid_code": GRID,
            "loc": {"lat_e6": GRID_LAT, "lon_e6": GRID_LON, "acc_m": 5},
        },
    )
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    assert created.json()["status"] == "pending_acceptance"
    wrong = client.post(f"/api/cases/{case_id}/accept", json={}, headers=op)
    assert wrong.status_code == 409 and wrong.json()["code"] == "invalid_transition"
    no_cat = client.post(f"/api/cases/{case_id}/file", json={}, headers=op)
    assert no_cat.status_code == 422
    filed = client.post(f"/api/cases/{case_id}/file", json={"category_code": "garbage"}, headers=op)
    assert filed.json()["status"] == "filed"
    dispatched = client.post(f"/api/cases/{case_id}/dispatch", json={}, headers=op).json()
    assert dispatched["status"] == "dispatched" and dispatched["deadline_at"]
    assert dispatched["unit_id"] == demo.units["Qinghefang Community property & sanitation"]

    # A unit token of another unit does not see it; the operator accepts for the unit here.
    unit = auth(demo, "unit-330102001001-office")
    assert client.get(f"/api/cases/{case_id}", headers=unit).status_code == 404
    handled = client.post(f"/api/cases/{case_id}/handle", json={}, headers=op)  # alias
    assert handled.json()["status"] == "handling"
    fb = client.post(
        f"/api/cases/{case_id}/feedback", headers=op, json={"text": "cleaned", "blobs": [PHOTO]}
    ).json()
    assert fb["status"] == "verifying" and fb["verify_device_id"] == "hh-0001"
    # Operator close is gated on evidence too.
    far = client.post(
        f"/api/cases/{case_id}/close",
        headers=op,
        json={"loc": {"lat_e6": GRID_LAT + 50_000, "lon_e6": GRID_LON}, "blobs": [PHOTO]},
    )
    assert far.status_code == 422 and far.json()["code"] == "insufficient_evidence"
    reopened = client.post(
        f"/api/cases/{case_id}/reopen", headers=op, json={"reason": "still dirty"}
    ).json()
    assert reopened["status"] == "handling" and reopened["rework_count"] == 1
    client.post(f"/api/cases/{case_id}/feedback", headers=op, json={"text": "cleaned again"})
    # A close may cite only stored blobs: a hash the hub holds no bytes for is refused.
    unstored = client.post(
        f"/api/cases/{case_id}/close",
        headers=op,
        json={"loc": {"lat_e6": GRID_LAT, "lon_e6": GRID_LON}, "blobs": [UNSTORED_PHOTO]},
    )
    assert unstored.status_code == 422 and unstored.json()["code"] == "blob_not_found"
    closed = client.post(
        f"/api/cases/{case_id}/close",
        headers=op,
        json={"loc": {"lat_e6": GRID_LAT, "lon_e6": GRID_LON}, "blobs": [PHOTO]},
    ).json()
    assert closed["status"] == "closed" and closed["closed_on_time"] is True
    bad = client.post(f"/api/cases/{case_id}/rate", headers=op, json={"score": 9})
    assert bad.status_code == 422
    rated = client.post(f"/api/cases/{case_id}/rate", headers=op, json={"score": 5}).json()
    assert rated["status"] == "evaluated" and rated["satisfaction"] == 5
    detail = client.get(f"/api/cases/{case_id}", headers=op).json()
    assert [t["action"] for t in detail["timeline"]] == [
        "collect",
        "file",
        "dispatch",
        "accept",
        "feedback",
        "request_verification",
        "reopen",
        "feedback",
        "request_verification",
        "close",
        "rate",
    ]
    assert {m["source"] for m in detail["media"]} == {"feedback"}
    assert detail["allowed_actions"] == ["reopen", "complaint", "return_visit"]


def test_filters_pagination_overdue_and_escalation(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    with session_factory() as db_session:
        for seq in range(1, 6):
            device_events.on_report(
                db_session=db_session,
                event=report_event(seq=seq, at=clock.now(), lat_e6=GRID_LAT + seq * 2_000),
                clock=clock,
                settings=settings,
            )
        db_session.commit()
    op = auth(demo, "district-operator")
    page = client.get("/api/cases?limit=2&offset=2", headers=op).json()
    assert page["total"] == 5 and len(page["items"]) == 2
    assert client.get("/api/cases?overdue=true", headers=op).json()["total"] == 0
    clock.advance(days=10)
    assert client.get("/api/cases?overdue=true", headers=op).json()["total"] == 5
    overdue = client.get("/api/cases/overdue", headers=op).json()
    assert len(overdue) == 5 and all(c["overdue"] for c in overdue)
    first = overdue[0]["id"]
    unit = auth(demo, "unit-330102001001-office")
    assert client.get("/api/cases", headers=unit).json()["total"] == 5  # road_damage -> office
    up = client.post(
        f"/api/cases/{first}/escalate",
        headers=unit,
        json={"reason": "cannot solve: needs the roads bureau"},
    )
    assert up.status_code == 200 and up.json()["level"] == "street"
    assert client.get(f"/api/cases/{first}", headers=unit).status_code == 404  # not its case
    assert client.get("/api/cases?level=street", headers=op).json()["total"] == 1
    assert client.get("/api/cases?status=dispatched&grid=" + GRID, headers=op).json()["total"] == 5
    parked = client.post(
        f"/api/cases/{first}/park",
        headers=op,
        json={"reason": "needs budget", "review_at": "2027-01-01T00:00:00Z"},
    )
    assert parked.json()["status"] == "parked"
    sup = client.post(f"/api/cases/{first}/supervise", headers=op, json={"level": "summons"})
    assert sup.json()["supervision_level"] == "summons"
