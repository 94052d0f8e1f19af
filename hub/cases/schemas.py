"""Pydantic schemas for the cases API: read models, action bodies and categories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.bounds import LatE6, LonE6, Metres, RowId
from hub.cases.models import CaseStatus, SupervisionLevel, VoidReason
from protocol.limits import MAX_BLOB_BYTES


class Location(BaseModel):
    lat_e6: LatE6
    lon_e6: LonE6
    acc_m: Metres = 0


class BlobRef(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0, le=MAX_BLOB_BYTES)
    mime: str


class CaseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    status: CaseStatus
    category_code: str | None
    text: str
    grid_code: str | None
    level: str
    unit_id: int | None
    lat_e6: int | None
    lon_e6: int | None
    reporter_worker_id: str | None
    device_id: str | None
    event_seq: int | None
    historical: bool
    reported_at: datetime
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    closed_at: datetime | None
    closed_on_time: bool | None
    void_reason: str | None
    duplicate_of_id: int | None
    park_review_at: datetime | None
    supervised: bool
    supervision_level: str | None
    escalation_count: int
    rework_count: int
    satisfaction: int | None
    overdue: bool = False
    # the deadline runs and the supervision pass's warning point (warn_before_deadline_ratio of
    # the time from dispatch to deadline) has passed, the deadline not yet
    near_deadline: bool = False


class TransitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    step: str | None = None
    from_status: str | None
    to_status: str
    level: str | None
    unit_id: int | None
    reason: str | None
    evidence: dict[str, Any]


class MediaItem(BaseModel):
    sha256: str
    size: int | None = None
    mime: str | None = None
    source: str  # "report" or the action that attached it (feedback, close, reject, ...)
    transition_id: int | None = None


class CaseDetail(CaseRead):
    timeline: list[TransitionRead]
    media: list[MediaItem]
    duplicates: list[int]
    allowed_actions: list[str]
    verify_task_id: str | None
    verify_device_id: str | None


class CasePage(BaseModel):
    """A page of the queue: ``total`` cases match, ``pages`` pages of ``limit`` (at least 1),
    this is ``page`` (1-based, from ``offset``). ``counts``: every status and its number of
    cases under the same filters except the status filter (the chips of the queue)."""

    items: list[CaseRead]
    total: int
    offset: int
    limit: int
    page: int
    pages: int
    sort: str
    counts: dict[str, int]


# --- request bodies ---------------------------------------------------------------------------


class CaseCreate(BaseModel):
    """An intake item entered by an operator (hotline call, walk-in, alarm)."""

    category_code: str | None = None
    text: str = Field(min_length=1, max_length=4000)
    grid_code: str = Field(pattern=r"^\d{14}$")
    loc: Location | None = None
    media: list[BlobRef] = Field(default_factory=list)
    source: str = Field(default="operator", pattern=r"^(operator|hotline|alarm)$")


class ReasonBody(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class FileBody(ReasonBody):
    category_code: str | None = None


class VoidBody(BaseModel):
    reason: VoidReason
    note: str | None = Field(default=None, max_length=2000)
    duplicate_of: RowId | None = None


class DispatchBody(ReasonBody):
    unit_id: RowId | None = None


class FeedbackBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    blobs: list[BlobRef] = Field(default_factory=list)


class CloseBody(BaseModel):
    """Evidence an operator enters to close a case (same gate as the handheld's verification)."""

    loc: Location | None = None
    blobs: list[BlobRef] = Field(default_factory=list)
    taken_at: datetime | None = None
    text: str | None = Field(default=None, max_length=2000)


class RequiredReasonBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class EscalateBody(RequiredReasonBody):
    unit_id: RowId | None = None


class RateBody(BaseModel):
    score: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class ParkBody(RequiredReasonBody):
    review_at: datetime


class SuperviseBody(BaseModel):
    level: SupervisionLevel
    reason: str | None = Field(default=None, max_length=2000)


class CategoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    name: str
    deadline_hours: int
    active: bool


class CategoryWrite(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    deadline_hours: int = Field(gt=0, le=24 * 365)
    active: bool = True
