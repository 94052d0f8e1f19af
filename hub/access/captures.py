"""Face and plate captures of the gates: served only with a stated reason, each view written
to ``access_capture_audits`` (who, when, which capture and event, why)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.access.models import AccessLogEntry, CaptureAudit
from hub.auth.service import Principal
from hub.errors import ConflictError, NotFoundError
from hub.media.models import Blob, BlobStatus
from hub.media.service import get_blob, sensitive_mark


def open_capture(
    *, db_session: Session, user: Principal, sha256: str, reason: str, at: datetime
) -> tuple[Blob, CaptureAudit]:
    """The capture's blob, after writing the audit row (the caller commits before serving).

    Not found unless a sensitive blob cited by an access-log row of the caller's area.
    """
    sha256 = sha256.lower()
    mark = sensitive_mark(db_session=db_session, sha256=sha256)
    query = select(AccessLogEntry).where(AccessLogEntry.blob_sha256 == sha256)
    if user.scope_code is not None:
        query = query.where(AccessLogEntry.community.startswith(user.scope_code, autoescape=True))
    row = db_session.scalars(query.order_by(AccessLogEntry.id).limit(1)).first()
    if mark is None or row is None:
        raise NotFoundError(f"capture {sha256} not found", code="capture_not_found")
    if mark.purged_at is not None:
        raise NotFoundError(
            f"capture {sha256} was deleted on {mark.purged_at:%Y-%m-%d} (retention)",
            code="capture_purged",
        )
    blob = get_blob(db_session=db_session, sha256=sha256)
    if blob is None or blob.status != BlobStatus.complete:
        raise ConflictError(f"capture {sha256} is still being uploaded", code="blob_incomplete")
    audit = CaptureAudit(
        sha256=sha256,
        log_id=row.id,
        actor=user.actor,
        token_id=user.token_id,
        reason=reason,
        at=at,
    )
    db_session.add(audit)
    db_session.flush()
    return blob, audit


def audits_of(
    *, db_session: Session, scope_code: str | None, sha256: str | None, offset: int, limit: int
) -> list[CaptureAudit]:
    """Audit rows (newest first) of captures cited in the caller's area."""
    query = select(CaptureAudit)
    if sha256 is not None:
        query = query.where(CaptureAudit.sha256 == sha256.lower())
    if scope_code is not None:
        cited = select(AccessLogEntry.id).where(
            AccessLogEntry.community.startswith(scope_code, autoescape=True)
        )
        query = query.where(CaptureAudit.log_id.in_(cited))
    return list(
        db_session.scalars(
            query.order_by(CaptureAudit.at.desc(), CaptureAudit.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
