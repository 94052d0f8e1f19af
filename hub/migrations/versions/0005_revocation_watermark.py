"""revocation watermark, key rotation, broker account state (issue 10): ``devices`` gains
``announced_seq`` (the highest seq the device has shown the hub), ``revoked_seq`` /
``revoked_head`` (the watermark fixed at revocation), ``broker_disabled_at``, and
``previous_public_key`` / ``previous_key_until`` (the key a rotation replaced, accepted for an
overlap). Devices revoked before this revision get the watermark of what the hub holds
(``max_seq`` and ``chain_head``): under the old timestamp rule nothing more is known.

Revision ID: 0005_revocation_watermark
Revises: 0004_gate_alarm_cases
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0005_revocation_watermark"
down_revision: str | None = "0004_gate_alarm_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_devices = sa.table(
    "devices",
    sa.column("status", sa.String),
    sa.column("max_seq", sa.BigInteger),
    sa.column("chain_head", sa.String),
    sa.column("announced_seq", sa.BigInteger),
    sa.column("revoked_seq", sa.BigInteger),
    sa.column("revoked_head", sa.String),
)


# Plain ADD / DROP COLUMN (SQLite 3.35+ and PostgreSQL both have them): a batch operation
# would rebuild ``devices`` on SQLite, which the foreign keys of events, commands... forbid.
def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("announced_seq", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("revoked_seq", sa.BigInteger(), nullable=True),
        sa.Column("revoked_head", sa.String(length=64), nullable=True),
        sa.Column("broker_disabled_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("previous_public_key", sa.String(length=64), nullable=True),
        sa.Column("previous_key_until", hub.db.UTCDateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    for column in _columns():
        op.add_column("devices", column)
    op.execute(
        _devices.update().values(announced_seq=_devices.c.max_seq).where(_devices.c.max_seq > 0)
    )
    op.execute(
        _devices.update()
        .values(revoked_seq=_devices.c.max_seq, revoked_head=_devices.c.chain_head)
        .where(_devices.c.status == "revoked")
    )


def downgrade() -> None:
    for column in reversed(_columns()):
        op.drop_column("devices", column.name)
