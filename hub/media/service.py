"""Blobs: announce (from a signed envelope), store chunks, report what is missing.

Chunk bytes go straight into the store's partial file at their offset; only the bitmap of held
chunks lives in the database, so reassembly resumes after a hub restart and never needs the
whole blob in RAM. Several workers may receive chunks of one blob: each writes its chunks into
the shared partial file and ORs its bitmap into the row under a write lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.media.models import Blob, BlobReference, BlobStatus, SensitiveBlob, SensitiveKind
from hub.media.store import BlobStore
from protocol import chunking
from protocol.errors import BlobError, MalformedError
from protocol.limits import CHUNK_SIZE

if TYPE_CHECKING:
    from protocol.envelope import BlobRef

logger = logging.getLogger(__name__)

MAX_MISSING_IN_RECEIPT = 256


@dataclass
class ChunkBatchResult:
    """What one ``store_chunks`` call did, for counters and receipts."""

    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (reason, detail)
    completed: bool = False


def _bitmap_len(total: int) -> int:
    return (total + 7) // 8


def announce_blob(
    *,
    db_session: Session,
    ref: BlobRef,
    device_id: str | None,
    grid_code: str | None,
    at: datetime,
    store: BlobStore,
) -> Blob:
    """Create the Blob row for a ``blobs`` item of a verified envelope (idempotent) and
    record that the device's grid references it (what makes it visible there)."""
    sha = ref["sha256"]
    add_refs(db_session=db_session, shas=[sha], grid_code=grid_code, at=at)
    size = ref["size"]
    total = chunking.chunk_count(size, CHUNK_SIZE)
    blob = db_session.get(Blob, sha)
    if blob is not None:
        if blob.size != size and blob.status != BlobStatus.complete:
            # Two signed envelopes disagree on the size of one hash, so one of them lies; a
            # wrong first size would block the blob forever. Restart it with the newer size:
            # the SHA-256 check on completion decides which was true.
            logger.warning(
                "blob %s re-announced by %s with size %d (was %d): restarting it",
                sha,
                device_id,
                size,
                blob.size,
            )
            blob.size, blob.total_chunks = size, total
            blob.chunks = bytes(_bitmap_len(total))
            blob.updated_at = at
        return blob
    complete = size == 0 or store.exists(sha)
    blob = Blob(
        sha256=sha,
        size=size,
        mime=str(ref["mime"]),
        chunk_size=CHUNK_SIZE,
        total_chunks=total,
        status=BlobStatus.complete.value if complete else BlobStatus.partial.value,
        chunks=(b"\xff" * _bitmap_len(total)) if complete else bytes(_bitmap_len(total)),
        device_id=device_id,
        grid_code=grid_code,
        created_at=at,
        updated_at=at,
        completed_at=at if complete else None,
    )
    if size == 0 and not store.exists(sha):
        store.open_partial(sha, 0).close()
        store.commit(sha)
    db_session.add(blob)
    return blob


def missing_chunks(blob: Blob, limit: int = MAX_MISSING_IN_RECEIPT) -> list[int]:
    if blob.status == BlobStatus.complete:
        return []
    out: list[int] = []
    have = blob.chunks
    for i in range(blob.total_chunks):
        if not have[i >> 3] & (1 << (i & 7)):
            out.append(i)
            if len(out) >= limit:
                break
    return out


def store_chunks(
    *,
    db_session: Session,
    store: BlobStore,
    sha256: str,
    chunks: Sequence[tuple[int, int, bytes | memoryview]],
    at: datetime,
) -> ChunkBatchResult:
    """Write ``(index, total, payload)`` chunks of one announced blob; finish it when complete.

    The file is written and flushed before the bitmap commit, so a crash can lose chunks
    (they are listed missing again) but never claim chunks it does not have. Caller commits.
    """
    result = ChunkBatchResult()
    blob = db_session.get(Blob, sha256)
    if blob is None:
        result.rejected.extend(("bad_blob", "chunk of an unannounced blob") for _ in chunks)
        return result
    if blob.status == BlobStatus.complete:
        result.duplicates += len(chunks)
        return result
    with store.open_partial(sha256, blob.size) as sink:
        reassembly = chunking.Reassembly(
            sha256, blob.size, sink, chunk_size=blob.chunk_size, have=blob.chunks
        )
        for index, total, payload in chunks:
            if total != blob.total_chunks:
                result.rejected.append(("bad_blob", f"total {total} != {blob.total_chunks}"))
                continue
            try:
                if reassembly.add(index, payload):
                    result.stored += 1
                else:
                    result.duplicates += 1  # already held: a redelivery
            except MalformedError as exc:
                result.rejected.append(("bad_blob", exc.message))
        sink.flush()
    written = reassembly.have_bytes()
    # Take the write lock first (UPDATE), then merge our bitmap into the newest row state.
    db_session.execute(update(Blob).where(Blob.sha256 == sha256).values(updated_at=at))
    row = db_session.scalar(
        select(Blob)
        .where(Blob.sha256 == sha256)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if row.status == BlobStatus.complete:
        result.duplicates += result.stored
        result.stored = 0
        return result
    merged = bytes(a | b for a, b in zip(row.chunks, written, strict=True))
    already = _count_bits(row.chunks, row.total_chunks)
    now_have = _count_bits(merged, row.total_chunks)
    dupes = result.stored - (now_have - already)
    result.duplicates += dupes
    result.stored -= dupes
    row.chunks = merged
    if now_have == row.total_chunks:
        result.completed = _finish(db_session=db_session, store=store, blob=row, at=at)
    return result


def _count_bits(bitmap: bytes, total: int) -> int:
    return sum(1 for i in range(total) if bitmap[i >> 3] & (1 << (i & 7)))


def _finish(*, db_session: Session, store: BlobStore, blob: Blob, at: datetime) -> bool:
    """Hash the reassembled file; commit it to its final path, or start over on a mismatch."""
    with store.open_partial(blob.sha256, blob.size) as sink:
        check = chunking.Reassembly(
            blob.sha256, blob.size, sink, chunk_size=blob.chunk_size, have=blob.chunks
        )
        try:
            check.finish()
        except BlobError as exc:
            logger.warning(
                "blob %s failed its hash check (%s); requesting it again", blob.sha256, exc
            )
            blob.chunks = bytes(_bitmap_len(blob.total_chunks))
            return False
    store.commit(blob.sha256)
    blob.status = BlobStatus.complete.value
    blob.completed_at = at
    return True


_PARTIAL = (  # built once: an expanding IN of device ids
    select(Blob.device_id, Blob.sha256)
    .where(
        Blob.device_id.in_(bindparam("ids", expanding=True)),
        Blob.status == BlobStatus.partial.value,
    )
    .order_by(Blob.created_at)
)


def partial_blobs(
    *, db_session: Session, device_ids: Iterable[str], limit: int = 16
) -> dict[str, list[str]]:
    """The oldest ``limit`` partial blobs of each of ``device_ids`` (one query)."""
    out: dict[str, list[str]] = {}
    rows = db_session.connection().execute(_PARTIAL, {"ids": list(device_ids)})
    for dev, sha in rows:
        if dev is not None and len(shas := out.setdefault(dev, [])) < limit:
            shas.append(sha)
    return out


def receipt_shas(touched: Iterable[str], partial: Iterable[str], limit: int = 16) -> list[str]:
    """The blobs a receipt mentions: every touched one, then partial ones up to ``limit``."""
    mine = sorted(set(touched))
    rest = sorted(set(partial).difference(mine))
    return mine + rest[: max(0, limit - len(mine))]


def missing_for_receipt(*, db_session: Session, shas: Iterable[str]) -> dict[str, list[int]]:
    """sha -> missing chunk indices (empty once complete) of the known blobs among ``shas``."""
    out: dict[str, list[int]] = {}
    for sha in shas:
        blob = db_session.get(Blob, sha)
        if blob is not None:
            out[sha] = missing_chunks(blob)
    return out


def get_blob(*, db_session: Session, sha256: str) -> Blob | None:
    return db_session.get(Blob, sha256)


def add_refs(
    *, db_session: Session, shas: Iterable[str], grid_code: str | None, at: datetime
) -> None:
    """Record that an event or case of ``grid_code`` references the blobs ``shas``.

    An insert that ignores an existing (blob, grid) row, so concurrent workers never conflict.
    References without a grid make a blob visible to unscoped principals only (who see all).
    """
    if grid_code is None:
        return
    dialect = db_session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for sha in sorted(set(shas)):
        stmt = insert(BlobReference).values(sha256=sha, grid_code=grid_code, first_at=at)
        db_session.execute(stmt.on_conflict_do_nothing())


def visible_blob(*, db_session: Session, sha256: str, scope_code: str | None) -> Blob | None:
    """The blob if a principal of ``scope_code`` may see it (None: everywhere): some event or
    case of a grid inside the scope references it. One indexed lookup, no scan of events."""
    blob = db_session.get(Blob, sha256)
    if blob is None or scope_code is None:
        return blob
    referenced = db_session.scalar(
        select(
            exists().where(
                BlobReference.sha256 == sha256,
                BlobReference.grid_code.startswith(scope_code, autoescape=True),
            )
        )
    )
    return blob if referenced else None


def complete_blobs(*, db_session: Session, shas: Iterable[str]) -> dict[str, Blob]:
    """The blobs among ``shas`` that are stored: every chunk received and the SHA-256 checked."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    rows = db_session.scalars(
        select(Blob).where(Blob.sha256.in_(wanted), Blob.status == BlobStatus.complete.value)
    )
    return {blob.sha256: blob for blob in rows}


def mark_sensitive(
    *,
    db_session: Session,
    marks: Iterable[tuple[str, SensitiveKind, datetime]],
    at: datetime,
) -> None:
    """Mark blobs ``(sha256, kind, captured_at)`` as personal data (the first mark wins; an
    insert that ignores an existing row, so concurrent workers never conflict)."""
    dialect = db_session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for sha, kind, captured_at in sorted(set(marks)):
        stmt = insert(SensitiveBlob).values(
            sha256=sha, kind=kind.value, captured_at=captured_at, marked_at=at
        )
        db_session.execute(stmt.on_conflict_do_nothing())


def sensitive_mark(*, db_session: Session, sha256: str) -> SensitiveBlob | None:
    return db_session.get(SensitiveBlob, sha256)


def expired_sensitive(
    *, db_session: Session, kind: SensitiveKind, captured_before: datetime, limit: int
) -> list[SensitiveBlob]:
    """Marked blobs of ``kind`` captured before the cut-off and not purged yet, oldest first."""
    return list(
        db_session.scalars(
            select(SensitiveBlob)
            .where(
                SensitiveBlob.kind == kind.value,
                SensitiveBlob.captured_at < captured_before,
                SensitiveBlob.purged_at.is_(None),
            )
            .order_by(SensitiveBlob.captured_at, SensitiveBlob.sha256)
            .limit(limit)
        )
    )


def purge_blob(*, db_session: Session, store: BlobStore, mark: SensitiveBlob, at: datetime) -> None:
    """Delete a sensitive blob from the hub: its bytes, its ``blobs`` row and its references;
    the mark stays with ``purged_at`` set. The caller commits; the bytes are removed first, so a
    failed commit leaves a row whose download answers ``blob_missing``, never stray bytes."""
    store.delete(mark.sha256)
    blob = db_session.get(Blob, mark.sha256)
    if blob is not None:
        db_session.delete(blob)
    refs = db_session.scalars(select(BlobReference).where(BlobReference.sha256 == mark.sha256))
    for ref in refs:
        db_session.delete(ref)
    mark.purged_at = at
