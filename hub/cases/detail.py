"""Read models built from a case: the list row and the detail the case page shows: the
timeline with every actor by name, the seven steps, the media, the map and the next actions
the caller's role may take now (with the units a dispatch or an escalation may name)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas import boundaries
from hub.areas.models import Area, Grid, Level, Unit, UnitResponsibility, Worker
from hub.auth.models import ApiToken, Role
from hub.auth.service import Principal
from hub.cases import supervisions
from hub.cases.deadlines import is_overdue
from hub.cases.duplicates import duplicates_of
from hub.cases.endpoints import ACTION_ENDPOINTS, offered_actions
from hub.cases.geo import haversine_m
from hub.cases.models import (
    Case,
    CaseStatus,
    CaseTransition,
    CaseUnit,
    FieldTask,
    HotlineTicket,
    PartStatus,
)
from hub.cases.parts import parts_of
from hub.cases.routing import area_code_at, route, upper_level
from hub.cases.schemas import (
    STEPS,
    ActorRead,
    CaseDetail,
    CaseMap,
    CaseRead,
    CoUnitRead,
    GridPoint,
    HotlineTicketRead,
    MapPoint,
    MediaItem,
    StepRead,
    SupervisionRead,
    TaskRead,
    TransitionRead,
    UnitChoice,
    VerificationPoint,
)
from hub.cases.scope import leads
from hub.cases.workflow import RULES, Action
from hub.devices.models import Device
from hub.media.models import Blob, BlobStatus, SensitiveBlob
from hub.notify.queries import notifications_of_case
from hub.notify.schemas import NotificationRead
from hub.settings import Settings
from hub.workers.models import WorkerCheck

_ACTIONS = frozenset(a.value for a in Action)
_ROLES = {row.action: row.roles for row in ACTION_ENDPOINTS}
# The workflow's steps as the seven of the closed loop: requesting the verification and
# closing both belong to "verify & close".
_STEP_OF = {"verify": "verify", "close": "verify"}
# The step a case in this status waits on (None: the loop is complete or left).
_WAITS_ON: dict[str, str | None] = {
    CaseStatus.pending_acceptance: "file",
    CaseStatus.filed: "dispatch",
    CaseStatus.dispatched: "handle",
    CaseStatus.handling: "feedback",
    CaseStatus.feedback: "verify",
    CaseStatus.verifying: "verify",
    CaseStatus.closed: "evaluate",
    CaseStatus.evaluated: None,
    CaseStatus.voided: None,
    CaseStatus.parked: "dispatch",
}
_REWORK = frozenset({Action.reject.value, Action.reopen.value, Action.complaint.value})
# Transitions whose evidence carries the verifier's on-site location.
_ON_SITE = frozenset({Action.close, Action.reject, Action.verify_refused, Action.verify_pending})


_KINDS: dict[str, Literal["image", "audio", "video", "file"]] = {
    "image": "image",
    "audio": "audio",
    "video": "video",
}


def case_read(case: Case, now: datetime) -> CaseRead:
    read = CaseRead.model_validate(case)
    read.overdue = is_overdue(case, now)
    return read


class _Names:
    """The names behind a case's actors and units, each table read once per detail."""

    def __init__(self, db_session: Session, case: Case) -> None:
        refs = [row.actor for row in case.transitions]
        kinds: dict[str, set[str]] = {"worker": set(), "device": set(), "account": set()}
        for ref in refs:
            kind, _, ident = ref.partition(":")
            if kind == "worker":
                kinds["worker"].add(ident)
            elif kind == "device":
                kinds["device"].add(ident)
            elif kind in (Role.admin, Role.operator, Role.unit):
                kinds["account"].add(ident)
        if case.reporter_worker_id:
            kinds["worker"].add(case.reporter_worker_id)
        self.workers = _by_key(db_session, Worker.id, Worker.name, kinds["worker"])
        devices = {
            d.id: d.grid_code
            for d in db_session.scalars(select(Device).where(Device.id.in_(kinds["device"])))
        }
        accounts: dict[str, ApiToken] = {}
        for token in db_session.scalars(
            select(ApiToken).where(ApiToken.name.in_(kinds["account"])).order_by(ApiToken.id)
        ):
            accounts[token.name] = token  # the newest token of a name wins
        self.accounts = accounts
        unit_ids = {row.unit_id for row in case.transitions if row.unit_id is not None}
        unit_ids |= {t.unit_id for t in accounts.values() if t.unit_id is not None}
        if case.unit_id is not None:
            unit_ids.add(case.unit_id)
        self.units = _by_key(db_session, Unit.id, Unit.name, unit_ids)
        areas = {t.scope_code for t in accounts.values() if t.scope_code}
        self.areas = _by_key(db_session, Area.code, Area.name, areas)
        grids = {g for g in devices.values() if g}
        self.grids = _by_key(db_session, Grid.code, Grid.name, grids)
        self.devices = devices

    def actor(self, ref: str) -> ActorRead:
        kind, _, ident = ref.partition(":")
        if kind == "worker":
            return ActorRead(kind="worker", ref=ref, name=self.workers.get(ident, ident))
        if kind == "device":
            grid = self.devices.get(ident)
            return ActorRead(
                kind="device", ref=ref, name=ident, area_name=self.grids.get(grid or "")
            )
        if kind in (Role.admin, Role.operator, Role.unit):
            token = self.accounts.get(ident)
            area = self.areas.get(token.scope_code or "") if token else None
            if kind == Role.unit and token is not None and token.unit_id is not None:
                name = self.units.get(token.unit_id, ident)
                return ActorRead(kind="unit", ref=ref, name=name, role=kind, area_name=area)
            return ActorRead(kind="account", ref=ref, name=ident, role=kind, area_name=area)
        return ActorRead(kind="system", ref=ref, name=None)


def _by_key(db_session: Session, key: Any, name: Any, wanted: set[Any]) -> dict[Any, str]:
    if not wanted:
        return {}
    return {k: n for k, n in db_session.execute(select(key, name).where(key.in_(wanted)))}


def _media(db_session: Session, case: Case) -> list[MediaItem]:
    cited: list[tuple[dict[str, Any], str, int | None]] = []
    for blob in case.media if isinstance(case.media, list) else []:
        cited.append((blob, "report", None))
    for row in case.transitions:
        if row.action != Action.collect:
            media = row.evidence.get("media")
            for blob in media if isinstance(media, list) else []:
                cited.append((blob, row.action, row.id))
    items: dict[str, MediaItem] = {}
    for blob, source, transition_id in cited:
        sha = blob.get("sha256") if isinstance(blob, dict) else None
        if isinstance(sha, str) and sha not in items:
            size, mime = blob.get("size"), blob.get("mime")
            items[sha] = MediaItem(
                sha256=sha,
                size=size if isinstance(size, int) else None,
                mime=mime if isinstance(mime, str) else None,
                source=source,
                transition_id=transition_id,
            )
    if not items:
        return []
    stored = db_session.scalars(select(Blob).where(Blob.sha256.in_(items)))
    for held in stored:
        item = items[held.sha256]
        item.stored = held.status == BlobStatus.complete
        item.size, item.mime = held.size, held.mime  # the hub's own record wins over a citation
    marked = db_session.scalars(select(SensitiveBlob.sha256).where(SensitiveBlob.sha256.in_(items)))
    for sha in marked:
        items[sha].sensitive = True
    for item in items.values():
        item.kind = _KINDS.get((item.mime or "").split("/", 1)[0], "file")
    return list(items.values())


def _steps(case: Case, timeline: list[TransitionRead]) -> list[StepRead]:
    latest: dict[str, TransitionRead] = {}
    passes = dict.fromkeys(STEPS, 0)
    last_rework: int | None = None
    for item in timeline:
        if item.rework:
            last_rework = item.id
        step = _STEP_OF.get(item.step or "", item.step)
        if step in passes:
            passes[step] += 1
            latest[step] = item
    waits_on = _WAITS_ON.get(case.status)
    waiting = STEPS.index(waits_on) if waits_on else None
    steps: list[StepRead] = []
    for index, step in enumerate(STEPS):
        row = latest.get(step)
        state: Literal["done", "current", "todo"]
        if waiting is not None and index == waiting:
            state = "current"
        elif row is None or (waiting is not None and index > waiting):
            state = "todo"  # not reached, or to be done again after a rework
        else:
            state = "done"
        if state != "done" and row is not None and last_rework is not None:
            row = row if row.id > last_rework else None  # a pass before the rework is history
        steps.append(
            StepRead(
                step=step,
                state=state,
                passes=passes[step],
                transition_id=row.id if row else None,
                at=row.at if row else None,
                actor_by=row.actor_by if row else None,
                level=row.level if row else None,
                unit_name=row.unit_name if row else None,
                reason=row.reason if row else None,
            )
        )
    return steps


def _point(loc: object) -> MapPoint | None:
    if not isinstance(loc, dict):
        return None
    lat, lon, acc = loc.get("lat_e6"), loc.get("lon_e6"), loc.get("acc_m")
    if not isinstance(lat, int) or not isinstance(lon, int):
        return None
    return MapPoint(lat_e6=lat, lon_e6=lon, acc_m=acc if isinstance(acc, int) else None)


def _map(db_session: Session, case: Case) -> CaseMap:
    grid = db_session.get(Grid, case.grid_code) if case.grid_code else None
    community: list[GridPoint] = []
    if grid is not None:
        rows = db_session.scalars(
            select(Grid).where(Grid.community_code == grid.community_code).order_by(Grid.code)
        )
        community = [
            GridPoint(code=g.code, name=g.name, lat_e6=g.lat_e6, lon_e6=g.lon_e6, current=g is grid)
            for g in rows
        ]
    report = None
    if case.lat_e6 is not None and case.lon_e6 is not None:
        report = MapPoint(lat_e6=case.lat_e6, lon_e6=case.lon_e6, acc_m=case.acc_m)
    verification = None
    for row in reversed(case.transitions):
        point = _point(row.evidence.get("loc")) if row.action in _ON_SITE else None
        if point is not None:
            verification = VerificationPoint(
                **point.model_dump(), at=row.at, action=row.action, transition_id=row.id
            )
            break
    distance = None
    if report is not None and verification is not None:
        distance = round(
            haversine_m(report.lat_e6, report.lon_e6, verification.lat_e6, verification.lon_e6),
            1,
        )
    own = next((g for g in community if g.current), None)
    shape = boundaries.current(db_session=db_session, grid_code=grid.code) if grid else None
    return CaseMap(
        grid=own,
        community_grids=community,
        report=report,
        verification=verification,
        distance_m=distance,
        boundary=shape.geometry if shape is not None else None,
        boundary_version=shape.version if shape is not None else None,
    )


def _units(db_session: Session, case: Case, level: Level | None) -> list[UnitChoice]:
    """The units responsible for the case's area at ``level`` (those ``assign`` accepts)."""
    if case.grid_code is None or level is None:
        return []
    area = area_code_at(case.grid_code, level)
    rows = db_session.scalars(
        select(Unit)
        .join(UnitResponsibility, UnitResponsibility.unit_id == Unit.id)
        .where(UnitResponsibility.area_code == area)
        .distinct()
        .order_by(Unit.id)
    )
    routed = route(
        db_session=db_session,
        category_code=case.category_code,
        grid_code=case.grid_code,
        level=level,
    )
    return [
        UnitChoice(
            id=u.id,
            name=u.name,
            kind=u.kind,
            area_code=u.area_code,
            routed=routed is not None and u.id == routed.id,
        )
        for u in rows
    ]


def _transition(row: CaseTransition, names: _Names) -> TransitionRead:
    item = TransitionRead.model_validate(row)
    item.step = RULES[Action(row.action)].step if row.action in _ACTIONS else None
    item.actor_by = names.actor(row.actor)
    item.unit_name = names.units.get(row.unit_id) if row.unit_id is not None else None
    item.rework = row.action in _REWORK
    return item


def case_detail(
    *, db_session: Session, case: Case, now: datetime, principal: Principal, settings: Settings
) -> CaseDetail:
    """The case as ``principal`` may see and act on it (its role decides the next actions)."""
    names = _Names(db_session, case)
    timeline = [_transition(row, names) for row in case.transitions]
    allowed = [a for a in offered_actions(case.status) if principal.role in _ROLES.get(a, ())]
    parts = parts_of(db_session=db_session, case_id=case.id)
    allowed = _part_actions(allowed, principal, case, parts)
    grid_name = None
    if case.grid_code is not None:
        grid_name = db_session.scalar(select(Grid.name).where(Grid.code == case.grid_code))
    upper = upper_level(db_session=db_session, case=case, settings=settings)
    return CaseDetail(
        **case_read(case, now).model_dump(),
        grid_name=grid_name,
        unit_name=names.units.get(case.unit_id) if case.unit_id is not None else None,
        unit_kind=db_session.scalar(select(Unit.kind).where(Unit.id == case.unit_id))
        if case.unit_id is not None
        else None,
        co_units=_co_units(db_session, parts),
        co_assign_units=[
            u
            for u in _units(db_session, case, Level(case.level))
            if u.id != case.unit_id
            and u.id not in {p.unit_id for p in parts if p.status != PartStatus.released}
        ]
        if Action.co_assign in allowed
        else [],
        reporter_name=names.workers.get(case.reporter_worker_id or ""),
        reporter_check=_reporter_check(db_session, case),
        timeline=timeline,
        steps=_steps(case, timeline),
        media=_media(db_session, case),
        map=_map(db_session, case),
        duplicates=[c.id for c in duplicates_of(db_session=db_session, case_id=case.id)],
        allowed_actions=[a.value for a in allowed],
        dispatch_units=_units(db_session, case, Level(case.level))
        if Action.dispatch in allowed
        else [],
        escalate_units=_units(db_session, case, upper) if Action.escalate in allowed else [],
        verify_task_id=case.verify_task_id,
        verify_device_id=case.verify_device_id,
        hotline=_hotline(db_session, case, principal),
        supervisions=[
            SupervisionRead.model_validate(row)
            for row in supervisions.of_case(db_session=db_session, case_id=case.id)
        ],
        notifications=[
            NotificationRead.of(row)
            for row in notifications_of_case(
                db_session=db_session, principal=principal, case_id=case.id
            )
        ],
        tasks=[
            TaskRead.model_validate(row)
            for row in db_session.scalars(
                select(FieldTask).where(FieldTask.case_id == case.id).order_by(FieldTask.id)
            )
        ],
    )


def _reporter_check(db_session: Session, case: Case) -> str | None:
    if case.device_id is None or case.event_seq is None:
        return None
    return db_session.scalar(
        select(WorkerCheck.status).where(
            WorkerCheck.device_id == case.device_id, WorkerCheck.seq == case.event_seq
        )
    )


def _part_actions(
    allowed: list[Action], principal: Principal, case: Case, parts: list[CaseUnit]
) -> list[Action]:
    """A unit that only co-handles the case may give its part; the lead unit has no part of
    its own; an operator records or releases a part only while one is open."""
    open_units = {p.unit_id for p in parts if p.status == PartStatus.assigned}
    given = {p.unit_id for p in parts if p.status != PartStatus.released}
    if not leads(principal, case):
        return [a for a in allowed if a == Action.co_feedback and principal.unit_id in given]
    if principal.role == Role.unit:
        return [a for a in allowed if a != Action.co_feedback]
    if not open_units:
        allowed = [a for a in allowed if a not in (Action.co_feedback, Action.co_release)]
    return allowed


def _co_units(db_session: Session, parts: list[CaseUnit]) -> list[CoUnitRead]:
    units = {u.id: u for u in db_session.scalars(
        select(Unit).where(Unit.id.in_([p.unit_id for p in parts])))}  # fmt: skip
    return [
        CoUnitRead(
            unit_id=p.unit_id,
            name=units[p.unit_id].name,
            kind=units[p.unit_id].kind,
            status=p.status,
            assigned_at=p.assigned_at,
            assigned_by=p.assigned_by,
            done_at=p.done_at,
            done_by=p.done_by,
            feedback=p.feedback,
            media=list(p.media or []),
            released_reason=p.released_reason,
        )
        for p in parts
    ]


def _hotline(db_session: Session, case: Case, principal: Principal) -> HotlineTicketRead | None:
    """The work order of a hotline case; the caller's name and phone masked for a unit."""
    if case.source != "hotline":
        return None
    ticket = db_session.scalar(select(HotlineTicket).where(HotlineTicket.case_id == case.id))
    if ticket is None:
        return None
    read = HotlineTicketRead.model_validate(ticket, from_attributes=True)
    if principal.role not in (Role.admin, Role.operator):
        read.caller_name = _mask(read.caller_name, keep=1)
        read.caller_phone = _mask(read.caller_phone, keep=4)
    return read


def _mask(value: str | None, keep: int) -> str | None:
    """``keep`` characters shown at the end (a phone) or start (a name, keep=1), stars else."""
    if not value:
        return value
    if keep == 1:
        return value[:1] + "*" * (len(value) - 1)
    return "*" * max(0, len(value) - keep) + value[-keep:]
