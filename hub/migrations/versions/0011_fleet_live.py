"""Fleet and live updates (issue 12): each device's newest heartbeat figures (battery, outbox
backlog, free flash, when) and the log of its online / offline changes (``device_presence``,
the live feed's ``device`` events).

Revision ID: 0011_fleet_live
Revises: 0008_console_sessions
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0011_fleet_live"
down_revision: str | None = "0009_case_queue_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD / DROP COLUMN (SQLite 3.35+): a batch operation would rebuild ``devices``,
    # which other tables reference (see 0005, 0006)
    op.add_column("devices", sa.Column("battery", sa.SmallInteger(), nullable=True))
    op.add_column("devices", sa.Column("outbox", sa.Integer(), nullable=True))
    op.add_column("devices", sa.Column("storage_free", sa.BigInteger(), nullable=True))
    op.add_column("devices", sa.Column("heartbeat_at", hub.db.UTCDateTime(), nullable=True))
    op.create_table(
        "device_presence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("grid_code", sa.String(length=14), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_presence_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_presence")),
    )
    op.create_index(op.f("ix_device_presence_at"), "device_presence", ["at"])
    op.create_index(op.f("ix_device_presence_device_id"), "device_presence", ["device_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_device_presence_device_id"), table_name="device_presence")
    op.drop_index(op.f("ix_device_presence_at"), table_name="device_presence")
    op.drop_table("device_presence")
    for column in ("heartbeat_at", "storage_free", "outbox", "battery"):
        op.drop_column("devices", column)
