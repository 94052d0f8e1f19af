"""Media: blob metadata and download (authenticated). A blob is visible to a scoped caller when
an event or case of a grid inside its area references it (``service.visible_blob``). Sensitive
blobs (gate face / plate captures) are refused here with a 403 naming the audited endpoint."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from hub.auth.deps import CurrentUser
from hub.auth.service import Principal
from hub.deps import SessionDep, SettingsDep
from hub.errors import ConflictError, NotFoundError, PermissionDeniedError
from hub.media import service
from hub.media.models import Blob, BlobStatus
from hub.media.schemas import BlobRead
from hub.media.store import FileBlobStore

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["media"])

READ_SIZE = 64 * 1024
# Where gate captures are served (hub/access/api): with a stated reason, written to an audit.
AUDITED_CAPTURE_PATH = "/api/v1/access/captures/{sha256}/content"  # path of hub/access/api/log


def _visible_blob(db_session: Session, user: Principal, sha256: str) -> Blob:
    blob = service.visible_blob(
        db_session=db_session, sha256=sha256.lower(), scope_code=user.scope_code
    )
    if blob is None:
        raise NotFoundError(f"blob {sha256} not found", code="blob_not_found")
    mark = service.sensitive_mark(db_session=db_session, sha256=blob.sha256)
    if mark is not None:
        raise PermissionDeniedError(
            f"blob {blob.sha256} is a {mark.kind} capture of a gate: personal data served only "
            f"by the audited endpoint GET {AUDITED_CAPTURE_PATH.format(sha256=blob.sha256)}"
            "?reason=<why you need it>",
            code="sensitive_blob",
        )
    return blob


def _stream(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_SIZE):
            yield chunk


@router.get("/media/{sha256}", response_model=BlobRead)
def blob_info(sha256: str, db_session: SessionDep, user: CurrentUser) -> BlobRead:
    blob = _visible_blob(db_session, user, sha256)
    read = BlobRead.model_validate(blob)
    if not user.covers(blob.grid_code):  # the first announcer may lie in another area
        read.device_id = read.grid_code = None
    return read


@router.get("/media/{sha256}/content", response_class=StreamingResponse)
def download(
    sha256: str, db_session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> StreamingResponse:
    """The blob's bytes (streamed; the ETag is its SHA-256, so it never changes)."""
    blob = _visible_blob(db_session, user, sha256)
    if blob.status != BlobStatus.complete:
        raise ConflictError(f"blob {blob.sha256} is still being uploaded", code="blob_incomplete")
    try:
        handle = FileBlobStore(settings.media_dir).open(blob.sha256)
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"blob {blob.sha256} is missing from storage", code="blob_missing"
        ) from exc
    logger.info("media %s (%s) downloaded by %s", blob.sha256, blob.mime, user.actor)
    headers = {
        "ETag": f'"{blob.sha256}"',
        "Content-Length": str(blob.size),
        "Cache-Control": "private, max-age=31536000, immutable",
    }
    return StreamingResponse(_stream(handle), media_type=blob.mime, headers=headers)
