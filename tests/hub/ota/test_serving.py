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

from protocol import bundle, chunking, topics
from tests.hub.ota.conftest import FILES, make_glb, sealed_manifest
from tests.support.mosquitto import Mosquitto

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
