"""gate alarm cases: a case opened for a gate alarm names its access-log row
(``cases.access_event_id``), and the four alarm categories exist (forced door, blacklist hit,
duress, help request; 1 hour deadline, operators may change it). Categories already present
(an operator made one of these codes) are left as they are.

Revision ID: 0004_gate_alarm_cases
Revises: 0003_access
Create Date: 2026-12-01 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_gate_alarm_cases"
down_revision: str | None = "0003_access"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CATEGORIES = [
    ("access_door_forced", "门被强行打开 Door forced open", 1),
    ("access_blacklist_hit", "黑名单告警 Blacklist hit at a gate", 1),
    ("access_duress", "胁迫告警 Duress PIN at a gate", 1),
    ("access_help", "门口求助 Help request at a gate", 1),
]
_categories = sa.table(
    "categories",
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("deadline_hours", sa.Integer),
    sa.column("active", sa.Boolean),
)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("access_event_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_cases_access_event_id_access_log"), "access_log", ["access_event_id"], ["id"]
        )
        batch.create_unique_constraint(op.f("uq_cases_access_event_id"), ["access_event_id"])
    bind = op.get_bind()
    have = set(bind.scalars(sa.select(_categories.c.code)))
    rows = [
        {"code": code, "name": name, "deadline_hours": hours, "active": True}
        for code, name, hours in CATEGORIES
        if code not in have
    ]
    if rows:
        op.bulk_insert(_categories, rows)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint(op.f("uq_cases_access_event_id"), type_="unique")
        batch.drop_constraint(op.f("fk_cases_access_event_id_access_log"), type_="foreignkey")
        batch.drop_column("access_event_id")
