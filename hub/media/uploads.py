"""A file an operator uploads (a task's reference image): stored as a complete, hash-checked
blob referenced in a grid, through the same path as a device's chunks."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from hub.errors import InvalidInputError, TooLargeError
from hub.media.models import Blob
from hub.media.service import announce_blob, store_chunks
from hub.media.store import BlobStore
from protocol.limits import CHUNK_SIZE

if TYPE_CHECKING:
    from protocol.envelope import BlobRef

MAX_UPLOAD_BYTES = 512 * 1024  # what a handheld keeps of a reference image in its flash
IMAGE_MIMES = frozenset({"image/jpeg", "image/png"})
_MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}


def store_upload(
    *,
    db_session: Session,
    store: BlobStore,
    data: bytes,
    mime: str,
    grid_code: str,
    at: datetime,
) -> Blob:
    """Store ``data`` (JPEG or PNG, at most ``MAX_UPLOAD_BYTES``) as a blob of ``grid_code``.
    Raises ``TooLargeError`` / ``InvalidInputError``. Flushes."""
    if mime not in IMAGE_MIMES:
        raise InvalidInputError(f"a reference image is image/jpeg or image/png, not {mime!r}")
    if not data:
        raise InvalidInputError("the upload is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLargeError(f"a reference image is at most {MAX_UPLOAD_BYTES} bytes")
    if not data.startswith(_MAGIC[mime]):
        raise InvalidInputError(f"the bytes are not {mime}")
    sha = hashlib.sha256(data).hexdigest()
    ref: BlobRef = {"sha256": sha, "size": len(data), "mime": mime}
    blob = announce_blob(
        db_session=db_session, ref=ref, device_id=None, grid_code=grid_code, at=at, store=store
    )
    total = blob.total_chunks
    chunks = [(i, total, data[i * CHUNK_SIZE : (i + 1) * CHUNK_SIZE]) for i in range(total)]
    store_chunks(db_session=db_session, store=store, sha256=sha, chunks=chunks, at=at)
    db_session.flush()
    return blob
