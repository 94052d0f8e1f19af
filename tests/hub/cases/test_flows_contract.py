"""The ingest side's hook dispatcher drives the case flows through the agreed contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.flows import unit_feedback
from hub.cases.models import Case, CaseStatus
from hub.clock import FrozenClock
from hub.commands.models import Command
from hub.events.models import Event
from hub.ingest.hooks import make_dispatcher
from hub.media.store import FileBlobStore
from hub.seed import DemoData
from hub.settings import Settings
from tests.hub.builders import add_handheld, report_event, store_blob, verify_event


def _event(db_session: Session, data: dict[str, Any]) -> Event:
    """The event stored, as the ingest stores it before its hooks run."""
    at = datetime.fromtimestamp(data["ts"], UTC)
    event = Event(
        device_id=data["device_id"],
        seq=data["seq"],
        ts=data["ts"],
        captured_at=at,
        received_at=at,
        kind=data["kind"],
        body=data["body"],
        blobs=data["blobs"],
        grid_code=data["grid_code"],
        historical=data["historical"],
        digest=f"{data['seq']:064x}",
        prev=f"{data['seq'] - 1:064x}",
        raw=b"{}",
    )
    db_session.add(event)
    db_session.flush()
    return event


def test_report_and_verify_events_through_the_ingest_hooks(
    db_session: Session,
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
    store: FileBlobStore,
) -> None:
    add_handheld(db_session, at=clock.now())
    store_blob(db_session, store, at=clock.now())
    dispatch = make_dispatcher(clock=clock, settings=settings)
    dispatch(db_session, _event(db_session, report_event(seq=1, at=clock.now())))
    case = db_session.scalars(select(Case)).one()
    assert case.status == CaseStatus.dispatched and case.device_id == "hh-0001"
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session, case=case, actor="unit", text="done", clock=clock, settings=settings
    )
    command = db_session.scalars(select(Command)).one()
    clock.advance(minutes=10)
    dispatch(
        db_session,
        _event(
            db_session,
            verify_event(
                seq=2,
                at=clock.now(),
                case_id=command.args["case_id"],
                task_id=command.args["task_id"],
            ),
        ),
    )
    assert case.status == CaseStatus.closed
    db_session.commit()
