"""A verification request pushed by the hub survives a reboot of the handheld.

The command's cseq is spent once it is acked, so the hub's re-send would be refused as a
replay: the prompt itself must be kept on flash until the worker answers it."""

from __future__ import annotations

from protocol import command, topics
from simulator import scenarios
from tests.support.waiting import device_state, wait_until

GRID = "33010200100101"
DEV = "hh-inbox"


def test_a_verify_request_is_asked_again_after_a_reboot(hub, fleet, wire):
    dev = fleet.add_handheld(DEV, GRID, scenario=scenarios.idle(120), answers={"verify": "wait"})
    hub.register(dev)
    dev.start()
    wire.wait("the device's birth", lambda: wire.online(DEV))
    verify = hub.send(DEV, "verify", {"case_id": 42, "task_id": "vt-42-1"})
    wait_until(
        "the verify command acked", lambda: hub.command(verify["id"])["status"] == "succeeded"
    )
    # a ping after it: once that is answered the device has long handled the verify request
    ping = hub.send(DEV, "ping")
    wait_until("the ping answered", lambda: hub.command(ping["id"])["status"] == "succeeded")
    assert hub.events(DEV, "verify") == []  # the worker has not answered yet
    assert wire.envelopes(DEV, "verify") == []
    dev.kill()  # battery out
    dev.update_config(sim={**dev.config["sim"], "answers": {"verify": "confirm"}})
    dev.start()
    (event,) = wait_until("the verify event stored", lambda: hub.events(DEV, "verify"))
    assert (event["body"]["case_id"], event["body"]["task_id"]) == (42, "vt-42-1")
    assert event["body"]["result"] == "confirm" and event["blobs"]
    for b in event["blobs"]:
        wait_until("the photo complete at the hub", lambda s=b["sha256"]: hub.blob_complete(s))
        assert len(hub.blob_content(b["sha256"])) == b["size"]
    # the prompt came from the device's flash: the hub sent the command once, never again
    sent = [command.parse_command(m.payload)["id"] for m in wire.matching(topics.cmd(DEV))]
    assert sent.count(verify["id"]) == 1, sent
    wait_until("the inbox emptied", lambda: device_state(dev).get("inbox") == [])
    assert hub.errors() == {}
