"""Retention of face captures: deleted from the hub ``face_capture_retention_days`` after
capture (bytes, ``blobs`` row and grid references); access-log rows keep the hash, audit rows
stay, and the sensitive mark records when the capture was purged."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from hub.media.models import SensitiveKind
from hub.media.service import expired_sensitive, purge_blob
from hub.media.store import BlobStore
from hub.settings import Settings

logger = logging.getLogger(__name__)

PURGE_BATCH = 500


def purge_face_captures(
    *, db_session: Session, store: BlobStore, now: datetime, settings: Settings
) -> int:
    """Delete every face capture captured before ``now - face_capture_retention_days``;
    returns how many. Caller commits; the bytes go first, so a rolled-back purge leaves rows
    whose bytes are gone (answered ``blob_missing``), never bytes past their retention."""
    cutoff = now - timedelta(days=settings.face_capture_retention_days)
    purged = 0
    while True:
        due = expired_sensitive(
            db_session=db_session,
            kind=SensitiveKind.face,
            captured_before=cutoff,
            limit=PURGE_BATCH,
        )
        if not due:
            break
        for mark in due:
            purge_blob(db_session=db_session, store=store, mark=mark, at=now)
        db_session.flush()
        purged += len(due)
    if purged:
        logger.info("purged %d face captures captured before %s", purged, cutoff.isoformat())
    return purged
