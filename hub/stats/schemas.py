"""Response shapes of the statistics API (plain dataclasses, returned as dicts)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Figures:
    code: str
    name: str
    level: str
    total: int = 0
    open: int = 0
    overdue: int = 0
    closed: int = 0
    closed_on_time: int = 0
    closed_late: int = 0
    on_time_rate: float | None = None
    rework_count: int = 0
    escalations: int = 0
    voided: int = 0
    duplicates: int = 0
    satisfaction: float | None = None
    rated: int = 0
    # units only: supervision notices (督办) issued to the unit in the period, and by kind
    supervisions: int = 0
    supervisions_by_kind: dict[str, int] = field(default_factory=dict)
    co_handled: int = 0  # units only: cases it co-handled (协办), reported in the period
    children: list[Figures] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WorkerMonth:
    worker_id: str
    name: str
    reports: int = 0
    cases: int = 0  # reports that became (non-duplicate) cases
    verifications: int = 0
    online_s: int = 0
    rank: int = 0


@dataclass
class Board:
    """The dashboard: the reader's totals with one level of children, and the (non-duplicate)
    cases by status, by level and by both."""

    scope_code: str | None
    since: datetime | None
    until: datetime | None
    figures: Figures
    by_status: dict[str, int]
    by_level: dict[str, int]
    matrix: list[dict[str, Any]]  # {status, level, count}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
