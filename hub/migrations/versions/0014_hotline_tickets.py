"""Hotline work orders (issue 15, one-network intake): caller, channel, the hotline system's
ticket id (unique: imports are idempotent on it) and the callback before closing.

Revision ID: 0014_hotline_tickets
Revises: 0013_device_max_seq
Create Date: 2026-12-02 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0014_hotline_tickets"
down_revision: str | None = "0013_device_max_seq"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hotline_tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("caller_name", sa.String(64), nullable=True),
        sa.Column("caller_phone", sa.String(32), nullable=True),
        sa.Column("callback_required", sa.Boolean(), nullable=False),
        sa.Column("received_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("imported_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("callback_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("callback_by", sa.String(128), nullable=True),
        sa.Column("callback_outcome", sa.String(16), nullable=True),
        sa.Column("callback_note", sa.Text(), nullable=True),
        sa.UniqueConstraint("ticket_id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_index("ix_hotline_tickets_caller_phone", "hotline_tickets", ["caller_phone"])


def downgrade() -> None:
    op.drop_index("ix_hotline_tickets_caller_phone", "hotline_tickets")
    op.drop_table("hotline_tickets")
