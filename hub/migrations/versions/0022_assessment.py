"""Assessment (issue 16, item 5): weekly statistics per worker, stored by the weekly job, and
the online inspection (网上巡查) verdicts of street and district reviewers.

Revision ID: 0022_assessment
Revises: 0020_worker_sessions
Create Date: 2026-12-04 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0022_assessment"
down_revision: str | None = "0020_worker_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "online_s",
    "reports",
    "valid_reports",
    "visits",
    "collections",
    "verifications",
    "verifications_on_time",
    "qualified",
    "unqualified",
)


def upgrade() -> None:
    op.create_table(
        "stats_weeks",
        sa.Column("week", sa.String(8), primary_key=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("computed_by", sa.String(160), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=False),
    )
    op.create_table(
        "worker_weeks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "week",
            sa.String(8),
            sa.ForeignKey("stats_weeks.week", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("worker_id", sa.String(64), sa.ForeignKey("workers.id"), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.UniqueConstraint("week", "worker_id"),
    )
    op.create_index("ix_worker_weeks_week", "worker_weeks", ["week"])
    op.create_index("ix_worker_weeks_worker_id", "worker_weeks", ["worker_id"])
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("worker_id", sa.String(64), nullable=False),
        sa.Column("grid_code", sa.String(14), nullable=True),
        sa.Column("reviewer", sa.String(120), nullable=False),
        sa.Column("reviewer_level", sa.String(16), nullable=False),
        sa.Column("reviewer_scope", sa.String(12), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("case_id", "reviewer"),
    )
    op.create_index("ix_inspections_case_id", "inspections", ["case_id"])
    op.create_index("ix_inspections_grid_code", "inspections", ["grid_code"])
    op.create_index("ix_inspections_reviewed_at", "inspections", ["reviewed_at"])
    op.create_index("ix_inspections_worker_at", "inspections", ["worker_id", "reviewed_at"])


def downgrade() -> None:
    op.drop_table("inspections")
    op.drop_table("worker_weeks")
    op.drop_table("stats_weeks")
