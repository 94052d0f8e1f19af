"""What the device does with the real hub's messages: the receipts listing the chunks the hub
is missing, and the hub's retained online state gating the outbox (require_hub).

The hub loses chunks for real: the device is frozen mid-upload, the hub's ingest worker is
stopped (nobody takes the device's traffic, the broker drops it), the device finishes its
upload into the void, and the hub comes back."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from protocol import chunking, command, crypto, topics
from simulator import scenarios
from simulator.fleet import SimDevice
from tests.support.waiting import device_state, wait_until

pytestmark = pytest.mark.hil

GRID = "33010200100101"


@contextmanager
def frozen(dev: SimDevice) -> Iterator[None]:
    """SIGSTOP the device process: it keeps its connection but does nothing until SIGCONT."""
    assert dev.proc is not None
    dev.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        dev.proc.send_signal(signal.SIGCONT)


def _held(dev: SimDevice) -> dict:
    return device_state(dev).get("held") or {}


def test_receipt_missing_chunks_are_sent_again_then_media_released(slow_link, hub, fleet, wire):
    # the slow link lets the hub be stopped with the photo half sent
    dev = fleet.add_handheld(
        "hh-rcpt",
        GRID,
        broker={"port": slow_link.port},
        scenario=scenarios.idle(120),
        keep_media=True,
        exit_when_done=False,
        heartbeat_s=3600,
        track_s=3600,
        sim={"photo_bytes": 400_000},
        # keep sending while the hub is away: with the default (hold until the hub is online)
        # the device re-sends the whole held record when the hub returns, and this test is
        # about what the receipts alone bring back
        require_hub=False,
    )
    # This hub's broker session ends with its connection, like a broker whose queue for the hub
    # overflowed: what the device sends while the hub is away is lost, and only the hub's
    # receipts can get it back.
    hub.stop_ingest()
    hub.settings = hub.settings.model_copy(update={"mqtt_session_expiry_s": 0})
    hub.start_ingest()
    hub.register(dev)
    dev.start()
    wire.wait("the device's birth", lambda: wire.online("hh-rcpt"))
    # a report through a verify command keeps the test independent of script timing
    hub.send("hh-rcpt", "verify", {"case_id": 1})
    (event,) = wait_until("the verify event stored", lambda: hub.events("hh-rcpt", "verify"))
    blob = event["blobs"][0]
    sha, total = blob["sha256"], chunking.chunk_count(blob["size"])
    assert total >= 10
    wire.wait("3 chunks of the photo", lambda: len(wire.frames(sha)) >= 3)
    with frozen(dev):
        hub.stop_ingest()  # drains what it has; later chunks are dropped by the broker
    held_by_hub = hub.held_chunks(sha)
    missing = set(range(total)) - held_by_hub
    assert held_by_hub and missing, (held_by_hub, total)
    wire.wait("every chunk sent once", lambda: set(wire.frames(sha)) == set(range(total)))
    wait_until("the device to hold the sent photo", lambda: sha in _held(dev))
    # receipts not signed by the hub are ignored: neither "complete" nor "send chunk again"
    seq = device_state(dev)["seq"]
    now, not_the_hub = int(time.time()), crypto.new_seed()
    for forged in ({sha: []}, {sha: [min(held_by_hub)]}):
        rcpt = command.seal_receipt("hh-rcpt", seq, forged, now, not_the_hub)
        wire.publish(topics.rcpt("hh-rcpt"), rcpt)
    mark = wire.mark()
    hub.start_ingest()
    hub.send("hh-rcpt", "ping")  # device traffic: the hub answers it with a receipt
    wait_until("the photo complete at the hub", lambda: hub.blob_complete(sha), 60)
    assert len(hub.blob_content(sha)) == blob["size"]  # SHA-256 checked
    # every chunk the hub's receipts listed was sent again. (The device also re-sends a record
    # it still holds when the hub state turns online, whole, media included, so chunks the hub
    # held may come again too: redundant, stored once; receipts alone would suffice.)
    resent = wire.frames(sha, since=mark)
    assert missing <= set(resent), (sorted(resent), sorted(missing))
    receipts = [
        command.open_receipt(m.payload, fleet.hub_public_key)
        for m in wire.matching(topics.rcpt("hh-rcpt"), since=mark)
    ]
    asked = {i for r in receipts for i in r["blobs"].get(sha, [])}
    assert asked and asked <= missing  # the hub asks only for what it lacks
    # the hub's receipt that the blob is complete lets the device release the file
    wait_until("media released", lambda: sha not in _held(dev))
    assert hub.errors() == {}


def _hub_online(wire) -> bool | None:
    states = wire.matching(topics.HUB_STATE)
    return command.open_state(states[-1].payload)["online"] if states else None


def test_require_hub_holds_the_outbox_until_the_hub_is_online(hub, fleet, wire):
    hub.stop_ingest()  # the hub's clean stop leaves its retained state "offline"
    wire.wait("the hub's retained state offline", lambda: _hub_online(wire) is False)
    dev = fleet.add_handheld(
        "hh-gate",
        GRID,
        scenario=scenarios.patrol(reports=1, every_s=0.5, audio_s=1),
        require_hub=True,
    )
    hub.register(dev)
    dev.start()
    wire.wait("the device's birth", lambda: wire.online("hh-gate"))
    # heartbeat, signin, report, signout: all signed into the outbox, none sent
    wait_until("the scenario's events in the outbox", lambda: dev.state().get("seq", 0) >= 4)
    assert dev.running
    assert wire.envelopes("hh-gate") == [] and wire.chunk_log("hh-gate") == []
    assert hub.events("hh-gate") == []
    hub.start_ingest()  # retained "online": the device sends what it held
    assert dev.wait(60) == 0, dev.log()[-3000:]
    events = hub.assert_chain("hh-gate", dev.state()["seq"])
    kinds = [e["kind"] for e in events]
    assert {"heartbeat", "signin", "report", "signout"} <= set(kinds), kinds
    for b in next(e for e in events if e["kind"] == "report")["blobs"]:
        wait_until("the report's media complete", lambda s=b["sha256"]: hub.blob_complete(s))
    assert hub.errors() == {}
