"""The access audit: one stored row per successful read of personal data, and its query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.auth.service import Principal
from hub.privacy.models import AccessAudit
from hub.privacy.policy import Reader


def record(
    *,
    db_session: Session,
    reader: Reader,
    action: str,
    kind: str,
    record_ids: list[int],
    shown: list[str],
    withheld: list[str],
    at: datetime,
    query: dict[str, Any] | None = None,
) -> AccessAudit:
    """Write the audit row of a read (the caller commits it with, or before, the answer)."""
    p = reader.principal
    row = AccessAudit(
        at=at,
        actor=p.actor,
        token_id=p.token_id,
        role=p.role.value,
        scope_code=p.scope_code,
        action=action,
        kind=kind,
        record_ids=list(record_ids),
        count=len(record_ids),
        fields=sorted(shown),
        withheld=sorted(withheld),
        purpose=reader.purpose,
        query={k: v for k, v in (query or {}).items() if v is not None},
    )
    db_session.add(row)
    db_session.flush()
    return row


def record_grant(
    *,
    db_session: Session,
    admin: Principal,
    token_id: int,
    grades: list[str],
    reason: str,
    at: datetime,
) -> None:
    """A grant given, changed or withdrawn (``grades`` empty) is audited like a read."""
    record(
        db_session=db_session,
        reader=Reader(principal=admin, purpose=reason),
        action="grant",
        kind="grant",
        record_ids=[token_id],
        shown=grades,
        withheld=[],
        at=at,
    )


def query_audits(
    *,
    db_session: Session,
    scope_code: str | None,
    actor: str | None = None,
    kind: str | None = None,
    action: str | None = None,
    record_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[AccessAudit]:
    """Audit rows, newest first, of the readers inside ``scope_code`` (None: all).

    ``record_id`` (with ``kind``) finds every read that returned that record."""
    q = select(AccessAudit)
    if scope_code is not None:
        q = q.where(AccessAudit.scope_code.startswith(scope_code, autoescape=True))
    if actor is not None:
        q = q.where(AccessAudit.actor == actor)
    if kind is not None:
        q = q.where(AccessAudit.kind == kind)
    if action is not None:
        q = q.where(AccessAudit.action == action)
    if since is not None:
        q = q.where(AccessAudit.at >= since)
    if until is not None:
        q = q.where(AccessAudit.at < until)
    q = q.order_by(AccessAudit.at.desc(), AccessAudit.id.desc())
    if record_id is None:
        return list(db_session.scalars(q.offset(offset).limit(limit)))
    # JSON containment differs per database: filter the (already narrowed) rows here
    hits = [r for r in db_session.scalars(q) if record_id in (r.record_ids or [])]
    return hits[offset : offset + limit]


def purge_audits(*, db_session: Session, before: datetime) -> int:
    """Delete the audit rows of reads before ``before`` (retention); returns how many."""
    result = db_session.execute(delete(AccessAudit).where(AccessAudit.at < before))
    return int(getattr(result, "rowcount", 0) or 0)
