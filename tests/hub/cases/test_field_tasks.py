"""Tasks and notices to the field (issue 15, item 5) at the hub: reference-image uploads
checked, tasks refused clearly, the worker's steps recorded, an answer without a case made a
case, the firmware channel serving a task's images only to its device while the task is open,
broadcasts limited to the caller's area."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import timedelta, timezone

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.cases import field_tasks
from hub.cases.models import Case
from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.commands.service import seal
from hub.keys import HubKey
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.ota.serving import FirmwareServer
from hub.seed import DemoData
from hub.settings import Settings
from protocol import bundle, chunking
from protocol.command import CommandGuard
from tests.hub.builders import GRID, OTHER_STREET_GRID, add_handheld

JPEG = b"\xff\xd8\xff\xe0" + os.urandom(3000)
SECOND_GRID = "33010200100102"  # the second grid of GRID's community, in the same street


def _as(demo: DemoData, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[token]}"}


def _upload(client: TestClient, headers: dict[str, str], data: bytes = JPEG,
            mime: str = "image/jpeg", grid: str = GRID) -> Response:  # fmt: skip
    return client.post(f"/api/tasks/images?grid_code={grid}", content=data,
                       headers={**headers, "content-type": mime})  # fmt: skip


def test_uploads_are_checked_and_kept_in_the_callers_area(
    client: TestClient, demo: DemoData
) -> None:
    op = _as(demo, "street-330102001-operator")
    ok = _upload(client, op)
    assert ok.status_code == 201 and ok.json()["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert _upload(client, op, mime="image/gif").status_code == 422
    assert _upload(client, op, data=b"not an image at all").status_code == 422
    big = _upload(client, op, data=b"\xff\xd8\xff" + bytes(600 * 1024))
    assert big.status_code == 413 and "524288 bytes" in big.json()["message"]
    assert _upload(client, op, grid=OTHER_STREET_GRID).status_code == 404
    unit = _as(demo, "unit-330102001001-office")
    assert _upload(client, unit).status_code == 403


def test_a_task_is_refused_clearly_and_sent_as_a_signed_command(
    client: TestClient, demo: DemoData, db_session: Session, clock: FrozenClock
) -> None:
    op = _as(demo, "district-operator")
    sha = _upload(client, op).json()["sha256"]
    body = {"grid_code": GRID, "title": "巡查", "text": "请核实", "images": [sha]}
    nobody = client.post("/api/tasks", headers=op, json=body)
    assert nobody.status_code == 409 and nobody.json()["code"] == "no_device"
    add_handheld(db_session, at=clock.now())
    db_session.commit()
    missing = client.post("/api/tasks", headers=op, json={**body, "images": ["ab" * 32]})
    assert missing.status_code == 422 and missing.json()["code"] == "blob_not_found"
    assert client.post("/api/tasks", headers=op, json={"title": "x"}).status_code == 422
    made = client.post("/api/tasks", headers=op, json=body)
    assert made.status_code == 201, made.text
    task = made.json()
    assert task["status"] == "sent" and task["device_id"] == "hh-0001"
    command = client.get(f"/api/commands/{task['command_id']}", headers=op).json()
    assert command["op"] == "task" and command["args"]["images"][0]["sha256"] == sha
    assert command["args"]["task_id"] == task["task_id"] and command["args"]["text"] == "请核实"
    other = _as(demo, "street-330102002-operator")
    assert client.get(f"/api/tasks/{task['task_id']}", headers=other).status_code == 404
    cancelled = client.post(f"/api/tasks/{task['task_id']}/cancel", headers=op)
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(f"/api/tasks/{task['task_id']}/cancel", headers=op).status_code == 409


def test_a_tasks_deadline_and_location_travel_in_its_signed_command(
    client: TestClient, demo: DemoData, db_session: Session, clock: FrozenClock, hub_key: HubKey
) -> None:
    op = _as(demo, "district-operator")
    add_handheld(db_session, at=clock.now())
    db_session.commit()
    deadline = clock.now() + timedelta(hours=8, minutes=30)
    loc = {"lat_e6": 30_251_500, "lon_e6": 120_171_500}
    made = client.post("/api/tasks", headers=op, json={
        "grid_code": GRID, "title": "东门核查", "text": "请拍照核实",
        "deadline_at": deadline.astimezone(timezone(timedelta(hours=8))).isoformat(),
        "loc": loc})  # fmt: skip
    assert made.status_code == 201, made.text
    command = db_session.get(Command, made.json()["command_id"])
    assert command is not None and command.op == "task" and command.device_id == "hh-0001"
    assert command.expires_at == deadline  # it lives until the deadline
    # the bytes the handheld gets, checked as it checks them (signature, target, expiry)
    signed = CommandGuard(hub_key.public_key, "hh-0001").check(
        seal(command, hub_key.seed), int(clock.now().timestamp())
    )
    assert signed["op"] == "task" and signed["exp"] == int(deadline.timestamp())
    args = signed["args"]
    assert (args["deadline"], args["loc"]) == (int(deadline.timestamp()), loc)
    assert (args["title"], args["text"], args["task_id"]) == (
        "东门核查", "请拍照核实", made.json()["task_id"])  # fmt: skip


def test_the_workers_steps_and_an_answer_without_a_case_becomes_one(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    op = _as(demo, "district-operator")

    add_handheld(db_session, at=clock.now())
    db_session.commit()
    sha = _upload(client, op).json()["sha256"]
    task = client.post("/api/tasks", headers=op, json={"grid_code": GRID, "title": "摸排空置房",
                                                       "images": [sha]}).json()  # fmt: skip
    base = {"device_id": "hh-0001", "ts": int(clock.now().timestamp()), "kind": "task",
            "worker_id": "w00100101", "blobs": []}  # fmt: skip
    accept = {**base, "seq": 1, "body": {"task_id": task["task_id"], "step": "accept",
                                         "seen": [sha, "ff" * 32]}}  # fmt: skip
    field_tasks.on_task_event(db_session=db_session, event=accept, clock=clock, settings=settings)
    foreign = {**accept, "device_id": "hh-other"}
    assert (
        field_tasks.on_task_event(
            db_session=db_session, event=foreign, clock=clock, settings=settings
        )
        is None
    )
    photo = {"sha256": "cd" * 32, "size": 10, "mime": "image/jpeg"}
    close = {**base, "seq": 2, "blobs": [photo], "body": {
        "task_id": task["task_id"], "step": "close", "text": "3户空置",
        "loc": {"lat_e6": 30_251_000, "lon_e6": 120_171_000, "acc_m": 5}}}  # fmt: skip
    row = field_tasks.on_task_event(
        db_session=db_session, event=close, clock=clock, settings=settings
    )
    db_session.commit()
    assert row is not None and row.status == "done" and row.seen_images == [sha]
    case = db_session.get(Case, row.case_id)
    assert case is not None and case.source == "task" and case.status == "pending_acceptance"
    assert case.text == "摸排空置房: 3户空置" and case.media == [photo]
    again = field_tasks.on_task_event(
        db_session=db_session, event=close, clock=clock, settings=settings
    )
    assert again is not None and db_session.scalars(select(Case)).all() == [case]  # once


def test_the_firmware_channel_serves_a_tasks_image_to_its_device_while_open(
    client: TestClient, demo: DemoData, db_session: Session, clock: FrozenClock,
    session_factory: sessionmaker[Session], store: FileBlobStore,
) -> None:  # fmt: skip
    op = _as(demo, "district-operator")
    add_handheld(db_session, at=clock.now())
    db_session.commit()
    sha = _upload(client, op).json()["sha256"]
    task = client.post("/api/tasks", headers=op, json={"grid_code": GRID, "title": "t",
                                                       "images": [sha]}).json()  # fmt: skip
    server = FirmwareServer(session_factory, None, store)
    rejected: list[str] = []

    def ask(dev: str, i: int = 0) -> bytes:
        (reply,) = server.handle([Inbound(f"gl/v1/{dev}/fwreq",
                                          bundle.fetch_request(sha, i, 1024))],
                                 lambda reason, _d, _w: rejected.append(reason))  # fmt: skip
        return bytes(reply.payload)

    def command_status(status: str) -> None:
        command = db_session.get(Command, task["command_id"])
        assert command is not None
        command.status = status
        db_session.commit()

    assert json.loads(ask("hh-0001"))["error"] == "not_offered"  # the command not sent yet
    command_status("sent")  # the dispatcher published it
    got, i = b"", 0
    while True:
        frame_sha, index, total, data = chunking.parse_frame(ask("hh-0001", i))
        assert (frame_sha, index) == (sha, i)
        got += bytes(data)
        i += 1
        if i == total:
            break
    assert got == JPEG
    assert json.loads(ask("hh-other"))["error"] == "not_offered"  # another device
    command_status("expired")  # never reached the device: nothing to serve
    assert json.loads(ask("hh-0001"))["error"] == "not_offered"
    command_status("succeeded")
    assert chunking.parse_frame(ask("hh-0001"))[0] == sha
    client.post(f"/api/tasks/{task['task_id']}/cancel", headers=op)
    assert json.loads(ask("hh-0001"))["error"] == "not_offered"  # the task is over
    assert rejected == ["fw_not_offered"] * 4


def test_a_broadcast_reaches_the_areas_handhelds_and_stays_in_the_callers_area(
    client: TestClient, demo: DemoData, db_session: Session, clock: FrozenClock
) -> None:
    add_handheld(db_session, at=clock.now())
    # another grid of the same street (its community's second grid), and one outside it
    add_handheld(db_session, device_id="hh-0003", grid=SECOND_GRID, at=clock.now())
    add_handheld(db_session, device_id="hh-0002", grid=OTHER_STREET_GRID, at=clock.now())
    db_session.commit()
    op = _as(demo, "street-330102001-operator")
    body = {"area_code": "330102001", "title": "防汛", "text": "今晚暴雨"}
    sent = client.post("/api/broadcasts", headers=op, json=body)
    assert sent.status_code == 201, sent.text
    deliveries = sent.json()["deliveries"]
    assert [d["device_id"] for d in deliveries] == ["hh-0001", "hh-0003"]
    assert [d["status"] for d in deliveries] == ["queued", "queued"]
    notices = db_session.scalars(select(Command).where(Command.op == "notice")).all()
    assert sorted(c.device_id for c in notices) == ["hh-0001", "hh-0003"]  # none to hh-0002
    notice_id = f"bn-{sent.json()['id']}"
    assert all(c.args == {"notice_id": notice_id, "title": "防汛", "text": "今晚暴雨"}
               for c in notices)  # fmt: skip
    outside = client.post("/api/broadcasts", headers=op, json={**body, "area_code": "330102002"})
    assert outside.status_code == 403
    empty = client.post("/api/broadcasts", headers=op, json={**body, "area_code": "330102001002"})
    assert empty.status_code == 409 and empty.json()["code"] == "no_device"
    listed = client.get("/api/broadcasts", headers=_as(demo, "street-330102002-operator")).json()
    assert listed == []


def test_a_task_names_only_images_of_its_own_grid_and_no_answer_is_lost(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    op = _as(demo, "district-operator")
    add_handheld(db_session, at=clock.now())
    db_session.commit()
    # A photo of another street's grid: its hash does not make it this grid's reference image
    # (else the handheld would fetch it and the grid's operators could download it).
    foreign = _upload(client, op, data=b"\xff\xd8\xff" + os.urandom(2000), grid=OTHER_STREET_GRID)
    assert foreign.status_code == 201
    body = {"grid_code": GRID, "title": "看图", "images": [foreign.json()["sha256"]]}
    refused = client.post("/api/tasks", headers=op, json=body)
    assert refused.status_code == 422 and refused.json()["code"] == "blob_not_found"
    assert f"grid {GRID}" in refused.json()["message"]
    # A task cancelled after the handheld had it: the worker's answer is still kept.
    task = client.post("/api/tasks", headers=op, json={"grid_code": GRID, "title": "巡"}).json()
    assert client.post(f"/api/tasks/{task['task_id']}/cancel", headers=op).status_code == 200
    close = {"device_id": "hh-0001", "seq": 1, "ts": int(clock.now().timestamp()),
             "kind": "task", "worker_id": "w00100101", "blobs": [],
             "body": {"task_id": task["task_id"], "step": "close", "text": "已处理"}}  # fmt: skip
    row = field_tasks.on_task_event(
        db_session=db_session, event=close, clock=clock, settings=settings
    )
    db_session.commit()
    assert row is not None and row.status == "cancelled" and row.answer_text == "已处理"
    assert row.case_id is not None  # the answer became a case, not nothing


def test_an_answer_to_a_task_of_a_voided_case_is_kept(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
) -> None:
    op = _as(demo, "district-operator")
    add_handheld(db_session, at=clock.now())
    db_session.commit()
    case = client.post("/api/cases", headers=op, json={"text": "积水", "grid_code": GRID}).json()
    task = client.post("/api/tasks", headers=op, json={"case_id": case["id"], "title": "核实"})
    assert task.status_code == 201, task.text
    assert client.post(f"/api/cases/{case['id']}/void", headers=op,
                       json={"reason": "invalid", "note": "误报"}).status_code == 200  # fmt: skip
    answer = {"task_id": task.json()["task_id"], "step": "close", "text": "已无积水"}
    close = {"device_id": "hh-0001", "seq": 1, "ts": int(clock.now().timestamp()),
             "kind": "task", "worker_id": "w00100101", "blobs": [], "body": answer}  # fmt: skip
    row = field_tasks.on_task_event(
        db_session=db_session, event=close, clock=clock, settings=settings
    )
    db_session.commit()
    assert row is not None and row.status == "done" and row.answer_text == "已无积水"
    kept = client.get(f"/api/tasks/{row.task_id}", headers=op).json()
    assert kept["answer_text"] == "已无积水" and kept["done_by"] == "worker:w00100101"
    detail = client.get(f"/api/cases/{case['id']}", headers=op).json()
    assert detail["status"] == "voided"  # a voided case takes no step; the task holds it
