"""Media: blob metadata and download (authenticated). A blob is visible to a scoped caller when
an event or case of a grid inside its area references it (``service.visible_blob``). Sensitive
blobs (gate face / plate captures) are refused here with a 403 naming the audited endpoint."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from hub.auth.deps import CurrentUser
from hub.auth.service import Principal
from hub.deps import SessionDep
from hub.errors import ConflictError, NotFoundError, PermissionDeniedError
from hub.media import service
from hub.media.content import content_headers
from hub.media.deps import MediaStoreDep
from hub.media.models import Blob, BlobStatus
from hub.media.schemas import BlobRead

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


def _stream(handle: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        left = length
        while left > 0 and (chunk := handle.read(min(READ_SIZE, left))):
            left -= len(chunk)
            yield chunk


_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (inclusive) of a single ``Range: bytes=...`` header; None for no
    range, a syntax the hub ignores (several ranges, other units: the whole blob is served),
    and ``ValueError`` for a range that lies outside the blob (416)."""
    if header is None:
        return None
    match = _RANGE_RE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise ValueError("empty suffix range")
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise ValueError("range outside the blob")
    return start, end


@router.get("/media/{sha256}", response_model=BlobRead)
def blob_info(sha256: str, db_session: SessionDep, user: CurrentUser) -> BlobRead:
    blob = _visible_blob(db_session, user, sha256)
    read = BlobRead.model_validate(blob)
    if not user.covers(blob.grid_code):  # the first announcer may lie in another area
        read.device_id = read.grid_code = None
    return read


@router.get("/media/{sha256}/content", response_class=StreamingResponse)
def download(
    sha256: str,
    request: Request,
    db_session: SessionDep,
    store: MediaStoreDep,
    user: CurrentUser,
) -> Response:
    """The blob's bytes (streamed; the ETag is its SHA-256, so it never changes). A single
    ``Range: bytes=a-b`` is answered 206 (audio and video seek with it), one outside the blob
    416; photos, audio and video are served inline with their type, any other type as an
    opaque download."""
    blob = _visible_blob(db_session, user, sha256)
    if blob.status != BlobStatus.complete:
        raise ConflictError(f"blob {blob.sha256} is still being uploaded", code="blob_incomplete")
    try:
        handle = store.open(blob.sha256)
    except FileNotFoundError as exc:
        raise NotFoundError(
            f"blob {blob.sha256} is missing from storage", code="blob_missing"
        ) from exc
    media_type, headers = content_headers(blob)
    headers |= {
        "ETag": f'"{blob.sha256}"',
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=31536000, immutable",
    }
    if_range = request.headers.get("if-range")
    wanted = None if if_range not in (None, headers["ETag"]) else request.headers.get("range")
    try:
        span = byte_range(wanted, blob.size)
    except ValueError:
        handle.close()
        return JSONResponse(
            {
                "code": "range_not_satisfiable",
                "message": f"range {wanted} lies outside blob {blob.sha256} ({blob.size} bytes)",
            },
            status_code=416,
            headers={"Content-Range": f"bytes */{blob.size}"},
        )
    logger.info("media %s (%s) downloaded by %s", blob.sha256, blob.mime, user.actor)
    if span is None:
        headers["Content-Length"] = str(blob.size)
        return StreamingResponse(
            _stream(handle, 0, blob.size), media_type=media_type, headers=headers
        )
    start, end = span
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
    return StreamingResponse(
        _stream(handle, start, end - start + 1),
        status_code=206,
        media_type=media_type,
        headers=headers,
    )
