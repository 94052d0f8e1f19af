"""Tasks and notices to the field (issue 15, item 5): tasks sent to a grid's handheld with
reference images and the worker's answer; notices broadcast to an area's handhelds.

Revision ID: 0018_field_tasks
Revises: 0017_supervisions
Create Date: 2026-12-02 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0018_field_tasks"
down_revision: str | None = "0017_supervisions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "field_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("task_id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("grid_code", sa.String(14), sa.ForeignKey("grids.code"), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lat_e6", sa.Integer(), nullable=True),
        sa.Column("lon_e6", sa.Integer(), nullable=True),
        sa.Column("deadline_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("images", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.String(120), nullable=True),
        sa.Column("done_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(120), nullable=True),
        sa.Column("seen_images", sa.JSON(), nullable=False),
        sa.Column("answer_text", sa.Text(), nullable=True),
        sa.Column("answer_loc", sa.JSON(), nullable=True),
        sa.Column("answer_media", sa.JSON(), nullable=False),
        sa.UniqueConstraint("task_id"),
    )
    for column in ("case_id", "grid_code", "device_id", "command_id", "status"):
        op.create_index(f"ix_field_tasks_{column}", "field_tasks", [column])
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("area_code", sa.String(14), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("commands", sa.JSON(), nullable=False),
    )
    op.create_index("ix_broadcasts_area_code", "broadcasts", ["area_code"])
    op.create_index("ix_broadcasts_created_at", "broadcasts", ["created_at"])


def downgrade() -> None:
    op.drop_table("broadcasts")
    op.drop_table("field_tasks")
