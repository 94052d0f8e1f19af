"""Read models built from a case: the list row and the detail with timeline, media, duplicates
and the next actions the API offers for it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.cases.deadlines import is_overdue
from hub.cases.duplicates import duplicates_of
from hub.cases.endpoints import offered_actions
from hub.cases.models import Case
from hub.cases.schemas import CaseDetail, CaseRead, MediaItem, TransitionRead
from hub.cases.workflow import RULES, Action

_ACTIONS = frozenset(a.value for a in Action)


def case_read(case: Case, now: datetime) -> CaseRead:
    read = CaseRead.model_validate(case)
    read.overdue = is_overdue(case, now)
    return read


def case_detail(*, db_session: Session, case: Case, now: datetime) -> CaseDetail:
    timeline: list[TransitionRead] = []
    media: list[MediaItem] = []
    seen: set[str] = set()

    def add_media(blobs: object, source: str, transition_id: int | None) -> None:
        for blob in blobs if isinstance(blobs, list) else []:
            sha = blob.get("sha256") if isinstance(blob, dict) else None
            if isinstance(sha, str) and sha not in seen:
                seen.add(sha)
                media.append(
                    MediaItem(
                        sha256=sha,
                        size=blob.get("size"),
                        mime=blob.get("mime"),
                        source=source,
                        transition_id=transition_id,
                    )
                )

    add_media(case.media, "report", None)
    for row in case.transitions:
        item = TransitionRead.model_validate(row)
        item.step = RULES[Action(row.action)].step if row.action in _ACTIONS else None
        timeline.append(item)
        if row.action != Action.collect:
            add_media(row.evidence.get("media"), row.action, row.id)
    return CaseDetail(
        **case_read(case, now).model_dump(),
        timeline=timeline,
        media=media,
        duplicates=[c.id for c in duplicates_of(db_session=db_session, case_id=case.id)],
        allowed_actions=[a.value for a in offered_actions(case.status)],
        verify_task_id=case.verify_task_id,
        verify_device_id=case.verify_device_id,
    )
