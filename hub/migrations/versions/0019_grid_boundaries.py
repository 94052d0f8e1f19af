"""Grid boundaries (issue 15, item 7): versioned GeoJSON polygons per grid, each change a
proposal in force only once approved; the grid names the version in force.

Revision ID: 0019_grid_boundaries
Revises: 0018_field_tasks
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hub.db import UTCDateTime

revision: str = "0019_grid_boundaries"
down_revision: str | None = "0018_field_tasks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "grid_boundaries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("grid_code", sa.String(14), sa.ForeignKey("grids.code"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("min_lat_e6", sa.Integer(), nullable=False),
        sa.Column("max_lat_e6", sa.Integer(), nullable=False),
        sa.Column("min_lon_e6", sa.Integer(), nullable=False),
        sa.Column("max_lon_e6", sa.Integer(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("proposed_by", sa.String(128), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.UniqueConstraint("grid_code", "version"),
    )
    op.create_index("ix_grid_boundaries_grid_code", "grid_boundaries", ["grid_code"])
    op.create_index("ix_grid_boundaries_status", "grid_boundaries", ["status"])
    op.create_index(
        "ix_grid_boundaries_box", "grid_boundaries", ["status", "min_lat_e6", "max_lat_e6"]
    )
    for name, status in (("in_force", "approved"), ("proposed", "proposed")):
        op.create_index(
            f"uq_grid_boundaries_{name}",
            "grid_boundaries",
            ["grid_code"],
            unique=True,
            sqlite_where=sa.text(f"status = '{status}'"),
            postgresql_where=sa.text(f"status = '{status}'"),
        )
    op.add_column("grids", sa.Column("boundary_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_index("uq_grid_boundaries_proposed", "grid_boundaries")
    op.drop_index("uq_grid_boundaries_in_force", "grid_boundaries")
    op.drop_index("ix_grid_boundaries_box", "grid_boundaries")
    op.drop_index("ix_grid_boundaries_status", "grid_boundaries")
    op.drop_index("ix_grid_boundaries_grid_code", "grid_boundaries")
    op.drop_table("grid_boundaries")
    op.drop_column("grids", "boundary_version")  # as 0015 drops cases.one_key
