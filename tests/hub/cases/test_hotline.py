"""One-network intake from the hotline (issue 15, item 1): work orders imported in batches,
idempotent on the hotline system's ticket id, with the duplicate check, the caller masked for a
unit, and the callback to the caller a recorded step before a hotline case closes."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.cases import hotline
from hub.cases.models import Case, CaseTransition, HotlineTicket
from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from hub.settings import Settings
from tests.builders.devices import TestDevice
from tests.hub.builders import (
    GRID,
    GRID_LAT,
    GRID_LON,
    OTHER_STREET_GRID,
    PHOTO,
    add_handheld,
    store_blob,
)
from tests.support.waiting import wait_until

ORDERS = "/api/hotline/orders"


def _as(demo: DemoData, token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[token]}"}


def _order(ticket: str, clock: FrozenClock, **kw: object) -> dict[str, object]:
    return {
        "ticket_id": ticket,
        "channel": "phone",
        "text": "小区门口垃圾堆积三天无人清运",
        "grid_code": GRID,
        "category_code": "garbage",
        "caller_name": "张三",
        "caller_phone": "13800001234",
        "callback_required": True,
        "received_at": clock.now().isoformat(),
        **kw,
    }


def test_a_batch_is_imported_once_and_again_changes_nothing(
    client: TestClient, demo: DemoData, db_session: Session, clock: FrozenClock
) -> None:
    op = _as(demo, "district-operator")
    batch = {"orders": [_order("12345-001", clock), _order("12345-002", clock, text="路灯不亮",
                                                             category_code=None)]}  # fmt: skip
    first = client.post(ORDERS, headers=op, json=batch)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["existing"], body["rejected"]) == (2, 0, 0)
    ids = [i["case_id"] for i in body["items"]]
    again = client.post(ORDERS, headers=op, json=batch).json()
    assert (again["created"], again["existing"]) == (0, 2)
    assert [i["case_id"] for i in again["items"]] == ids
    assert db_session.scalar(select(func.count()).select_from(HotlineTicket)) == 2
    detail = client.get(f"/api/cases/{ids[0]}", headers=op).json()
    assert detail["source"] == "hotline" and detail["status"] == "pending_acceptance"
    assert detail["hotline"]["ticket_id"] == "12345-001"
    assert detail["hotline"]["caller_phone"] == "13800001234"
    assert detail["hotline"]["callback_required"] is True
    assert detail["timeline"][0]["action"] == "collect"


def test_a_bad_order_is_rejected_with_its_reason_and_the_others_are_kept(
    client: TestClient, demo: DemoData, clock: FrozenClock
) -> None:
    op = _as(demo, "community-330102001001-operator")
    batch = {
        "orders": [
            _order("A-1", clock),
            _order("A-2", clock, grid_code=OTHER_STREET_GRID),  # outside this operator's area
            _order("A-3", clock, grid_code="33010200100199"),  # no such grid
            _order("A-4", clock, text="井盖缺失", category_code="road"),
        ]
    }
    body = client.post(ORDERS, headers=op, json=batch).json()
    status = {i["ticket_id"]: (i["status"], i["error"]) for i in body["items"]}
    assert status["A-1"][0] == status["A-4"][0] == "created"
    assert status["A-2"] == ("rejected", f"grid {OTHER_STREET_GRID} is outside your area")
    assert status["A-3"] == ("rejected", "unknown grid 33010200100199")
    assert body["rejected"] == 2


def test_malformed_orders_are_refused_whole_with_a_clear_error(
    client: TestClient, demo: DemoData, clock: FrozenClock
) -> None:
    op = _as(demo, "district-operator")
    for bad in (
        {"orders": []},
        {"orders": [_order("bad id with spaces", clock)]},
        {"orders": [_order("B-1", clock, caller_phone="call me")]},
        {"orders": [_order("B-2", clock, received_at="2026-01-05T09:00:00")]},  # no zone
    ):
        answer = client.post(ORDERS, headers=op, json=bad)
        assert answer.status_code == 422, answer.text
    assert client.post(ORDERS, headers=_as(demo, "unit-330102001001-office"),
                       json={"orders": [_order("B-3", clock)]}).status_code == 403  # fmt: skip


def test_the_same_caller_about_the_same_problem_is_linked_as_a_duplicate(
    client: TestClient, demo: DemoData, clock: FrozenClock
) -> None:
    op = _as(demo, "district-operator")
    first = client.post(ORDERS, headers=op, json={"orders": [_order("C-1", clock)]}).json()
    clock.advance(timedelta(minutes=20))
    again = client.post(ORDERS, headers=op, json={"orders": [_order("C-2", clock)]}).json()
    item = again["items"][0]
    assert item["status"] == "duplicate"
    assert item["duplicate_of"] == first["items"][0]["case_id"]
    other = client.post(ORDERS, headers=op, json={"orders": [
        _order("C-3", clock, caller_phone="13900005678")]}).json()  # fmt: skip
    assert other["items"][0]["status"] == "created"  # another caller: not linked without a place


def test_a_located_order_near_an_open_case_of_the_category_is_a_duplicate(
    client: TestClient, demo: DemoData, clock: FrozenClock
) -> None:
    op = _as(demo, "district-operator")
    loc = {"lat_e6": GRID_LAT, "lon_e6": GRID_LON}
    created = client.post("/api/cases", headers=op, json={
        "category_code": "garbage", "text": "litter", "grid_code": GRID, "loc": loc})  # fmt: skip
    near = {"lat_e6": GRID_LAT + 100, "lon_e6": GRID_LON}  # ~11 m
    body = client.post(ORDERS, headers=op, json={"orders": [
        _order("D-1", clock, loc=near, caller_phone=None)]}).json()  # fmt: skip
    assert body["items"][0]["duplicate_of"] == created.json()["id"]


def race_an_import(
    client: TestClient,
    demo: DemoData,
    factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
    *,
    first_ticket: str,
    second_ticket: str,
) -> tuple[dict[str, Any], int]:
    """Two imports at once, in two real transactions: the first takes ``first_ticket`` and
    commits only once the second (``POST /api/hotline/orders`` of ``second_ticket``) has read
    the tickets and is writing its case. Returns the second's item and the first's case id."""
    op = _as(demo, "district-operator")
    assert client.get("/api/cases", headers=op).status_code == 200  # its token's use written
    writing = threading.Event()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO cases"):
            writing.set()

    engine = client.app.state.engine  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", on_statement)
    answers: list[Any] = []
    batch = {"orders": [_order(second_ticket, clock)]}
    second = threading.Thread(
        target=lambda: answers.append(client.post(ORDERS, headers=op, json=batch))
    )
    order = hotline.Order(ticket_id=first_ticket, channel="web", text="楼道灯坏了",
                          grid_code=GRID, received_at=clock.now(), category_code="garbage",
                          caller_phone="13700009999")  # fmt: skip
    try:
        with factory() as first:
            case, created = hotline.take_order(db_session=first, order=order,
                                               actor="operator:first", now=clock.now(),
                                               settings=settings)  # fmt: skip
            assert created  # the ticket is taken, not committed
            second.start()
            wait_until("the second import writing its case", writing.is_set)
            first.commit()
        second.join(30)
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    assert not second.is_alive() and len(answers) == 1
    assert answers[0].status_code == 200, answers[0].text
    return answers[0].json()["items"][0], case.id


def test_two_imports_of_one_ticket_at_once_make_one_case_and_the_later_says_existing(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    item, case_id = race_an_import(client, demo, session_factory, clock, settings,
                                   first_ticket="R-1", second_ticket="R-1")  # fmt: skip
    assert (item["status"], item["case_id"], item["error"]) == ("existing", case_id, None)
    with session_factory() as s:
        assert s.scalars(select(HotlineTicket.case_id)).all() == [case_id]
        assert s.scalar(select(func.count()).select_from(Case)) == 1


def test_an_import_racing_another_writer_on_sqlite_still_takes_its_order(
    client: TestClient,
    demo: DemoData,
    session_factory: sessionmaker[Session],
    clock: FrozenClock,
    settings: Settings,
) -> None:
    """Another writer's commit between the import's reads and its first write fails that write
    on SQLite (its reads were of an older snapshot): the order is taken again, not lost."""
    item, case_id = race_an_import(client, demo, session_factory, clock, settings,
                                   first_ticket="R-2", second_ticket="R-3")  # fmt: skip
    assert (item["status"], item["error"]) == ("created", None) and item["case_id"] != case_id
    with session_factory() as s:
        rows = s.execute(select(HotlineTicket.ticket_id, HotlineTicket.case_id)).all()
        tickets = {ticket: case for ticket, case in rows}
        assert tickets == {"R-2": case_id, "R-3": item["case_id"]}


@pytest.fixture
def photo(db_session: Session, clock: FrozenClock, store: FileBlobStore) -> None:
    """The grid's handheld and the stored photo the feedback and the close cite."""
    add_handheld(db_session, at=clock.now())
    store_blob(db_session, store, at=clock.now())
    db_session.commit()


def _to_feedback(client: TestClient, op: dict[str, str], case_id: int) -> None:
    for action, body in (("file", {}), ("dispatch", {}), ("accept", {}),
                         ("feedback", {"text": "已清运", "blobs": [PHOTO]})):  # fmt: skip
        answer = client.post(f"/api/cases/{case_id}/{action}", headers=op, json=body)
        assert answer.status_code == 200, (action, answer.text)


def test_a_hotline_case_closes_only_after_the_callback_and_not_fixed_is_rework(
    client: TestClient, demo: DemoData, db_session: Session, clock: FrozenClock, photo: None
) -> None:
    op = _as(demo, "district-operator")
    body = client.post(ORDERS, headers=op, json={"orders": [_order("E-1", clock)]}).json()
    case_id = body["items"][0]["case_id"]
    _to_feedback(client, op, case_id)
    close = {"loc": {"lat_e6": GRID_LAT, "lon_e6": GRID_LON}, "blobs": [PHOTO]}

    refused = client.post(f"/api/cases/{case_id}/close", headers=op, json=close)
    assert refused.status_code in (409, 422), refused.text
    assert refused.json()["code"] == "callback_required"
    assert "E-1" in refused.json()["message"]
    assert "callback" in client.get(f"/api/cases/{case_id}", headers=op).json()["allowed_actions"]

    # the caller says it is not fixed: back to handling, rework for the unit
    nf = client.post(f"/api/cases/{case_id}/callback", headers=op,
                     json={"outcome": "not_fixed", "note": "还有垃圾"})  # fmt: skip
    assert nf.status_code == 200, nf.text
    assert nf.json()["status"] == "handling" and nf.json()["rework_count"] == 1
    answer = client.post(f"/api/cases/{case_id}/feedback", headers=op,
                         json={"text": "再次清运", "blobs": [PHOTO]})  # fmt: skip
    assert answer.status_code == 200
    # a not_fixed callback is not enough to close: a new one is needed
    again = client.post(f"/api/cases/{case_id}/close", headers=op, json=close)
    assert again.json()["code"] == "callback_required"
    ok = client.post(f"/api/cases/{case_id}/callback", headers=op, json={"outcome": "confirmed"})
    assert ok.status_code == 200, ok.text
    closed = client.post(f"/api/cases/{case_id}/close", headers=op, json=close)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert closed.json()["hotline"]["callback_outcome"] == "confirmed"
    rows = db_session.scalars(
        select(CaseTransition.action).where(CaseTransition.case_id == case_id)
        .order_by(CaseTransition.id)
    ).all()  # fmt: skip
    # (each feedback also pushes the verification to the grid's handheld)
    tail = [r for r in rows if r != "request_verification"][-5:]
    assert tail == ["callback", "reopen", "feedback", "callback", "close"], rows


def test_without_a_callback_asked_a_hotline_case_closes_as_any_other(
    client: TestClient, demo: DemoData, db_session: Session, clock: FrozenClock, photo: None
) -> None:
    op = _as(demo, "district-operator")
    body = client.post(ORDERS, headers=op, json={"orders": [
        _order("F-1", clock, callback_required=False)]}).json()  # fmt: skip
    case_id = body["items"][0]["case_id"]
    _to_feedback(client, op, case_id)
    close = {"loc": {"lat_e6": GRID_LAT, "lon_e6": GRID_LON}, "blobs": [PHOTO]}
    assert client.post(f"/api/cases/{case_id}/close", headers=op, json=close).status_code == 200


def test_a_callback_on_a_case_without_a_ticket_is_one_clear_error(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    store: FileBlobStore,
) -> None:
    store_blob(db_session, store, at=clock.now())
    db_session.commit()
    op = _as(demo, "district-operator")
    case_id = client.post("/api/cases", headers=op, json={
        "category_code": "garbage", "text": "litter", "grid_code": GRID}).json()["id"]  # fmt: skip
    case = db_session.get(Case, case_id)
    assert case is not None
    _to_feedback(client, op, case_id)
    answer = client.post(f"/api/cases/{case_id}/callback", headers=op,
                         json={"outcome": "confirmed"})  # fmt: skip
    assert answer.status_code == 409
    assert answer.json()["code"] == "no_hotline_ticket"


def test_a_unit_sees_the_caller_masked(
    client: TestClient, demo: DemoData, clock: FrozenClock
) -> None:
    op = _as(demo, "district-operator")
    body = client.post(ORDERS, headers=op, json={"orders": [_order("G-1", clock)]}).json()
    case_id = body["items"][0]["case_id"]
    unit = demo.units["Qinghefang Community office"]
    assert client.post(f"/api/cases/{case_id}/file", headers=op, json={}).status_code == 200
    answer = client.post(f"/api/cases/{case_id}/dispatch", headers=op, json={"unit_id": unit})
    assert answer.status_code == 200, answer.text
    detail = client.get(f"/api/cases/{case_id}", headers=_as(demo, "unit-330102001001-office"))
    assert detail.status_code == 200, detail.text
    hot = detail.json()["hotline"]
    assert hot["caller_phone"] == "*******1234" and hot["caller_name"] == "张*"
    assert hot["ticket_id"] == "G-1"
    assert answer.json()["hotline"]["caller_phone"] == "13800001234"  # the operator's view


# --- the whole loop, with the grid's handheld verifying on site -------------------------------

ON_SITE = {"lat_e6": GRID_LAT, "lon_e6": GRID_LON, "acc_m": 5}


@pytest.fixture
def handheld(
    db_session: Session,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
    demo: DemoData,
) -> TestDevice:
    """The grid's one active handheld (a signing device the ingest verifies) and the stored
    photo the unit's feedback cites."""
    dev = device_factory("hh-hotline")
    dev.register(db_session, GRID)
    store_blob(db_session, store, at=clock.now(), device_id=dev.device_id)
    db_session.commit()
    return dev


def _step(client: TestClient, op: dict[str, str], case_id: int, action: str,
          body: dict[str, object], status: str) -> dict[str, Any]:  # fmt: skip
    answer = client.post(f"/api/cases/{case_id}/{action}", headers=op, json=body)
    assert answer.status_code == 200, (action, answer.text)
    assert answer.json()["status"] == status, (action, answer.json()["status"])
    return dict(answer.json())


def _imported_to_verifying(client: TestClient, demo: DemoData, clock: FrozenClock,
                           ticket: str) -> tuple[dict[str, str], int, dict[str, Any]]:  # fmt: skip
    """Collect (the import), file, dispatch, handle, feedback: the case waits for its on-site
    check, the handheld has its verify command. (operator headers, case id, detail)"""
    op = _as(demo, "district-operator")
    imported = client.post(ORDERS, headers=op, json={"orders": [_order(ticket, clock)]}).json()
    item = imported["items"][0]
    assert (item["status"], item["duplicate_of"]) == ("created", None)
    case_id = item["case_id"]
    collected = client.get(f"/api/cases/{case_id}", headers=op).json()
    assert (collected["status"], collected["source"]) == ("pending_acceptance", "hotline")
    _step(client, op, case_id, "file", {}, "filed")
    dispatched = _step(client, op, case_id, "dispatch", {}, "dispatched")
    assert dispatched["unit_name"] == "Qinghefang Community property & sanitation"
    assert dispatched["deadline_at"] is not None
    _step(client, op, case_id, "accept", {}, "handling")
    clock.advance(hours=1)
    # the unit's result pushes the on-site check to the grid's handheld
    verifying = _step(client, op, case_id, "feedback", {"text": "已清运", "blobs": [PHOTO]},
                      "verifying")  # fmt: skip
    assert verifying["verify_device_id"] == "hh-hotline" and verifying["verify_task_id"]
    return op, case_id, verifying


def _confirm_on_site(processor: Processor, dev: TestDevice, case_id: int, task_id: str) -> None:
    """The worker's signed ``verify`` confirmation and its photo, through the ingest."""
    photo = b"\xff\xd8" + os.urandom(600)
    body = {"case_id": case_id, "task_id": task_id, "result": "confirm", "loc": ON_SITE,
            "text": "现场已清理", "worker": "w00100101"}  # fmt: skip
    msgs = [dev.event("verify", body, blobs=[dev.media(photo)]), *dev.chunks(photo)]
    processor.process([Inbound(t, p) for t, p in msgs])


def test_the_hotline_loop_from_the_call_to_its_evaluation(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    processor: Processor,
    handheld: TestDevice,
) -> None:
    """collect -> file -> dispatch -> handle -> feedback -> callback -> verify & close ->
    evaluate, each step's state checked."""
    op, case_id, verifying = _imported_to_verifying(client, demo, clock, "L-1")
    called = _step(client, op, case_id, "callback", {"outcome": "confirmed", "note": "已解决"},
                   "verifying")  # fmt: skip
    assert called["hotline"]["callback_outcome"] == "confirmed"
    assert called["hotline"]["callback_by"] == "operator:district-operator"
    clock.advance(minutes=20)
    _confirm_on_site(processor, handheld, case_id, verifying["verify_task_id"])
    closed = client.get(f"/api/cases/{case_id}", headers=op).json()
    assert closed["status"] == "closed", closed["timeline"][-1]
    assert closed["closed_at"] is not None
    close = closed["timeline"][-1]
    assert (close["action"], close["actor"]) == ("close", "worker:w00100101")
    rated = _step(client, op, case_id, "rate", {"score": 5, "comment": "满意"}, "evaluated")
    assert rated["satisfaction"] == 5 and rated["rework_count"] == 0
    rows = db_session.scalars(
        select(CaseTransition.action).where(CaseTransition.case_id == case_id)
        .order_by(CaseTransition.id)
    ).all()  # fmt: skip
    assert rows == ["collect", "file", "dispatch", "accept", "feedback", "request_verification",
                    "callback", "verify_pending", "close", "rate"]  # fmt: skip


def test_a_handhelds_confirmation_before_the_callback_is_refused(
    client: TestClient,
    demo: DemoData,
    db_session: Session,
    clock: FrozenClock,
    processor: Processor,
    handheld: TestDevice,
) -> None:
    op, case_id, verifying = _imported_to_verifying(client, demo, clock, "L-2")
    task_id = verifying["verify_task_id"]
    clock.advance(minutes=20)
    _confirm_on_site(processor, handheld, case_id, task_id)
    db_session.expire_all()
    case = db_session.get(Case, case_id)
    assert case is not None and case.status == "verifying" and case.closed_at is None
    refused = case.transitions[-1]
    assert refused.action == "verify_refused" and refused.actor == "worker:w00100101"
    assert refused.evidence["code"] == "callback_required"
    assert refused.evidence["task_id"] == task_id
    assert "L-2" in (refused.reason or "") and "callback" in (refused.reason or "")
    # the caller is called back: the worker's next confirmation of the same task closes it
    _step(client, op, case_id, "callback", {"outcome": "unreachable"}, "verifying")
    _confirm_on_site(processor, handheld, case_id, task_id)
    db_session.expire_all()
    assert case.status == "closed" and case.transitions[-1].action == "close"
