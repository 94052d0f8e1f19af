"""S3BlobStore against a real S3-compatible server over HTTP (moto's, tests/support/s3.py):
commit uploads the spooled partial and only then removes it, exists is a HEAD, open streams
ranged GETs (a new one only after a seek), a missing object is FileNotFoundError, delete, a
failed upload keeps the partial for the next try; the settings and the start-up check."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.media.factory import make_media_store
from hub.media.s3 import MULTIPART_THRESHOLD, S3BlobStore, S3Reader
from hub.media.store import BlobStoreError, FileBlobStore
from hub.settings import Settings
from tests.hub.test_cli import assert_one_line_error, gridlink
from tests.support.net import free_port
from tests.support.s3 import MotoS3

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


def _settings(tmp_path: Path, server: MotoS3, bucket: str, prefix: str = "") -> Settings:
    return Settings(
        env="development", data_dir=tmp_path, **server.hub_settings_kwargs(bucket, prefix)
    )


def _store(tmp_path: Path, server: MotoS3, bucket: str, prefix: str = "media/") -> S3BlobStore:
    store = make_media_store(_settings(tmp_path, server, bucket, prefix))
    assert isinstance(store, S3BlobStore)
    return store


def _spool(store: S3BlobStore, data: bytes = DATA) -> str:
    sha = hashlib.sha256(data).hexdigest()
    with store.open_partial(sha, len(data)) as sink:
        sink.write(data)
    return sha


def test_commit_uploads_the_partial_then_removes_it(
    tmp_path: Path, s3_server: MotoS3, bucket: str, s3: Any
) -> None:
    store = _store(tmp_path, s3_server, bucket)
    with store.open_partial(SHA, len(DATA)) as sink:  # the first half, then "a restart"
        sink.write(DATA[:100_000])
    assert store.partial_path(SHA) == tmp_path / "media" / "partial" / f"{SHA}.part"
    again = _store(tmp_path, s3_server, bucket)
    with again.open_partial(SHA, len(DATA)) as sink:
        assert sink.read(100_000) == DATA[:100_000]  # resumed from the spool
        sink.write(DATA[100_000:])
    assert not again.exists(SHA)

    again.commit(SHA)
    assert again.exists(SHA) and not again.partial_path(SHA).exists()
    key = f"media/{SHA[:2]}/{SHA[2:4]}/{SHA}"
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(DATA) and head["Metadata"] == {"sha256": SHA}
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == DATA
    assert list((tmp_path / "media").rglob("*.part")) == []

    again.commit(SHA)  # committed already (a redelivered last chunk): nothing to upload
    assert again.exists(SHA)


def test_a_big_blob_goes_multipart(tmp_path: Path, s3_server: MotoS3, bucket: str, s3: Any) -> None:
    store = _store(tmp_path, s3_server, bucket)
    data = os.urandom(MULTIPART_THRESHOLD + 1000)
    sha = _spool(store, data)
    store.commit(sha)
    etag = s3.head_object(Bucket=bucket, Key=store.key(sha))["ETag"]
    assert etag.strip('"').endswith("-2")  # two parts
    with store.open(sha) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == sha


def test_open_seeks_with_ranged_gets(tmp_path: Path, s3_server: MotoS3, bucket: str) -> None:
    store = _store(tmp_path, s3_server, bucket)
    data = os.urandom(1024 * 1024)
    sha = _spool(store, data)
    store.commit(sha)
    gets: list[str] = []
    store.client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: gets.append(params["headers"]["Range"])
    )
    with store.open(sha) as handle:
        assert isinstance(handle, io.BufferedReader) and isinstance(handle.raw, S3Reader)
        assert handle.seekable() and handle.readable() and gets == []  # a HEAD only
        assert handle.read(10) == data[:10]
        assert handle.read(5000) == data[10:5010]
        handle.seek(200_000)  # inside the reader's buffer: no request
        assert handle.tell() == 200_000
        assert handle.read(400_000) == data[200_000:600_000]  # the same GET streams on
        assert gets == ["bytes=0-"]
        handle.seek(-100, io.SEEK_END)
        assert handle.read() == data[-100:]
        assert handle.read() == b""
        handle.seek(0)
        assert handle.read() == data
        handle.seek(2 * len(data))  # past the end reads nothing, asks nothing
        assert handle.read(10) == b""
    assert gets == ["bytes=0-", f"bytes={len(data) - 100}-", "bytes=0-"]
    with pytest.raises(ValueError, match="closed"):
        handle.raw.seek(0)


def test_missing_blob(tmp_path: Path, s3_server: MotoS3, bucket: str) -> None:
    store = _store(tmp_path, s3_server, bucket)
    assert not store.exists(SHA)
    with pytest.raises(FileNotFoundError, match=SHA):
        store.open(SHA)
    with pytest.raises(FileNotFoundError, match="no partial"):
        store.commit(SHA)
    with pytest.raises(ValueError, match="64 lower-case hex"):
        store.exists("../etc/passwd")


def test_delete_removes_object_and_partial(
    tmp_path: Path, s3_server: MotoS3, bucket: str, s3: Any
) -> None:
    store = _store(tmp_path, s3_server, bucket)
    store.commit(_spool(store))
    other = _spool(store, b"half of another blob")
    store.delete(SHA)
    store.delete(other)
    assert not store.exists(SHA) and not store.partial_path(other).exists()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    store.delete(SHA)  # absent: nothing to do (retention may run twice)


def test_a_failed_upload_keeps_the_partial(
    tmp_path: Path, s3_server: MotoS3, bucket: str, s3: Any
) -> None:
    store = _store(tmp_path, s3_server, "gridlink-no-such-bucket")
    _spool(store)
    with pytest.raises(BlobStoreError, match="gridlink-no-such-bucket.*NoSuchBucket"):
        store.commit(SHA)
    assert store.partial_path(SHA).stat().st_size == len(DATA)
    s3.create_bucket(Bucket="gridlink-no-such-bucket")
    store.commit(SHA)  # the next try (the ingest finishes the blob again) uploads it
    assert store.exists(SHA) and not store.partial_path(SHA).exists()


def test_an_unreachable_server_raises_not_absent(tmp_path: Path) -> None:
    port = free_port()  # nobody listens there; the client does not retry, so the test is quick
    client = MotoS3(port=port).client(retries={"max_attempts": 1}, connect_timeout=1)
    store = S3BlobStore(client, "media", spool=tmp_path)
    with pytest.raises(BlobStoreError, match="S3 HEAD media/.*EndpointConnectionError"):
        store.exists(SHA)
    with pytest.raises(BlobStoreError, match="EndpointConnectionError"):
        store.open(SHA)
    with pytest.raises(BlobStoreError, match="HEAD bucket media"):
        store.check_bucket()


def test_settings(tmp_path: Path) -> None:
    assert isinstance(make_media_store(Settings(env="development")), FileBlobStore)
    with pytest.raises(ValidationError, match="GRIDLINK_S3_BUCKET"):
        Settings(env="development", media_store="s3")
    with pytest.raises(ValidationError, match="go together"):
        Settings(env="development", media_store="s3", s3_bucket="m", s3_access_key_id="k")
    shown = Settings(
        env="development",
        media_store="s3",
        s3_bucket="m",
        s3_prefix="hub1",
        s3_access_key_id="k",
        s3_secret_access_key="very-secret",
    )
    assert shown.s3_prefix == "hub1/" and "very-secret" not in repr(shown)


def test_start_up_checks_the_bucket_and_media_bucket_creates_it(
    tmp_path: Path, s3_server: MotoS3, monkeypatch: pytest.MonkeyPatch, s3: Any
) -> None:
    monkeypatch.setenv("GRIDLINK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GRIDLINK_ENV", "development")
    for name, value in s3_server.hub_settings_kwargs("gridlink-made-by-ops").items():
        value = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        monkeypatch.setenv(f"GRIDLINK_{name.upper()}", value)
    assert gridlink("hub", "migrate").exit_code == 0
    assert_one_line_error(
        gridlink("hub", "run", "--no-ingest"), "gridlink-made-by-ops", "does not exist"
    )
    assert_one_line_error(gridlink("hub", "ingest"), "does not exist", "media-bucket --create")
    assert_one_line_error(gridlink("hub", "media-bucket"), "does not exist")
    result = gridlink("hub", "media-bucket", "--create")
    assert result.exit_code == 0 and "created" in result.output, result.output
    s3.head_bucket(Bucket="gridlink-made-by-ops")
    result = gridlink("hub", "media-bucket", "--create")
    assert result.exit_code == 0 and "answers" in result.output, result.output
    monkeypatch.setenv("GRIDLINK_MEDIA_STORE", "file")
    assert_one_line_error(gridlink("hub", "media-bucket"), "there is no bucket")
