"""A handheld revoked in the middle of its patrol, on the locked-down broker (issue 10).

The real firmware patrols (a track envelope a second) until its link is cut; it keeps
recording into its flash outbox while offline. When the link returns (slowly: every publish is
held 0.7 s, so its backlog takes a while to drain) the device's birth announces the highest
seq it has signed, and the hub is told to revoke it at once. Then:

- within 5 s the broker has dropped the device and refuses its reconnects (dynsec
  ``disableClient``), and the hub shows it offline;
- what it signed and queued before the revocation is still evidence: the records its outbox
  never got to send are handed to the hub (as the broker would deliver messages it queued, or
  an operator recovers a seized device's flash), and every one at or below the watermark the
  hub fixed from that birth is stored, in chain;
- a message signed afterwards with the device's key (a thief holds the handheld) is rejected
  and counted ``revoked``, including one whose signed ``ts`` is ten minutes before the
  revocation.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol import envelope, topics
from simulator import NetProxy, scenarios
from simulator.fleet import SimDevice
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import device_state, wait_until

pytestmark = pytest.mark.hil

GRID = "33010200100101"
DEV = "hh-revoke"


@pytest.fixture
def link(broker: Mosquitto) -> Iterator[NetProxy]:
    proxy = NetProxy(broker.host, broker.port).start()
    yield proxy
    proxy.stop()


def outbox_records(dev: SimDevice) -> list[tuple[str, bytes]]:
    """(topic, payload) of every record left in the device's flash outbox, in rid order
    (the record format of firmware/lib/outbox.py)."""
    out = []
    root = Path(dev.config["flash"]) / "outbox"
    files = sorted(root.glob("e*"), key=lambda p: int(p.name[1:]))
    for path in files:
        data = path.read_bytes()
        blen, _crc = struct.unpack(">II", data[:8])
        body = data[8 : 8 + blen]
        _rid, _, tlen, mlen = struct.unpack(">IBHH", body[:9])
        topic = body[9 : 9 + tlen].decode()
        out.append((topic, bytes(body[9 + tlen + mlen :])))
    return out


def refusals(dev: SimDevice) -> int:
    """Connections the broker refused the device, as its log tells: CONNACK code 5, "not
    authorised" (Mosquitto's own log does not name a client it refused)."""
    return dev.log().count("link down: MQTTError(5,)")


def test_revoked_mid_patrol(broker, hub, fleet, wire, link) -> None:
    dev = fleet.add_handheld(
        DEV,
        GRID,
        broker={"port": link.port},
        scenario=scenarios.idle(600),
        exit_when_done=False,
        heartbeat_s=3600,
        track_s=1,
        track_batch=1,
    )
    hub.register(dev)
    dev.start()
    wait_until("patrol under way", lambda: len(hub.seqs(DEV)) >= 3, 60, detail=dev.log)

    # the link drops; the handheld keeps recording into its outbox
    link.cut()
    cut_at = device_state(dev)["seq"]
    wait_until("a backlog", lambda: device_state(dev)["seq"] >= cut_at + 8, 60, detail=dev.log)
    link.publish_delay_s = 0.7  # a slow link: the backlog drains one record per 0.7 s
    link.resume()

    def announced() -> int:
        return int(hub.get(f"/api/devices/{DEV}")["announced_seq"])

    wait_until("the birth announcing the backlog", lambda: announced() >= cut_at + 8, 60)
    refused_before = refusals(dev)
    t0 = time.monotonic()
    resp = hub.api.post(f"/api/devices/{DEV}/revoke", json={"reason": "lost on patrol"})
    assert resp.status_code == 200, resp.text
    revoked = resp.json()
    assert revoked["status"] == "revoked" and revoked["broker_disabled"] is True
    watermark = revoked["revoked_seq"]
    assert watermark >= cut_at + 8

    # within 5 s: dropped, and every reconnect refused
    wait_until("a refused reconnect", lambda: refusals(dev) > refused_before, 5)
    print(f"\nrevoked: reconnect refused {time.monotonic() - t0:.2f} s after the call")
    assert not hub.get(f"/api/devices/{DEV}")["online"]
    wait_until("refused again", lambda: refusals(dev) > refused_before + 1, 10)
    dev.kill()

    # what it signed before the revocation and could not send is still accepted
    left = outbox_records(dev)
    queued = [(t, p) for t, p in left if envelope.parse(p)["seq"] <= watermark]
    assert queued, f"nothing left in the outbox to hand over (watermark {watermark}): {left}"
    stored_before = set(hub.seqs(DEV))
    for topic, payload in queued:
        wire.publish(topic, payload)
    want = stored_before | {envelope.parse(p)["seq"] for _, p in queued}
    wait_until("the queued evidence stored", lambda: set(hub.seqs(DEV)) >= want, 30)
    hub.assert_chain(DEV, max(want))

    # signed afterwards with the stolen key: rejected whatever its ts, even backdated
    prev = max((p for _, p in queued), key=lambda p: envelope.parse(p)["seq"])
    seq = envelope.parse(prev)["seq"]
    at = int(time.time())
    before = hub.rejections().get("revoked", 0)
    cases = len(hub.get("/api/cases", limit=500))
    assert dev.seed is not None
    for ts in (at, at - 600):  # now, and ten minutes before the revocation
        seq += 1
        env = envelope.build(
            DEV, seq, ts, "report", {"text": "伪造 forged"}, prev=envelope.digest(prev)
        )
        prev = envelope.seal(env, dev.seed)
        wire.publish(topics.evt(DEV, "report"), prev)
    wait_until("both counted revoked", lambda: hub.rejections().get("revoked", 0) >= before + 2)
    assert max(hub.seqs(DEV)) == max(want)
    assert len(hub.get("/api/cases", limit=500)) == cases
