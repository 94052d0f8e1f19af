"""The heap of a whole update (download, verify, swap, the new firmware's probation) on the
MicroPython unix port, the high-water printed like tests/firmware/test_tls_heap.py: the gate
live at its 512K; the handheld in the update mode at its stated 192K (and 224K), the real
firmware tree (every file of firmware_files: 60 today) through the loader, the trial
confirmed. docs/firmware.md, "OTA", has the figures per phase (accept, updater, trial, app):
at 192K the trial boot keeps ~10.5 KB spare, and a receipt whose signature check finds no
heap in a burst is checked again later (lib/upload.py), so it passes under load too."""

from __future__ import annotations

import re

import pytest

from protocol import crypto
from simulator import Fleet
from simulator.fleet import firmware_files
from tests.firmware.ota_hub import ScriptedHub, firmware_tree, make_bundle
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

GRID = "33010200100101"
_HEAP = re.compile(r"heap peak=-?\d+ hwm=(\d+) free=\d+ total=(\d+)")
_UPDATER = re.compile(r"updater heap hwm=(\d+)")
_TRIAL = re.compile(r"confirmed, heap hwm=(\d+)")  # lib/trial.py, at the commit


def _update(tmp_path, kind: str, heapsize: str) -> tuple[int, int]:
    tree = firmware_tree(tmp_path / "v2", "0.2.0")
    with Mosquitto(workdir=tmp_path / "broker", secure=False) as broker:
        fleet = Fleet(broker.host, broker.port, root=tmp_path / "fleet",
                      hub_seed=crypto.new_seed(),
                      defaults={"trim_on": "puback", "require_hub": False})  # fmt: skip
        hub = ScriptedHub(broker, fleet.hub_seed)
        try:
            b = make_bundle(tree, "0.2.0", fleet.ops_seed)
            assert len(b.paths) == len(firmware_files()) > 50  # the whole tree, not a sample
            hub.offer(b)
            script = [{"at": 20, "do": "end"}]
            if kind == "handheld":
                dev = fleet.add_handheld("ota-heap", GRID, scenario=script, heapsize=heapsize,
                                         ota=True, heartbeat_s=0, track_s=0)  # fmt: skip
            else:
                dev = fleet.add_gate("ota-heap", kind, GRID, scenario=script, heapsize=heapsize,
                                     ota=True, heartbeat_s=0)  # fmt: skip
            dev.start()
            wait_until("birth", lambda: hub.births, 60)
            hub.c.publish("gl/v1/ota-heap/cmd",
                          fleet.command("ota-heap", "ota", b.args(), cmd_id="c-1"), 1)  # fmt: skip
            ack = wait_until("ack", lambda: hub.ack_of("ota-heap", "c-1"), 60,
                             detail=lambda: dev.log()[-3000:])  # fmt: skip
            assert (ack["status"], ack["detail"]) == ("succeeded", "accepted"), ack
            rc = dev.wait(240)  # swap, reset, probation, confirmed, the script ends
            log = dev.log()
            assert rc == 0, log[-3000:]
            assert "MemoryError" not in log, log[-3000:]
            boot = dev.boot()
            assert (boot["version"], boot["trial"]) == ("0.2.0", None), log[-3000:]
            reboot = kind == "handheld"  # the update mode: into the updater, then the swap's
            assert dev.resets == (2 if reboot else 1)
            figures = [tuple(map(int, m)) for m in _HEAP.findall(log)]
            assert len(figures) == 2, log[-3000:]  # the old firmware's run, then the new one's
            updater = [int(h) for h in _UPDATER.findall(log)]
            assert len(updater) == (1 if reboot else 0), log[-3000:]
            trial = [int(h) for h in _TRIAL.findall(log)]
            assert len(trial) == 1, log[-3000:]
            runtime = [h for h, _ in figures]
            deferred = log.count("receipt check deferred")  # retried, never lost (upload.py)
            # phases: accept (the old firmware's run), updater, trial (the new firmware up to
            # its commit), app (the new firmware's whole run: trial, then the app alone)
            print(f"\n{kind} {heapsize}, {len(b.paths)} files: accept={runtime[0]} "
                  f"updater={updater} trial={trial[0]} app={runtime[1]} "
                  f"receipts deferred={deferred}")  # fmt: skip
            return max([h for h, _ in figures] + updater), figures[0][1]
        finally:
            hub.stop()
            fleet.cleanup()


@pytest.mark.parametrize(
    "kind,heapsize",
    [
        ("handheld", "192K"),
        ("handheld", "224K"),
        ("access", "512K"),
    ],
)  # fmt: skip
def test_a_whole_update_fits_the_heap(tmp_path, kind: str, heapsize: str) -> None:
    hwm, total = _update(tmp_path, kind, heapsize)
    print(f"\n{kind} update at {heapsize}: hwm={hwm} margin={total - hwm} total={total}")
    assert 0 < hwm < total <= int(heapsize[:-1]) * 1024
