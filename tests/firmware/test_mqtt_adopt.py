"""Found in review: a reconnect can adopt the in-flight entry of a publisher still blocked in
drain(); the publisher's cleanup must act on that shared entry (copy its payload for keep=True,
drop it for keep=False) so the new client never keeps the caller's reused buffer."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.firmware.scripts import WAIT_UNTIL

SCRIPT = (
    WAIT_UNTIL
    + """
import sys
import mqtt
async def main():
    port = int(sys.argv[1]); keep = sys.argv[2] == "1"
    c = mqtt.MQTTClient("t", "127.0.0.1", port, keepalive=0)
    await c.connect()
    buf = bytearray(4 * 1024 * 1024)
    async def pub():
        try:
            await c.publish("a/b", buf if keep else memoryview(buf), 1, timeout=3, keep=keep)
        except OSError as e:
            print("raised", repr(e))
    t = asyncio.create_task(pub())
    # the publisher's entry is in flight and it is writing (the broker never reads, so it
    # blocks in drain() and stays there)
    await wait_until(lambda: c.inflight)
    c.close()                        # the connection dies
    c2 = mqtt.MQTTClient("t", "127.0.0.1", port, keepalive=0)
    c2.adopt_inflight(c)             # what Link.run does on the next attempt, while the
                                     # publisher has not yet seen the dead connection
    await t
    buf[0] = 0x55                    # the caller reuses its buffer
    ents = [e for e in c2.inflight.values() if e[1] is not None]
    print("ADOPTED", len(ents))
    for e in ents:
        print("PAYLOAD", type(e[1]).__name__, e[1] is buf, len(e[1]), e[1][0], e[3] is None)
asyncio.run(main())
"""
)


@pytest.fixture
def stuck_broker():
    """CONNACKs every connection, then never reads (its receive buffer fills up)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    conns = []

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.recv(2)
            c.sendall(b"\x20\x02\x00\x00")
            conns.append(c)

    threading.Thread(target=serve, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()
    for c in conns:
        c.close()


@pytest.mark.parametrize("keep", [True, False])
def test_adopted_entry_of_a_blocked_publisher_never_keeps_the_callers_buffer(
    run_mpy, stuck_broker, keep
):
    out = run_mpy(SCRIPT, stuck_broker, "1" if keep else "0", heapsize="32M", timeout=30)
    assert "raised" in out, out
    if keep:
        # copied when the publisher gave up: the DUP re-send carries the original bytes
        assert "ADOPTED 1" in out, out
        assert f"PAYLOAD bytes False {4 * 1024 * 1024} 0 True" in out, out
    else:
        assert "ADOPTED 0" in out, out
