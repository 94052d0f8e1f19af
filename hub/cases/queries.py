"""Reading cases: the operator's queue (filtered, scoped, sorted, paged, with counts per
status), one case, and the supervision pass's worklists.

The queue is built from one grouped count and at most three index-ordered page queries.
The count grouped by status (with how many have a deadline) under every filter but the
status gives the
counts per status, the total, and the size of each urgency band; the page is then cut from
the bands in order, each read by an index instead of sorting every visible case:

- band 0: the unit's deadline runs (dispatched / handling with a deadline), nearest deadline
  first, so the overdue ones (deadline passed) lead, most overdue first;
- band 1: the other open cases (pending, filed, feedback, verifying, parked), newest first;
- band 2: closed, evaluated and voided cases, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from hub.areas.models import Grid, Worker
from hub.auth.service import Principal
from hub.cases.models import DEADLINE_STATUSES, Case, CaseStatus
from hub.cases.scope import can_see, scope_clause
from hub.errors import NotFoundError

RUNNING = frozenset(s.value for s in DEADLINE_STATUSES)
DONE = frozenset({CaseStatus.closed.value, CaseStatus.evaluated.value, CaseStatus.voided.value})


class QueueSort(StrEnum):
    urgency = "urgency"  # the bands above
    newest = "newest"  # reported most recently first
    deadline = "deadline"  # nearest deadline first, cases without one last
    id = "id"  # by case number, lowest first


@dataclass
class CaseFilter:
    statuses: tuple[str, ...] = ()  # any of these (empty: every status)
    level: str | None = None
    unit_id: int | None = None
    grid_code: str | None = None
    area_code: str | None = None
    category_code: str | None = None
    source: str | None = None
    reported_from: datetime | None = None  # inclusive
    reported_before: datetime | None = None  # exclusive
    overdue: bool | None = None
    near_deadline: bool | None = None
    q: str | None = None
    include_duplicates: bool = True


@dataclass
class QueuePage:
    rows: list[Case]
    total: int
    counts: dict[str, int] = field(default_factory=dict)


class _epoch_s(FunctionElement[float]):
    """Seconds since 1970 of a ``UTCDateTime`` column, in SQL (SQLite keeps the text form)."""

    type = Float()
    inherit_cache = True


@compiles(_epoch_s, "sqlite")
def _epoch_s_sqlite(element: _epoch_s, compiler: SQLCompiler, **kw: Any) -> str:
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(_epoch_s)
def _epoch_s_default(element: _epoch_s, compiler: SQLCompiler, **kw: Any) -> str:
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


def _scope(principal: Principal) -> ColumnElement[bool]:
    return scope_clause(principal)


def _dialect(db_session: Session) -> str:
    return db_session.get_bind().dialect.name


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(Case.status.in_(RUNNING), Case.deadline_at < now)


def near_deadline_clause(now: datetime, warn_ratio: float) -> ColumnElement[bool]:
    """Still within the deadline but past the warning point the supervision pass uses:
    ``warn_ratio`` of the time from dispatch to deadline spent (``deadlines.warning_due_at``)."""
    warn_at = (1 - warn_ratio) * _epoch_s(Case.deadline_start_at) + warn_ratio * _epoch_s(
        Case.deadline_at
    )
    return and_(
        Case.status.in_(RUNNING),
        Case.deadline_at >= now,
        Case.deadline_start_at.is_not(None),
        warn_at <= now.timestamp(),
    )


def _search(q: str, dialect: str) -> ColumnElement[bool]:
    """The case text, its grid's name (where it is), the reporter's id or name, the case
    number, ignoring the case of Latin letters. The user's ``%``, ``_`` and ``/`` are matched
    literally (``autoescape``). SQLite's own LIKE already ignores ASCII case (and is several
    times faster than ``lower() LIKE lower()``); PostgreSQL's ILIKE does."""

    def has(column: Any) -> ColumnElement[bool]:
        if dialect == "sqlite":
            found: ColumnElement[bool] = column.contains(q, autoescape=True)
        else:
            found = column.icontains(q, autoescape=True)
        return found

    terms: list[ColumnElement[bool]] = [
        has(Case.text),
        Case.grid_code.in_(select(Grid.code).where(has(Grid.name))),
        has(Case.reporter_worker_id),
        Case.reporter_worker_id.in_(select(Worker.id).where(has(Worker.name))),
    ]
    number = q.removeprefix("#")
    if number.isdigit() and len(number) <= 9:
        terms.append(Case.id == int(number))
    return or_(*terms)


def _conditions(
    flt: CaseFilter, now: datetime, warn_ratio: float, *, with_status: bool, dialect: str
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if with_status and flt.statuses:
        where.append(Case.status.in_(flt.statuses))
    if flt.level:
        where.append(Case.level == flt.level)
    if flt.unit_id is not None:
        where.append(Case.unit_id == flt.unit_id)
    if flt.grid_code:
        where.append(Case.grid_code == flt.grid_code)
    if flt.area_code:
        where.append(Case.grid_code.startswith(flt.area_code, autoescape=True))
    if flt.category_code:
        where.append(Case.category_code == flt.category_code)
    if flt.source:
        where.append(Case.source == flt.source)
    if flt.reported_from is not None:
        where.append(Case.reported_at >= flt.reported_from)
    if flt.reported_before is not None:
        where.append(Case.reported_at < flt.reported_before)
    if flt.overdue is True:
        where.append(overdue_clause(now))
    elif flt.overdue is False:
        where.append(or_(Case.deadline_at.is_(None), ~overdue_clause(now)))
    if flt.near_deadline is True:
        where.append(near_deadline_clause(now, warn_ratio))
    elif flt.near_deadline is False:
        where.append(
            or_(
                Case.deadline_at.is_(None),
                Case.deadline_start_at.is_(None),
                ~near_deadline_clause(now, warn_ratio),
            )
        )
    if flt.q:
        where.append(_search(flt.q, dialect))
    if not flt.include_duplicates:
        where.append(Case.duplicate_of_id.is_(None))
    return where


def status_counts(
    *, db_session: Session, principal: Principal, flt: CaseFilter, now: datetime, warn_ratio: float
) -> dict[str, tuple[int, int]]:
    """Visible cases per status (all, and those with a deadline) under every filter but the
    status: one pass over the ``ix_cases_queue`` index, grouped in its order."""
    query = (
        select(Case.status, func.count(), func.count(Case.deadline_at))
        .where(
            _scope(principal),
            *_conditions(flt, now, warn_ratio, with_status=False, dialect=_dialect(db_session)),
        )
        .group_by(Case.status)
    )
    return {status: (n, with_deadline) for status, n, with_deadline in db_session.execute(query)}


def _bands(flt: CaseFilter) -> list[tuple[ColumnElement[bool], tuple[Any, ...]]]:
    """The urgency bands: each a condition and the order it is read in."""
    wanted = set(flt.statuses) or {s.value for s in CaseStatus}
    running = sorted(wanted & RUNNING)
    other_open = sorted(wanted - RUNNING - DONE)
    done = sorted(wanted & DONE)
    band0 = and_(Case.status.in_(running), Case.deadline_at.is_not(None))
    band1 = or_(
        Case.status.in_(other_open), and_(Case.status.in_(running), Case.deadline_at.is_(None))
    )
    band2 = Case.status.in_(done)
    newest = (Case.id.desc(),)
    return [(band0, (Case.deadline_at, Case.id.desc())), (band1, newest), (band2, newest)]


def _band_sizes(counts: dict[str, tuple[int, int]], flt: CaseFilter) -> list[int]:
    wanted = set(flt.statuses) or {s.value for s in CaseStatus}
    sizes = [0, 0, 0]
    for status, (n, with_deadline) in counts.items():
        if status not in wanted:
            continue
        if status in RUNNING:
            sizes[0] += with_deadline
            sizes[1] += n - with_deadline
        else:
            sizes[2 if status in DONE else 1] += n
    return sizes


def queue(
    *,
    db_session: Session,
    principal: Principal,
    flt: CaseFilter,
    now: datetime,
    warn_ratio: float,
    sort: QueueSort = QueueSort.urgency,
    offset: int = 0,
    limit: int = 50,
) -> QueuePage:
    """A page of the cases visible to ``principal``, their total, and counts per status."""
    if flt.q:
        return _searched_queue(
            db_session=db_session,
            principal=principal,
            flt=flt,
            now=now,
            warn_ratio=warn_ratio,
            sort=sort,
            offset=offset,
            limit=limit,
        )
    grouped = status_counts(
        db_session=db_session, principal=principal, flt=flt, now=now, warn_ratio=warn_ratio
    )
    counts = {s.value: 0 for s in CaseStatus}
    for status, (n, _) in grouped.items():
        counts[status] = n
    wanted = set(flt.statuses) or set(counts)
    total = sum(n for status, n in counts.items() if status in wanted)
    where = [
        _scope(principal),
        *_conditions(flt, now, warn_ratio, with_status=True, dialect=_dialect(db_session)),
    ]
    rows: list[Case] = []
    if sort is QueueSort.urgency:
        skip, room = offset, limit
        for (band, order), size in zip(_bands(flt), _band_sizes(grouped, flt), strict=True):
            if room <= 0:
                break
            if skip >= size:
                skip -= size
                continue
            query = select(Case).where(*where, band).order_by(*order).offset(skip).limit(room)
            got = list(db_session.scalars(query))
            rows.extend(got)
            room -= len(got)
            skip = 0
    else:
        orders: dict[QueueSort, Iterable[Any]] = {
            QueueSort.newest: (Case.reported_at.desc(), Case.id.desc()),
            QueueSort.deadline: (Case.deadline_at.asc().nulls_last(), Case.id.desc()),
            QueueSort.id: (Case.id.asc(),),
        }
        query = select(Case).where(*where).order_by(*orders[sort]).offset(offset).limit(limit)
        rows = list(db_session.scalars(query))
    return QueuePage(rows=rows, total=total, counts=counts)


def _search_key(sort: QueueSort, wanted: set[str]) -> Any:
    """The sort key, in Python, of a (id, status, deadline_at, reported_at) row: the same
    order as the SQL of ``queue`` (urgency bands, then each band's order; ties on the id)."""
    running, done = wanted & RUNNING, wanted & DONE

    def urgency(row: Any) -> tuple[Any, ...]:
        case_id, status, deadline_at, _ = row
        if status in running and deadline_at is not None:
            return (0, deadline_at.timestamp(), -case_id)
        return (2 if status in done else 1, 0.0, -case_id)

    def newest(row: Any) -> tuple[Any, ...]:
        return (-row[3].timestamp(), -row[0])

    def deadline(row: Any) -> tuple[Any, ...]:
        at = row[2]
        return (at is None, at.timestamp() if at is not None else 0.0, -row[0])

    def by_id(row: Any) -> tuple[Any, ...]:
        return (row[0],)

    keys = {
        QueueSort.urgency: urgency,
        QueueSort.newest: newest,
        QueueSort.deadline: deadline,
        QueueSort.id: by_id,
    }
    return keys[sort]


def _searched_queue(
    *,
    db_session: Session,
    principal: Principal,
    flt: CaseFilter,
    now: datetime,
    warn_ratio: float,
    sort: QueueSort,
    offset: int,
    limit: int,
) -> QueuePage:
    """``queue`` for a text search: no index serves ``LIKE '%...%'``, so the matching cases
    are found in ONE scan (their id, status, deadline and report time only), counted and
    ordered here, and only the page's rows are then read by id: one pass over the table
    instead of one for the counts and one per urgency band."""
    conditions = _conditions(flt, now, warn_ratio, with_status=False, dialect=_dialect(db_session))
    found = db_session.execute(
        select(Case.id, Case.status, Case.deadline_at, Case.reported_at).where(
            _scope(principal), *conditions
        )
    ).all()
    counts = {s.value: 0 for s in CaseStatus}
    for _, status, _, _ in found:
        counts[status] = counts.get(status, 0) + 1
    wanted = set(flt.statuses) or set(counts)
    matching = [row for row in found if row[1] in wanted]
    matching.sort(key=_search_key(sort, wanted))
    page_ids = [row[0] for row in matching[offset : offset + limit]]
    by_id = {c.id: c for c in db_session.scalars(select(Case).where(Case.id.in_(page_ids)))}
    return QueuePage(rows=[by_id[i] for i in page_ids], total=len(matching), counts=counts)


def get_case(*, db_session: Session, case_id: int, principal: Principal | None = None) -> Case:
    """The case, or ``NotFoundError`` (also when it lies outside the principal's scope)."""
    case = db_session.get(Case, case_id)
    if case is None or (
        principal is not None and not can_see(principal, case, db_session=db_session)
    ):
        raise NotFoundError(f"case {case_id} not found")
    return case


def open_cases_with_deadline(*, db_session: Session) -> list[Case]:
    return list(
        db_session.scalars(
            select(Case)
            .where(
                Case.status.in_([s.value for s in DEADLINE_STATUSES]),
                Case.deadline_at.is_not(None),
            )
            .order_by(Case.deadline_at)
        )
    )


def parked_for_review(*, db_session: Session, now: datetime) -> list[Case]:
    """Parked cases whose review date has come and that were not yet flagged for review."""
    return list(
        db_session.scalars(
            select(Case)
            .where(
                Case.status == CaseStatus.parked.value,
                Case.park_review_at <= now,
                Case.warned_at.is_(None),
            )
            .order_by(Case.park_review_at)
        )
    )
