"""How the HIL tests judge a device's scenario by what the real hub stored (plain asserts), in
one place so that tests/hil and the heap bench (bench/firmware_heap.py) judge a run alike.

    rep = check_big_report(hub, dev, 2 * MB, 20)   # the handheld's big report, whole
    check_patrol(hub, dev, reports=4)              # a patrol: every event once, every blob
    rows = check_gate(hub, community, dev, want)   # a gate's rush against its expected events
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.gates import gate_log
from tests.support.hub import Hub
from tests.support.waiting import device_state, wait_until

_HEAP = re.compile(r"heap peak=(-?\d+) hwm=(-?\d+) free=(\d+) total=(\d+)")


def heap_line(dev: Any) -> dict[str, int]:
    """The device's last ``heap peak=... hwm=... free=... total=...`` log line."""
    m = _HEAP.findall(dev.log())
    assert m, dev.log()[-3000:]
    return dict(zip(("peak", "hwm", "free", "total"), map(int, m[-1]), strict=True))


def stored_report(hub: Hub, dev: str, timeout: float = 30) -> dict[str, Any]:
    (report,) = wait_until(
        f"{dev}'s report stored by the hub", lambda: hub.events(dev, "report"), timeout
    )
    return report


def wait_blobs(hub: Hub, event: dict[str, Any], timeout: float = 60) -> list[bytes]:
    """Every blob of the event complete in the hub's media store; their bytes (SHA-256 checked)."""
    out = []
    for b in event["blobs"]:
        sha = b["sha256"]
        wait_until(
            f"blob {sha[:12]} complete at the hub", lambda s=sha: hub.blob_complete(s), timeout
        )
        data = hub.blob_content(sha)
        assert len(data) == b["size"]
        out.append(data)
    return out


def check_big_report(hub: Hub, dev: Any, photo_bytes: int, audio_s: int) -> dict[str, Any]:
    """simulator.scenarios.big_report run to the end (the device exited): the report with its
    Chinese text, a photo of ``photo_bytes`` and ``audio_s`` of 8 kHz audio stored whole, every
    envelope verified, the chain unbroken, the heap under its limit. Returns the report."""
    rep = stored_report(hub, dev.device_id)
    assert "井盖缺失" in rep["body"]["text"]
    assert rep["body"]["grid"] == dev.config["grid"] and rep["body"]["worker"] == "w-001"
    assert rep["body"]["loc"]["lat_e6"] > 0
    assert [b["mime"] for b in rep["blobs"]] == ["image/jpeg", "audio/wav"]
    assert rep["blobs"][0]["size"] == photo_bytes
    assert rep["blobs"][1]["size"] == 44 + audio_s * 8000 * 2  # 8 kHz, 16-bit mono
    photo, audio = wait_blobs(hub, rep)
    assert photo[:4] == b"\xff\xd8\xff\xe0" and photo[-2:] == b"\xff\xd9"
    assert audio[:4] == b"RIFF" and audio[8:12] == b"WAVE"
    # the hub verified every envelope (nothing rejected) and the chain is unbroken
    hub.assert_chain(dev.device_id, dev.state()["seq"])
    assert hub.errors() == {}
    heap = heap_line(dev)
    assert 0 < heap["hwm"] < heap["total"], heap
    return rep


def check_patrol(hub: Hub, dev: Any, reports: int) -> list[dict[str, Any]]:
    """A patrol run to the end: every event the device signed stored exactly once, in order,
    the chain unbroken, ``reports`` reports and a track among them, every blob whole."""
    n = dev.state()["seq"]
    wait_until(f"{dev.device_id}'s {n} events stored", lambda: len(hub.events(dev.device_id)) >= n)
    events = hub.assert_chain(dev.device_id, n)  # exactly once after dedupe, unbroken
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)  # in order
    kinds = [e["kind"] for e in events]
    assert kinds.count("report") == reports and "track" in kinds, kinds
    for rep in (e for e in events if e["kind"] == "report"):
        wait_blobs(hub, rep)
    return events


Want = list[tuple[str, str | None, str | None]]


def check_gate(hub: Hub, community: str, dev: Any, want: Want) -> list[dict[str, Any]]:
    """Every event the gate emitted stored exactly once, its chain whole, every access event
    of every stored batch one access-log row keyed (seq, idx), and the events equal to the
    expected ones in order. Returns the gate's access-log rows."""
    st = device_state(dev)
    emitted = st["batch_n"]
    events = hub.assert_chain(dev.device_id, st["seq"], timeout=60)
    batches = [e for e in events if e["kind"] == "access"]
    keys = [(e["seq"], i) for e in batches for i in range(len(e["body"]["events"]))]
    assert len(keys) == emitted, (dev.device_id, len(keys), emitted)
    rows = wait_until(
        f"{emitted} access-log rows of {dev.device_id}",
        lambda: (r := gate_log(hub, community, dev.device_id)) and len(r) >= emitted and r,
        30,
    )
    got_keys = [(r["seq"], r["idx"]) for r in rows]
    assert len(set(got_keys)) == len(got_keys), "an access event stored twice"
    assert got_keys == keys, f"{dev.device_id}: access-log keys differ from the stored batches"
    got = [(r["ev"], r["reason"], r["person_id"]) for r in rows]
    assert len(got) == len(want), (dev.device_id, dev.heapsize, len(got), len(want))
    wrong = [(i, g, w) for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert not wrong, f"{dev.device_id} (heap {dev.heapsize}): {len(wrong)} wrong: {wrong[:10]}"
    assert hub.errors() == {}, hub.errors()
    return rows
