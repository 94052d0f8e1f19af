"""firmware/lib/mqtt.py and link.py against a real Mosquitto (paho plays the hub)."""

from __future__ import annotations

import os
import signal

import pytest

from tests.support.micropython import read_until
from tests.support.mosquitto import Mosquitto
from tests.support.wire import MqttObserver

BASIC = """
import asyncio, sys, json
import mqtt
host, port = sys.argv[1], int(sys.argv[2])
got = []

async def main():
    c = mqtt.MQTTClient("basic-dev", host, port, keepalive=10)
    c.set_callback(lambda t, p: got.append([t, str(p, "ascii")]))
    sp = await c.connect(clean_session=True)
    granted = await c.subscribe("dev/cmd", 1)
    await c.publish("dev/evt", b"qos1", qos=1)
    await c.publish("dev/evt", bytearray(b"qos0"), qos=0)
    big = bytearray(16384 + 44)
    for i in range(len(big)):
        big[i] = i & 0xFF
    await c.publish("dev/blob", memoryview(big)[:16428], qos=1)
    await c.publish("dev/state", b"online", qos=1, retain=True)
    await c.publish("dev/cmd", b"loopback", qos=1)   # comes back through our subscription
    await c.ping()
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.02)
    print(json.dumps({"sp": sp, "granted": granted, "got": got, "inflight": len(c.inflight),
                      "connected": c.connected}))
    await c.disconnect()
    print(json.dumps({"connected": c.connected}))

asyncio.run(main())
"""


def test_connect_publish_subscribe_retained(run_fw, broker, subscriber):
    import json

    sub = subscriber(("dev/#",))
    out = run_fw(BASIC, broker.host, broker.port).strip().splitlines()
    r = json.loads(out[-2])
    assert r == {
        "sp": False,
        "granted": 1,
        "got": [["dev/cmd", "loopback"]],
        "inflight": 0,
        "connected": True,
    }
    assert json.loads(out[-1]) == {"connected": False}
    msgs = {}
    for _ in range(5):
        m = sub.get()
        msgs[m.topic + ("/q0" if m.qos == 0 else "")] = (m.payload, m.qos)
    assert msgs["dev/evt"] == (b"qos1", 1)
    assert msgs["dev/evt/q0"] == (b"qos0", 0)
    assert msgs["dev/blob"] == (bytes(i & 0xFF for i in range(16428)), 1)
    assert msgs["dev/state"] == (b"online", 1)
    # a later subscriber gets the retained state
    late = MqttObserver(broker, ("dev/state",)).start()
    try:
        m = late.get()
        assert (m.payload, m.retain) == (b"online", True)
    finally:
        late.stop()


WILL = """
import asyncio, sys
import mqtt
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]

async def main():
    c = mqtt.MQTTClient("will-dev", host, port, keepalive=30,
                        will=("dev/state", b"offline", 1, True))
    await c.connect()
    await c.publish("dev/state", b"online", qos=1, retain=True)
    print("ready")
    if mode == "graceful":
        await c.disconnect()
        print("bye")
        return
    while True:
        await asyncio.sleep(1)

asyncio.run(main())
"""


def test_last_will_arrives_when_the_device_dies(broker, subscriber, mpy_procs):
    sub = subscriber(("dev/state",))
    # a graceful DISCONNECT discards the will
    p = mpy_procs(WILL, broker.host, broker.port, "graceful")
    read_until(p, "bye")
    assert p.wait(10) == 0
    assert sub.get().payload == b"online"
    # power loss: kill -9, the broker publishes the will (retained)
    p = mpy_procs(WILL, broker.host, broker.port, "kill")
    read_until(p, "ready")
    assert sub.get().payload == b"online"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert sub.get(timeout=10).payload == b"offline"
    late = MqttObserver(broker, ("dev/state",)).start()
    try:
        m = late.get()
        assert (m.payload, m.retain) == (b"offline", True)
    finally:
        late.stop()
    assert sub.msgs.empty()  # exactly one will, none from the graceful run


INFLIGHT = """
import asyncio, sys, os
import mqtt
host, port, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]

async def wait_file(path):
    while True:
        try:
            os.stat(path)
            return
        except OSError:
            await asyncio.sleep(0.02)

async def main():
    c = mqtt.MQTTClient("dup-dev", host, port, keepalive=0)
    await c.connect()
    print("connected")
    await wait_file(flag + "1")          # the test has frozen the broker
    payload = bytearray(b"in-flight-1")
    try:
        await c.publish("dev/evt", payload, qos=1, timeout=1)
        print("unexpected puback")
    except OSError as e:
        payload[:] = b"reused-buff"     # the caller reuses its buffer after the error
        print("timeout", len(c.inflight), c.connected)
    await wait_file(flag + "2")          # the broker crashed and came back
    c2 = mqtt.MQTTClient("dup-dev", host, port, keepalive=0)
    c2.adopt_inflight(c)
    sp = await c2.connect()
    n = await c2.resend_inflight()
    for _ in range(250):
        if not c2.inflight:
            break
        await asyncio.sleep(0.02)
    print("resent", n, sp, len(c2.inflight))
    await c2.disconnect()

asyncio.run(main())
"""


def test_unacked_qos1_is_resent_with_dup_after_broker_crash(
    broker, subscriber, mpy_procs, tmp_path
):
    sub = subscriber(("dev/evt",))
    flag = str(tmp_path / "go")
    p = mpy_procs(INFLIGHT, broker.host, broker.port, flag)
    read_until(p, "connected")
    broker.pause()  # takes the PUBLISH into its socket buffer, never answers
    open(flag + "1", "w").close()
    assert read_until(p, "timeout")[-1] == "timeout 1 False"
    broker.stop(kill=True)  # crash: whatever it had buffered is gone
    assert sub.msgs.empty()
    broker.start()
    sub.wait_subscribed()  # paho reconnected and subscribed again
    open(flag + "2", "w").close()
    line = read_until(p, "resent")[-1]
    assert line == "resent 1 False 0"  # session gone with the crash; PUBACK arrived
    m = sub.get()
    assert (m.topic, m.payload) == ("dev/evt", b"in-flight-1")  # the original bytes
    assert "Received PUBLISH from dup-dev (d1, q1, r0, m1, 'dev/evt'" in broker.log()
    assert p.wait(10) == 0


LINK = """
import asyncio, sys
import mqtt, link, outbox
host, port, root, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ob = outbox.Outbox(root)
for i in range(n):
    ob.put("dev/evt", b"event-%03d" % i)
cmds = []
ups = []

async def on_up(c):
    await c.subscribe("dev/cmd", 1)
    await c.publish("dev/state", b"online", qos=1, retain=True)
    ups.append(1)
    print("up", len(ups))

def factory():
    return mqtt.MQTTClient("link-dev", host, port, keepalive=2)

async def main():
    ln = link.Link(factory, on_up=on_up, on_message=lambda t, p: cmds.append(p),
                   backoff_min_ms=100, backoff_max_ms=400)
    asyncio.create_task(ln.run())
    while len(ob):
        rid, topic, payload, media = ob.peek()
        try:
            await ln.publish(topic, payload)
        except OSError as e:
            print("retry", rid, repr(e))
            await ln.wait_up()
            continue
        ob.ack(rid)
        print("sent", rid)
        await asyncio.sleep(0.03)
    while not cmds:
        await asyncio.sleep(0.05)
    print("cmd", str(cmds[0], "ascii"))
    print("done", ln.reconnects, len(ups))
    ln.stop()

asyncio.run(main())
"""


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "sigkill"])
def test_link_reconnects_after_broker_restart_and_nothing_is_lost(crash, mpy_procs, tmp_path):
    # the hub's session and queue survive the restart (persistence, saved on every change so
    # that even SIGKILL keeps them); the device's connection does not
    broker = Mosquitto(  # the client's wire behaviour on dev/ topics: anonymous (conftest.py)
        workdir=tmp_path / "broker",
        persistence=True,
        secure=False,
        extra_conf="autosave_on_changes true\nautosave_interval 1",
    ).start()
    hub = MqttObserver(broker, ("dev/evt",), client_id="hub", clean=False).start()
    try:
        n = 40
        p = mpy_procs(LINK, broker.host, broker.port, tmp_path / "ob", n)
        read_until(p, "sent 10")
        broker.restart(kill=crash)
        lines = read_until(p, "up 2", timeout=20)
        assert any(x.startswith("retry") for x in lines)
        cmd = MqttObserver(broker, ())
        cmd.start()
        cmd.publish("dev/cmd", b"open")
        cmd.stop()
        lines = read_until(p, "done", timeout=20)
        assert "cmd open" in lines  # on_up subscribed again
        assert lines[-1] == "done 1 2"
        payloads = []
        while len(set(payloads)) < n:
            payloads.append(hub.get(timeout=10).payload)
        assert sorted(set(payloads)) == [b"event-%03d" % i for i in range(n)]
        assert len(payloads) - n <= 2  # at least once: only what was in flight may repeat
        assert p.wait(10) == 0
    finally:
        hub.stop()
        broker.cleanup()


BIG = """
import gc
gc.collect()  # start-up collection, as main.py does: the compiler left garbage behind
import mqtt
import asyncio, sys
host, port = sys.argv[1], int(sys.argv[2])
got = []

async def main():
    c = mqtt.MQTTClient("small-dev", host, port, max_incoming=4096)
    c.set_callback(lambda t, p: got.append(len(p)))
    await c.connect(clean_session=True)
    await c.subscribe("dev/cmd", 1)
    gc.collect()
    print("ready", gc.mem_free())
    for _ in range(500):
        if got:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    gc.collect()
    print("result", c.dropped_incoming, got, c.connected, gc.mem_free())

asyncio.run(main())
"""


def test_oversized_incoming_is_skipped_within_a_64k_heap(broker, subscriber, mpy_procs):
    pub = subscriber(())
    p = mpy_procs(BIG, broker.host, broker.port, heapsize="64K")
    read_until(p, "ready")
    pub.publish("dev/cmd", os.urandom(300_000))  # 4.6x the whole heap
    pub.publish("dev/cmd", b"x" * 1000)
    line = read_until(p, "result")[-1].split(" ")
    assert line[1:4] == ["1", "[1000]", "True"], line  # dropped 1, got the small one, still up
    assert p.wait(10) == 0
    # the broker got our PUBACK for the dropped one: it is not redelivered on reconnect
    assert "Sending PUBLISH to small-dev (d1" not in broker.log()


SESSION = """
import asyncio, sys
import mqtt
host, port, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
got = []

def cb(topic, payload):
    got.append(payload)
    if payload == b"boom":
        raise ValueError("handler bug")

async def main():
    c = mqtt.MQTTClient("sess-dev", host, port)
    c.set_callback(cb)
    sp = await c.connect(clean_session=False)
    if phase == "1":
        await c.subscribe("dev/cmd", 1)
        print("subscribed", sp)
        await c.disconnect()
        return
    print("session", sp)
    for _ in range(250):
        if len(got) >= 2:
            break
        await asyncio.sleep(0.02)
    print("got", b",".join(got).decode(), c.connected)
    await c.disconnect()

asyncio.run(main())
"""


def test_persistent_session_gets_queued_commands_and_survives_a_bad_handler(
    broker, subscriber, mpy_procs
):
    p = mpy_procs(SESSION, broker.host, broker.port, "1")
    assert read_until(p, "subscribed")[-1] == "subscribed False"
    assert p.wait(10) == 0
    hub = subscriber(())
    hub.publish("dev/cmd", b"boom")  # queued for the offline device
    hub.publish("dev/cmd", b"open")
    p = mpy_procs(SESSION, broker.host, broker.port, "2")
    lines = read_until(p, "got")
    assert lines[0] == "session True"
    assert lines[-1] == "got boom,open True"  # the handler's bug did not take the link down
    assert p.wait(10) == 0
    assert "ValueError: handler bug" in p.stderr.read() + "\n".join(lines)


KEEP = """
import asyncio, os, sys
import mqtt
host, port, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]

async def main():
    c = mqtt.MQTTClient("keep-dev", host, port, keepalive=0)
    await c.connect()
    print("connected")
    while True:
        try:
            os.stat(flag)
            break
        except OSError:
            await asyncio.sleep(0.02)
    buf = bytearray(16384 + 44)           # above 2 KiB: written in slices
    try:
        await c.publish("dev/blob", memoryview(buf), qos=1, timeout=1, keep=False)
        print("unexpected puback")
    except OSError:
        print("timeout", len(c.inflight), c.connected)

asyncio.run(main())
"""


def test_keep_false_forgets_an_unacked_publish_instead_of_copying_it(broker, mpy_procs, tmp_path):
    flag = str(tmp_path / "go")
    p = mpy_procs(KEEP, broker.host, broker.port, flag)
    read_until(p, "connected")
    broker.pause()
    try:
        open(flag, "w").close()
        assert read_until(p, "timeout")[-1] == "timeout 0 False"
    finally:
        broker.resume()
    assert p.wait(10) == 0


ROUND_TRIPS = """
import asyncio, sys, time
import mqtt
host, port = sys.argv[1], int(sys.argv[2])
ms = getattr(time, "ticks_ms", None) or (lambda: int(time.monotonic() * 1000))

async def main():
    c = mqtt.MQTTClient("rtt-dev", host, port, keepalive=10)
    await c.connect(clean_session=True)
    payload = b"e" * 400
    await c.publish("dev/evt", payload, qos=1)
    t = ms()
    for _ in range(40):
        await c.publish("dev/evt", payload, qos=1)   # head and payload: two writes
    print("MS", (ms() - t) / 40)
    await c.disconnect()

asyncio.run(main())
"""


def test_a_qos1_publish_does_not_wait_for_a_delayed_ack(run_fw, broker):
    # with Nagle on, the payload of each publish waited for the broker's delayed ACK of its
    # head: ~40 ms to every PUBACK on loopback (2,000 events took ~80 s only for that)
    out = run_fw(ROUND_TRIPS, broker.host, broker.port)
    ms = float(out.split("MS")[-1].split()[0])
    assert ms < 20, out
