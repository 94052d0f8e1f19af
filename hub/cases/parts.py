"""The parts of a multi-department case: which units co-handle it beside the lead
(``Case.unit_id``), and how far each has got (``CaseUnit``)."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from hub.cases.models import CaseUnit, PartStatus


def parts_of(*, db_session: Session, case_id: int) -> list[CaseUnit]:
    """Every co-handler of the case, released ones too, in the order they were asked."""
    return list(
        db_session.scalars(
            select(CaseUnit).where(CaseUnit.case_id == case_id).order_by(CaseUnit.id)
        )
    )


def part_of(*, db_session: Session, case_id: int, unit_id: int) -> CaseUnit | None:
    return db_session.scalar(
        select(CaseUnit).where(CaseUnit.case_id == case_id, CaseUnit.unit_id == unit_id)
    )


def pending_parts(*, db_session: Session, case_id: int) -> list[CaseUnit]:
    """The co-handlers whose feedback the lead still waits for."""
    return [p for p in parts_of(db_session=db_session, case_id=case_id)
            if p.status == PartStatus.assigned]  # fmt: skip


def co_handled_cases(unit_id: int | None) -> Select[int]:
    """The ids of the cases ``unit_id`` co-handles (asked or done; not released)."""
    return select(CaseUnit.case_id).where(
        CaseUnit.unit_id == unit_id, CaseUnit.status != PartStatus.released.value
    )


def co_handles(*, db_session: Session, case_id: int, unit_id: int | None) -> bool:
    part = part_of(db_session=db_session, case_id=case_id, unit_id=unit_id) if unit_id else None
    return part is not None and part.status != PartStatus.released
