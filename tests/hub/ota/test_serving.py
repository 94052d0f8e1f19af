"""The firmware download channel over a real, locked-down Mosquitto and a real ingest worker:
devices log in with their own accounts (ACLs from hub.broker_admin)."""

from __future__ import annotations

import hashlib
import json
import queue
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.orm import Session, sessionmaker

from hub.media.store import FileBlobStore
from hub.mqtt_messages import Inbound
from hub.ota import serving
from hub.ota.serving import FirmwareServer
from hub.settings import Settings
from protocol import bundle, chunking, topics
from tests.hub.ota.conftest import FILES, make_glb, sealed_manifest
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

OCTET = {"Content-Type": "application/octet-stream"}


class DeviceLink:
    def __init__(self, broker: Mosquitto, device_id: str) -> None:
        user, password = broker.device_account(device_id)
        self.got: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.granted: queue.Queue[list[Any]] = queue.Queue()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=device_id)
        self.c.username_pw_set(user, password)
        self.c.on_message = lambda _c, _u, m: self.got.put((m.topic, bytes(m.payload)))
        self.c.on_subscribe = lambda _c, _u, _m, rcs, _p: self.granted.put(rcs)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def subscribe(self, topic: str) -> bool:
        self.c.subscribe(topic, 1)
        return not self.granted.get(timeout=10)[0].is_failure

    def ask(self, sha: str, i: int, cs: int = 512, raw: bytes | None = None) -> bytes:
        dev = self.c._client_id.decode()
        self.c.publish(topics.fwreq(dev), raw or bundle.fetch_request(sha, i, cs), qos=1)
        topic, payload = self.got.get(timeout=15)
        assert topic == topics.fw(dev)
        return payload

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_fwreq_serving_and_acls(
    client: TestClient,
    admin: dict[str, str],
    devices: Callable[..., Any],
    broker: Mosquitto,
    start_worker: Callable[..., Any],
) -> None:
    devs = devices(2)
    one, other = devs[0].device_id, devs[1].device_id
    resp = client.post("/api/ota/bundles", content=make_glb(), headers={**admin, **OCTET})
    bid = resp.json()["id"]
    resp = client.post(
        "/api/ota/rollouts", json={"bundle": bid, "target": {"devices": [one]}}, headers=admin
    )
    assert resp.status_code == 201, resp.text
    worker = start_worker(mqtt_v5=True)
    a, b = DeviceLink(broker, one), DeviceLink(broker, other)
    try:
        assert a.subscribe(topics.fw(one))
        assert not b.subscribe(topics.fw(one)), "a device may not read another's firmware topic"
        assert b.subscribe(topics.fw(other))
        manifest = sealed_manifest()
        got = a.ask(bid, 0)
        total = chunking.chunk_count(len(manifest), 512)
        assert got == chunking.pack_header(bytes.fromhex(bid), 0, total) + manifest[:512]
        data = FILES["lib/device.py"]
        sha = hashlib.sha256(data).hexdigest()
        got = a.ask(sha, 2)
        total = chunking.chunk_count(len(data), 512)
        assert got == chunking.pack_header(bytes.fromhex(sha), 2, total) + data[1024:1536]
        assert json.loads(a.ask(sha, 99)) == {"error": "out_of_range", "i": 99, "sha": sha}
        assert json.loads(b.ask(bid, 0))["error"] == "not_offered"  # not in the rollout
        media = hashlib.sha256(b"a photo").hexdigest()
        assert json.loads(a.ask(media, 0))["error"] == "not_offered"
        bad = b'{"cs":1,"i":0,"sha":"' + sha.encode() + b'"}'
        assert json.loads(a.ask(sha, 0, raw=bad))["error"] == "malformed"
        got = a.ask(sha, 0)  # still serving
        assert got.startswith(chunking.MAGIC)
        assert worker.stats.fw_refused == 4 and worker.stats.fw_served == 3
        rejections = {
            r["reason"]: r["count"]
            for r in client.get("/api/events/rejections", headers=admin).json()
        }
        assert rejections.get("fw_not_offered") == 2 and rejections.get("fw_malformed") == 1
    finally:
        a.stop()
        b.stop()


def test_one_bad_request_never_costs_the_others_their_reply(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    server = FirmwareServer(session_factory, FileBlobStore(settings.ota_dir))
    refused: list[str] = []
    sha = hashlib.sha256(b"not offered").hexdigest()
    deep = b"[" * 60000 + b"]" * 60000
    reqs = [
        Inbound(topics.fwreq("hh-000"), deep, 1),
        Inbound(topics.fwreq("hh-001"), bundle.fetch_request(sha, 3, 512), 2),
    ]
    out = server.handle(reqs, lambda reason, _dev, _why: refused.append(reason))
    assert [(o.topic, json.loads(o.payload)) for o in out] == [
        (topics.fw("hh-001"), {"error": "not_offered", "i": 3, "sha": sha})
    ]
    assert refused == ["fw_malformed", "fw_not_offered"]
    # a short malformed request still gets its refusal; a long one is not read for its sha
    short = b'{"cs":1,"i":4,"sha":"' + sha.encode() + b'"}'
    padded = short[:-1] + b',"pad":"' + b"x" * 300 + b'"}'
    out = server.handle(
        [Inbound(topics.fwreq("hh-000"), p, 3) for p in (short, padded)],
        lambda *_a: None,
    )
    assert [json.loads(o.payload) for o in out] == [{"error": "malformed", "i": 4, "sha": sha}]


def test_the_cache_is_capped_in_bytes(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    store = FileBlobStore(settings.ota_dir)
    blobs = {}
    for n in range(3 * serving.CACHE_BYTES // bundle.MAX_FILE_BYTES):
        data = n.to_bytes(4, "big") * (bundle.MAX_FILE_BYTES // 4)
        sha = hashlib.sha256(data).hexdigest()
        with store.open_partial(sha, len(data)) as f:
            f.write(data)
        store.commit(sha)
        blobs[sha] = data
    server = FirmwareServer(session_factory, store)
    for _ in range(2):
        for sha, data in blobs.items():
            assert server._content(sha, store) == data
            held = sum(len(v) for v in server._cache.values())
            assert held == server.cached_bytes <= serving.CACHE_BYTES
    assert server.cached_bytes > serving.CACHE_BYTES - bundle.MAX_FILE_BYTES


def test_only_the_fwreq_channel_reaches_the_firmware_server(
    devices: Callable[..., Any], broker: Mosquitto, start_worker: Callable[..., Any]
) -> None:
    dev = devices(1)[0].device_id
    worker = start_worker(mqtt_v5=True)
    link = DeviceLink(broker, dev)
    try:
        sha = hashlib.sha256(b"x").hexdigest()
        link.c.publish(f"gl/v1/{dev}/evt/fwreq", bundle.fetch_request(sha, 0, 512), qos=1)
        wait_until("the event topic rejected by ingest", lambda: worker.stats.rejected == 1)
        assert worker.stats.fw_refused == 0 and link.got.empty()
    finally:
        link.stop()
