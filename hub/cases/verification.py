"""Verification tasks: a signed ``verify`` command for the active handheld of the case's grid."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.cases.models import Case, CaseTransition
from hub.cases.workflow import Action
from hub.clock import Clock
from hub.commands.service import enqueue
from hub.devices.models import Device
from hub.errors import ConflictError
from hub.settings import Settings

VERIFY_TEXT_CHARS = 1000  # what the worker's screen shows of the case in a verify task


def active_handheld_id(*, db_session: Session, grid_code: str) -> str | None:
    return db_session.scalar(
        select(Device.id).where(
            Device.grid_code == grid_code, Device.kind == "handheld", Device.status == "active"
        )
    )


def next_task_id(*, db_session: Session, case: Case) -> str:
    """``vt-<case>-<attempt>``: a new id for each verification requested for the case."""
    earlier = db_session.scalar(
        select(func.count(CaseTransition.id)).where(
            CaseTransition.case_id == case.id,
            CaseTransition.action == Action.request_verification.value,
        )
    )
    return f"vt-{case.id}-{1 + (earlier or 0)}"


def task_args(case: Case, task_id: str) -> dict[str, Any]:
    """The ``verify`` command's arguments: where to go and what to look at."""
    loc = (
        {"lat_e6": case.lat_e6, "lon_e6": case.lon_e6, "acc_m": case.acc_m or 0}
        if case.lat_e6 is not None and case.lon_e6 is not None
        else None
    )
    return {
        "case_id": case.id,
        "task_id": task_id,
        "loc": loc,
        # a device report may carry ~30 KB of text; a command must stay under 16 KiB
        "text": _shorten(case.text, VERIFY_TEXT_CHARS),
        "category": case.category_code,
    }


def _shorten(text: str | None, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def push_task(
    *, db_session: Session, case: Case, settings: Settings, clock: Clock
) -> tuple[str, str, str]:
    """Queue the task for the grid's handheld: ``(task_id, device_id, command_id)``."""
    assert case.grid_code is not None
    device_id = active_handheld_id(db_session=db_session, grid_code=case.grid_code)
    if device_id is None:
        raise ConflictError(f"no active handheld is bound to grid {case.grid_code}")
    task_id = next_task_id(db_session=db_session, case=case)
    command = enqueue(
        db_session=db_session,
        device_id=device_id,
        op="verify",
        args=task_args(case, task_id),
        lifetime_s=settings.verify_window_s,
        clock=clock,
    )
    return task_id, device_id, command.id
