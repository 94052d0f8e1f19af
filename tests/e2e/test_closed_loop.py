"""Issue 4's end-to-end test: a grid worker's report on a MicroPython handheld becomes a case
that goes through all seven steps, with the verification done on site by the same handheld."""

from __future__ import annotations

from typing import Any

from simulator import Fleet, scenarios
from tests.support.hub import Hub
from tests.support.waiting import wait_until

GRID = "33010200100101"
WORKER = "w00100101"


def _case(hub: Hub, case_id: int) -> dict[str, Any]:
    resp = hub.api.get(f"/api/cases/{case_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_report_to_evaluation_through_the_handheld(hub: Hub, fleet: Fleet) -> None:
    assert WORKER in hub.demo.workers
    lat, lon = hub.grid_centre(GRID)
    script = [
        {"at": 0, "do": "signin", "worker": WORKER, "pin": "1234"},
        {
            "at": 0.5,
            "do": "report",
            "category": "garbage",
            "photos": 1,
            "photo_bytes": 80_000,
            "audio_s": 2,
            "text": "小区东门垃圾堆放，已影响通行",
        },
        {"at": 600, "do": "end"},
    ]
    dev = fleet.add_handheld(
        "hh-e2e",
        GRID,
        route=[[lat + 100, lon], [lat + 150, lon + 50]],
        scenario=script,
        answers={"verify": "confirm"},
        workers={WORKER: scenarios.pin_record("1234")},
    )
    hub.register(dev)
    dev.start()

    # 1-3: the report is collected, filed and dispatched to the community's sanitation unit
    case_id = wait_until(
        "the report to become a dispatched case",
        lambda: next(
            (
                c["id"]
                for c in hub.api.get("/api/cases").json()["items"]
                if c["status"] == "dispatched"
            ),
            None,
        ),
        timeout=90,
    )
    case = _case(hub, case_id)
    assert case["grid_code"] == GRID and case["category_code"] == "garbage"
    assert [m["mime"] for m in case["media"]] == ["image/jpeg", "audio/wav"]

    # 4-5: the unit handles it and reports back
    assert hub.api.post(f"/api/cases/{case_id}/accept", json={}).status_code == 200
    resp = hub.api.post(f"/api/cases/{case_id}/feedback", json={"text": "已清运完毕"})
    assert resp.status_code == 200, resp.text

    # 6: the hub pushes a signed verification task to the grid's handheld; the worker
    # confirms on site with a photo inside the grid, and the case closes on that evidence
    wait_until(
        "the on-site verification to close the case",
        lambda: _case(hub, case_id)["status"] == "closed",
        timeout=120,
    )
    commands = hub.api.get("/api/devices/hh-e2e").json()["commands"]
    verify = [c for c in commands if c["op"] == "verify"]
    assert verify and verify[0]["status"] == "succeeded"

    # 7: evaluation
    resp = hub.api.post(f"/api/cases/{case_id}/rate", json={"score": 5, "comment": "满意"})
    assert resp.status_code == 200, resp.text
    case = _case(hub, case_id)
    assert case["status"] == "evaluated"
    actions = [t["action"] for t in case["timeline"]]
    for step in (
        "collect",
        "file",
        "dispatch",
        "accept",
        "feedback",
        "request_verification",
        "close",
        "rate",
    ):
        assert step in actions, actions
    assert (
        actions.index("collect")
        < actions.index("file")
        < actions.index("dispatch")
        < actions.index("accept")
        < actions.index("feedback")
        < actions.index("request_verification")
        < actions.index("close")
        < actions.index("rate")
    )
    close = next(t for t in case["timeline"] if t["action"] == "close")
    assert close["actor"] == f"worker:{WORKER}"  # the worker signed in on the grid's handheld
    evidence = close["evidence"]
    assert evidence["photos"] and evidence["media"][0]["mime"] == "image/jpeg", close
    assert evidence["distance_m"] <= hub.settings.verify_distance_m
    # the verification photo follows its envelope in chunks; once complete it can be downloaded
    url = f"/api/media/{evidence['photos'][0]}/content"
    wait_until(
        "the verification photo to be complete",
        lambda: hub.api.get(url).status_code == 200,
        timeout=60,
    )
    photo = hub.api.get(url)
    assert photo.content[:2] == b"\xff\xd8" and len(photo.content) == evidence["media"][0]["size"]
