"""Issue 15's must-show: a task with a reference image from the centre reaches a MicroPython
handheld as a signed command; the handheld fetches the image over the firmware channel and
checks its SHA-256, the worker accepts and answers with text, location and a photo, and the hub
links the answer to the task's case. A notice broadcast to the community reaches it too."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime, timedelta

from simulator import scenarios
from tests.support.hub import Hub
from tests.support.waiting import device_state, wait_until

GRID = "33010200100101"
DEV = "hh-tasks"
WORKER = "w00100101"


def test_a_task_with_a_reference_image_is_fetched_answered_and_linked(hub: Hub, fleet) -> None:  # type: ignore[no-untyped-def]
    image = b"\xff\xd8\xff\xe0" + os.urandom(40_000)  # a reference photo: 40 chunks of 1 KiB
    sha = hashlib.sha256(image).hexdigest()
    script = [{"at": 0, "do": "signin", "worker": WORKER, "pin": "1234"}, {"at": 600, "do": "end"}]
    dev = fleet.add_handheld(DEV, GRID, scenario=script, heapsize="192K",
                             answers={"task": "close", "verify": "wait"}, sim={"echo": True},
                             workers={WORKER: scenarios.pin_record("1234")})  # fmt: skip
    hub.register(dev)
    dev.start()
    wait_until("the handheld online", lambda: hub.device(DEV)["online"], timeout=60)

    up = hub.api.post(f"/api/tasks/images?grid_code={GRID}", content=image,
                      headers={"content-type": "image/jpeg"})  # fmt: skip
    assert up.status_code == 201, up.text
    assert up.json() == {"sha256": sha, "size": len(image), "mime": "image/jpeg"}
    case = hub.api.post("/api/cases", json={"text": "核实东门违停车辆", "grid_code": GRID,
                                             "category_code": "illegal_parking"})  # fmt: skip
    assert case.status_code == 201, case.text
    case_id = case.json()["id"]
    due = datetime.now(UTC) + timedelta(hours=2)  # shown on the handheld with its place
    made = hub.api.post("/api/tasks", json={"case_id": case_id, "title": "东门核查",
                                            "text": "请到东门拍照核实，对照参考照片",
                                            "images": [sha], "deadline_at": due.isoformat(),
                                            "loc": {"lat_e6": 30_251_000,
                                                    "lon_e6": 120_171_000}})  # fmt: skip
    assert made.status_code == 201, made.text
    task_id = made.json()["task_id"]

    def done() -> dict | None:  # type: ignore[type-arg]
        task = hub.get(f"/api/tasks/{task_id}")
        return task if task["status"] == "done" else None

    task = wait_until("the worker's answer", done, timeout=120, interval=0.5,
                      detail=lambda: dev.log()[-2000:])  # fmt: skip
    assert task["seen_images"] == [sha]  # fetched and checked by SHA-256 on the device
    # the worker saw where and by when (local time at the default tz_offset_s, UTC+8)
    local = (due + timedelta(hours=8)).strftime("%m-%d %H:%M")
    assert "[screen] at 30.251000, 120.171000" in dev.log()
    assert re.search(rf"\[screen\] due {local}, in (1h59m|2h00m)", dev.log()), dev.log()[-2000:]
    assert task["delivered_at"] and task["accepted_by"] == f"worker:{WORKER}"
    assert task["done_by"] == f"worker:{WORKER}" and task["answer_text"] == "done"
    assert task["answer_loc"] and len(task["answer_media"]) == 1
    photo = task["answer_media"][0]["sha256"]
    wait_until("the answer's photo complete", lambda: hub.blob_complete(photo), timeout=60)

    detail = hub.get(f"/api/cases/{case_id}")
    actions = [t["action"] for t in detail["timeline"]]
    assert actions.index("task_sent") < actions.index("task_answer")
    answer = next(t for t in detail["timeline"] if t["action"] == "task_answer")
    assert answer["evidence"]["task_id"] == task_id
    assert photo in {m["sha256"] for m in detail["media"]}
    # the image was served only to this device for this open task; the flash copy is gone
    state = device_state(dev)
    assert task_id not in (state.get("tasks") or {})
    assert not [f for f in os.listdir(dev.flash_dir / "media") if f.startswith("ref-")]

    # a notice broadcast to the community reaches the handheld
    sent = hub.api.post("/api/broadcasts", json={"area_code": GRID[:12], "title": "防汛通知",
                                                 "text": "今晚有暴雨，请巡查低洼路段"})  # fmt: skip
    assert sent.status_code == 201, sent.text
    (delivery,) = sent.json()["deliveries"]
    assert delivery["device_id"] == DEV
    wait_until("the notice acked", lambda: hub.command(delivery["command_id"])["status"]
               == "succeeded", timeout=60)  # fmt: skip
    notices = device_state(dev).get("notices") or []
    assert [n["title"] for n in notices] == ["防汛通知"]
    assert hub.errors() == {}
