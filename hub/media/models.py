"""Blob metadata: one row per content hash; the bytes live in the ``BlobStore``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base, UTCDateTime


class BlobStatus(StrEnum):
    partial = "partial"
    complete = "complete"


class Blob(Base):
    """A media blob announced in a signed envelope. ``chunks`` is the bitmap of held chunks."""

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    mime: Mapped[str] = mapped_column(String(100))
    chunk_size: Mapped[int] = mapped_column(Integer)
    total_chunks: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=BlobStatus.partial, index=True)
    chunks: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    device_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    grid_code: Mapped[str | None] = mapped_column(String(14), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class BlobReference(Base):
    """A grid in which an event or a case references a blob: what makes it visible there.

    One row per (blob, grid) however many events or cases of that grid cite it; the bytes stay
    one stored blob whatever the number of grids. A scoped principal sees a blob when a row of
    a grid inside its area exists (the primary key's prefix answers that with one index probe).
    """

    __tablename__ = "blob_refs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    grid_code: Mapped[str] = mapped_column(String(14), primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SensitiveKind(StrEnum):
    face = "face"  # a face capture of a gate (kept face_capture_retention_days)
    plate = "plate"  # a plate capture of a vehicle barrier


class SensitiveBlob(Base):
    """A blob holding personal data (a gate's face or plate capture): the generic media API
    refuses it; the access API serves it with a stated reason and an audit row.

    Marked when the envelope citing it is recorded, whether or not its chunks have arrived.
    ``purged_at`` is set when retention deleted the bytes and the ``blobs`` row; the mark stays,
    so a late chunk or a re-announcement never brings the capture back unmarked.
    """

    __tablename__ = "sensitive_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
