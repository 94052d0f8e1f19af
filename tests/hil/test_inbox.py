"""A verification request pushed by the hub survives a reboot of the handheld.

The command's cseq is spent once it is acked, so the hub's re-send would be refused as a
replay: the prompt itself must be kept on flash until the worker answers it."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt

from protocol import topics
from simulator import scenarios

GRID = "33010200100101"


def test_a_verify_request_is_asked_again_after_a_reboot(broker, fleet, subscriber):
    dev = fleet.add_handheld(
        "hh-inbox", GRID, scenario=scenarios.idle(120), answers={"verify": "wait"}
    )
    dev.start()
    subscriber.wait(
        lambda: any(s["online"] and s["dev"] == "hh-inbox" for s in subscriber.states), 20, "birth"
    )
    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hil-hub-inbox")
    hub.connect(broker.host, broker.port)
    hub.loop_start()
    try:
        cmd = fleet.command(
            "hh-inbox", "verify", {"case_id": 42, "task_id": "vt-42-1"}, cseq=1, cmd_id="c-verify"
        )
        hub.publish(topics.cmd("hh-inbox"), cmd, qos=1).wait_for_publish(5)
        subscriber.wait(
            lambda: any(a["body"]["id"] == "c-verify" for a in subscriber.acks),
            20,
            "the verify command's ack",
        )
        time.sleep(0.5)
        assert subscriber.of("hh-inbox", "verify") == []  # the worker has not answered yet
        dev.kill()  # battery out
        dev.update_config(sim={"answers": {"verify": "confirm"}})
        dev.start()
        subscriber.wait(lambda: subscriber.of("hh-inbox", "verify"), 30, "the verify event")
    finally:
        hub.loop_stop()
        hub.disconnect()
    (event,) = subscriber.of("hh-inbox", "verify")
    assert (event["body"]["case_id"], event["body"]["task_id"]) == (42, "vt-42-1")
    assert event["body"]["result"] == "confirm" and event["blobs"]
    assert dev.state().get("inbox") == []
