"""An OTA-capable SimDevice (Fleet.add_handheld(..., ota=True)): the firmware installed into
<flash>/fw/a, booted through firmware/loader.py with MICROPYPATH=.frozen only, and started
again by the simulator's watcher when it resets (exit 3), as a board would come up again."""

from __future__ import annotations

from simulator import Fleet, scenarios
from simulator.fleet import firmware_files
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

GRID = "33010200100101"


def test_an_ota_device_boots_through_the_loader_and_is_restarted_after_a_reset(tmp_path):
    with Mosquitto(workdir=tmp_path / "broker", secure=False) as broker:
        fleet = Fleet(broker.host, broker.port, root=tmp_path / "fleet")
        wire = MqttObserver(broker, ("gl/v1/#",)).start()
        try:
            dev = fleet.add_handheld("hh-sim-ota", GRID, scenario=scenarios.idle(3600),
                                     ota=True, heartbeat_s=0, track_s=0,
                                     heapsize="192K")  # fmt: skip
            slot = dev.flash_dir / "fw" / "a"
            held = [p.relative_to(slot).as_posix() for p in slot.rglob("*") if p.is_file()]
            assert sorted(held) == sorted(r for _, r in firmware_files())
            assert not (slot / "loader.py").exists()
            assert dev.boot() == {"slot": "a", "version": "0.1.0", "trial": None,
                                  "rolled_back": None}  # fmt: skip
            assert dev.config["hw"] == "sim-unix"
            assert dev.config["ops_key"] == fleet.ops_public_key.hex()
            dev.start()
            wait_until("birth", lambda: wire.online("hh-sim-ota"), 60,
                       detail=lambda: dev.log()[-3000:])  # fmt: skip
            # it runs the slot's copy, not the repo's
            assert dev.proc.args[-3].endswith("firmware/loader.py")  # the slot runs under it
            mark = wire.mark()
            wire.publish("gl/v1/hh-sim-ota/cmd", fleet.command("hh-sim-ota", "reboot"))
            wire.wait("the birth after the reset", lambda: wire.online("hh-sim-ota", mark), 60)
            wait_until("counted", lambda: dev.resets == 1, 10)
            assert dev.running and dev.starts == 2
            assert dev.log().count("--- start") == 2
            dev.stop()
            assert dev.wait(10) != 3 and dev.resets == 1  # a stop is not restarted
        finally:
            wire.stop()
            fleet.cleanup()
