"""Issue 3's "must show", on real processes: firmware on `micropython -X heapsize=192K`, a real
Mosquitto, and a subscriber that verifies signatures, the hash chain and blob hashes."""

from __future__ import annotations

import hashlib
import re
import time

import pytest

from protocol import chunking, envelope
from protocol.errors import SkewError
from simulator import NetProxy, scenarios
from tests.hil.subscriber import first_arrival_in_order

pytestmark = pytest.mark.hil

GRID = "33010200100101"
MB = 1024 * 1024


def heap_line(dev) -> dict:
    m = re.findall(r"heap peak=(\d+) hwm=(-?\d+) free=(\d+) total=(\d+)", dev.log())
    assert m, dev.log()[-3000:]
    return dict(zip(("peak", "hwm", "free", "total"), map(int, m[-1]), strict=True))


def file_sha(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(65536), b""):
            h.update(block)
    return h.hexdigest()


def test_2mb_photo_20s_audio_chinese_text_under_192k(fleet, subscriber):
    dev = fleet.add_handheld(
        "hh-big", GRID, scenario=scenarios.big_report(2 * MB, 20), heapsize="192K"
    )
    t0 = time.monotonic()
    dev.start()
    assert dev.wait(60) == 0, dev.log()[-3000:]
    elapsed = time.monotonic() - t0
    subscriber.wait(lambda: len(subscriber.of("hh-big", "report")) == 1, 10, "report")
    rep = subscriber.of("hh-big", "report")[0]
    assert "井盖缺失" in rep["body"]["text"]
    assert rep["body"]["grid"] == GRID and rep["body"]["worker"] == "w-001"
    assert rep["body"]["loc"]["lat_e6"] > 0
    assert [b["mime"] for b in rep["blobs"]] == ["image/jpeg", "audio/wav"]
    assert rep["blobs"][0]["size"] == 2 * MB
    assert rep["blobs"][1]["size"] == 44 + 20 * 8000 * 2  # 20 s, 8 kHz, 16-bit mono
    for b in rep["blobs"]:
        subscriber.wait(lambda b=b: subscriber.blob_ok(b["sha256"]), 15, "blob " + b["sha256"])
        path = subscriber.blob_path(b["sha256"])
        assert file_sha(path) == b["sha256"]
    photo = subscriber.blob_path(rep["blobs"][0]["sha256"]).read_bytes()
    assert photo[:4] == b"\xff\xd8\xff\xe0" and photo[-2:] == b"\xff\xd9"
    audio = subscriber.blob_path(rep["blobs"][1]["sha256"]).read_bytes()
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    # every envelope verified (the subscriber raises on a bad signature), chain unbroken
    assert subscriber.errors == []
    subscriber.check_chain("hh-big", dev.state()["seq"])
    heap = heap_line(dev)
    assert heap["total"] <= 192 * 1024
    assert 0 < heap["hwm"] < heap["total"]
    sha = rep["blobs"][0]["sha256"]
    upload_s = subscriber.blob_done[sha] - subscriber.first_seen[sha]
    print(f"\n2 MB photo upload {upload_s:.2f}s, run {elapsed:.1f}s, heap {heap}")


def test_power_loss_mid_upload_resumes_without_resending_acked_chunks(fleet, subscriber):
    dev = fleet.add_handheld("hh-kill", GRID, scenario=scenarios.big_report(MB, 2), heapsize="192K")
    dev.start()
    subscriber.wait(lambda: len(subscriber.of("hh-kill", "report")) == 1, 30, "report")
    rep = subscriber.of("hh-kill", "report")[0]
    photo = rep["blobs"][0]["sha256"]
    total = chunking.chunk_count(rep["blobs"][0]["size"])
    subscriber.wait(
        lambda: sum(1 for (s, _i) in subscriber.chunk_frames if s == photo) >= 20, 30, "20 chunks"
    )
    dev.kill()  # power loss: SIGKILL in the middle of the photo
    time.sleep(0.5)  # let frames already on the wire reach the subscriber
    with subscriber.lock:
        before = {i for (s, i) in subscriber.chunk_frames if s == photo}
        n_before = len(subscriber.chunk_log)
    prog = dev.upload_progress()
    assert prog and prog["env"] and prog["b"] == 0, prog
    acked = prog["c"]  # chunks 0..acked-1 got a PUBACK and were recorded before the kill
    assert 10 <= acked < total  # killed mid-photo (the 20th frame may still be in flight)
    dev.start()
    assert dev.wait(60) == 0, dev.log()[-3000:]
    for b in rep["blobs"]:
        subscriber.wait(lambda b=b: subscriber.blob_ok(b["sha256"]), 15, "blob")
        assert file_sha(subscriber.blob_path(b["sha256"])) == b["sha256"]
    with subscriber.lock:
        after = [i for (s, i, _t) in subscriber.chunk_log[n_before:] if s == photo]
    resent = sorted(set(after) & before)
    # the bound: no chunk whose PUBACK was recorded is sent again; at most the one chunk that
    # was in flight at the kill (published, PUBACK not yet recorded) is sent twice
    assert all(i >= acked for i in after), (acked, sorted(after)[:5])
    assert len(resent) <= 1 and all(i == acked for i in resent), (acked, resent)
    assert max(subscriber.chunk_frames[(photo, i)] for i in range(total)) <= 2
    assert set(range(total)) == before | set(after)
    # the envelope was not sent again, nothing lost or duplicated after dedupe
    assert subscriber.deliveries[("hh-kill", rep["seq"])] == 1
    subscriber.check_chain("hh-kill", dev.state()["seq"])
    assert subscriber.errors == []


def test_broker_restart_link_cut_and_duplicates_during_patrol(broker, fleet, subscriber):
    proxy = NetProxy(broker.host, broker.port).start()
    try:
        patrol = scenarios.patrol(reports=4, every_s=1.5, photo_bytes=40_000, audio_s=1)
        a = fleet.add_handheld(
            "hh-a", GRID, scenario=patrol, track_s=1, track_batch=3, heapsize="192K"
        )
        b = fleet.add_handheld(
            "hh-b",
            "33010200100102",
            scenario=patrol,
            track_s=1,
            track_batch=3,
            broker={"port": proxy.port},
            heapsize="192K",
        )
        proxy.duplicate = True  # every QoS 1 PUBLISH of hh-b reaches the broker twice
        fleet.start()
        subscriber.wait(lambda: len(subscriber.of("hh-a")) >= 3, 20, "first events")
        broker.restart(down_s=1.0)  # graceful stop: persistence keeps queued messages
        time.sleep(1.0)
        proxy.cut()  # hh-b loses its link for a while, then it comes back
        time.sleep(1.5)
        proxy.resume()
        assert a.wait(60) == 0, a.log()[-3000:]
        assert b.wait(60) == 0, b.log()[-3000:]
        for dev in (a, b):
            n = dev.state()["seq"]
            subscriber.wait(lambda d=dev.device_id, n=n: len(subscriber.of(d)) >= n, 20, "all")
            subscriber.check_chain(dev.device_id, n)  # exactly once after dedupe, unbroken
            assert len(subscriber.of(dev.device_id)) == n
            assert first_arrival_in_order(subscriber, dev.device_id)
            kinds = [e["kind"] for e in subscriber.of(dev.device_id)]
            assert kinds.count("report") == 4 and "track" in kinds
            for rep in subscriber.of(dev.device_id, "report"):
                for bl in rep["blobs"]:
                    subscriber.wait(lambda s=bl["sha256"]: subscriber.blob_ok(s), 10, "blob")
        assert proxy.duplicated > 0 and proxy.cuts == 1
        assert max(subscriber.deliveries[k] for k in subscriber.events if k[0] == "hh-b") >= 2
        assert subscriber.errors == []
    finally:
        proxy.stop()


def test_tampered_expired_replayed_commands_are_refused_and_acked(broker, fleet, subscriber):
    import paho.mqtt.client as mqtt

    from protocol import crypto, topics

    dev = fleet.add_handheld(
        "hh-cmd", GRID, scenario=scenarios.idle(120), answers={"task": "close", "verify": "reject"}
    )
    dev.start()
    subscriber.wait(
        lambda: any(s["online"] and s["dev"] == "hh-cmd" for s in subscriber.states), 15, "birth"
    )
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hil-hub")
    hub.connect(broker.host, broker.port)
    hub.loop_start()
    try:
        t = topics.cmd("hh-cmd")
        now = int(time.time())
        good = fleet.command("hh-cmd", "ping", cseq=1, cmd_id="c-good")
        forged = fleet.command("hh-cmd", "ping", cseq=2, cmd_id="c-forged", seed=crypto.new_seed())
        expired = fleet.command(
            "hh-cmd", "ping", cseq=3, cmd_id="c-expired", iat=now - 1000, ttl_s=10
        )
        flipped = bytearray(fleet.command("hh-cmd", "ping", cseq=4, cmd_id="c-flipped"))
        flipped[flipped.index(b'"ping"') + 2] ^= 0x01  # tamper one byte of the op
        task = fleet.command(
            "hh-cmd",
            "task",
            {"task_id": "t-1", "case_id": "case-9", "title": "清理垃圾"},
            cseq=5,
            cmd_id="c-task",
        )
        verify = fleet.command("hh-cmd", "verify", {"case_id": "case-7"}, cseq=6, cmd_id="c-verify")
        for payload in (good, forged, expired, bytes(flipped), good, task, verify):
            hub.publish(t, payload, qos=1).wait_for_publish(5)
            time.sleep(0.3)
        try:
            subscriber.wait(lambda: len(subscriber.acks) >= 7, 20, "7 acks")
        except AssertionError as e:
            raise AssertionError(
                f"{e}\nacks={[a['body'] for a in subscriber.acks]}\n{dev.log()[-3000:]}"
            ) from None
        acks = {
            (a["body"]["id"], a["body"]["status"], a["body"]["detail"]) for a in subscriber.acks
        }
        assert ("c-good", "succeeded", "pong") in acks
        assert ("c-forged", "refused", "bad_signature") in acks
        assert ("c-expired", "refused", "expired") in acks
        assert any(
            d in ("bad_signature", "malformed", "non_canonical")
            for (_i, s, d) in acks
            if s == "refused" and _i in ("c-flipped", None)
        )
        assert ("c-good", "refused", "replayed") in acks
        assert ("c-task", "succeeded", "delivered") in acks
        assert ("c-verify", "succeeded", "delivered") in acks
        # every ack is a signed envelope of kind ack (verified by the subscriber)
        assert all(a["kind"] == "ack" for a in subscriber.acks)
        assert dev.state()["cseq"] == 6
        subscriber.wait(
            lambda: (
                len(subscriber.of("hh-cmd", "task")) == 3
                and len(subscriber.of("hh-cmd", "verify")) == 1
            ),
            20,
            "task+verify",
        )
        steps = [e["body"]["step"] for e in subscriber.of("hh-cmd", "task")]
        assert steps == ["accept", "progress", "close"]
        close = subscriber.of("hh-cmd", "task")[-1]
        assert close["body"]["task_id"] == "t-1" and len(close["blobs"]) == 1
        ver = subscriber.of("hh-cmd", "verify")[0]
        assert ver["body"]["case_id"] == "case-7" and ver["body"]["result"] == "reject"
        assert ver["body"]["loc"] and ver["blobs"][0]["mime"] == "image/jpeg"
        assert subscriber.errors == []
    finally:
        hub.loop_stop()
        hub.disconnect()
        dev.kill()


def test_clock_skew_is_visible_to_the_hub(fleet, subscriber):
    dev = fleet.add_handheld(
        "hh-skew", GRID, scenario=scenarios.patrol(reports=0), clock_offset_s=3600
    )
    dev.start()
    assert dev.wait(30) == 0, dev.log()[-3000:]
    evs = subscriber.of("hh-skew")
    assert evs
    now = int(time.time())
    for e in evs:
        assert e["ts"] >= now + 3500
        with pytest.raises(SkewError):
            envelope.check_skew(e, now)


def test_quiet_device_resumes_upload_after_link_cut(broker, fleet, subscriber):
    """Nothing else happens on the device (no track, no heartbeat due): the upload must still
    resume by itself when the link comes back."""
    proxy = NetProxy(broker.host, broker.port).start()
    try:
        script = [
            {
                "at": 0,
                "do": "report",
                "category": "other",
                "text": "静默",
                "photos": 1,
                "photo_bytes": 600_000,
            },
            {"at": 0, "do": "end"},
        ]
        dev = fleet.add_handheld(
            "hh-quiet",
            GRID,
            scenario=script,
            anonymous_reports=True,
            heartbeat_s=3600,
            track_s=3600,
            broker={"port": proxy.port},
        )
        dev.start()
        subscriber.wait(lambda: len(subscriber.of("hh-quiet", "report")) == 1, 20, "report")
        sha = subscriber.of("hh-quiet", "report")[0]["blobs"][0]["sha256"]
        subscriber.wait(lambda: any(s == sha for (s, _i) in subscriber.chunk_frames), 10, "chunk")
        proxy.cut()
        time.sleep(1.0)
        assert not subscriber.blob_ok(sha)
        proxy.resume()
        assert dev.wait(30) == 0, dev.log()[-3000:]
        subscriber.wait(lambda: subscriber.blob_ok(sha), 10, "photo")
        assert subscriber.errors == []
    finally:
        proxy.stop()
