"""Retention of base data and its personal traces (settings ``*_retention_days``), run by the
hub's supervision pass:

- residents and organisations no collection has confirmed for ``resident_retention_days`` /
  ``organisation_retention_days`` are deleted (door-to-door collection keeps current what the
  hub holds; a person who moved away is not kept for ever);
- visits are deleted ``visit_retention_days`` after the visit;
- a stored ``collect`` event keeps its form's fields ``collect_event_retention_days`` after
  capture, a ``visit`` event its place, text and location as long as its visit: then the body
  is cut to what the statistics count (grid, worker, form / purpose, outcome, ``erased_at``)
  and the signed bytes (``raw``) are erased. The row, its seq and digest stay, so the device's
  hash chain and the counts per worker are intact; that one envelope can no longer be
  re-verified, which the erasure is for;
- access-audit rows are deleted ``access_audit_retention_days`` after the read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hub.basedata.models import Organisation, Resident, Visit
from hub.events.models import Event
from hub.privacy.audit import purge_audits
from hub.settings import Settings

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass
class Purged:
    residents: int = 0
    organisations: int = 0
    visits: int = 0
    collect_events: int = 0
    visit_events: int = 0
    audits: int = 0

    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


def _deleted(db_session: Session, stmt: Any) -> int:
    return int(getattr(db_session.execute(stmt), "rowcount", 0) or 0)


def purge_base_data(*, db_session: Session, now: datetime, settings: Settings) -> Purged:
    """Delete and erase what is past its retention at ``now``; the caller commits."""
    out = Purged()

    def before(days: int) -> datetime:
        return now - timedelta(days=days)

    out.residents = _deleted(
        db_session,
        delete(Resident).where(Resident.confirmed_at < before(settings.resident_retention_days)),
    )
    out.organisations = _deleted(
        db_session,
        delete(Organisation).where(
            Organisation.confirmed_at < before(settings.organisation_retention_days)
        ),
    )
    out.visits = _deleted(
        db_session, delete(Visit).where(Visit.visited_at < before(settings.visit_retention_days))
    )
    out.collect_events = _erase(
        db_session, "collect", before(settings.collect_event_retention_days), now
    )
    out.visit_events = _erase(db_session, "visit", before(settings.visit_retention_days), now)
    out.audits = purge_audits(
        db_session=db_session, before=before(settings.access_audit_retention_days)
    )
    db_session.flush()
    if out.total():
        logger.info("base-data retention: %s", out)
    return out


def _erase(db_session: Session, kind: str, captured_before: datetime, now: datetime) -> int:
    erased = 0
    while True:
        rows = list(
            db_session.scalars(
                select(Event)
                .where(
                    Event.kind == kind,
                    Event.captured_at < captured_before,
                    func.length(Event.raw) > 0,
                )
                .order_by(Event.id)
                .limit(BATCH)
            )
        )
        if not rows:
            return erased
        for ev in rows:
            ev.body = _kept(kind, ev.body if isinstance(ev.body, dict) else {}, now)
            ev.raw = b""
        db_session.flush()
        erased += len(rows)


def _kept(kind: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    keep = (
        ("grid", "worker", "form")
        if kind == "collect"
        else ("grid", "worker", "purpose", "outcome")
    )
    out = {k: body[k] for k in keep if k in body}
    if kind == "visit" and isinstance(body.get("place"), dict):
        out["place"] = {"kind": body["place"].get("kind")}
    out["erased_at"] = now.isoformat()
    return out
