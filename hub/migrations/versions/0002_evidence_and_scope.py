"""evidence and scope: blob references per grid, pending verifications, rejection counters
per device

Blob visibility follows references (``blob_refs``: one row per blob and grid that references
it, filled here from the stored events and cases); a confirmation waits for its photos
(``pending_verifications``); rejection counters are kept per reason and device
(``rejection_device_counters``) so each area reads only its devices' rows. The old per-reason
counters cannot be attributed to devices: they are carried over with device ``""``
(unattributed, shown to unscoped readers only).

Revision ID: 0002_evidence_and_scope
Revises: 0001_initial
Create Date: 2026-12-01 09:23:07.851858
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import hub.db

revision: str = "0002_evidence_and_scope"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_events = sa.table("events", sa.column("grid_code", sa.String), sa.column("blobs", sa.JSON))
_cases = sa.table(
    "cases",
    sa.column("id", sa.Integer),
    sa.column("grid_code", sa.String),
    sa.column("media", sa.JSON),
)
_transitions = sa.table(
    "case_transitions", sa.column("case_id", sa.Integer), sa.column("evidence", sa.JSON)
)
_refs = sa.table(
    "blob_refs",
    sa.column("sha256", sa.String),
    sa.column("grid_code", sa.String),
    sa.column("first_at", hub.db.UTCDateTime()),
)
_old = sa.table(
    "rejection_counters",
    sa.column("reason", sa.String),
    sa.column("count", sa.Integer),
    sa.column("last_at", hub.db.UTCDateTime()),
    sa.column("last_device_id", sa.String),
    sa.column("last_detail", sa.String),
)
_new = sa.table(
    "rejection_device_counters",
    sa.column("reason", sa.String),
    sa.column("device_id", sa.String),
    sa.column("count", sa.Integer),
    sa.column("last_at", hub.db.UTCDateTime()),
    sa.column("last_detail", sa.String),
)


def _shas(items: Any) -> Iterator[str]:
    for item in items if isinstance(items, list) else []:
        sha = item.get("sha256") if isinstance(item, dict) else None
        if isinstance(sha, str) and len(sha) == 64:
            yield sha


def _backfill_refs() -> None:
    bind = op.get_bind()
    refs: set[tuple[str, str]] = set()
    rows = bind.execute(
        sa.select(_events.c.grid_code, _events.c.blobs).where(_events.c.grid_code.is_not(None))
    )
    for grid, blobs in rows:
        refs.update((sha, grid) for sha in _shas(blobs))
    grids: dict[int, str] = {}
    for case_id, grid, media in bind.execute(
        sa.select(_cases.c.id, _cases.c.grid_code, _cases.c.media).where(
            _cases.c.grid_code.is_not(None)
        )
    ):
        grids[case_id] = grid
        refs.update((sha, grid) for sha in _shas(media))
    for case_id, evidence in bind.execute(
        sa.select(_transitions.c.case_id, _transitions.c.evidence)
    ):
        if case_id in grids and isinstance(evidence, dict):
            refs.update((sha, grids[case_id]) for sha in _shas(evidence.get("media")))
    now = datetime.now(UTC)
    if refs:
        op.bulk_insert(
            _refs, [{"sha256": s, "grid_code": g, "first_at": now} for s, g in sorted(refs)]
        )


def upgrade() -> None:
    op.create_table(
        "blob_refs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("grid_code", sa.String(length=14), nullable=False),
        sa.Column("first_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "grid_code", name=op.f("pk_blob_refs")),
    )
    op.create_table(
        "rejection_device_counters",
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("reason", "device_id", name=op.f("pk_rejection_device_counters")),
    )
    op.create_index(
        op.f("ix_rejection_device_counters_device_id"), "rejection_device_counters", ["device_id"]
    )
    op.create_table(
        "pending_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("taken_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("loc", sa.JSON(), nullable=True),
        sa.Column("blobs", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("created_at", hub.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_pending_verifications_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_pending_verifications_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_verifications")),
        sa.UniqueConstraint("event_id", name=op.f("uq_pending_verifications_event_id")),
    )
    op.create_index(op.f("ix_pending_verifications_case_id"), "pending_verifications", ["case_id"])
    op.create_index(
        op.f("ix_pending_verifications_resolved_at"), "pending_verifications", ["resolved_at"]
    )
    _backfill_refs()
    op.execute(
        _new.insert().from_select(
            ["reason", "device_id", "count", "last_at", "last_detail"],
            sa.select(
                _old.c.reason, sa.literal(""), _old.c.count, _old.c.last_at, _old.c.last_detail
            ),
        )
    )
    op.drop_table("rejection_counters")


def downgrade() -> None:
    op.create_table(
        "rejection_counters",
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_at", hub.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_device_id", sa.String(length=64), nullable=True),
        sa.Column("last_detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("reason", name=op.f("pk_rejection_counters")),
    )
    op.execute(
        _old.insert().from_select(
            ["reason", "count", "last_at"],
            sa.select(
                _new.c.reason, sa.func.sum(_new.c.count), sa.func.max(_new.c.last_at)
            ).group_by(_new.c.reason),
        )
    )
    op.drop_table("pending_verifications")
    op.drop_table("rejection_device_counters")
    op.drop_table("blob_refs")
