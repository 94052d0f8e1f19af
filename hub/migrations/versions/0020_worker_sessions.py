"""Workers on the hub (issue 16, items 1-2): PIN records, sign-in sessions, the check of each
event that names a worker, wrong PINs counted, the worker list each handheld holds.

Revision ID: 0020_worker_sessions
Revises: 0019_grid_boundaries
Create Date: 2026-12-04 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0020_worker_sessions"
down_revision: str | None = "0019_grid_boundaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "worker_pins",
        sa.Column(
            "worker_id",
            sa.String(64),
            sa.ForeignKey("workers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("salt_hex", sa.String(64), nullable=False),
        sa.Column("iterations", sa.Integer(), nullable=False),
        sa.Column("hash_hex", sa.String(64), nullable=False),
        sa.Column("set_at", UTCDateTime(), nullable=False),
        sa.Column("set_by", sa.String(120), nullable=False),
    )
    op.create_table(
        "worker_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("worker_id", sa.String(64), nullable=False),
        sa.Column("grid_code", sa.String(14), nullable=True),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("start_seq", sa.BigInteger(), nullable=False),
        sa.Column("started_ts", sa.BigInteger(), nullable=False),
        sa.Column("end_seq", sa.BigInteger(), nullable=True),
        sa.Column("ended_ts", sa.BigInteger(), nullable=True),
        sa.Column("end_reason", sa.String(16), nullable=True),
    )
    op.create_index(
        "ix_worker_sessions_device_start", "worker_sessions", ["device_id", "start_seq"]
    )
    op.create_index(
        "ix_worker_sessions_worker_start", "worker_sessions", ["worker_id", "started_ts"]
    )
    op.create_table(
        "worker_checks",
        sa.Column(
            "event_id",
            sa.Integer(),
            sa.ForeignKey("events.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("worker_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index(
        "ix_worker_checks_device_seq", "worker_checks", ["device_id", "seq"], unique=True
    )
    op.create_index("ix_worker_checks_status", "worker_checks", ["status"])
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("device_id", sa.String(64), sa.ForeignKey("devices.id"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("fails", sa.Integer(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_signin_failures_device_seq", "signin_failures", ["device_id", "seq"], unique=True
    )
    op.create_index("ix_signin_failures_worker_id", "signin_failures", ["worker_id"])
    op.create_table(
        "device_worker_lists",
        sa.Column(
            "device_id",
            sa.String(64),
            sa.ForeignKey("devices.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("reported_at", UTCDateTime(), nullable=False),
        sa.Column("refused", sa.String(64), nullable=True),
    )

    _backfill()


def _backfill() -> None:
    """Sessions and checks for the sign events stored before this revision, so online time of
    past months is not lost (the same rebuild the ingest runs for each sign event). Written
    against the workers models as they are at this revision."""
    from sqlalchemy.orm import Session

    from hub.workers import sessions

    bind = op.get_bind()
    devices = bind.execute(
        sa.text("SELECT DISTINCT device_id FROM events WHERE kind IN ('signin', 'signout')")
    ).scalars()
    with Session(bind=bind) as db_session:
        for device_id in list(devices):
            sessions.rebuild(db_session=db_session, device_id=device_id, from_seq=0)
        db_session.flush()


def downgrade() -> None:
    op.drop_table("device_worker_lists")
    op.drop_index("ix_signin_failures_worker_id", "signin_failures")
    op.drop_index("ix_signin_failures_device_seq", "signin_failures")
    op.drop_table("signin_failures")
    op.drop_index("ix_worker_checks_status", "worker_checks")
    op.drop_index("ix_worker_checks_device_seq", "worker_checks")
    op.drop_table("worker_checks")
    op.drop_index("ix_worker_sessions_worker_start", "worker_sessions")
    op.drop_index("ix_worker_sessions_device_start", "worker_sessions")
    op.drop_table("worker_sessions")
    op.drop_table("worker_pins")
