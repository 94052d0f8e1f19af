"""What a handheld's forms may not do to base data: overwrite another grid's resident, slip an
identity field past the grading in an extra key, or be applied for a worker not signed in; and
an export never carries a formula."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.basedata.models import Refusal, Resident
from hub.mqtt_messages import Inbound
from tests.builders.devices import TestDevice
from tests.hub.basedata.conftest import GRID, MAN, OTHER_GRID, WORKER, Field

STREET_OP = "street-330102001-operator"
WITHHELD = ["id_number", "note"]  # the record's ID number and the extra key


def test_another_grids_handheld_cannot_move_or_overwrite_a_resident(
    field: Field, db_session: Session, device_factory: Callable[..., TestDevice]
) -> None:
    field.household()
    other = device_factory("hh-elsewhere")
    other.register(db_session, OTHER_GRID)
    db_session.commit()
    worker = "w00200101"
    msgs = [
        other.event("signin", {"worker": worker, "grid": OTHER_GRID, "ok": True}),
        other.event("collect", {"worker": worker, "grid": OTHER_GRID, "form": "resident",
                                "record": {"id_number": MAN, "name": "X", "gender": "1"}}),
    ]  # fmt: skip
    field.processor.process([Inbound(t, p) for t, p in msgs])
    db_session.expire_all()
    man = db_session.scalars(select(Resident).where(Resident.id_number == MAN)).one()
    assert (man.grid_code, man.name, man.revision) == (GRID, "张伟", 1)
    (refusal,) = db_session.scalars(select(Refusal).where(Refusal.device_id == "hh-elsewhere"))
    assert refusal.field == "id_number" and "another grid" in refusal.reason


def test_an_extra_key_in_a_collect_body_is_graded_as_an_identity_field(field: Field) -> None:
    field.collect("resident", {"id_number": MAN, "name": "张伟", "gender": "1"}, note=MAN)
    events = field.get("/api/events", STREET_OP, kind="collect")
    assert MAN not in str(events)
    assert "note" not in events[0]["body"]
    assert events[0]["body"]["withheld"] == WITHHELD


def test_a_form_from_a_worker_not_signed_in_is_refused_and_kept(
    field: Field, db_session: Session
) -> None:
    field.send("signout", {"worker": WORKER, "grid": GRID, "reason": "worker"})
    field.collect("resident", {"id_number": MAN, "name": "张伟", "gender": "1"})
    db_session.expire_all()
    assert db_session.scalars(select(Resident)).all() == []
    (refusal,) = db_session.scalars(select(Refusal)).all()
    assert (refusal.field, refusal.reason) == ("worker", "not signed in on this handheld")
    assert len(field.get("/api/events", STREET_OP, kind="collect")) == 1  # the event is kept


def test_an_export_never_carries_a_formula(field: Field) -> None:
    field.collect(
        "house", {"house_code": "330102001001-0909", "address": "1幢", "use": "residential"}
    )
    field.collect("resident", {"id_number": MAN, "name": '=HYPERLINK("http://x","a")',
                               "gender": "1", "house_code": "330102001001-0909"})  # fmt: skip
    resp = field.client.get("/api/basedata/residents/export.csv", headers=field.token(STREET_OP),
                            params={"reason": "季度人口核查"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert "'=HYPERLINK" in resp.text and ",=HYPERLINK" not in resp.text


def test_a_search_the_grade_does_not_allow_is_refused_and_on_record(field: Field) -> None:
    field.household()
    resp = field.client.get("/api/basedata/residents", headers=field.token(STREET_OP),
                            params={"id_number": MAN, "purpose": "核实户籍信息"})  # fmt: skip
    assert resp.status_code == 403 and resp.json()["code"] == "grade_required"
    denied = [a for a in field.audits() if a["action"] == "denied"]
    assert [(a["actor"], a["kind"]) for a in denied] == [(f"operator:{STREET_OP}", "resident")]
    assert MAN not in str(denied)  # the audit says a number was given, never which
