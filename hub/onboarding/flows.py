"""``gridlink hub import``: read the files, validate every row, then load them, all in the
caller's transaction: validation runs before the first write, and any problem means no write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from hub.clock import Clock
from hub.onboarding.load import LoadResult, load
from hub.onboarding.rows import Problem, Sheet, read_sheet
from hub.onboarding.snapshot import Existing, read_existing
from hub.onboarding.validate import NO_PROGRESS, Plan, Progress, validate


@dataclass
class Prepared:
    """The validated files and the database they were checked against."""

    existing: Existing
    plan: Plan
    problems: list[Problem]

    @property
    def new_accounts(self) -> list[str]:
        """Accounts the load creates (each gets a token, a secret to hand over)."""
        return [a.name for a in self.plan.accounts if a.name not in self.existing.accounts]

    def load(
        self, *, db_session: Session, clock: Clock, progress: Progress = NO_PROGRESS
    ) -> LoadResult:
        if self.problems:
            raise ValueError("the files have problems: nothing may be loaded")
        return load(db_session=db_session, plan=self.plan, existing=self.existing,
                    clock=clock, progress=progress)  # fmt: skip


def read_sheets(paths: dict[str, Path]) -> dict[str, Sheet]:
    """kind -> sheet for each file (``OSError`` when one cannot be read)."""
    return {kind: read_sheet(kind, path) for kind, path in paths.items()}


def prepare(
    *, db_session: Session, sheets: dict[str, Sheet], progress: Progress = NO_PROGRESS
) -> Prepared:
    existing = read_existing(db_session=db_session)
    plan, problems = validate(sheets, existing, progress)
    return Prepared(existing, plan, problems)


def run(
    *,
    db_session: Session,
    sheets: dict[str, Sheet],
    clock: Clock,
    progress: Progress = NO_PROGRESS,
) -> tuple[list[Problem], LoadResult | None]:
    """Validate, and load when there is no problem; the caller commits or rolls back."""
    prepared = prepare(db_session=db_session, sheets=sheets, progress=progress)
    if prepared.problems:
        return prepared.problems, None
    return [], prepared.load(db_session=db_session, clock=clock, progress=progress)
