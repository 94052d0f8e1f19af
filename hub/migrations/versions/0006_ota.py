"""firmware over the air (issue 11): bundles, their files, rollouts and their devices;
``devices.hardware`` (the ``hw`` a birth reports).

Revision ID: 0006_ota
Revises: 0005_revocation_watermark
Create Date: 2026-12-01 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0006_ota"
down_revision: str | None = "0005_revocation_watermark"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN: a batch operation would rebuild ``devices`` (see 0005)
    op.add_column("devices", sa.Column("hardware", sa.String(length=64), nullable=True))
    op.create_table(
        "ota_bundles",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("hw", sa.JSON(), nullable=False),
        sa.Column("min_hub", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("uploaded_by", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ota_bundles")),
    )
    op.create_index(op.f("ix_ota_bundles_version"), "ota_bundles", ["version"])
    op.create_table(
        "ota_bundle_files",
        sa.Column("bundle_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_id"],
            ["ota_bundles.id"],
            name=op.f("fk_ota_bundle_files_bundle_id_ota_bundles"),
        ),
        sa.PrimaryKeyConstraint("bundle_id", "path", name=op.f("pk_ota_bundle_files")),
    )
    op.create_index(op.f("ix_ota_bundle_files_sha256"), "ota_bundle_files", ["sha256"])
    op.create_table(
        "ota_rollouts",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("bundle_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("auto_advance", sa.Boolean(), nullable=False),
        sa.Column("advance_success_percent", sa.Integer(), nullable=False),
        sa.Column("pause_failure_percent", sa.Integer(), nullable=False),
        sa.Column("pause_min_done", sa.Integer(), nullable=False),
        sa.Column("device_timeout_s", sa.Integer(), nullable=False),
        sa.Column("paused_reason", sa.String(length=200), nullable=True),
        sa.Column("failures_at_resume", sa.Integer(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bundle_id"], ["ota_bundles.id"], name=op.f("fk_ota_rollouts_bundle_id_ota_bundles")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ota_rollouts")),
    )
    op.create_index(op.f("ix_ota_rollouts_bundle_id"), "ota_rollouts", ["bundle_id"])
    op.create_index(op.f("ix_ota_rollouts_state"), "ota_rollouts", ["state"])
    op.create_table(
        "ota_rollout_devices",
        sa.Column("rollout_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=120), nullable=True),
        sa.Column("done", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("command_id", sa.String(length=40), nullable=True),
        sa.Column("queued_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_ota_rollout_devices_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["ota_rollouts.id"],
            name=op.f("fk_ota_rollout_devices_rollout_id_ota_rollouts"),
        ),
        sa.PrimaryKeyConstraint("rollout_id", "device_id", name=op.f("pk_ota_rollout_devices")),
    )
    op.create_index(op.f("ix_ota_rollout_devices_device_id"), "ota_rollout_devices", ["device_id"])
    op.create_index(op.f("ix_ota_rollout_devices_state"), "ota_rollout_devices", ["state"])


def downgrade() -> None:
    op.drop_table("ota_rollout_devices")
    op.drop_table("ota_rollouts")
    op.drop_table("ota_bundle_files")
    op.drop_table("ota_bundles")
    op.drop_column("devices", "hardware")
