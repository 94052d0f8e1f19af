"""How a blob's bytes are served over HTTP, by ``GET /api/media/{sha256}/content`` and by the
audited gate capture endpoint (hub/access/api/log.py) alike: a device names the type itself,
so only photos, audio and video are shown inline; anything else is an opaque download that can
never run as a page of the console."""

from __future__ import annotations

from hub.media.models import Blob

# Types a browser may show inline from the hub's origin: photos, audio and video a device
# records. Anything else a device announces (text/html, SVG, ...) is served as an opaque
# download.
INLINE_TYPES = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/webm": "weba",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/ogg": "ogv",
}
OPAQUE_TYPE = "application/octet-stream"


def content_headers(blob: Blob) -> tuple[str, dict[str, str]]:
    """The Content-Type to serve ``blob`` with and the headers every answer carrying its bytes
    needs: the disposition (inline for the types above, else attachment), ``nosniff`` and a
    sandbox CSP (a blob opened in a tab runs no script and reaches nothing)."""
    mime = blob.mime.split(";", 1)[0].strip().lower()
    ext = INLINE_TYPES.get(mime)
    disposition = "inline" if ext else "attachment"
    media_type = mime if ext else OPAQUE_TYPE
    return media_type, {
        "Content-Disposition": f'{disposition}; filename="{blob.sha256}.{ext or "bin"}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
