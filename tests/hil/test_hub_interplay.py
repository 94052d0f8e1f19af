"""What the device does with the hub's messages: receipts listing missing chunks, and the
retained hub state gating the outbox (require_hub)."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import pytest

from protocol import chunking, command, topics
from simulator import scenarios

pytestmark = pytest.mark.hil

GRID = "33010200100101"


@pytest.fixture
def hub(broker):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hil-hub")
    c.connect(broker.host, broker.port)
    c.loop_start()
    yield c
    c.loop_stop()
    c.disconnect()


def test_receipt_missing_chunks_are_sent_again_then_media_released(fleet, subscriber, hub):
    dev = fleet.add_handheld(
        "hh-rcpt", GRID, scenario=scenarios.idle(60), keep_media=True, exit_when_done=False
    )
    dev.start()
    subscriber.wait(lambda: len(subscriber.of("hh-rcpt", "signin")) == 1, 15, "signin")
    # a report through a verify command keeps the test independent of script timing
    cmd = fleet.command("hh-rcpt", "verify", {"case_id": "case-1"}, cseq=1)
    hub.publish(topics.cmd("hh-rcpt"), cmd, qos=1).wait_for_publish(5)
    subscriber.wait(lambda: len(subscriber.of("hh-rcpt", "verify")) == 1, 15, "verify")
    blob = subscriber.of("hh-rcpt", "verify")[0]["blobs"][0]
    sha = blob["sha256"]
    subscriber.wait(lambda: subscriber.blob_ok(sha), 10, "photo")
    total = chunking.chunk_count(blob["size"])
    assert total >= 3 and all(subscriber.chunk_frames[(sha, i)] == 1 for i in range(total))
    subscriber.wait(lambda: sha in (dev.state().get("held") or {}), 5, "held media")
    seq = dev.state()["seq"]
    rcpt = command.seal_receipt("hh-rcpt", seq, {sha: [0, 2]}, int(time.time()), fleet.hub_seed)
    hub.publish(topics.rcpt("hh-rcpt"), rcpt, qos=1).wait_for_publish(5)
    subscriber.wait(
        lambda: subscriber.chunk_frames[(sha, 0)] == 2 and subscriber.chunk_frames[(sha, 2)] == 2,
        10,
        "chunks 0 and 2 again",
    )
    assert subscriber.chunk_frames[(sha, 1)] == 1  # only what the receipt listed
    # a forged receipt is ignored
    forged = command.seal_receipt("hh-rcpt", seq, {sha: [1]}, int(time.time()), b"\x01" * 32)
    hub.publish(topics.rcpt("hh-rcpt"), forged, qos=1).wait_for_publish(5)
    # the blob is complete at the hub: the device may let the file go
    done = command.seal_receipt("hh-rcpt", seq, {sha: []}, int(time.time()), fleet.hub_seed)
    hub.publish(topics.rcpt("hh-rcpt"), done, qos=1).wait_for_publish(5)
    subscriber.wait(lambda: sha not in (dev.state().get("held") or {}), 10, "media released")
    assert subscriber.chunk_frames[(sha, 1)] == 1
    assert subscriber.errors == []


def test_require_hub_holds_the_outbox_until_the_hub_is_online(fleet, subscriber, hub):
    dev = fleet.add_handheld(
        "hh-gate",
        GRID,
        scenario=scenarios.patrol(reports=1, every_s=0.5, audio_s=1),
        require_hub=True,
    )
    dev.start()
    subscriber.wait(
        lambda: any(s["dev"] == "hh-gate" and s["online"] for s in subscriber.states), 15, "birth"
    )
    time.sleep(2.5)  # the scenario has run: its events wait in the outbox
    assert subscriber.of("hh-gate") == []
    assert dev.running
    offline = fleet.hub_state(False)
    hub.publish(topics.HUB_STATE, offline, qos=1, retain=True).wait_for_publish(5)
    time.sleep(1.0)
    assert subscriber.of("hh-gate") == []
    hub.publish(topics.HUB_STATE, fleet.hub_state(True), qos=1, retain=True).wait_for_publish(5)
    assert dev.wait(30) == 0, dev.log()[-3000:]
    n = dev.state()["seq"]
    subscriber.wait(lambda: len(subscriber.of("hh-gate")) == n, 10, "all events")
    subscriber.check_chain("hh-gate", n)
    hub.publish(topics.HUB_STATE, b"", qos=1, retain=True).wait_for_publish(5)  # clear retained
