"""access: people, credentials, vehicles and schedules per community, list versions and the
change log, the gates' reported list versions, face consents, the access log (alarms are its
``is_alarm`` rows), capture audits, and sensitive-blob marks in the media domain

New tables only: nothing before this revision holds access data, so nothing is backfilled.

Revision ID: 0003_access
Revises: 0002_evidence_and_scope
Create Date: 2026-12-01 11:39:54.482045
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0003_access"
down_revision: str | None = "0002_evidence_and_scope"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_capture_audits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_capture_audits")),
    )
    with op.batch_alter_table("access_capture_audits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_capture_audits_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_capture_audits_sha256"), ["sha256"], unique=False
        )

    op.create_table(
        "access_list_changes",
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("entry_type", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("op", sa.String(length=8), nullable=False),
        sa.Column("at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("community", "version", name=op.f("pk_access_list_changes")),
    )
    op.create_table(
        "sensitive_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("captured_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("marked_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purged_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_sensitive_blobs")),
    )
    with op.batch_alter_table("sensitive_blobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sensitive_blobs_captured_at"), ["captured_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sensitive_blobs_kind"), ["kind"], unique=False)

    op.create_table(
        "access_list_versions",
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("log_floor", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community"], ["areas.code"], name=op.f("fk_access_list_versions_community_areas")
        ),
        sa.PrimaryKeyConstraint("community", name=op.f("pk_access_list_versions")),
    )
    op.create_table(
        "access_schedules",
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("days", sa.JSON(), nullable=False),
        sa.Column("from_hm", sa.String(length=5), nullable=False),
        sa.Column("to_hm", sa.String(length=5), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community"], ["areas.code"], name=op.f("fk_access_schedules_community_areas")
        ),
        sa.PrimaryKeyConstraint("community", "id", name=op.f("pk_access_schedules")),
    )
    op.create_table(
        "access_people",
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.Column("doors", sa.JSON(), nullable=False),
        sa.Column("schedule_id", sa.String(length=64), nullable=True),
        sa.Column("black", sa.Boolean(), nullable=False),
        sa.Column("face_template", sa.String(length=64), nullable=True),
        sa.Column("issued_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community", "schedule_id"],
            ["access_schedules.community", "access_schedules.id"],
            name=op.f("fk_access_people_community_access_schedules"),
        ),
        sa.ForeignKeyConstraint(
            ["community"], ["areas.code"], name=op.f("fk_access_people_community_areas")
        ),
        sa.PrimaryKeyConstraint("community", "id", name=op.f("pk_access_people")),
    )
    with op.batch_alter_table("access_people", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_people_black"), ["black"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_people_kind"), ["kind"], unique=False)

    op.create_table(
        "access_credentials",
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["community", "person_id"],
            ["access_people.community", "access_people.id"],
            name=op.f("fk_access_credentials_community_access_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community", "kind", "value", name=op.f("pk_access_credentials")),
    )
    with op.batch_alter_table("access_credentials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_credentials_person", ["community", "person_id"], unique=False
        )

    op.create_table(
        "access_device_lists",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_access_device_lists_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_access_device_lists")),
    )
    op.create_table(
        "access_face_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("consented_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("withdrawn_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["community", "person_id"],
            ["access_people.community", "access_people.id"],
            name=op.f("fk_access_face_consents_community_access_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_face_consents")),
    )
    with op.batch_alter_table("access_face_consents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_access_face_consents_person", ["community", "person_id"], unique=False
        )

    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("grid_code", sa.String(length=14), nullable=False),
        sa.Column("ev", sa.String(length=24), nullable=False),
        sa.Column("is_alarm", sa.Boolean(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("ms", sa.Integer(), nullable=False),
        sa.Column("captured_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("historical", sa.Boolean(), nullable=False),
        sa.Column("door", sa.String(length=32), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("by", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("credential", sa.String(length=128), nullable=True),
        sa.Column("plate", sa.String(length=16), nullable=True),
        sa.Column("colour", sa.String(length=16), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("template", sa.String(length=64), nullable=True),
        sa.Column("blob_sha256", sa.String(length=64), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_access_log_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
        sa.UniqueConstraint(
            "device_id", "seq", "idx", name=op.f("uq_access_log_device_id_seq_idx")
        ),
    )
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_log_blob_sha256"), ["blob_sha256"], unique=False
        )
        batch_op.create_index(
            "ix_access_log_community_plate_ts", ["community", "plate", "ts"], unique=False
        )
        batch_op.create_index("ix_access_log_community_ts", ["community", "ts"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_ev"), ["ev"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_is_alarm"), ["is_alarm"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_log_person_id"), ["person_id"], unique=False)

    op.create_table(
        "access_vehicles",
        sa.Column("community", sa.String(length=12), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=True),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_to", sa.BigInteger(), nullable=True),
        sa.Column("doors", sa.JSON(), nullable=False),
        sa.Column("black", sa.Boolean(), nullable=False),
        sa.Column("updated_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community", "person_id"],
            ["access_people.community", "access_people.id"],
            name=op.f("fk_access_vehicles_community_access_people"),
        ),
        sa.ForeignKeyConstraint(
            ["community"], ["areas.code"], name=op.f("fk_access_vehicles_community_areas")
        ),
        sa.PrimaryKeyConstraint("community", "plate", name=op.f("pk_access_vehicles")),
    )
    with op.batch_alter_table("access_vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_vehicles_black"), ["black"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("access_vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_vehicles_black"))

    op.drop_table("access_vehicles")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_log_person_id"))
        batch_op.drop_index(batch_op.f("ix_access_log_is_alarm"))
        batch_op.drop_index(batch_op.f("ix_access_log_ev"))
        batch_op.drop_index("ix_access_log_community_ts")
        batch_op.drop_index("ix_access_log_community_plate_ts")
        batch_op.drop_index(batch_op.f("ix_access_log_blob_sha256"))

    op.drop_table("access_log")
    with op.batch_alter_table("access_face_consents", schema=None) as batch_op:
        batch_op.drop_index("ix_access_face_consents_person")

    op.drop_table("access_face_consents")
    op.drop_table("access_device_lists")
    with op.batch_alter_table("access_credentials", schema=None) as batch_op:
        batch_op.drop_index("ix_access_credentials_person")

    op.drop_table("access_credentials")
    with op.batch_alter_table("access_people", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_people_kind"))
        batch_op.drop_index(batch_op.f("ix_access_people_black"))

    op.drop_table("access_people")
    op.drop_table("access_schedules")
    op.drop_table("access_list_versions")
    with op.batch_alter_table("sensitive_blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sensitive_blobs_kind"))
        batch_op.drop_index(batch_op.f("ix_sensitive_blobs_captured_at"))

    op.drop_table("sensitive_blobs")
    op.drop_table("access_list_changes")
    with op.batch_alter_table("access_capture_audits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_capture_audits_sha256"))
        batch_op.drop_index(batch_op.f("ix_access_capture_audits_at"))

    op.drop_table("access_capture_audits")
