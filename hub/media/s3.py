"""Media in an S3-compatible bucket (MinIO, AWS S3, ...), behind the ``BlobStore`` interface.

Chunks are written where the file store writes them, into ``spool/partial/<sha>.part`` (so a
restart resumes a half-received blob); ``commit`` uploads the verified partial to
``<prefix>ab/cd/<sha>`` with boto3's managed transfer (multipart above ``MULTIPART_THRESHOLD``,
the SHA-256 in the object's metadata) and removes the partial only once the upload succeeded.
``open`` answers a seekable reader that streams one GET from the current position and issues
another only after a seek, so the media API's Range answers work as on files.

Every failure of the server is a ``BlobStoreError`` naming the operation, the object and the
server's error code; a missing object is ``FileNotFoundError``, as for files.
"""

from __future__ import annotations

import io
import logging
from io import BufferedRandom
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NoReturn

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hub.media.store import BlobStoreError, check_sha, open_spool
from hub.settings import Settings

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

MULTIPART_THRESHOLD = 8 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024
READ_BUFFER = 256 * 1024
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


def s3_client(settings: Settings) -> S3Client:
    """A boto3 S3 client for the settings' server (thread-safe: one per process is enough)."""
    secret = settings.s3_secret_access_key
    session = boto3.session.Session(
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        region_name=settings.s3_region,
    )
    config = Config(
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=16,
    )
    return session.client("s3", endpoint_url=settings.s3_endpoint_url, config=config)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _missing(exc: ClientError) -> bool:
    return _code(exc) in _NOT_FOUND or _status(exc) == 404


class S3BlobStore:
    """Blobs as objects ``<prefix>ab/cd/<sha>`` in one bucket; partials in a local spool."""

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        *,
        spool: str | Path,
        prefix: str = "",
        transfer: TransferConfig | None = None,
    ) -> None:
        if not bucket:
            raise ValueError("S3BlobStore needs a bucket")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.spool = Path(spool)
        self.transfer = transfer or TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNK,
            max_concurrency=4,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        return cls(
            s3_client(settings),
            settings.s3_bucket,
            spool=settings.media_dir,
            prefix=settings.s3_prefix,
        )

    def key(self, sha256: str) -> str:
        check_sha(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def partial_path(self, sha256: str) -> Path:
        check_sha(sha256)
        return self.spool / "partial" / f"{sha256}.part"

    def _fail(self, op: str, what: str, exc: Exception) -> NoReturn:
        if isinstance(exc, ClientError):
            detail = f"{_code(exc) or 'error'} (HTTP {_status(exc)})"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        where = f"{self.bucket}/{what}" if what else self.bucket
        raise BlobStoreError(f"S3 {op} {where}: {detail}") from exc

    # --- the bucket (ops) ------------------------------------------------------------------

    def check_bucket(self) -> None:
        """The bucket is there and answers (BlobStoreError naming what is wrong if not)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _missing(exc):
                raise BlobStoreError(
                    f"S3 bucket {self.bucket!r} does not exist: create it "
                    "(gridlink hub media-bucket --create, or your provider's console)"
                ) from exc
            self._fail("HEAD bucket", "", exc)
        except BotoCoreError as exc:
            self._fail("HEAD bucket", "", exc)

    def create_bucket(self) -> bool:
        """Create the bucket unless it exists; True when it was created."""
        try:
            self.check_bucket()
            return False
        except BlobStoreError as exc:
            if not isinstance(exc.__cause__, ClientError) or not _missing(exc.__cause__):
                raise
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            self._fail("CREATE bucket", "", exc)
        logger.info("created S3 bucket %s", self.bucket)
        return True

    # --- BlobStore -------------------------------------------------------------------------

    def open_partial(self, sha256: str, size: int) -> BufferedRandom:
        return open_spool(self.partial_path(sha256), size)

    def commit(self, sha256: str) -> None:
        """Upload the verified partial (unless the object is there already), then remove it."""
        partial = self.partial_path(sha256)
        key = self.key(sha256)
        if self.exists(sha256):
            partial.unlink(missing_ok=True)
            return
        if not partial.is_file():
            raise FileNotFoundError(f"no partial file to commit for blob {sha256}: {partial}")
        try:
            self.client.upload_file(
                str(partial),
                self.bucket,
                key,
                ExtraArgs={"Metadata": {"sha256": sha256}},
                Config=self.transfer,
            )
        except (S3UploadFailedError, ClientError, BotoCoreError) as exc:
            self._fail("PUT", key, exc)
        partial.unlink()

    def exists(self, sha256: str) -> bool:
        key = self.key(sha256)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return False
            self._fail("HEAD", key, exc)
        except BotoCoreError as exc:
            self._fail("HEAD", key, exc)
        return True

    def open(self, sha256: str) -> BinaryIO:
        key = self.key(sha256)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"blob {sha256} is not in bucket {self.bucket}") from exc
            self._fail("HEAD", key, exc)
        except BotoCoreError as exc:
            self._fail("HEAD", key, exc)
        return io.BufferedReader(S3Reader(self, key, head["ContentLength"]), READ_BUFFER)

    def delete(self, sha256: str) -> None:
        key = self.key(sha256)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)  # absent: no error in S3
        except (ClientError, BotoCoreError) as exc:
            self._fail("DELETE", key, exc)
        self.partial_path(sha256).unlink(missing_ok=True)


class S3Reader(io.RawIOBase):
    """An object read as a seekable file: one streamed GET (``Range: bytes=pos-``) from the
    current position, dropped and issued again only when a seek moves the position."""

    def __init__(self, store: S3BlobStore, key: str, size: int) -> None:
        super().__init__()
        self.store = store
        self.key = key
        self.size = size
        self._pos = 0
        self._body: StreamingBody | None = None

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on a closed S3 object reader")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        if pos != self._pos:
            self._drop()
            self._pos = pos
        return pos

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        self._check_open()
        view = memoryview(buffer).cast("B")
        if self._pos >= self.size or not len(view):
            return 0
        if self._body is None:
            self._body = self._get(self._pos)
        try:
            data = self._body.read(len(view))
        except BotoCoreError as exc:
            self._drop()
            self.store._fail("GET", self.key, exc)
        if not data:
            self._drop()
            raise BlobStoreError(
                f"S3 GET {self.store.bucket}/{self.key}: the stream ended at byte {self._pos} "
                f"of {self.size}"
            )
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _get(self, pos: int) -> StreamingBody:
        store = self.store
        try:
            reply = store.client.get_object(
                Bucket=store.bucket, Key=self.key, Range=f"bytes={pos}-"
            )
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"{self.key} is no longer in {store.bucket}") from exc
            store._fail("GET", self.key, exc)
        except BotoCoreError as exc:
            store._fail("GET", self.key, exc)
        return reply["Body"]

    def _drop(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def close(self) -> None:
        self._drop()
        super().close()
