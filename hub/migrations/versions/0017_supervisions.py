"""Supervision with teeth (issue 15, item 4): each supervision notice (督办) a record with its
issuer, target unit, deadline, response and outcome.

Revision ID: 0017_supervisions
Revises: 0016_case_units
Create Date: 2026-12-02 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0017_supervisions"
down_revision: str | None = "0016_case_units"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supervisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("target_unit_id", sa.Integer(), sa.ForeignKey("units.id"), nullable=True),
        sa.Column("issued_by", sa.String(120), nullable=False),
        sa.Column("issued_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("deadline_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("responded_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("responded_by", sa.String(120), nullable=True),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=True),
        sa.Column("previous_id", sa.Integer(), sa.ForeignKey("supervisions.id"), nullable=True),
    )
    for column in ("case_id", "kind", "target_unit_id", "issued_at", "deadline_at", "status"):
        op.create_index(f"ix_supervisions_{column}", "supervisions", [column])


def downgrade() -> None:
    op.drop_table("supervisions")
