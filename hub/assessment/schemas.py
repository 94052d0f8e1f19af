"""Response shapes of the assessment API (plain dataclasses and the inspection input)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hub.bounds import RowId


@dataclass
class WorkerFigures:
    """What one worker did in a period (inside the reader's area)."""

    worker_id: str
    name: str
    online_s: int = 0
    reports: int = 0  # device reports filed (cases of source "report")
    valid_reports: int = 0  # ... not voided as invalid or duplicate
    visits: int = 0  # accepted events of kind "visit"
    collections: int = 0  # accepted events of kind "collect"
    verifications: int = 0  # on-site answers (confirm that closed / reject) to verify tasks
    verifications_on_time: int = 0
    qualified: int = 0  # online inspection verdicts on the worker's reports
    unqualified: int = 0
    rated: int = 0  # the worker's reports that residents rated
    satisfaction: float | None = None  # their mean rating (1..5)


@dataclass
class Score:
    results: float
    conduct: float
    satisfaction: float | None  # None: no rating in the period (its weight goes to the others)
    score: float


@dataclass
class WorkerAssessment:
    period: str
    figures: WorkerFigures
    score: Score


@dataclass
class RankedWorker:
    rank: int
    worker_id: str
    name: str
    score: float
    reports: int
    valid_reports: int
    visits: int
    collections: int
    verifications_on_time: int
    online_s: int


@dataclass
class AreaRanking:
    code: str
    name: str
    level: str
    workers: list[RankedWorker] = field(default_factory=list)


@dataclass
class Ranking:
    month: str
    scope_code: str | None
    streets: list[AreaRanking]
    districts: list[AreaRanking]


@dataclass
class Rated:
    """A grid's or a centre's star rating and the figures it comes from."""

    code: str
    name: str
    level: str  # grid | street | district (or township / county)
    cases: int
    on_time_rate: float | None
    satisfaction: float | None
    worker_score: float | None  # grids: the mean score of their workers
    grid_score: float | None  # centres: the mean score of their grids
    score: float | None
    stars: int | None  # None: no figures to rate


@dataclass
class Stars:
    period: str
    grids: list[Rated]
    centres: list[Rated]


@dataclass
class WeekRows:
    week: str
    starts_at: datetime
    ends_at: datetime
    computed_at: datetime
    computed_by: str
    workers: list[WorkerFigures]


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: RowId
    verdict: Literal["qualified", "unqualified"]
    reason: str | None = Field(default=None, max_length=2000)


class InspectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    worker_id: str
    grid_code: str | None
    reviewer: str
    reviewer_level: str
    reviewer_scope: str
    verdict: str
    reason: str | None
    reviewed_at: datetime


class ReportToReview(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    case_id: int
    grid_code: str | None
    worker_id: str
    category_code: str | None
    status: str
    void_reason: str | None
    reported_at: datetime
    text: str
