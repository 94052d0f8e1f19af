"""Console sign-in (issue 12): account passwords (argon2id hashes, failed-attempt lock), each
tied to its token (deleted with it), console sessions (SHA-256 of the cookie's secret, acting
as the account's API token), and one live token per name (the account's key).

Revision ID: 0008_console_sessions
Revises: 0007_ota_fresh_failures
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0008_console_sessions"
down_revision: str | None = "0007_ota_fresh_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


LIVE_NAME_INDEX = "uq_api_tokens_live_name"
LIVE = sa.text("revoked_at IS NULL")


def _refuse_shared_live_names() -> None:
    """A name held by several live tokens cannot get the unique index: say which, touch nothing."""
    rows = op.get_bind().execute(
        sa.text(
            "SELECT name, COUNT(*) FROM api_tokens WHERE revoked_at IS NULL "
            "GROUP BY name HAVING COUNT(*) > 1 ORDER BY name"
        )
    )
    shared = [f"{name!r} ({count} tokens)" for name, count in rows]
    if shared:
        raise RuntimeError(
            "live API tokens share a name: "
            + ", ".join(shared[:5])
            + (f" and {len(shared) - 5} more" if len(shared) > 5 else "")
            + "; a name is an account's key, so revoke all but one of each "
            "(DELETE /api/tokens/{id}) and migrate again"
        )


def upgrade() -> None:
    _refuse_shared_live_names()
    op.create_index(
        LIVE_NAME_INDEX,
        "api_tokens",
        ["name"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_table(
        "account_passwords",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("set_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=160), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_account_passwords_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_account_passwords")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("account", sa.String(length=120), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_console_sessions_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_console_sessions_secret_hash")),
    )
    op.create_index(
        op.f("ix_console_sessions_account"), "console_sessions", ["account"], unique=False
    )
    op.create_index(
        op.f("ix_console_sessions_expires_at"), "console_sessions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_console_sessions_expires_at"), table_name="console_sessions")
    op.drop_index(op.f("ix_console_sessions_account"), table_name="console_sessions")
    op.drop_table("console_sessions")
    op.drop_table("account_passwords")
    op.drop_index(LIVE_NAME_INDEX, table_name="api_tokens")
