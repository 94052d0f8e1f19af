"""The case queue's index (issue 12): ``cases (status, deadline_at, grid_code)``.

It covers the queue's counts per status (grouped in index order, the scope's grid prefix read
from the index, no table rows) and reads the urgency band of running deadlines in deadline
order, for one status or several.

Revision ID: 0009_case_queue_index
Revises: 0008_console_sessions
Create Date: 2026-12-11 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_case_queue_index"
down_revision: str | None = "0008_console_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_cases_queue"


def upgrade() -> None:
    op.create_index(INDEX, "cases", ["status", "deadline_at", "grid_code"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="cases")
