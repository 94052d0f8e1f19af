"""Content-addressed blob storage behind a tiny interface (filesystem by default).

A blob's final path comes from its SHA-256: ``media_dir/ab/cd/<sha>``. While chunks arrive the
bytes live in a partial file of the final size (``media_dir/partial/<sha>.part``) written at each
chunk's offset, so neither the hub nor a restart ever needs the whole blob in memory. The
S3-compatible store (``hub.media.s3``) implements the same methods: partials in the same local
spool, ``commit`` uploads. ``hub.media.factory.make_media_store(settings)`` is the one place that
picks the store for media; OTA bundles always use a ``FileBlobStore`` on ``ota_dir``.
"""

from __future__ import annotations

import os
import re
from io import BufferedRandom
from pathlib import Path
from typing import BinaryIO, Protocol

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class BlobStoreError(OSError):
    """A store could not do what was asked (e.g. the S3 server refused or did not answer); the
    message names the operation, the object and the server's error."""


def check_sha(sha256: str) -> str:
    if not _SHA_RE.match(sha256):
        raise ValueError("blob id must be 64 lower-case hex characters")
    return sha256


class BlobStore(Protocol):
    """What ingest and the media API need from a blob store."""

    def open_partial(self, sha256: str, size: int) -> BufferedRandom:
        """Open (creating with ``size`` bytes) the partial file for writing and reading."""
        ...

    def commit(self, sha256: str) -> None:
        """Move a fully verified partial file to its final content-addressed place."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def open(self, sha256: str) -> BinaryIO:
        """Open a complete blob for reading (FileNotFoundError when absent)."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove a blob's bytes, complete or partial (nothing when absent): retention."""
        ...


def open_spool(path: Path, size: int) -> BufferedRandom:
    """Open (creating, with ``size`` bytes) a partial file for writing and reading."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = open(path, "r+b")  # noqa: SIM115 - the caller closes it
    except FileNotFoundError:
        handle = open(path, "w+b")  # noqa: SIM115
    if os.fstat(handle.fileno()).st_size != size:
        handle.truncate(size)
    return handle


class FileBlobStore:
    """The default store: plain files under one directory."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        check_sha(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def partial_path(self, sha256: str) -> Path:
        check_sha(sha256)
        return self.root / "partial" / f"{sha256}.part"

    def open_partial(self, sha256: str, size: int) -> BufferedRandom:
        return open_spool(self.partial_path(sha256), size)

    def commit(self, sha256: str) -> None:
        final = self.path(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = self.partial_path(sha256)
        if final.exists():
            partial.unlink(missing_ok=True)
            return
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, final)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")  # noqa: SIM115

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)
        self.partial_path(sha256).unlink(missing_ok=True)
