"""Stored assessment data: the weekly statistics per worker (written by the weekly job) and the
online inspection (网上巡查) verdicts of street and district reviewers on workers' reports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class StatsWeek(Base):
    """One ISO week (local civil time) whose per-worker rows are stored: when and by whom."""

    __tablename__ = "stats_weeks"

    week: Mapped[str] = mapped_column(String(8), primary_key=True)  # "2026-W02"
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    computed_by: Mapped[str] = mapped_column(String(160))  # "system:weekly-stats" or a user
    workers: Mapped[int] = mapped_column(Integer, default=0)


class WorkerWeek(Base):
    """A worker's figures for one ISO week (the worker's totals over all of its grids)."""

    __tablename__ = "worker_weeks"
    __table_args__ = (UniqueConstraint("week", "worker_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week: Mapped[str] = mapped_column(
        ForeignKey("stats_weeks.week", ondelete="CASCADE"), index=True
    )
    worker_id: Mapped[str] = mapped_column(ForeignKey("workers.id"), index=True)
    online_s: Mapped[int] = mapped_column(Integer, default=0)
    reports: Mapped[int] = mapped_column(Integer, default=0)
    valid_reports: Mapped[int] = mapped_column(Integer, default=0)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    collections: Mapped[int] = mapped_column(Integer, default=0)
    verifications: Mapped[int] = mapped_column(Integer, default=0)
    verifications_on_time: Mapped[int] = mapped_column(Integer, default=0)
    qualified: Mapped[int] = mapped_column(Integer, default=0)
    unqualified: Mapped[int] = mapped_column(Integer, default=0)


class Verdict(StrEnum):
    qualified = "qualified"  # 合格
    unqualified = "unqualified"  # 不合格 (a reason is required)


class Inspection(Base):
    """A reviewer's verdict on a worker's report (a case of source ``report``): one per
    reviewer (account name) per report."""

    __tablename__ = "inspections"
    __table_args__ = (
        UniqueConstraint("case_id", "reviewer"),
        Index("ix_inspections_worker_at", "worker_id", "reviewed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    worker_id: Mapped[str] = mapped_column(String(64))  # the report's worker (denormalised)
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True, default=None)
    reviewer: Mapped[str] = mapped_column(String(120))  # the reviewer's account name
    reviewer_level: Mapped[str] = mapped_column(String(16))  # street | district
    reviewer_scope: Mapped[str] = mapped_column(String(12))
    verdict: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
