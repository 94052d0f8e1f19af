"""Multi-department cases (issue 15, item 3): the co-handling units of a case, each with its
own part (assigned, done with its feedback, or released).

Revision ID: 0016_case_units
Revises: 0015_notifications
Create Date: 2026-12-02 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0016_case_units"
down_revision: str | None = "0015_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assigned_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(120), nullable=False),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(120), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("released_reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("case_id", "unit_id"),
    )
    op.create_index("ix_case_units_case_id", "case_units", ["case_id"])
    op.create_index("ix_case_units_unit_id", "case_units", ["unit_id"])


def downgrade() -> None:
    op.drop_table("case_units")
