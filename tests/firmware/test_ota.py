"""Firmware updates on the device (contract 11, sections 3 and 4; docs/firmware.md, "OTA").

The loader on the MicroPython unix port with MICROPYPATH=.frozen only (no boot record, trial
counting, a crash on probation rolled back with exit 3), then the whole download against a
scripted hub (tests/firmware/ota_hub.py: a paho client on a real Mosquitto answering fwreq
from a bundle built here with protocol/bundle): a good bundle downloaded, verified, swapped,
booted on trial and confirmed by a receipt; a foreign signature, one altered byte, the wrong
kind or an older version refused with the running slot untouched; a download killed half way
resumed with only the missing chunks asked for; the hub's refusal reported.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from protocol import crypto
from simulator import Fleet, scenarios
from simulator.fleet import LOADER, firmware_files, micropypath
from tests.firmware.ota_hub import Bundle, ScriptedHub, firmware_tree, make_bundle
from tests.support.micropython import MICROPYTHON
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until

GRID = "33010200100101"
# the two ways a device runs an update (docs/firmware.md, "OTA"): "reboot", the update mode
# of the handheld, at its stated 192K; "live", the download next to the app (the gates' way),
# which for a handheld needs 384K (lib/ota.py + lib/fetch.py + protocol/bundle.py next to the
# app: see test_ota_heap.py). At 192K the trial boot has ~9-10 KB to spare, about what one
# pure-Python Ed25519 check needs: a receipt whose check finds no heap in a burst is checked
# again later (lib/upload.py), which these tests rely on under load
HEAP = {"reboot": "192K", "live": "384K"}
TRIAL_HEAP = {"reboot": "192K", "live": "384K"}
# resets a good update takes: the swap's; the update mode reboots into the updater first
RESETS = {"reboot": 2, "live": 1}
MODES = ["reboot", "live"]

# --- the loader ---------------------------------------------------------------------------


def _slot(fw: Path, slot: str, main: str) -> None:
    (fw / slot / "lib").mkdir(parents=True, exist_ok=True)
    (fw / slot / "main.py").write_text(main)
    # a module of the slot's own lib: the loader puts <slot>/lib on sys.path
    (fw / slot / "lib" / "which.py").write_text(f"SLOT = {slot!r}\n")


_MAIN = """
import which
def main(argv=None, boot=None):
    t = boot["trial"]
    print("RAN", which.SLOT, boot["slot"], boot["version"], t and t["boots"])
"""


def _loader(tmp: Path, heapsize: str = "64K") -> subprocess.CompletedProcess:
    cfg = tmp / "cfg.json"
    if not cfg.exists():
        cfg.write_text(json.dumps({"flash": str(tmp / "flash")}))
    return subprocess.run(
        [MICROPYTHON, "-X", f"heapsize={heapsize}", str(LOADER), "--config", str(cfg)],
        env=dict(os.environ, MICROPYPATH=".frozen"),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _boot(tmp: Path) -> dict:
    return json.loads((tmp / "flash" / "fw" / "boot.json").read_text())


def _write_boot(tmp: Path, rec: dict) -> None:
    (tmp / "flash" / "fw" / "boot.json").write_text(json.dumps(rec))


TRIAL = {"prev": "a", "prev_version": "0.1.0", "rollout": "r-1", "manifest": "ab" * 32,
         "boots": 0, "deadline_s": 180}  # fmt: skip


def test_the_loader_without_a_boot_record_says_so(tmp_path: Path) -> None:
    (tmp_path / "flash").mkdir()
    p = _loader(tmp_path)
    assert p.returncode == 2
    assert "fw/boot.json" in p.stdout and "fw/a" in p.stdout, p.stdout + p.stderr


def test_the_loader_runs_the_slot_its_record_names(tmp_path: Path) -> None:
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", _MAIN)
    _slot(fw, "b", _MAIN)
    _write_boot(tmp_path, {"slot": "b", "version": "0.3.0", "trial": None, "rolled_back": None})
    p = _loader(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == ["RAN", "b", "b", "0.3.0", "None"]
    assert _boot(tmp_path)["trial"] is None  # nothing rewritten outside a trial


def test_trial_boots_are_counted_and_a_third_unconfirmed_boot_rolls_back(tmp_path: Path) -> None:
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", _MAIN)
    _slot(fw, "b", _MAIN)
    _write_boot(tmp_path, {"slot": "b", "version": "0.2.0", "trial": dict(TRIAL),
                           "rolled_back": None})  # fmt: skip
    for n in (1, 2):
        p = _loader(tmp_path)
        assert p.returncode == 0, p.stdout + p.stderr
        assert p.stdout.split() == ["RAN", "b", "b", "0.2.0", str(n)]  # counted before it ran
        assert _boot(tmp_path)["trial"]["boots"] == n
    p = _loader(tmp_path)  # the slot never confirmed: back to a
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == ["RAN", "a", "a", "0.1.0", "None"]
    assert _boot(tmp_path) == {
        "slot": "a", "version": "0.1.0", "trial": None,
        "rolled_back": {"rollout": "r-1", "manifest": "ab" * 32, "version": "0.2.0",
                        "reason": "no_confirm"},
    }  # fmt: skip


def test_a_trial_boot_whose_count_cannot_be_written_boots_the_previous_slot(
    tmp_path: Path,
) -> None:
    # review #9: write_boot fails (here: its temp file's name is taken by a directory, as a
    # full or failing flash would refuse it); the loader must still boot something
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", _MAIN)
    _slot(fw, "b", _MAIN)
    rec = {"slot": "b", "version": "0.2.0", "trial": dict(TRIAL), "rolled_back": None}
    _write_boot(tmp_path, rec)
    (fw / "boot.json.tmp").mkdir()
    p = _loader(tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "trial boot not counted" in p.stdout and "booting slot a" in p.stdout, p.stdout
    assert p.stdout.split()[-5:] == ["RAN", "a", "a", "0.1.0", "None"], p.stdout
    assert _boot(tmp_path) == rec  # nothing could be written: this boot only


@pytest.mark.parametrize("where", ["import", "main"])
def test_a_crash_on_probation_rolls_back_and_resets(tmp_path: Path, where: str) -> None:
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", _MAIN)
    bad = "1 / 0\n" if where == "import" else "def main(argv=None, boot=None):\n    {}['x']\n"
    _slot(fw, "b", bad)
    _write_boot(tmp_path, {"slot": "b", "version": "0.2.0", "trial": dict(TRIAL),
                           "rolled_back": None})  # fmt: skip
    p = _loader(tmp_path)
    assert p.returncode == 3, p.stdout + p.stderr  # the unix port's machine.reset()
    err = "ZeroDivisionError" if where == "import" else "KeyError"
    assert "rolled back to a" in p.stdout, p.stdout + p.stderr
    rec = _boot(tmp_path)
    assert (rec["slot"], rec["version"], rec["trial"]) == ("a", "0.1.0", None)
    assert rec["rolled_back"]["reason"] == "crash: " + err
    p = _loader(tmp_path)  # the next boot: the old slot
    assert p.stdout.split() == ["RAN", "a", "a", "0.1.0", "None"], p.stdout + p.stderr


def test_a_crash_after_the_slot_confirmed_itself_is_no_rollback(tmp_path: Path) -> None:
    # review #1: the loader looks at boot.json again; the commit (trial None) stands
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", _MAIN)
    _slot(
        fw,
        "b",
        """
import json
def main(argv=None, boot=None):
    p = boot["root"] + "/fw/boot.json"
    with open(p) as f:
        rec = json.load(f)
    rec["trial"] = None
    with open(p, "w") as f:
        json.dump(rec, f)
    raise RuntimeError("runtime task ended")
""",
    )
    _write_boot(tmp_path, {"slot": "b", "version": "0.2.0", "trial": dict(TRIAL),
                           "rolled_back": None})  # fmt: skip
    p = _loader(tmp_path)
    assert p.returncode == 1 and "RuntimeError" in p.stdout + p.stderr, p.stdout + p.stderr
    assert _boot(tmp_path) == {"slot": "b", "version": "0.2.0", "trial": None,
                               "rolled_back": None}  # fmt: skip


def test_a_file_missing_from_the_slot_is_not_loaded_from_elsewhere(tmp_path: Path) -> None:
    # review #8: only the slot (and .frozen) on sys.path, not the loader's own folder
    # (firmware/ on the unix port, / on a board): the trial fails and rolls back
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", _MAIN)
    _slot(fw, "b", "import loader\ndef main(argv=None, boot=None):\n    print('MIXED')\n")
    _write_boot(tmp_path, {"slot": "b", "version": "0.2.0", "trial": dict(TRIAL),
                           "rolled_back": None})  # fmt: skip
    p = _loader(tmp_path)
    assert p.returncode == 3 and "MIXED" not in p.stdout, p.stdout + p.stderr
    assert _boot(tmp_path)["rolled_back"]["reason"] == "crash: ImportError"


def test_a_crash_outside_a_trial_changes_nothing(tmp_path: Path) -> None:
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", "1 / 0\n")
    rec = {"slot": "a", "version": "0.1.0", "trial": None, "rolled_back": None}
    _write_boot(tmp_path, rec)
    p = _loader(tmp_path)
    assert p.returncode == 1 and "ZeroDivisionError" in p.stderr + p.stdout
    assert _boot(tmp_path) == rec


def test_a_torn_boot_record_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    fw = tmp_path / "flash" / "fw"
    _slot(fw, "a", _MAIN)
    _slot(fw, "b", _MAIN)
    (fw / "boot.json.bak").write_text(
        json.dumps({"slot": "a", "version": "0.1.0", "trial": None, "rolled_back": None})
    )
    (fw / "boot.json.tmp").write_text('{"slot": "b", "vers')  # the cut came mid-write
    p = _loader(tmp_path)
    assert p.stdout.split() == ["RAN", "a", "a", "0.1.0", "None"], p.stdout + p.stderr
    assert not (fw / "boot.json.tmp").exists()


# --- the download, against a scripted hub on a real Mosquitto ---------------------------------


@pytest.fixture
def broker(tmp_path: Path):
    with Mosquitto(workdir=tmp_path / "broker", secure=False) as b:
        yield b


@pytest.fixture
def fleet(tmp_path: Path, broker):
    # the hub's key is the fleet's: the scripted hub signs receipts with it
    f = Fleet(broker.host, broker.port, root=tmp_path / "fleet", hub_seed=crypto.new_seed(),
              defaults={"trim_on": "puback", "require_hub": False})  # fmt: skip
    yield f
    f.cleanup()


@pytest.fixture
def hub(broker, fleet):
    h = ScriptedHub(broker, fleet.hub_seed)
    yield h
    h.stop()


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trees")
    return {
        "0.2.0": firmware_tree(root / "v2", "0.2.0"),
        "0.0.9": firmware_tree(root / "v09", "0.0.9"),
    }


def _slot_digest(slot: Path) -> dict[str, str]:
    return {
        p.relative_to(slot).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(slot.rglob("*"))
        if p.is_file()
    }


def _handheld(fleet: Fleet, dev_id: str, mode: str = "reboot", **kw):
    kw.setdefault("scenario", scenarios.idle(2))
    kw.setdefault("heapsize", HEAP[mode])
    return fleet.add_handheld(dev_id, GRID, ota=True, heartbeat_s=0, track_s=0, ota_mode=mode,
                              **kw)  # fmt: skip


def _send_ota(fleet: Fleet, hub: ScriptedHub, dev, b: Bundle, cmd_id: str = "c-ota") -> dict:
    hub.c.publish(f"gl/v1/{dev.device_id}/cmd",
                  fleet.command(dev.device_id, "ota", b.args(), cmd_id=cmd_id), 1)  # fmt: skip
    return wait_until(
        "the ota ack", lambda: hub.ack_of(dev.device_id, cmd_id), 60,
        detail=lambda: dev.log()[-3000:],
    )  # fmt: skip


def _online(hub: ScriptedHub, dev_id: str, n: int = 1) -> list[dict]:
    return wait_until(
        "births", lambda: [b for b in hub.births if b["dev"] == dev_id][n - 1 :] and
        [b for b in hub.births if b["dev"] == dev_id], 60
    )  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_a_good_bundle_is_downloaded_verified_swapped_booted_on_trial_and_confirmed(
    fleet, hub, trees, mode: str
) -> None:
    b = make_bundle(trees["0.2.0"], "0.2.0", fleet.ops_seed)
    hub.offer(b)
    dev = _handheld(fleet, "hh-ota-good", mode, scenario=scenarios.idle(3600),
                    heapsize=TRIAL_HEAP[mode])  # fmt: skip
    slot_a = _slot_digest(dev.flash_dir / "fw" / "a")
    dev.start()
    births = _online(hub, "hh-ota-good")
    assert (births[0]["fw"], births[0]["hw"]) == ("0.1.0", "sim-unix")
    ack = _send_ota(fleet, hub, dev, b)
    assert (ack["status"], ack["detail"]) == ("succeeded", "accepted"), dev.log()[-3000:]
    wait_until("confirmed", lambda: ("updated", None) in hub.states("hh-ota-good")
               and dev.boot().get("trial") is None and dev.boot()["slot"] == "b",
               180)  # fmt: skip
    states = [s for s, _ in hub.states("hh-ota-good")]
    assert states[0] == "downloading" and states[-3:] == ["verified", "updating", "updated"]
    assert set(states[:-3]) == {"downloading"}
    assert dev.resets == RESETS[mode]  # (into the updater,) the swap's, then the new firmware
    rec = dev.boot()
    assert (rec["slot"], rec["version"], rec["rolled_back"]) == ("b", "0.2.0", None)
    births = _online(hub, "hh-ota-good", 2)
    assert births[-1]["fw"] == "0.2.0"
    # the new slot holds exactly the bundle's files and its sealed manifest; a is untouched
    slot_b = _slot_digest(dev.flash_dir / "fw" / "b")
    assert slot_b.pop("manifest.json") == b.sha
    assert slot_b == b.paths
    assert _slot_digest(dev.flash_dir / "fw" / "a") == slot_a
    assert not (dev.flash_dir / "fw" / "stage").exists()
    assert not (dev.flash_dir / "fw" / "job.json").exists()
    assert dev.state().get("ota_report") is None  # the update mode's reports all emitted
    log = dev.log()
    assert "MemoryError" not in log, log[-3000:]
    assert ("update mode" in log) == (mode == "reboot"), log[-3000:]
    # one request per chunk: nothing asked twice on a quiet link
    asked = [(s, i) for d, s, i, _ in hub.requests if d == "hh-ota-good"]
    assert len(asked) == len(set(asked)), "a chunk was asked for twice"
    cs = 4096
    assert len(asked) == sum(-(-len(v) // cs) for v in b.files.values())
    dev.stop()


def _refused(
    fleet, hub, dev_id: str, b: Bundle, want: tuple[str, str | None], mode: str = "reboot"
) -> None:
    dev = _handheld(fleet, dev_id, mode, scenario=scenarios.idle(3600))
    slot_a = _slot_digest(dev.flash_dir / "fw" / "a")
    rec = dev.boot()
    dev.start()
    _online(hub, dev_id)
    ack = _send_ota(fleet, hub, dev, b)
    assert (ack["status"], ack["detail"]) == ("succeeded", "accepted"), dev.log()[-3000:]
    wait_until("failed", lambda: [s for s in hub.states(dev_id) if s[0] == "failed"], 120)
    assert hub.states(dev_id)[-1] == want, hub.states(dev_id)
    # the update mode: reported by the old firmware after the updater's reboot
    assert dev.boot() == rec and dev.resets == (2 if mode == "reboot" else 0)  # in and out
    assert _slot_digest(dev.flash_dir / "fw" / "a") == slot_a
    fw = dev.flash_dir / "fw"
    assert sorted(p.name for p in fw.iterdir()) == ["a", "boot.json"], dev.log()[-2000:]
    dev.stop()


def test_a_manifest_signed_by_another_key_is_refused_before_any_file(fleet, hub, trees) -> None:
    b = make_bundle(trees["0.2.0"], "0.2.0", crypto.new_seed())
    hub.offer(b)
    _refused(fleet, hub, "hh-ota-sig", b, ("failed", "bad_signature"))
    assert {s for _, s, _, _ in hub.requests} == {b.sha}  # only the manifest was fetched


@pytest.mark.parametrize("mode", MODES)
def test_one_altered_byte_in_a_file_is_refused(fleet, hub, trees, mode: str) -> None:
    b = make_bundle(trees["0.2.0"], "0.2.0", fleet.ops_seed, alter="lib/device.mpy")
    hub.offer(b)
    _refused(fleet, hub, "hh-ota-byte", b, ("failed", "bad_file"), mode)


def test_an_incompatible_kind_is_refused(fleet, hub, trees) -> None:
    b = make_bundle(trees["0.2.0"], "0.2.0", fleet.ops_seed, kinds=("access", "face"))
    hub.offer(b)
    _refused(fleet, hub, "hh-ota-kind", b, ("failed", "incompatible_kind"))


def test_an_older_version_is_refused_at_the_command(fleet, hub, trees) -> None:
    b = make_bundle(trees["0.0.9"], "0.0.9", fleet.ops_seed)
    hub.offer(b)
    dev = _handheld(fleet, "hh-ota-old", scenario=scenarios.idle(3600))
    dev.start()
    _online(hub, "hh-ota-old")
    ack = _send_ota(fleet, hub, dev, b)
    assert (ack["status"], ack["detail"]) == ("failed", "not_newer")
    assert hub.requests == [] and dev.boot()["slot"] == "a"
    dev.stop()


def test_a_hub_refusal_fails_the_update(fleet, hub, trees) -> None:
    b = make_bundle(trees["0.2.0"], "0.2.0", fleet.ops_seed)  # not offered
    _refused(fleet, hub, "hh-ota-refused", b, ("failed", "download: not_offered"))


@pytest.mark.parametrize("mode", MODES)
def test_a_download_killed_half_way_resumes_with_only_the_missing_chunks(
    fleet, hub, trees, mode: str
) -> None:
    b = make_bundle(trees["0.2.0"], "0.2.0", fleet.ops_seed)
    hub.offer(b)
    dev = _handheld(fleet, "hh-ota-resume", mode, scenario=scenarios.idle(3600),
                    heapsize=TRIAL_HEAP[mode])  # fmt: skip
    dev.start()
    _online(hub, "hh-ota-resume")
    _send_ota(fleet, hub, dev, b)
    cs = 4096
    total = sum(-(-len(v) // cs) for v in b.files.values())
    wait_until("half the chunks", lambda: len(hub.requests) >= total // 2, 120)
    dev.kill()  # the power goes mid-download (in the update mode: in the updater)
    first = list(hub.requests)
    if mode == "reboot":
        assert "update mode" in dev.log()
    dev.start()
    wait_until("confirmed", lambda: dev.boot().get("version") == "0.2.0"
               and dev.boot().get("trial") is None, 180)  # fmt: skip
    second = hub.requests[len(first) :]
    asked_before = {(s, i) for _, s, i, _ in first}
    again = [(s, i) for _, s, i, _ in second if (s, i) in asked_before]
    # only the chunk in flight at the cut (or a chunk whose file write was lost) is asked again
    assert len(again) <= 1, again
    assert len(first) + len(second) - len(again) == total
    states = [s for s, _ in hub.states("hh-ota-resume")]
    assert states[-3:] == ["verified", "updating", "updated"]
    dev.stop()


def test_a_silent_hub_times_the_update_mode_out_back_into_the_running_firmware(
    fleet, hub, trees
) -> None:
    b = make_bundle(trees["0.2.0"], "0.2.0", fleet.ops_seed)
    hub.offer(b)
    hub.silent = True  # requests arrive, nothing answers
    dev = _handheld(fleet, "hh-ota-silent", scenario=scenarios.idle(3600), ota_mode_timeout_s=10)
    rec = dev.boot()
    dev.start()
    _online(hub, "hh-ota-silent")
    ack = _send_ota(fleet, hub, dev, b)
    assert (ack["status"], ack["detail"]) == ("succeeded", "accepted"), dev.log()[-3000:]
    wait_until("failed", lambda: [s for s in hub.states("hh-ota-silent") if s[0] == "failed"],
               120)  # fmt: skip
    assert hub.states("hh-ota-silent") == [("failed", "download: timeout")]
    assert hub.requests and {s for _, s, _, _ in hub.requests} == {b.sha}
    births = _online(hub, "hh-ota-silent", 2)  # the running firmware is back
    assert births[-1]["fw"] == "0.1.0"
    assert dev.boot() == rec and dev.resets == 2  # into the updater, and out of it
    assert sorted(p.name for p in (dev.flash_dir / "fw").iterdir()) == ["a", "boot.json"]
    dev.stop()


def test_the_update_mode_is_the_handhelds_default_and_live_the_gates(fleet) -> None:
    hh = fleet.add_handheld("hh-mode", GRID, ota=True)
    gate = fleet.add_gate("gate-mode", "access", GRID, ota=True)
    for dev in (hh, gate):
        assert "ota_mode" not in json.loads(dev.config_path.read_text())
    script = (
        "import sys, config_load\n"
        "for p in sys.argv[1:]:\n"
        "    print(config_load.load(p)['ota_mode'])\n"
    )
    p = subprocess.run(
        [MICROPYTHON, "-c", script, str(hh.config_path), str(gate.config_path)],
        env=dict(os.environ, MICROPYPATH=micropypath()),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.stdout.split() == ["reboot", "live"], p.stdout + p.stderr


def test_a_handhelds_ota_chunk_is_capped(fleet, tmp_path) -> None:
    # review #11: one chunk reply is a contiguous block of ota_chunk bytes in the heap
    hh = fleet.add_handheld("hh-chunk", GRID, ota=True)
    gate = fleet.add_gate("gate-chunk", "access", GRID, ota=True)
    paths = []
    for dev, chunk in ((hh, 4096), (hh, 4097), (gate, 16384)):
        cfg = json.loads(dev.config_path.read_text())
        cfg["ota_chunk"] = chunk
        paths.append(tmp_path / f"{dev.device_id}-{chunk}.json")
        paths[-1].write_text(json.dumps(cfg))
    script = (
        "import sys, config_load\n"
        "for p in sys.argv[1:]:\n"
        "    try:\n"
        "        print(config_load.load(p)['ota_chunk'])\n"
        "    except ValueError as e:\n"
        "        print(e)\n"
    )
    p = subprocess.run(
        [MICROPYTHON, "-c", script, *map(str, paths)],
        env=dict(os.environ, MICROPYPATH=micropypath()),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert p.stdout.splitlines() == [
        "4096",
        "config ota_chunk: at most 4096 on a handheld",
        "16384",
    ], p.stdout + p.stderr


def test_the_simulator_file_list_matches_the_contract() -> None:
    rels = [r for _, r in firmware_files()]
    assert "main.py" in rels and "lib/ota.mpy" in rels and "protocol/bundle.mpy" in rels
    assert not [r for r in rels if r.endswith(".pyi") or "loader" in r or "__pycache__" in r]
    assert rels == sorted(rels)
