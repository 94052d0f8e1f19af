"""Base data and personal data protection (issue 16, items 3 and 4): residents, houses,
organisations and visits collected door to door, the refused collections, data-grade grants
and the access audit.

Revision ID: 0023_base_data
Revises: 0022_assessment
Create Date: 2026-12-04 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0023_base_data"
down_revision: str | None = "0022_assessment"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UTCDateTime(timezone=True), nullable=nullable)


def _collected() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("collected_by", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        _when("created_at"),
        _when("confirmed_at"),
        sa.Column("revision", sa.Integer(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "bd_houses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("house_code", sa.String(40), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("grid_code", sa.String(14), sa.ForeignKey("grids.code"), nullable=False),
        sa.Column("use", sa.String(16), nullable=False),
        sa.Column("ownership", sa.String(16), nullable=True),
        sa.Column("floors", sa.Integer(), nullable=True),
        sa.Column("area_m2", sa.Integer(), nullable=True),
        *_collected(),
        sa.UniqueConstraint("house_code"),
    )
    op.create_index("ix_bd_houses_grid_code", "bd_houses", ["grid_code"])
    op.create_index("ix_bd_houses_confirmed_at", "bd_houses", ["confirmed_at"])
    house_fk = sa.ForeignKey("bd_houses.house_code", ondelete="SET NULL")
    op.create_table(
        "bd_residents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("gender", sa.String(1), nullable=False),
        sa.Column("ethnicity", sa.String(2), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("relation", sa.String(2), nullable=True),
        sa.Column("population_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("house_code", sa.String(40), house_fk, nullable=True),
        sa.Column("grid_code", sa.String(14), sa.ForeignKey("grids.code"), nullable=False),
        *_collected(),
        sa.UniqueConstraint("id_number"),
    )
    for column in ("house_code", "grid_code", "confirmed_at"):
        op.create_index(f"ix_bd_residents_{column}", "bd_residents", [column])
    op.create_table(
        "bd_organisations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("credit_code", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("grid_code", sa.String(14), sa.ForeignKey("grids.code"), nullable=False),
        sa.Column(
            "house_code",
            sa.String(40),
            sa.ForeignKey("bd_houses.house_code", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("contact_name", sa.String(60), nullable=True),
        sa.Column("contact_phone", sa.String(20), nullable=True),
        *_collected(),
        sa.UniqueConstraint("credit_code"),
    )
    op.create_index("ix_bd_organisations_grid_code", "bd_organisations", ["grid_code"])
    op.create_index("ix_bd_organisations_confirmed_at", "bd_organisations", ["confirmed_at"])
    op.create_table(
        "bd_visits",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(64), nullable=False),
        sa.Column("grid_code", sa.String(14), sa.ForeignKey("grids.code"), nullable=False),
        sa.Column("place_kind", sa.String(16), nullable=False),
        sa.Column("place_ref", sa.String(200), nullable=False),
        sa.Column(
            "house_code",
            sa.String(40),
            sa.ForeignKey("bd_houses.house_code", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("purpose", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(100), nullable=False),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("lat_e6", sa.Integer(), nullable=True),
        sa.Column("lon_e6", sa.Integer(), nullable=True),
        _when("visited_at"),
        _when("received_at"),
        sa.UniqueConstraint("event_id"),
    )
    for column in ("worker", "grid_code", "house_code", "visited_at"):
        op.create_index(f"ix_bd_visits_{column}", "bd_visits", [column])
    op.create_table(
        "bd_refusals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("form", sa.String(32), nullable=True),
        sa.Column("worker", sa.String(64), nullable=True),
        sa.Column("grid_code", sa.String(14), nullable=True),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        _when("at"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index("ix_bd_refusals_grid_code", "bd_refusals", ["grid_code"])
    op.create_index("ix_bd_refusals_at", "bd_refusals", ["at"])
    op.create_table(
        "data_grants",
        sa.Column(
            "token_id",
            sa.Integer(),
            sa.ForeignKey("api_tokens.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("identity", sa.Boolean(), nullable=False),
        sa.Column("auditor", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        _when("granted_at"),
        _when("expires_at", nullable=True),
    )
    op.create_table(
        "data_access_audits",
        sa.Column("id", sa.Integer(), primary_key=True),
        _when("at"),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("scope_code", sa.String(14), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record_ids", sa.JSON(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("withheld", sa.JSON(), nullable=False),
        sa.Column("purpose", sa.String(500), nullable=True),
        sa.Column("query", sa.JSON(), nullable=False),
    )
    for column in ("at", "actor", "action", "kind"):
        op.create_index(f"ix_data_access_audits_{column}", "data_access_audits", [column])


def downgrade() -> None:
    for table in ("data_access_audits", "data_grants", "bd_refusals", "bd_visits",
                  "bd_organisations", "bd_residents", "bd_houses"):  # fmt: skip
        op.drop_table(table)
