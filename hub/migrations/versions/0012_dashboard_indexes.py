"""Dashboard indexes (issue 12): the figures of a month's cases read from one covering index
(reported_at first, then every column the figures count), and the grid workers' verifications
of a month (case_transitions by action and time, with the actor).

Revision ID: 0012_dashboard_indexes
Revises: 0008_console_sessions
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_dashboard_indexes"
down_revision: str | None = "0011_fleet_live"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = [
    "reported_at",
    "grid_code",
    "status",
    "level",
    "unit_id",
    "deadline_at",
    "closed_at",
    "closed_on_time",
    "rework_count",
    "escalation_count",
    "duplicate_of_id",
    "satisfaction",
    "reporter_worker_id",
]


def upgrade() -> None:
    op.create_index("ix_cases_figures", "cases", FIGURES)
    op.create_index(
        "ix_case_transitions_action_at", "case_transitions", ["action", "at", "actor", "case_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_case_transitions_action_at", table_name="case_transitions")
    op.drop_index("ix_cases_figures", table_name="cases")
