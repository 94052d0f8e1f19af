"""Pydantic schemas for the cases API: read models, action bodies and categories."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.bounds import LatE6, LonE6, Metres, RowId
from hub.cases.models import (
    CallbackOutcome,
    CaseStatus,
    SupervisionLevel,
    VisitOutcome,
    VoidReason,
)
from hub.notify.schemas import NotificationRead
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
    one_key: bool = False  # 一键上报: the worker's urgent report
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


class ActorRead(BaseModel):
    """Who made a transition, by name: a grid worker, an operator account, a unit's account,
    a device, or the hub itself (``system``)."""

    kind: Literal["worker", "account", "unit", "device", "system"]
    ref: str  # the audit row's actor as recorded ("worker:w00100101", "operator:...")
    name: str | None  # worker's / unit's / account's name; None for the hub itself
    role: str | None = None  # an account's role (admin, operator, unit)
    area_name: str | None = None  # an account's area (scope), a device's grid


class TransitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    actor_by: ActorRead | None = None  # the actor resolved to names
    action: str
    step: str | None = None
    from_status: str | None
    to_status: str
    level: str | None
    unit_id: int | None
    unit_name: str | None = None
    reason: str | None
    evidence: dict[str, Any]
    rework: bool = False  # this transition sent the case back to handling


STEPS = ("collect", "file", "dispatch", "handle", "feedback", "verify", "evaluate")


class StepRead(BaseModel):
    """One of the seven steps: ``done`` (its latest transition below), ``current`` (the case
    waits on it) or ``todo`` (not reached, or to be done again after a rework)."""

    step: str
    state: Literal["done", "current", "todo"]
    passes: int  # how many transitions reached it (more than one after a rework loop)
    transition_id: int | None = None
    at: datetime | None = None
    actor_by: ActorRead | None = None
    level: str | None = None
    unit_name: str | None = None
    reason: str | None = None


class MediaItem(BaseModel):
    sha256: str
    size: int | None = None
    mime: str | None = None
    kind: Literal["image", "audio", "video", "file"] = "file"
    stored: bool = False  # received complete and hash-checked: its content can be fetched
    sensitive: bool = False  # a gate's face / plate capture: only the audited endpoint serves it
    source: str  # "report" or the action that attached it (feedback, close, reject, ...)
    transition_id: int | None = None


class MapPoint(BaseModel):
    lat_e6: int
    lon_e6: int
    acc_m: int | None = None


class GridPoint(BaseModel):
    """A grid as the hub knows it: code, name and reference point (no polygon is held)."""

    code: str
    name: str
    lat_e6: int | None
    lon_e6: int | None
    current: bool  # the case's own grid


class VerificationPoint(MapPoint):
    at: datetime
    action: str  # the transition that carried it: close, reject, verify_refused, ...
    transition_id: int


class CaseMap(BaseModel):
    """What the case page draws: the case's grid and the other grids of its community (points),
    the report location, the latest on-site verification location and their distance."""

    grid: GridPoint | None
    community_grids: list[GridPoint]
    report: MapPoint | None
    verification: VerificationPoint | None
    distance_m: float | None  # report -> verification, metres (great circle)
    # the case grid's boundary in force (GeoJSON geometry; None: it has none yet)
    boundary: dict[str, Any] | None = None
    boundary_version: int | None = None


class UnitChoice(BaseModel):
    id: int
    name: str
    kind: str
    area_code: str
    routed: bool  # the unit routing picks by itself for the case's category


class HotlineTicketRead(BaseModel):
    """A hotline case's work order. The caller's name and phone only for operators; others
    see them masked."""

    ticket_id: str
    channel: str
    caller_name: str | None
    caller_phone: str | None
    callback_required: bool
    received_at: datetime
    callback_at: datetime | None
    callback_by: str | None
    callback_outcome: str | None
    callback_note: str | None


class CoUnitRead(BaseModel):
    """A co-handling unit of a multi-department case and its part."""

    unit_id: int
    name: str
    kind: str  # territorial (属地) | functional (属事)
    status: str  # assigned | done | released
    assigned_at: datetime
    assigned_by: str
    done_at: datetime | None
    done_by: str | None
    feedback: str | None
    media: list[dict[str, Any]]
    released_reason: str | None


class CaseDetail(CaseRead):
    grid_name: str | None = None
    unit_name: str | None = None
    unit_kind: str | None = None  # the lead unit's: territorial (属地) | functional (属事)
    # the co-handling units beside the lead one (多部门协同), each with its own part
    co_units: list[CoUnitRead] = Field(default_factory=list)
    co_assign_units: list[UnitChoice] = Field(default_factory=list)  # for co_assign: who may
    supervisions: list[SupervisionRead] = Field(default_factory=list)  # 督办, oldest first
    reporter_name: str | None = None
    # was the reporter signed in on the device (hub.workers.sessions): signed_in,
    # not_signed_in or not_on_grid (both flagged), anonymous; None: not a device report
    reporter_check: str | None = None
    timeline: list[TransitionRead]
    steps: list[StepRead]
    media: list[MediaItem]
    map: CaseMap
    duplicates: list[int]
    allowed_actions: list[str]  # what the caller's role may do now
    dispatch_units: list[UnitChoice]  # for dispatch: units responsible at the case's level
    escalate_units: list[UnitChoice]  # for escalate: units responsible one level up
    verify_task_id: str | None
    verify_device_id: str | None
    hotline: HotlineTicketRead | None = None  # the work order of a hotline case
    # what the units' liaisons were told about the case, and how each delivery went (a unit:
    # its own notices only)
    notifications: list[NotificationRead] = Field(default_factory=list)
    tasks: list[TaskRead] = Field(default_factory=list)  # 下发任务 about the case, oldest first


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
    # optional with a location inside a grid's boundary, which decides the grid (属地)
    grid_code: str | None = Field(default=None, pattern=r"^\d{14}$")
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
    unit_id: RowId | None = None  # the lead unit (None: routed by category and grid)
    # the co-handling units (None: those routing names for the category; []: none)
    co_unit_ids: list[RowId] | None = Field(default=None, max_length=10)


class CoAssignBody(ReasonBody):
    """Units asked to co-handle the case beside its lead unit."""

    unit_ids: list[RowId] = Field(min_length=1, max_length=10)


class CoFeedbackBody(BaseModel):
    """A co-handler's part: its result. A unit gives its own; an operator names the unit it
    records the part for (taken by phone, say)."""

    text: str = Field(min_length=1, max_length=4000)
    blobs: list[BlobRef] = Field(default_factory=list, max_length=20)
    unit_id: RowId | None = None


class CoReleaseBody(BaseModel):
    unit_id: RowId
    reason: str = Field(min_length=1, max_length=2000)


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


class ComplaintBody(BaseModel):
    """A resident's complaint about a closed case (by phone, the hotline, in person...)."""

    text: str = Field(min_length=1, max_length=4000)
    channel: Literal["phone", "hotline", "web", "app", "visit", "other"] = "phone"


class ReturnVisitBody(BaseModel):
    outcome: VisitOutcome
    note: str | None = Field(default=None, max_length=2000)


class SuperviseBody(BaseModel):
    level: SupervisionLevel
    reason: str | None = Field(default=None, max_length=2000)
    # the unit's deadline (a rectification notice's own); default: the kind's working hours
    deadline_at: AwareDatetime | None = None


class SupervisionRead(BaseModel):
    """A supervision notice (督办) and how it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: int
    kind: SupervisionLevel
    target_unit_id: int | None
    issued_by: str
    issued_at: datetime
    automatic: bool
    reason: str | None
    deadline_at: datetime | None
    status: str  # open | met | escalated | withdrawn | case_closed
    response: str | None
    responded_at: datetime | None
    responded_by: str | None
    ended_at: datetime | None
    outcome_note: str | None
    previous_id: int | None


class SupervisionPage(BaseModel):
    total: int
    items: list[SupervisionRead]


class SupervisionResponseBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class SupervisionWithdrawBody(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


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


HotlineChannel = Literal["phone", "web", "app", "wechat", "sms", "email", "other"]


class HotlineOrderIn(BaseModel):
    """One work order from the hotline system (市长热线 and the other channels of the one
    network); ``ticket_id`` is that system's own id: importing it again changes nothing."""

    ticket_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
    channel: HotlineChannel = "phone"
    text: str = Field(min_length=1, max_length=4000)
    # optional with a location inside a grid's boundary, which decides the grid (属地)
    grid_code: str | None = Field(default=None, pattern=r"^\d{14}$")
    category_code: str | None = Field(default=None, max_length=32)
    caller_name: str | None = Field(default=None, max_length=64)
    caller_phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{2,30}$")
    callback_required: bool = True
    received_at: AwareDatetime
    loc: Location | None = None


class HotlineImport(BaseModel):
    orders: list[HotlineOrderIn] = Field(min_length=1, max_length=500)


class HotlineItemResult(BaseModel):
    ticket_id: str
    status: Literal["created", "existing", "duplicate", "rejected"]
    case_id: int | None = None
    duplicate_of: int | None = None
    error: str | None = None


class HotlineImportResult(BaseModel):
    created: int
    existing: int
    duplicates: int
    rejected: int
    items: list[HotlineItemResult]


class CallbackBody(BaseModel):
    """The call back to a hotline case's caller."""

    outcome: CallbackOutcome
    note: str | None = Field(default=None, max_length=2000)


# --- tasks and notices to the field -----------------------------------------------------------


class TaskCreate(BaseModel):
    """A task for a grid's handheld: of a case (its grid) or of a grid directly."""

    case_id: RowId | None = None
    grid_code: str | None = Field(default=None, pattern=r"^\d{14}$")
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(default="", max_length=4000)
    loc: Location | None = None
    deadline_at: AwareDatetime | None = None
    # SHA-256 of held JPEG / PNG blobs (POST /api/tasks/images)
    images: list[str] = Field(default_factory=list, max_length=4)


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    task_id: str
    case_id: int | None
    grid_code: str
    device_id: str
    command_id: str | None
    title: str
    text: str
    lat_e6: int | None
    lon_e6: int | None
    deadline_at: datetime | None
    images: list[dict[str, Any]]
    status: str  # sent | delivered | accepted | done | cancelled
    created_by: str
    created_at: datetime
    delivered_at: datetime | None
    accepted_at: datetime | None
    accepted_by: str | None
    done_at: datetime | None
    done_by: str | None
    seen_images: list[str]  # the reference images the handheld fetched and checked
    answer_text: str | None
    answer_loc: dict[str, Any] | None
    answer_media: list[dict[str, Any]]


class BroadcastCreate(BaseModel):
    area_code: str = Field(pattern=r"^(\d{4}|\d{6}|\d{9}|\d{12}|\d{14})$")
    title: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=1000)
    lifetime_s: int = Field(default=3 * 24 * 3600, ge=600, le=30 * 24 * 3600)


class BroadcastDelivery(BaseModel):
    device_id: str
    command_id: str
    status: str  # the command's: queued, sent, succeeded (shown on the handheld), expired...


class BroadcastRead(BaseModel):
    id: int
    area_code: str
    title: str
    text: str
    created_by: str
    created_at: datetime
    deliveries: list[BroadcastDelivery]


CaseDetail.model_rebuild()  # its ``tasks`` are TaskRead, defined after it
