"""The media store as a request dependency (``MediaStoreDep``): the one the app factory put on
``app.state.media_store`` (``make_media_store``), shared by every request, so an S3 store keeps
its client and connection pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hub.media.store import BlobStore


def get_media_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.media_store
    return store


MediaStoreDep = Annotated[BlobStore, Depends(get_media_store)]
