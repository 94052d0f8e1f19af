"""OTA (issue 11 review): a rollout pauses on failures since its last resume, counted per
device (``ota_rollout_devices.fresh_failure``) instead of a count taken at the resume
(``ota_rollouts.failures_at_resume``), which a pre-resume failure turning into a late success
threw off.

Revision ID: 0007_ota_fresh_failures
Revises: 0006_ota
Create Date: 2026-12-01 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_ota_fresh_failures"
down_revision: str | None = "0006_ota"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "ota_rollout_devices",
        sa.Column("fresh_failure", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # the failures of a rollout never resumed are all fresh; of one resumed, the old count
    # cannot say which came after the resume, so none is (its next failure counts)
    op.execute(
        "UPDATE ota_rollout_devices SET fresh_failure = (state IN ('failed', 'rolled_back')) "
        "AND rollout_id IN (SELECT id FROM ota_rollouts WHERE failures_at_resume = 0)"
    )
    with op.batch_alter_table("ota_rollouts") as batch:
        batch.drop_column("failures_at_resume")


def downgrade() -> None:
    with op.batch_alter_table("ota_rollouts") as batch:
        batch.add_column(
            sa.Column("failures_at_resume", sa.Integer(), nullable=False, server_default="0")
        )
    op.drop_column("ota_rollout_devices", "fresh_failure")
