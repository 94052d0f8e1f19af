"""Evidence integrity: a case closes on site only once every blob the signed verify envelope
names is received and hash-checked; a device's reports are filed in its own grid."""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.cases import actions
from hub.cases.flows import unit_feedback
from hub.cases.flows.supervision import run_supervision
from hub.cases.models import Case, CaseStatus, PendingVerification
from hub.clock import FrozenClock
from hub.ingest.processor import Processor
from hub.media.service import store_chunks
from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.seed import DemoData
from hub.settings import Settings
from protocol.limits import CHUNK_SIZE
from tests.builders.devices import TestDevice
from tests.hub.builders import GRID, GRID_LAT, GRID_LON, OTHER_STREET_GRID

LOC = {"lat_e6": GRID_LAT, "lon_e6": GRID_LON, "acc_m": 5}


def _process(processor: Processor, *msgs: tuple[str, bytes]) -> None:
    processor.process([Inbound(t, p) for t, p in msgs])


def _reported_case(processor: Processor, db_session: Session, dev: TestDevice) -> Case:
    report = {"category": "garbage", "text": "bins", "loc": LOC, "worker": "w00100101"}
    _process(processor, dev.event("report", report))
    return db_session.scalars(select(Case).where(Case.device_id == dev.device_id)).one()


def _to_verifying(db_session: Session, case: Case, clock: FrozenClock, settings: Settings) -> None:
    actions.accept(db_session=db_session, case=case, actor="unit", at=clock.now())
    unit_feedback.submit_feedback(
        db_session=db_session, case=case, actor="unit", text="done", clock=clock, settings=settings
    )
    db_session.commit()
    assert case.status == CaseStatus.verifying


def _confirm(dev: TestDevice, case: Case, photo: bytes) -> tuple[str, bytes]:
    body = {
        "case_id": case.id,
        "task_id": case.verify_task_id,
        "result": "confirm",
        "loc": LOC,
        "text": "clean now",
        "worker": "w00100101",
    }
    return dev.event("verify", body, blobs=[dev.media(photo)])


def _setup(
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
    settings: Settings,
) -> tuple[TestDevice, Case]:
    dev = device_factory("hh-ev-1")
    dev.register(db_session, GRID)
    db_session.commit()
    case = _reported_case(processor, db_session, dev)
    _to_verifying(db_session, case, clock, settings)
    return dev, case


def test_the_case_closes_only_when_the_verify_photo_is_received_and_checked(
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    dev, case = _setup(processor, db_session, device_factory, clock, settings)
    photo = b"\xff\xd8" + os.urandom(2 * CHUNK_SIZE + 100)  # three chunks
    clock.advance(minutes=5)
    _process(processor, _confirm(dev, case, photo))
    db_session.expire_all()
    # The signed envelope is here, its photo is not: the case waits, visibly.
    assert case.status == CaseStatus.verifying
    assert [t.action for t in case.transitions][-1] == "verify_pending"
    assert case.transitions[-1].evidence["waiting_for"] == [dev.media(photo)["sha256"]]
    frames = dev.chunks(photo)
    _process(processor, frames[0], frames[2])  # still one chunk missing
    db_session.expire_all()
    assert case.status == CaseStatus.verifying
    _process(processor, frames[1])  # the last chunk: hash-checked, then the gate runs
    db_session.expire_all()
    assert case.status == CaseStatus.closed
    close = case.transitions[-1]
    assert close.action == "close" and close.actor == "worker:w00100101"
    assert close.evidence["photos"] == [dev.media(photo)["sha256"]]
    pending = db_session.scalars(select(PendingVerification)).one()
    assert pending.outcome == "closed" and pending.resolved_at is not None


def test_a_photo_that_never_arrives_leaves_the_case_in_verification(
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    dev, case = _setup(processor, db_session, device_factory, clock, settings)
    photo = os.urandom(CHUNK_SIZE + 10)
    _process(processor, _confirm(dev, case, photo), dev.chunks(photo)[0])
    clock.advance(hours=2)
    run_supervision(db_session=db_session, clock=clock, settings=settings)
    db_session.commit()
    db_session.expire_all()
    assert case.status == CaseStatus.verifying and case.closed_at is None
    assert "close" not in [t.action for t in case.transitions]
    # A tampered last chunk fails the hash: still not closed, the chunks are requested again.
    bad = dev.chunks(photo)[1]
    _process(processor, (bad[0], bad[1][:-1] + bytes([bad[1][-1] ^ 1])))
    db_session.expire_all()
    assert case.status == CaseStatus.verifying


def test_the_timer_judges_a_verification_whose_blob_completed_elsewhere(
    processor: Processor,
    db_session: Session,
    store: FileBlobStore,
    device_factory: Callable[..., TestDevice],
    clock: FrozenClock,
    settings: Settings,
    demo: DemoData,
) -> None:
    """A blob completed by another worker while the envelope's transaction was open never
    ran the trigger for it; the supervision pass closes the case then."""
    dev, case = _setup(processor, db_session, device_factory, clock, settings)
    photo = b"\xff\xd8" + os.urandom(500)
    _process(processor, _confirm(dev, case, photo))
    sha = dev.media(photo)["sha256"]
    store_chunks(  # completes the blob without the ingest's trigger
        db_session=db_session, store=store, sha256=sha, chunks=[(0, 1, photo)], at=clock.now()
    )
    db_session.commit()
    db_session.expire_all()
    assert case.status == CaseStatus.verifying
    report = run_supervision(db_session=db_session, clock=clock, settings=settings)
    db_session.commit()
    assert report.verified == [case.id] and case.status == CaseStatus.closed


def test_a_device_report_is_filed_in_the_devices_own_grid_never_the_bodys(
    processor: Processor,
    db_session: Session,
    device_factory: Callable[..., TestDevice],
    client: TestClient,
    demo: DemoData,
    settings: Settings,
) -> None:
    unbound = device_factory("hh-nogrid")
    unbound.register(db_session)
    bound = device_factory("hh-street1")
    bound.register(db_session, GRID)
    db_session.commit()
    claim = {"category": "garbage", "text": "x", "grid": OTHER_STREET_GRID, "loc": LOC}
    _process(processor, unbound.event("report", claim), bound.event("report", claim))
    by_device = {c.device_id: c for c in db_session.scalars(select(Case))}
    # No grid binding: no grid, no routing; the case waits for an unscoped operator.
    orphan = by_device["hh-nogrid"]
    assert orphan.grid_code is None and orphan.status == CaseStatus.pending_acceptance
    assert orphan.unit_id is None
    # Bound to street 1: filed and dispatched in street 1 whatever the body says.
    assert by_device["hh-street1"].grid_code == GRID
    assert by_device["hh-street1"].status == CaseStatus.dispatched
    street2 = {"Authorization": f"Bearer {demo.tokens['street-330102002-operator']}"}
    assert client.get("/api/cases", headers=street2).json()["total"] == 0
    admin = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    assert client.get(f"/api/cases/{orphan.id}", headers=admin).status_code == 200
