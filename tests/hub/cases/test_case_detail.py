"""The case detail the console's case page shows: actors by name, the seven steps through a
rework loop, media kinds, the map with the report and verification locations and their
distance, and the next actions by role with the units a dispatch or escalation may name.
On SQLite here; the same scenario on PostgreSQL in test_case_detail_postgres.py."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from hub.cases.flows import device_events
from hub.cases.geo import haversine_m
from hub.clock import FrozenClock
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import (
    GRID,
    GRID_LAT,
    GRID_LON,
    PHOTO_BYTES,
    add_handheld,
    report_event,
    store_blob,
    verify_event,
)

STREET_A = "street-330102001-operator"
STREET_B = "street-330102002-operator"
UNIT = "unit-330102001001-office"
AUDIO_BYTES = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 2000
OFF_LAT = GRID_LAT + 300  # ~33 m north of the report


def auth(demo: DemoData, label: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[label]}"}


def _report(
    session_factory: sessionmaker[Session], clock: FrozenClock, settings: Settings
) -> tuple[int, list[dict[str, Any]]]:
    store = FileBlobStore(settings.media_dir)
    with session_factory() as db_session:
        photo = store_blob(db_session, store, at=clock.now(), data=PHOTO_BYTES)
        audio = store_blob(db_session, store, at=clock.now(), data=AUDIO_BYTES, mime="audio/wav")
        add_handheld(db_session, at=clock.now())
        event = report_event(seq=1, at=clock.now())
        event["blobs"] = [photo, audio]
        case = device_events.on_report(
            db_session=db_session, event=event, clock=clock, settings=settings
        )
        db_session.commit()
        return case.id, [photo, audio]


def _verify(
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    *,
    seq: int,
    case_id: int,
    task_id: str,
    result: str,
) -> None:
    with session_factory() as db_session:
        device_events.on_verify(
            db_session=db_session,
            event=verify_event(
                seq=seq,
                at=clock.now(),
                case_id=case_id,
                task_id=task_id,
                result=result,
                lat_e6=OFF_LAT,
            ),
            clock=clock,
            settings=settings,
        )
        db_session.commit()


def steps(detail: dict[str, Any]) -> dict[str, tuple[str, int, int | None]]:
    return {s["step"]: (s["state"], s["passes"], s["transition_id"]) for s in detail["steps"]}


def run_scenario(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    case_id, (photo, audio) = _report(session_factory, clock, settings)
    a, unit = auth(demo, STREET_A), auth(demo, UNIT)
    d = client.get(f"/api/cases/{case_id}", headers=a).json()

    # names, not ids: the grid, the unit, the reporter and every actor
    assert d["grid_name"] == "Qinghefang Community grid 1"
    assert d["unit_name"] == "Qinghefang Community office"
    assert d["reporter_name"] == "Worker 00100101"
    collect, filed, dispatched = d["timeline"]
    assert collect["actor_by"] == {
        "kind": "worker",
        "ref": "worker:w00100101",
        "name": "Worker 00100101",
        "role": None,
        "area_name": None,
    }
    assert filed["actor_by"]["kind"] == "system" and filed["actor_by"]["name"] is None
    assert dispatched["unit_name"] == "Qinghefang Community office"
    assert steps(d) == {
        "collect": ("done", 1, collect["id"]),
        "file": ("done", 1, filed["id"]),
        "dispatch": ("done", 1, dispatched["id"]),
        "handle": ("current", 0, None),
        "feedback": ("todo", 0, None),
        "verify": ("todo", 0, None),
        "evaluate": ("todo", 0, None),
    }
    # media: kinds from the hub's blob rows, both stored
    assert [(m["sha256"], m["kind"], m["stored"], m["sensitive"]) for m in d["media"]] == [
        (photo["sha256"], "image", True, False),
        (audio["sha256"], "audio", True, False),
    ]
    # the map: the community's two grid points (this one marked), the report, no verification
    m = d["map"]
    assert [(g["code"], g["current"]) for g in m["community_grids"]] == [
        (GRID, True),
        (GRID[:-2] + "02", False),
    ]
    assert m["grid"]["code"] == GRID and m["grid"]["lat_e6"] is not None
    assert m["report"] == {"lat_e6": GRID_LAT, "lon_e6": GRID_LON, "acc_m": 8}
    assert m["verification"] is None and m["distance_m"] is None

    # next actions by role: the operator may park and supervise, the unit may not
    assert d["allowed_actions"] == ["accept", "escalate", "park", "supervise", "co_assign"]
    assert [u["name"] for u in d["escalate_units"]] == ["Qingbo Street urban management"]
    assert d["dispatch_units"] == []  # dispatch is not open in dispatched
    du = client.get(f"/api/cases/{case_id}", headers=unit).json()
    assert du["allowed_actions"] == ["accept", "escalate"]

    # the unit accepts and reports; the operator asks for verification; the worker rejects
    r = client.post(f"/api/cases/{case_id}/accept", json={"reason": "on it"}, headers=unit)
    assert r.status_code == 200, r.text
    accepted = r.json()["timeline"][-1]
    assert accepted["actor_by"] == {
        "kind": "unit",
        "ref": f"unit:{UNIT}",
        "name": "Qinghefang Community office",
        "role": "unit",
        "area_name": "Qinghefang Community",
    }
    body = {"text": "filled the pothole"}
    assert client.post(f"/api/cases/{case_id}/feedback", json=body, headers=unit).is_success
    r = client.post(f"/api/cases/{case_id}/request-verification", headers=a)
    assert r.status_code == 200, r.text
    requested = r.json()["timeline"][-1]
    assert requested["actor_by"] == {
        "kind": "account",
        "ref": f"operator:{STREET_A}",
        "name": STREET_A,
        "role": "operator",
        "area_name": "Qingbo Street",
    }
    task = r.json()["verify_task_id"]
    _verify(session_factory, clock, settings, seq=2, case_id=case_id, task_id=task, result="reject")

    d = client.get(f"/api/cases/{case_id}", headers=a).json()
    reject = d["timeline"][-1]
    assert reject["action"] == "reject" and reject["rework"] is True
    assert d["rework_count"] == 1
    st = steps(d)
    assert st["handle"] == ("done", 1, accepted["id"])
    assert st["feedback"] == ("current", 1, None)  # the pass before the rework is history
    assert st["verify"] == ("todo", 2, None)  # the feedback's own request, and the operator's
    expected = round(haversine_m(GRID_LAT, GRID_LON, OFF_LAT, GRID_LON), 1)
    assert d["map"]["verification"]["action"] == "reject"
    assert d["map"]["verification"]["lat_e6"] == OFF_LAT
    assert d["map"]["distance_m"] == expected and 30 < expected < 36

    # second pass: feedback (which asks the handheld itself), confirmed on site, rated
    r = client.post(f"/api/cases/{case_id}/feedback", json=body, headers=unit)
    assert r.json()["status"] == "verifying"
    task = r.json()["verify_task_id"]
    _verify(
        session_factory, clock, settings, seq=3, case_id=case_id, task_id=task, result="confirm"
    )
    d = client.get(f"/api/cases/{case_id}", headers=a).json()
    assert d["status"] == "closed"
    closed = d["timeline"][-1]
    assert closed["action"] == "close" and closed["actor_by"]["name"] == "Worker 00100101"
    assert steps(d)["verify"] == ("done", 4, closed["id"])
    assert steps(d)["evaluate"] == ("current", 0, None)
    assert d["map"]["verification"]["transition_id"] == closed["id"]
    assert d["allowed_actions"] == ["reopen", "rate", "complaint", "return_visit"]
    r = client.post(f"/api/cases/{case_id}/rate", json={"score": 5}, headers=a)
    assert r.status_code == 200
    assert {s["state"] for s in r.json()["steps"]} == {"done"}
    assert r.json()["allowed_actions"] == ["reopen", "complaint", "return_visit"]

    # another street sees none of it
    denied = client.get(f"/api/cases/{case_id}", headers=auth(demo, STREET_B))
    assert denied.status_code == 404 and denied.json()["message"] == f"case {case_id} not found"


def test_the_case_detail_through_a_rework_loop(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    run_scenario(client, demo, session_factory, clock, settings)


def test_a_filed_case_offers_dispatch_with_the_units_of_its_level(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    manual = settings.model_copy(update={"auto_dispatch_reports": False})
    with session_factory() as db_session:
        case = device_events.on_report(
            db_session=db_session,
            event=report_event(seq=1, at=clock.now(), category="garbage"),
            clock=clock,
            settings=manual,
        )
        db_session.commit()
    a = auth(demo, STREET_A)
    d = client.get(f"/api/cases/{case.id}", headers=a).json()
    assert d["status"] == "pending_acceptance" and d["allowed_actions"] == [
        "file",
        "void",
        "supervise",
    ]
    d = client.post(f"/api/cases/{case.id}/file", json={}, headers=a).json()
    assert d["timeline"][-1]["actor_by"]["name"] == STREET_A
    assert "dispatch" in d["allowed_actions"]
    units = [(u["name"], u["routed"]) for u in d["dispatch_units"]]
    assert units == [
        ("Qinghefang Community office", False),
        ("Qinghefang Community property & sanitation", True),  # garbage is theirs
    ]
    # the unit's own account may not dispatch: no button, and the hub refuses it too
    du = client.get(f"/api/cases/{case.id}", headers=auth(demo, UNIT))
    assert du.status_code == 404  # a unit sees only the cases assigned to it
    picked = d["dispatch_units"][0]["id"]
    d = client.post(
        f"/api/cases/{case.id}/dispatch", json={"unit_id": picked, "reason": "by hand"}, headers=a
    ).json()
    assert d["status"] == "dispatched" and d["unit_name"] == "Qinghefang Community office"
    assert d["timeline"][-1]["reason"] == "by hand"


def test_a_case_without_location_or_grid_point_has_an_empty_map(
    client: TestClient, demo: DemoData
) -> None:
    a = auth(demo, STREET_A)
    r = client.post("/api/cases", json={"text": "hotline call", "grid_code": GRID}, headers=a)
    assert r.status_code == 201, r.text
    m = r.json()["map"]
    assert m["report"] is None and m["verification"] is None and m["distance_m"] is None
    assert m["grid"]["code"] == GRID  # the grid's own point is still drawn
