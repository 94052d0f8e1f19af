"""Every device's ``max_seq`` at least its highest stored seq (issue 13).

The ingest's batch path (hub.ingest.batch) looks a candidate's digest up only when its seq is at
or below the device's ``max_seq``, so ``max_seq`` must never be below a stored seq. The ingest now
raises it in the same transaction as every insert; before, the chain advance raised it in a
transaction of its own, and a crash between the two left it behind. This repairs such rows once.
Downgrade: nothing to undo (the column and its meaning are unchanged).

Revision ID: 0013_device_max_seq
Revises: 0012_dashboard_indexes
Create Date: 2026-12-02 05:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_device_max_seq"
down_revision: str | None = "0012_dashboard_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE devices SET max_seq = (SELECT max(seq) FROM events WHERE events.device_id = "
        "devices.id) WHERE max_seq < (SELECT coalesce(max(seq), 0) FROM events "
        "WHERE events.device_id = devices.id)"
    )


def downgrade() -> None:
    pass
