"""Issue 14's must-show for media: a 2 MB photo stored in and served from the S3-compatible
server. The hub as deployed (``running_hub``: its ingest worker on a real Mosquitto, its REST
API), configured ``media_store=s3`` on moto's server; a device's signed report and its chunk
frames go over MQTT; the bytes come back from the media API whole and by Range, the object is
in the bucket (seen with boto3 directly), nothing stays in ``media_dir``, and the retention
pass deletes the object."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hub.access.retention import purge_face_captures
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.media.factory import make_media_store
from hub.media.models import SensitiveKind
from hub.media.s3 import S3BlobStore
from hub.media.service import mark_sensitive
from protocol import topics
from tests.builders.devices import TestDevice
from tests.support.hub import Hub, hub_settings, running_hub
from tests.support.mosquitto import Mosquitto
from tests.support.s3 import MotoS3
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

GRID = "33010200100101"
MB = 1024 * 1024
PHOTO = b"\xff\xd8\xff\xe0" + os.urandom(2 * MB - 6) + b"\xff\xd9"  # 2 MB: 128 chunks


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "broker") as mosq:
        yield mosq


@pytest.fixture
def s3_hub(tmp_path: Path, broker: Mosquitto, s3_server: MotoS3, bucket: str) -> Iterator[Hub]:
    settings = hub_settings(tmp_path, broker, **s3_server.hub_settings_kwargs(bucket, "media/"))
    with running_hub(settings) as h:
        yield h


def _key(sha: str) -> str:
    return f"media/{sha[:2]}/{sha[2:4]}/{sha}"


def test_a_2mb_photo_stored_in_and_served_from_s3(
    s3_hub: Hub, broker: Mosquitto, bucket: str, s3: Any
) -> None:
    hub = s3_hub
    dev = TestDevice("hh-s3", now=lambda: int(datetime.now(UTC).timestamp()))
    resp = hub.api.post(
        "/api/devices",
        json={
            "id": dev.device_id,
            "kind": "handheld",
            "public_key": dev.public_key.hex(),
            "grid_code": GRID,
        },
    )
    assert resp.status_code == 201, resp.text
    sha = hashlib.sha256(PHOTO).hexdigest()
    body = {"category": "road_damage", "text": "路面塌陷 pothole", "grid": GRID}
    with MqttObserver(broker, topics=(topics.rcpt(dev.device_id),)) as wire:
        wire.publish(*dev.event("report", body, blobs=[dev.media(PHOTO)]))
        wire.publish_all(dev.chunks(PHOTO))
        wait_until(f"blob {sha[:12]} complete at the hub", lambda: hub.blob_complete(sha), 60)

    assert hub.errors() == {}  # every envelope and chunk verified and stored

    # served from the bucket: whole, and one Range (206, the right slice)
    assert hub.blob_content(sha) == PHOTO
    url = f"/api/media/{sha}/content"
    part = hub.api.get(url, headers={"Range": "bytes=1000000-1065535"})
    assert part.status_code == 206, part.text
    assert part.content == PHOTO[1_000_000:1_065_536]
    assert part.headers["content-range"] == f"bytes 1000000-1065535/{len(PHOTO)}"
    tail = hub.api.get(url, headers={"Range": "bytes=-2"})
    assert tail.status_code == 206 and tail.content == b"\xff\xd9"

    # in the bucket (boto3 directly), and no copy left on the hub's disk
    head = s3.head_object(Bucket=bucket, Key=_key(sha))
    assert head["ContentLength"] == 2 * MB and head["Metadata"] == {"sha256": sha}
    assert s3.get_object(Bucket=bucket, Key=_key(sha))["Body"].read() == PHOTO
    media_dir = hub.settings.media_dir
    assert [p for p in media_dir.rglob("*") if p.is_file()] == []

    # retention deletes the object: the blob marked a face capture (what the access ingest
    # marks a gate's photo), then the supervision loop's retention pass a month later
    store = make_media_store(hub.settings)
    assert isinstance(store, S3BlobStore)
    engine = make_engine(hub.settings.database_url)
    try:
        factory = make_session_factory(engine)
        now = SystemClock().now()
        with session_scope(factory) as db_session:
            mark_sensitive(db_session=db_session, marks=[(sha, SensitiveKind.face, now)], at=now)
        later = now + timedelta(days=hub.settings.face_capture_retention_days + 1)
        with session_scope(factory) as db_session:
            assert (
                purge_face_captures(
                    db_session=db_session, store=store, now=later, settings=hub.settings
                )
                == 1
            )
    finally:
        engine.dispose()
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key=_key(sha))
    assert missing.value.response["Error"]["Code"] == "404"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert hub.api.get(url).status_code == 404


def test_an_upload_that_fails_is_finished_by_the_chunks_sent_again(
    tmp_path: Path, broker: Mosquitto, s3_server: MotoS3, s3: Any
) -> None:
    """The bucket is not there when the blob completes: the upload fails, that step's chunks
    are counted ``internal`` and left out of the bitmap, the partial stays; once the bucket is
    there, the chunks sent again (what the device does for the ones a receipt lists missing)
    complete the blob and it is uploaded."""
    late = f"gridlink-late-{os.urandom(4).hex()}"
    settings = hub_settings(tmp_path, broker, **s3_server.hub_settings_kwargs(late))
    data = os.urandom(200_000)
    sha = hashlib.sha256(data).hexdigest()
    dev = TestDevice("hh-s3-late", now=lambda: int(datetime.now(UTC).timestamp()))
    with running_hub(settings) as hub:
        body = {"id": dev.device_id, "kind": "handheld", "public_key": dev.public_key.hex()}
        assert hub.api.post("/api/devices", json={**body, "grid_code": GRID}).status_code == 201
        with MqttObserver(broker, topics=(topics.rcpt(dev.device_id),)) as wire:
            wire.publish(*dev.event("report", {"text": "x", "grid": GRID}, blobs=[dev.media(data)]))
            wire.publish_all(dev.chunks(data))
            wait_until("the failed upload counted", lambda: hub.errors().get("internal", 0) > 0)
            partial = settings.media_dir / "partial" / f"{sha}.part"
            assert not hub.blob_complete(sha) and partial.stat().st_size == len(data)
            s3.create_bucket(Bucket=late)
            wire.publish_all(dev.chunks(data))
            wait_until("the blob complete", lambda: hub.blob_complete(sha))
        assert hub.blob_content(sha) == data
        assert not partial.exists()
        assert s3.head_object(Bucket=late, Key=f"{sha[:2]}/{sha[2:4]}/{sha}")[
            "ContentLength"
        ] == len(data)
