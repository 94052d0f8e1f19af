"""The media store the settings name (``media_store``): the one place that picks it."""

from __future__ import annotations

from hub.media.s3 import S3BlobStore
from hub.media.store import BlobStore, FileBlobStore
from hub.settings import Settings


def make_media_store(settings: Settings) -> BlobStore:
    """Files under ``media_dir``, or the S3 bucket (its partial uploads spooled under
    ``media_dir/partial`` all the same). OTA bundles never come here: ``ota_dir`` is always a
    ``FileBlobStore``, apart from the media any media endpoint serves."""
    if settings.media_store == "s3":
        return S3BlobStore.from_settings(settings)
    return FileBlobStore(settings.media_dir)


def check_media_store(settings: Settings) -> None:
    """At start-up: an S3 bucket that is missing or does not answer is one ``BlobStoreError``
    naming it (nothing to check for files). The hub never creates the bucket by itself:
    ``gridlink hub media-bucket --create`` is the explicit step."""
    if settings.media_store == "s3":
        S3BlobStore.from_settings(settings).check_bucket()
