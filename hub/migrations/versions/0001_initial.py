"""initial

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23 11:50:56.797789
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# At most one active handheld per grid (one grid, one device).
ACTIVE_HANDHELD = "kind = 'handheld' AND status = 'active' AND grid_code IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "areas",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["areas.code"], name=op.f("fk_areas_parent_code_areas")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_areas")),
    )
    op.create_index(op.f("ix_areas_level"), "areas", ["level"])
    op.create_index(op.f("ix_areas_parent_code"), "areas", ["parent_code"])
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("total_chunks", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chunks", sa.LargeBinary(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("grid_code", sa.String(length=14), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_index(op.f("ix_blobs_device_id"), "blobs", ["device_id"])
    op.create_index(op.f("ix_blobs_grid_code"), "blobs", ["grid_code"])
    op.create_index(op.f("ix_blobs_status"), "blobs", ["status"])
    op.create_table(
        "categories",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("deadline_hours", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_categories")),
    )
    op.create_table(
        "rejection_counters",
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_device_id", sa.String(length=64), nullable=True),
        sa.Column("last_detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("reason", name=op.f("pk_rejection_counters")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_table(
        "grids",
        sa.Column("code", sa.String(length=14), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("community_code", sa.String(length=12), nullable=False),
        sa.Column("lat_e6", sa.Integer(), nullable=True),
        sa.Column("lon_e6", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_code"], ["areas.code"], name=op.f("fk_grids_community_code_areas")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_grids")),
    )
    op.create_index(op.f("ix_grids_community_code"), "grids", ["community_code"])
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_code"], ["areas.code"], name=op.f("fk_units_area_code_areas")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
    )
    op.create_index(op.f("ix_units_area_code"), "units", ["area_code"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("scope_code", sa.String(length=12), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["scope_code"], ["areas.code"], name=op.f("fk_api_tokens_scope_code_areas")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_api_tokens_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("grid_code", sa.String(length=14), nullable=True),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("lat_e6", sa.Integer(), nullable=True),
        sa.Column("lon_e6", sa.Integer(), nullable=True),
        sa.Column("acc_m", sa.Integer(), nullable=True),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.Column("reporter_worker_id", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("event_seq", sa.Integer(), nullable=True),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.Column("reported_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline_start_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deadline_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("warned_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("handled_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_on_time", sa.Boolean(), nullable=True),
        sa.Column("void_reason", sa.String(length=32), nullable=True),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("park_review_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("supervised", sa.Boolean(), nullable=False),
        sa.Column("supervision_level", sa.String(length=32), nullable=True),
        sa.Column("escalation_count", sa.Integer(), nullable=False),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("verify_task_id", sa.String(length=64), nullable=True),
        sa.Column("verify_device_id", sa.String(length=64), nullable=True),
        sa.Column("verify_requested_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_code"], ["categories.code"], name=op.f("fk_cases_category_code_categories")
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"], ["cases.id"], name=op.f("fk_cases_duplicate_of_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["grid_code"], ["grids.code"], name=op.f("fk_cases_grid_code_grids")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_cases_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("device_id", "event_seq", name=op.f("uq_cases_device_id_event_seq")),
    )
    op.create_index(op.f("ix_cases_category_code"), "cases", ["category_code"])
    op.create_index(op.f("ix_cases_deadline_at"), "cases", ["deadline_at"])
    op.create_index(op.f("ix_cases_duplicate_of_id"), "cases", ["duplicate_of_id"])
    op.create_index(op.f("ix_cases_grid_code"), "cases", ["grid_code"])
    op.create_index(op.f("ix_cases_level"), "cases", ["level"])
    op.create_index(op.f("ix_cases_reported_at"), "cases", ["reported_at"])
    op.create_index(op.f("ix_cases_reporter_worker_id"), "cases", ["reporter_worker_id"])
    op.create_index(op.f("ix_cases_status"), "cases", ["status"])
    op.create_index(op.f("ix_cases_unit_id"), "cases", ["unit_id"])
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revoked_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=200), nullable=True),
        sa.Column("grid_code", sa.String(length=14), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("firmware", sa.String(length=64), nullable=True),
        sa.Column("registered_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("session", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("chain_head", sa.String(length=64), nullable=False),
        sa.Column("max_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_code"], ["grids.code"], name=op.f("fk_devices_grid_code_grids")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
    )
    op.create_index(op.f("ix_devices_grid_code"), "devices", ["grid_code"])
    op.create_index(op.f("ix_devices_kind"), "devices", ["kind"])
    op.create_index(op.f("ix_devices_status"), "devices", ["status"])
    op.create_index(
        "uq_devices_active_handheld_grid",
        "devices",
        ["grid_code"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_HANDHELD),
        postgresql_where=sa.text(ACTIVE_HANDHELD),
    )
    op.create_table(
        "unit_responsibilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(length=12), nullable=False),
        sa.Column("category_code", sa.String(length=64), nullable=True),
        sa.Column("lead", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_code"], ["areas.code"], name=op.f("fk_unit_responsibilities_area_code_areas")
        ),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["categories.code"],
            name=op.f("fk_unit_responsibilities_category_code_categories"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_unit_responsibilities_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_responsibilities")),
        sa.UniqueConstraint(
            "area_code",
            "category_code",
            "unit_id",
            name=op.f("uq_unit_responsibilities_area_code_category_code_unit_id"),
        ),
    )
    op.create_index(
        op.f("ix_unit_responsibilities_area_code"),
        "unit_responsibilities",
        ["area_code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_unit_responsibilities_category_code"),
        "unit_responsibilities",
        ["category_code"],
        unique=False,
    )
    op.create_index(op.f("ix_unit_responsibilities_unit_id"), "unit_responsibilities", ["unit_id"])
    op.create_table(
        "worker_grids",
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("grid_code", sa.String(length=14), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_code"],
            ["grids.code"],
            name=op.f("fk_worker_grids_grid_code_grids"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"],
            ["workers.id"],
            name=op.f("fk_worker_grids_worker_id_workers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("worker_id", "grid_code", name=op.f("pk_worker_grids")),
    )
    op.create_table(
        "case_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_transitions_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_case_transitions_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_transitions")),
    )
    op.create_index(op.f("ix_case_transitions_action"), "case_transitions", ["action"])
    op.create_index(op.f("ix_case_transitions_at"), "case_transitions", ["at"])
    op.create_index(op.f("ix_case_transitions_case_id"), "case_transitions", ["case_id"])
    op.create_index(op.f("ix_case_transitions_unit_id"), "case_transitions", ["unit_id"])
    op.create_table(
        "chain_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_seq", sa.BigInteger(), nullable=False),
        sa.Column("to_seq", sa.BigInteger(), nullable=False),
        sa.Column("detected_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_chain_gaps_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_gaps")),
        sa.UniqueConstraint(
            "device_id", "kind", "from_seq", name=op.f("uq_chain_gaps_device_id_kind_from_seq")
        ),
    )
    op.create_index(op.f("ix_chain_gaps_device_id"), "chain_gaps", ["device_id"])
    op.create_table(
        "commands",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("cseq", sa.BigInteger(), nullable=False),
        sa.Column("op", sa.String(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("lifetime_s", sa.Integer(), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acked_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("ack", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_commands_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
        sa.UniqueConstraint("device_id", "cseq", name=op.f("uq_commands_device_id_cseq")),
    )
    op.create_index(op.f("ix_commands_device_id"), "commands", ["device_id"])
    op.create_index(op.f("ix_commands_expires_at"), "commands", ["expires_at"])
    op.create_index(op.f("ix_commands_status"), "commands", ["status"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("captured_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.Column("grid_code", sa.String(length=14), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("blobs", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prev", sa.String(length=64), nullable=False),
        sa.Column("chain", sa.String(length=16), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_events_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("device_id", "seq", name=op.f("uq_events_device_id_seq")),
    )
    op.create_index(op.f("ix_events_device_id"), "events", ["device_id"])
    op.create_index(op.f("ix_events_grid_code"), "events", ["grid_code"])
    op.create_index(op.f("ix_events_kind"), "events", ["kind"])
    op.create_index(op.f("ix_events_received_at"), "events", ["received_at"])
    op.create_index(op.f("ix_events_ts"), "events", ["ts"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    tables = (
        "events commands chain_gaps case_transitions worker_grids unit_responsibilities devices "
        "cases api_tokens units grids workers rejection_counters categories blobs areas"
    )
    for table in tables.split():
        op.drop_table(table)
