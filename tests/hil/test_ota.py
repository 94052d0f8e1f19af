"""OTA end to end (issue 11's must-show; docs/ota.md, docs/firmware.md "OTA").

The real hub (ingest worker, REST API, SQLite) configured with the ops PUBLIC key, a
locked-down Mosquitto, and firmware processes on the MicroPython unix port booted through
firmware/loader.py from their flash slots. Bundles are built and signed with
provisioning.bundle from a copy of this tree whose VERSION is changed, uploaded through the
API and rolled out in stages:
- N -> N+1 at a 10 % stage, then 100 %: every device reports the new version in its birth,
  runs slot b, and its `ota` events arrive in order;
- one altered byte: the hub refuses the upload; altered in the hub's store after the upload
  (an insider with disk access), the device refuses it and keeps running the old slot;
- a build that crashes on start: the loader rolls the device back, the old firmware reports
  it, and the rollout pauses by itself before any other device is told.
A power cut at every block write of the swap is tests/firmware/test_ota_lfs.py; here a device
is killed mid-download and resumes.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hub.keys import load_or_create
from protocol import bundle, crypto
from provisioning.bundle import build_bundle
from simulator import Fleet
from simulator.fleet import SimDevice
from tests.support.hub import Hub, hub_settings, running_hub
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver

pytestmark = pytest.mark.hil

REPO = Path(__file__).resolve().parents[2]
GRID = "33010200100101"
N, N1 = "0.1.0", "0.2.0"
TERMINAL = ("updated", "failed", "rolled_back")


@dataclass
class Ota:
    hub: Hub
    fleet: Fleet
    broker: Mosquitto
    tmp: Path

    def bundle(self, version: str, name: str, *, main_prefix: str = "", seed: bytes | None = None,
               kinds: tuple[str, ...] = ("access", "handheld")) -> bytes:  # fmt: skip
        """A signed .glb of this tree with VERSION = version (main.py prefixed with
        main_prefix), built as `gridlink provision bundle` builds it."""
        src = self.tmp / f"src-{name}"
        for part in ("firmware", "protocol"):
            shutil.copytree(REPO / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        cfg = src / "firmware" / "lib" / "config.py"
        text = cfg.read_text()
        assert f'VERSION = "{N}"' in text
        cfg.write_text(text.replace(f'VERSION = "{N}"', f'VERSION = "{version}"'))
        if main_prefix:
            main = src / "firmware" / "main.py"
            main.write_text(main_prefix + main.read_text())
        out = self.tmp / f"{name}.glb"
        build_bundle(src, out, version=version, kinds=list(kinds), hw=["sim-unix"],
                     ops_seed=seed or self.fleet.ops_seed)  # fmt: skip
        return out.read_bytes()

    def upload(self, data: bytes) -> Any:
        return self.hub.api.post("/api/ota/bundles", content=data,
                                 headers={"Content-Type": "application/octet-stream"})  # fmt: skip

    def rollout(self, bundle_id: str, devices: list[SimDevice], stages: list[int],
                **opts: object) -> dict[str, Any]:  # fmt: skip
        body = {"bundle": bundle_id, "target": {"devices": [d.device_id for d in devices]},
                "stages": stages, **opts}  # fmt: skip
        resp = self.hub.api.post("/api/ota/rollouts", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def status(self, rollout_id: str) -> dict[str, Any]:
        return self.hub.get(f"/api/ota/rollouts/{rollout_id}")

    def entry(self, rollout_id: str, dev: SimDevice) -> dict[str, Any]:
        (e,) = [d for d in self.status(rollout_id)["devices"] if d["device_id"] == dev.device_id]
        return e

    def start(self, devices: list[SimDevice]) -> None:
        for d in devices:
            self.hub.register(d)
            d.start()
        for d in devices:
            wait_until(f"{d.device_id}'s birth with {N} on sim-unix",
                       lambda d=d: self.reports(d, N), 90,
                       detail=lambda d=d: d.log()[-3000:])  # fmt: skip

    def reports(self, dev: SimDevice, version: str) -> bool:
        got = self.hub.device(dev.device_id)
        return got["online"] and got["firmware"] == version and got["hardware"] == "sim-unix"

    def ota_states(self, dev: SimDevice) -> list[str]:
        return [e["body"]["state"] for e in self.hub.events(dev.device_id, "ota")]


@pytest.fixture
def ota(tmp_path: Path) -> Iterator[Ota]:
    ops_seed = crypto.new_seed()
    with Mosquitto(workdir=tmp_path / "broker", persistence=True) as broker:
        settings = hub_settings(tmp_path, broker, ota_ops_key=crypto.public_key(ops_seed).hex())
        with running_hub(settings) as hub:
            assert settings.hub_key_path is not None
            fleet = Fleet(broker.host, broker.port, root=tmp_path / "fleet",
                          hub_seed=load_or_create(settings.hub_key_path).seed,
                          accounts=broker.device_account, ops_seed=ops_seed)  # fmt: skip
            try:
                yield Ota(hub, fleet, broker, tmp_path)
            finally:
                fleet.cleanup()


def member_bytes(glb: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(glb)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def gates(ota: Ota, prefix: str, n: int) -> list[SimDevice]:
    return [ota.fleet.add_gate(f"{prefix}-{i:02d}", "access", GRID, ota=True) for i in range(n)]


def test_n_to_n_plus_1_at_a_10_percent_stage_then_100(ota: Ota) -> None:
    fleet_ = gates(ota, "gt-ota", 10)
    ota.start(fleet_)
    resp = ota.upload(ota.bundle(N1, "n1"))
    assert resp.status_code == 201, resp.text
    bid = resp.json()["id"]
    assert resp.json()["version"] == N1
    r = ota.rollout(bid, fleet_, [10, 100])
    first = [d for d in r["devices"] if d["stage"] == 0]
    assert len(first) == 1 and r["counts"]["pending"] == 9, r
    (one,) = [d for d in fleet_ if d.device_id == first[0]["device_id"]]

    wait_until("the 10 % stage updated", lambda: ota.status(r["id"])["counts"]["updated"] == 1,
               240, detail=lambda: (ota.status(r["id"]), one.log()[-3000:]))  # fmt: skip
    wait_until(f"{one.device_id}'s birth with {N1}", lambda: ota.reports(one, N1), 60)
    assert one.boot()["slot"] == "b"
    rest = [d for d in fleet_ if d is not one]
    st = ota.status(r["id"])
    assert st["state"] == "running" and st["stage"] == 0 and st["counts"]["pending"] == 9, st
    for d in rest:  # not told anything yet
        assert ota.hub.device(d.device_id)["firmware"] == N and d.boot()["slot"] == "a"
        assert ota.ota_states(d) == []

    resp = ota.hub.api.post(f"/api/ota/rollouts/{r['id']}/advance")
    assert resp.status_code == 200, resp.text
    wait_until("the rollout completed", lambda: ota.status(r["id"])["state"] == "completed", 420,
               detail=lambda: ota.status(r["id"])["counts"])  # fmt: skip
    st = ota.status(r["id"])
    assert st["counts"]["updated"] == 10 and st["counts"]["failed"] == 0, st
    for d in fleet_:
        wait_until(f"{d.device_id} confirmed {N1}", lambda d=d: d.boot()["trial"] is None, 120)
        boot = d.boot()
        assert (boot["slot"], boot["version"], boot["rolled_back"]) == ("b", N1, None)
        assert ota.reports(d, N1)
        states = ota.ota_states(d)
        assert states[-3:] == ["verified", "updating", "updated"], states
        assert set(states[:-3]) == {"downloading"}, states
        assert d.resets >= 1  # the reset into the new slot
    assert ota.hub.errors() == {}


def test_one_altered_byte_is_refused_by_the_hub_and_by_the_device(ota: Ota) -> None:
    data = ota.bundle(N1, "n1")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.getmember("files/lib/device.mpy")
    at = member.offset_data + member.size // 2
    altered = bytearray(data)
    altered[at] ^= 0x01
    resp = ota.upload(bytes(altered))
    assert resp.status_code == 422 and resp.json()["code"] == "bad_file", resp.text
    other = ota.bundle(N1, "other", seed=crypto.new_seed())
    resp = ota.upload(other)
    assert resp.status_code == 422 and resp.json()["code"] == "bad_signature", resp.text
    assert ota.hub.get("/api/ota/bundles") == []

    # stored, then one byte changed in the hub's OTA store: the device must refuse it
    resp = ota.upload(data)
    assert resp.status_code == 201, resp.text
    manifest = bundle.parse(member_bytes(data, "manifest.json"))
    (entry,) = [f for f in manifest["files"] if f["path"] == "lib/device.mpy"]
    stored = ota.hub.settings.ota_dir / entry["sha256"][:2] / entry["sha256"][2:4] / entry["sha256"]
    body = bytearray(stored.read_bytes())
    body[len(body) // 2] ^= 0x01
    stored.write_bytes(bytes(body))

    (gate,) = gates(ota, "gt-alt", 1)
    ota.start([gate])
    r = ota.rollout(resp.json()["id"], [gate], [100])
    wait_until("the device refused the file",
               lambda: ota.entry(r["id"], gate)["state"] in TERMINAL, 240,
               detail=lambda: gate.log()[-3000:])  # fmt: skip
    e = ota.entry(r["id"], gate)
    assert (e["state"], e["reason"]) == ("failed", "bad_file"), e
    assert gate.boot() == {"slot": "a", "version": N, "trial": None, "rolled_back": None}
    assert not (gate.flash_dir / "fw" / "b").exists()
    assert not (gate.flash_dir / "fw" / "stage").exists()
    assert gate.running and ota.reports(gate, N)
    assert ota.status(r["id"])["state"] == "paused"  # 1 of 1 failed >= 20 %


def test_a_build_that_crashes_on_start_is_rolled_back_and_the_rollout_pauses(ota: Ota) -> None:
    fleet_ = gates(ota, "gt-crash", 5)
    ota.start(fleet_)
    crash = 'raise RuntimeError("this build does not start")\n'
    resp = ota.upload(ota.bundle(N1, "crash", main_prefix=crash))
    assert resp.status_code == 201, resp.text
    r = ota.rollout(resp.json()["id"], fleet_, [20, 100], auto_advance=True)
    (first,) = [d for d in r["devices"] if d["stage"] == 0]
    (one,) = [d for d in fleet_ if d.device_id == first["device_id"]]

    wait_until("the rollout paused", lambda: ota.status(r["id"])["state"] == "paused", 300,
               detail=lambda: (ota.status(r["id"]), one.log()[-3000:]))  # fmt: skip
    st = ota.status(r["id"])
    assert st["paused_reason"].startswith("failures: 1 of 1 (100%)"), st
    e = ota.entry(r["id"], one)
    assert e["state"] == "rolled_back" and e["reason"] == "crash: RuntimeError", e
    # the device is back on the old slot, reports the old version, and keeps working
    wait_until(f"{one.device_id} back on {N}", lambda: ota.reports(one, N), 60)
    boot = one.boot()
    assert (boot["slot"], boot["version"], boot["trial"]) == ("a", N, None)
    assert boot["rolled_back"] is None  # reported, then cleared
    assert one.running and one.resets >= 2  # into the new slot, then back
    states = ota.ota_states(one)
    assert states[-3:] == ["verified", "updating", "rolled_back"], states  # never "updated"
    # nobody else was told: the pause came before the next stage
    for d in fleet_:
        if d is not one:
            assert ota.entry(r["id"], d)["state"] == "pending"
            assert ota.ota_states(d) == [] and d.boot()["slot"] == "a"
    # still paused a while later (auto advance does not move a paused rollout)
    assert ota.status(r["id"])["state"] == "paused"


def test_a_device_killed_mid_download_resumes(ota: Ota) -> None:
    """A power cut half way through the download: after the restart the device asks only for
    what it does not hold (every request is counted on the wire) and the update completes."""
    (gate,) = gates(ota, "gt-kill", 1)
    gate.update_config(ota_chunk=1024)  # many small requests: the cut lands mid-download
    ota.start([gate])
    data = ota.bundle(N1, "n1")
    sealed = member_bytes(data, "manifest.json")
    manifest = bundle.parse(sealed)
    # chunks per file path (an empty file may be asked for once or not at all)
    per_path = [-(-f["size"] // 1024) for f in manifest["files"]]
    files = {f["sha256"] for f in manifest["files"]}
    resp = ota.upload(data)
    with MqttObserver(ota.broker, topics=(f"gl/v1/{gate.device_id}/fwreq",)) as wire:
        r = ota.rollout(resp.json()["id"], [gate], [100])
        wait_until("the download half way", lambda: len(wire.messages(
            f"gl/v1/{gate.device_id}/fwreq")) >= sum(per_path) // 2, 180,
            detail=lambda: gate.log()[-2000:])  # fmt: skip
        gate.kill()  # power cut
        gate.start()
        wait_until("the update after the power cut",
                   lambda: ota.entry(r["id"], gate)["state"] in TERMINAL, 240,
                   detail=lambda: gate.log()[-3000:])  # fmt: skip
        asked = wire.messages(f"gl/v1/{gate.device_id}/fwreq")
    assert ota.entry(r["id"], gate)["state"] == "updated"
    wait_until(f"{gate.device_id} confirmed", lambda: gate.boot()["trial"] is None, 120)
    assert gate.boot()["slot"] == "b" and ota.reports(gate, N1)
    # resumed, not restarted: every file chunk asked for, and again only the one in flight
    wanted = Counter((sha, i) for sha, i, _ in map(bundle.parse_fetch_request, asked))
    file_asks = sum(n for (sha, _), n in wanted.items() if sha in files)
    least = sum(per_path)
    assert least <= file_asks <= least + per_path.count(0) + 2, (file_asks, least)
    assert {sha for sha, _ in wanted} - files == {bundle.digest(sealed)}
