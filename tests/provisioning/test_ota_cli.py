"""``gridlink provision ota`` over HTTP: upload, rollout, status (and --watch), list, advance,
pause, resume, cancel, and every operator mistake as one line.

The hub's OTA API (hub/ota) is built in parallel with this CLI, so these tests serve
``ota_hub()`` below: a small FastAPI app with the contract's routes, shapes, status codes and
``detail`` answers (docs/ota.md, "API"), on a real port through uvicorn. After the merge the
lead points them at the real hub (tests/provisioning/conftest.py's live_hub).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request, Response
from typer.testing import CliRunner

from gridlink.cli import app
from protocol import bundle as pb
from protocol import crypto
from protocol.limits import PROTOCOL_VERSION
from provisioning.bundle import build_bundle, source_version
from tests.support.net import free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
ADMIN = "admin-token"
OPERATOR = "operator-token"
DEVICE_STATES = ("pending", "queued", "downloading", "verified", "updating", "updated",
                 "failed", "rolled_back")  # fmt: skip
TERMINAL = ("updated", "failed", "rolled_back")


# --- the contract's API, faithfully enough -------------------------------------------------


@dataclass
class OtaHub:
    ops_key: bytes | None
    devices: list[dict[str, Any]]  # {"id", "kind", "area", "hw", "status"}
    bundles: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    rollouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    reads: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def out(self, r: dict[str, Any]) -> dict[str, Any]:
        counts = {s: 0 for s in DEVICE_STATES}
        for d in r["devices"]:
            counts[d["state"]] += 1
        return {**r, "counts": counts, "total": len(r["devices"])}

    def set_state(self, rid: str, state: str, devices: dict[str, str]) -> None:
        """What the devices' `ota` events and the hub's rules would have done."""
        with self.lock:
            r = self.rollouts[rid]
            for d in r["devices"]:
                if d["device_id"] in devices:
                    d["state"] = devices[d["device_id"]]
                    d["reason"] = (
                        "crash: ZeroDivisionError" if d["state"] == "rolled_back" else None
                    )
            r["state"] = state
            if state == "paused":
                done = [d for d in r["devices"] if d["state"] in TERMINAL]
                bad = [d for d in done if d["state"] != "updated"]
                pct = len(bad) * 100 // len(done)
                r["paused_reason"] = (
                    f"failures: {len(bad)} of {len(done)} ({pct}%) >= {r['pause_failure_percent']}%"
                )


def ota_hub(hub: OtaHub) -> FastAPI:
    api = FastAPI()

    def role(authorization: str | None, write: bool) -> None:
        token = (authorization or "").removeprefix("Bearer ")
        if token not in (ADMIN, OPERATOR):
            raise HTTPException(401, "invalid or expired token")
        if write and token != ADMIN:
            raise HTTPException(403, "this needs the admin role")

    def no_rollout(rid: str) -> HTTPException:
        return HTTPException(404, f"rollout {rid} not found")

    @api.post("/api/ota/bundles")
    async def upload(
        request: Request, response: Response, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        role(authorization, True)
        if hub.ops_key is None:
            raise HTTPException(409, "OTA is not configured: set GRIDLINK_OTA_OPS_KEY")
        data = await request.body()
        if len(data) > pb.MAX_BUNDLE_BYTES + 65536:
            raise HTTPException(413, "bundle too large")
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                members = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]
        except tarfile.TarError:
            raise HTTPException(422, "not a bundle: not a tar file") from None
        manifest = members.pop("manifest.json", None)
        if manifest is None:
            raise HTTPException(422, "not a bundle: no manifest.json")
        try:
            m = pb.open(manifest, hub.ops_key)
            for f in m["files"]:
                pb.check_file(
                    io.BytesIO(members.pop("files/" + f["path"], b"")), f, bytearray(4096)
                )
            pb.accept(m, m["kinds"][0], m["hw"][0], None, PROTOCOL_VERSION)
        except pb.BundleError as exc:
            raise HTTPException(422, f"{exc.reason}: {exc.message}") from None
        if members:
            raise HTTPException(422, f"not a bundle: unexpected member {sorted(members)[0]}")
        bid = pb.digest(manifest)
        if bid in hub.bundles:
            response.status_code = 200
            return hub.bundles[bid]
        hub.manifests[bid] = m
        hub.bundles[bid] = {
            "id": bid, "name": m["name"], "version": m["version"], "kinds": m["kinds"],
            "hw": m["hw"], "files": len(m["files"]), "size": sum(f["size"] for f in m["files"]),
            "uploaded_at": "2026-05-01T10:00:00Z",
        }  # fmt: skip
        response.status_code = 201
        return hub.bundles[bid]

    @api.get("/api/ota/bundles")
    def bundles(authorization: str | None = Header(None)) -> list[dict[str, Any]]:
        role(authorization, False)
        return list(hub.bundles.values())

    @api.post("/api/ota/rollouts", status_code=201)
    async def create(request: Request, authorization: str | None = Header(None)) -> dict[str, Any]:
        role(authorization, True)
        body = await request.json()
        hub.requests.append(("POST", "/api/ota/rollouts", body))
        m = hub.manifests.get(body.get("bundle"))
        if m is None:
            raise HTTPException(422, f"unknown bundle {body.get('bundle')}")
        stages = body["stages"]
        if any(a >= b for a, b in zip(stages, stages[1:], strict=False)) or stages[-1] != 100:
            raise HTTPException(422, "stages must go strictly up to 100")
        target = body["target"]
        chosen, excluded = [], []
        for d in hub.devices:
            if d["status"] != "active" or d["kind"] not in m["kinds"]:
                continue
            if "devices" in target and d["id"] not in target["devices"]:
                continue
            if "area" in target and not d["area"].startswith(target["area"]):
                continue
            if d["hw"] is not None and "*" not in m["hw"] and d["hw"] not in m["hw"]:
                excluded.append({"device_id": d["id"], "reason": f"hardware {d['hw']}"})
                continue
            chosen.append(d["id"])
        if not chosen:
            raise HTTPException(422, "the target has no device this bundle can update")
        rid = f"r-{len(hub.rollouts) + 1}"
        chosen.sort(key=lambda i: hashlib.sha256(f"{rid}/{i}".encode()).hexdigest())
        sizes = [max(1, math.ceil(len(chosen) * s / 100)) for s in stages]
        devices = []
        for i, dev in enumerate(chosen):
            stage = next(k for k, n in enumerate(sizes) if i < n)
            devices.append({"device_id": dev, "stage": stage,
                            "state": "queued" if stage == 0 else "pending", "reason": None,
                            "done": 0, "total": 0, "updated_at": None})  # fmt: skip
        hub.rollouts[rid] = {
            "id": rid, "bundle": body["bundle"], "version": m["version"], "state": "running",
            "stage": 0, "stages": stages, "auto_advance": body["auto_advance"],
            "paused_reason": None, "devices": devices, "excluded": excluded,
            "created_at": "2026-05-01T10:01:00Z",
            "pause_failure_percent": body["pause_failure_percent"],
        }  # fmt: skip
        return hub.out(hub.rollouts[rid])

    @api.get("/api/ota/rollouts")
    def rollouts(authorization: str | None = Header(None)) -> list[dict[str, Any]]:
        role(authorization, False)
        return [hub.out(r) for r in hub.rollouts.values()]

    @api.get("/api/ota/rollouts/{rid}")
    def rollout(rid: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        role(authorization, False)
        if rid not in hub.rollouts:
            raise no_rollout(rid)
        with hub.lock:
            hub.reads[rid] = hub.reads.get(rid, 0) + 1
            return hub.out(hub.rollouts[rid])

    @api.post("/api/ota/rollouts/{rid}/{action}")
    def act(
        rid: str, action: str, force: bool = False, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        role(authorization, True)
        r = hub.rollouts.get(rid)
        if r is None:
            raise no_rollout(rid)
        if r["state"] in ("completed", "cancelled"):
            raise HTTPException(409, f"rollout {rid} is {r['state']}")
        if action == "advance":
            if r["stage"] == len(r["stages"]) - 1:
                raise HTTPException(409, f"rollout {rid} is at its last stage")
            left = [d for d in r["devices"] if d["stage"] == r["stage"]
                    and d["state"] not in TERMINAL]  # fmt: skip
            if left and not force:
                raise HTTPException(
                    409,
                    f"stage {r['stage'] + 1} has {len(left)} device(s) not done: pass force=true",
                )
            r["stage"] += 1
            for d in r["devices"]:
                if d["stage"] == r["stage"]:
                    d["state"] = "queued"
        elif action == "pause":
            r["state"], r["paused_reason"] = "paused", "paused by an operator"
        elif action == "resume":
            if r["state"] != "paused":
                raise HTTPException(409, f"rollout {rid} is not paused")
            r["state"], r["paused_reason"] = "running", None
        elif action == "cancel":
            r["state"] = "cancelled"
            r["devices"] = [d for d in r["devices"] if d["state"] != "pending"]
        else:
            raise HTTPException(404, "Not Found")
        return hub.out(r)

    return api


@dataclass
class Served:
    hub: OtaHub
    url: str
    tmp: Path

    @property
    def env(self) -> dict[str, str]:
        return {"GRIDLINK_HUB_URL": self.url, "GRIDLINK_ADMIN_TOKEN": ADMIN}

    def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Exit code, stdout with its white space collapsed (rich wraps at the terminal's
        width), stderr as printed."""
        result = CliRunner().invoke(app, ["provision", "ota", *args], env=env or self.env)
        return result.exit_code, " ".join(result.stdout.split()), result.stderr


def serve(hub: OtaHub, tmp: Path) -> Iterator[Served]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(ota_hub(hub), port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ota-hub", daemon=True)
    thread.start()
    wait_until("the OTA hub listening", lambda: server.started, 30)
    try:
        yield Served(hub, f"http://127.0.0.1:{port}", tmp)
    finally:
        server.should_exit = True
        thread.join(15)


FLEET = [
    {"id": f"hh-{i:02d}", "kind": "handheld", "area": f"3301020010{i % 2 + 1:02d}",
     "hw": "sim-unix", "status": "active"}
    for i in range(10)
] + [
    {"id": "hh-old", "kind": "handheld", "area": "330102001001", "hw": "esp32", "status": "active"},
    {"id": "hh-gone", "kind": "handheld", "area": "330102001001", "hw": None, "status": "revoked"},
    {"id": "ac-01", "kind": "access", "area": "330102001001", "hw": "sim-unix", "status": "active"},
]  # fmt: skip


@pytest.fixture
def ops_seed() -> bytes:
    return crypto.new_seed()


@pytest.fixture
def served(tmp_path: Path, ops_seed: bytes) -> Iterator[Served]:
    yield from serve(OtaHub(crypto.public_key(ops_seed), [dict(d) for d in FLEET]), tmp_path)


def make_bundle(tmp: Path, seed: bytes, name: str = "fw.glb") -> tuple[Path, str]:
    out = tmp / name
    sealed = build_bundle(
        REPO, out, version=source_version(REPO), kinds=["handheld"], hw=["sim-unix"], ops_seed=seed
    )
    return out, pb.digest(sealed)


def one_error(code: int, stderr: str) -> str:
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- the tests -----------------------------------------------------------------------------


def test_upload_is_idempotent_and_listed(served: Served, ops_seed: bytes) -> None:
    glb, bid = make_bundle(served.tmp, ops_seed)
    code, stdout, stderr = served.run("upload", str(glb))
    assert code == 0, stdout + stderr
    assert f"bundle {bid}: gridlink-fw {source_version(REPO)} for handheld on sim-unix" in stdout
    assert "(uploaded)" in stdout
    code, stdout, stderr = served.run("upload", str(glb))
    assert code == 0 and "(already at the hub)" in stdout, stderr
    assert list(served.hub.bundles) == [bid]
    code, stdout, stderr = served.run("bundles")
    assert code == 0 and bid[:16] in stdout and "1 bundle(s)" in stdout, stderr


def test_a_staged_rollout_from_start_to_completed(served: Served, ops_seed: bytes) -> None:
    glb, bid = make_bundle(served.tmp, ops_seed)
    # a file: uploaded first, then rolled out; what the hub got is the contract's body
    code, stdout, stderr = served.run("rollout", str(glb), "--area", "330102001001")
    assert code == 0, stdout + stderr
    assert served.hub.requests[-1][2] == {
        "bundle": bid, "target": {"area": "330102001001"}, "stages": [10, 100],
        "auto_advance": False, "advance_success_percent": 90, "pause_failure_percent": 20,
        "pause_min_done": 1, "device_timeout_s": 900,
    }  # fmt: skip
    r = served.hub.rollouts["r-1"]
    assert len(r["devices"]) == 5  # the area's sim-unix handhelds; not the esp32 one
    assert "rollout r-1: " in stdout and "stage 1/2 (10%)" in stdout
    assert "excluded: hh-old (hardware esp32)" in stdout
    assert "gridlink provision ota status r-1 --watch" in stdout

    code, stdout, stderr = served.run("status", "r-1", "--devices")
    assert code == 0, stderr
    assert "0/5 done" in stdout and "running" in stdout
    first = next(d["device_id"] for d in r["devices"] if d["stage"] == 0)
    assert first in stdout
    # advancing while stage 1 is not done: the hub's 409 detail, as it words it
    line = one_error(*served.run("advance", "r-1")[::2])
    assert line == "error: stage 1 has 1 device(s) not done: pass force=true"
    served.hub.set_state("r-1", "running", {first: "updated"})
    code, stdout, stderr = served.run("advance", "r-1")
    assert code == 0 and "stage 2/2 (100%)" in stdout, stderr
    assert "is at its last stage" in one_error(*served.run("advance", "r-1", "--force")[::2])

    # --watch refreshes until the rollout ends; the devices finish meanwhile
    def finish() -> None:
        wait_until("the CLI polling", lambda: served.hub.reads.get("r-1", 0) >= 3, 30)
        served.hub.set_state("r-1", "completed", {d["device_id"]: "updated" for d in r["devices"]})

    worker = threading.Thread(target=finish)
    worker.start()
    code, stdout, stderr = served.run("status", "r-1", "--watch", "--interval", "0.1")
    worker.join()
    assert code == 0, stdout + stderr
    assert "completed" in stdout and "5/5 done (5 updated, 0 failed, 0 rolled back)" in stdout
    assert served.hub.reads["r-1"] >= 4

    code, stdout, stderr = served.run("list")
    assert code == 0 and "r-1" in stdout and "completed" in stdout and "1 rollout(s)" in stdout


def test_watch_ends_with_exit_1_when_the_rollout_pauses(served: Served, ops_seed: bytes) -> None:
    _, bid = make_bundle(served.tmp, ops_seed)
    assert served.run("upload", str(served.tmp / "fw.glb"))[0] == 0
    code, stdout, stderr = served.run(
        "rollout", bid, "--devices", "hh-01,hh-02,hh-03", "--stages", "30,60,100", "--auto",
        "--pause-failure-percent", "25", "--advance-success-percent", "80",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    body = served.hub.requests[-1][2]
    assert body["target"] == {"devices": ["hh-01", "hh-02", "hh-03"]}
    assert body["stages"] == [30, 60, 100] and body["auto_advance"] is True
    assert body["pause_failure_percent"] == 25 and body["advance_success_percent"] == 80
    assert "auto-advance on" in stdout
    r = served.hub.rollouts["r-1"]
    first = next(d["device_id"] for d in r["devices"] if d["stage"] == 0)

    def crash() -> None:
        wait_until("the CLI polling", lambda: served.hub.reads.get("r-1", 0) >= 2, 30)
        served.hub.set_state("r-1", "paused", {first: "rolled_back"})

    worker = threading.Thread(target=crash)
    worker.start()
    code, stdout, stderr = served.run("status", "r-1", "--watch", "--interval", "0.1")
    worker.join()
    line = one_error(code, stderr)
    assert line == "error: rollout r-1 is paused: failures: 1 of 1 (100%) >= 25%"
    assert "0 updated, 0 failed, 1 rolled back" in stdout

    code, stdout, stderr = served.run("resume", "r-1")
    assert code == 0 and "running" in stdout, stderr
    code, stdout, stderr = served.run("pause", "r-1")
    assert code == 0 and "paused: paused by an operator" in stdout, stderr
    code, stdout, stderr = served.run("cancel", "r-1")
    assert code == 0 and "cancelled" in stdout, stderr
    assert [d["device_id"] for d in r["devices"]] == [first]  # the untold were dropped
    assert "is cancelled" in one_error(*served.run("resume", "r-1")[::2])


def test_operator_mistakes_are_one_line(served: Served, ops_seed: bytes, tmp_path: Path) -> None:
    glb, bid = make_bundle(served.tmp, ops_seed)
    # the hub unreachable, a bad token, a token without the admin role
    gone = {**served.env, "GRIDLINK_HUB_URL": f"http://127.0.0.1:{free_port()}"}
    assert "hub unreachable at http://127.0.0.1:" in one_error(*served.run("list", env=gone)[::2])
    bad = {**served.env, "GRIDLINK_ADMIN_TOKEN": "nope"}
    line = one_error(*served.run("list", env=bad)[::2])
    assert line == (
        "error: the hub refused the admin token (invalid or expired token): "
        "check --token / GRIDLINK_ADMIN_TOKEN"
    )
    reader = {**served.env, "GRIDLINK_ADMIN_TOKEN": OPERATOR}
    assert served.run("list", env=reader)[0] == 0  # an operator may read
    line = one_error(*served.run("upload", str(glb), env=reader)[::2])
    assert line == "error: the hub refused: this needs the admin role (an admin token is needed)"
    # an unknown rollout, a bad rollout id
    line = one_error(*served.run("status", "r-99")[::2])
    assert line == "error: no rollout r-99 at the hub (`gridlink provision ota list` lists them)"
    assert "no rollout r-7" in one_error(*served.run("cancel", "r-7")[::2])
    assert "want a rollout id" in one_error(*served.run("status", "r/../1")[::2])
    # a bundle signed by another key: the hub's 422 detail
    other, _ = make_bundle(tmp_path, crypto.new_seed(), "other.glb")
    line = one_error(*served.run("upload", str(other))[::2])
    assert line == "error: bad_signature: manifest is not signed by the ops key"
    # a bundle altered on the way: refused here before anything is sent
    data = bytearray(glb.read_bytes())
    at = data.index(b"def ", 4096)
    data[at] ^= 0x20
    altered = tmp_path / "altered.glb"
    altered.write_bytes(bytes(data))
    assert "does not match the manifest" in one_error(*served.run("upload", str(altered))[::2])
    assert not served.hub.bundles
    # rollout mistakes caught here, and the hub's 422 for a target without devices
    assert served.run("upload", str(glb))[0] == 0
    assert "exactly one of --devices" in one_error(*served.run("rollout", bid)[::2])
    two = ("rollout", bid, "--all", "--area", "3301")
    assert "exactly one of --devices" in one_error(*served.run(*two)[::2])
    assert "the last stage must be 100" in one_error(
        *served.run("rollout", bid, "--all", "--stages", "10,50")[::2]
    )
    assert "strictly up" in one_error(
        *served.run("rollout", bid, "--all", "--stages", "50,50,100")[::2]
    )
    assert "want percents" in one_error(
        *served.run("rollout", bid, "--all", "--stages", "ten")[::2]
    )
    assert "a percent in 1..100" in one_error(
        *served.run("rollout", bid, "--all", "--pause-failure-percent", "0")[::2]
    )
    assert "forbidden character" in one_error(*served.run("rollout", bid, "--devices", "a b")[::2])
    line = one_error(*served.run("rollout", bid, "--devices", "ac-01")[::2])
    assert line == "error: the target has no device this bundle can update"
    assert "neither a bundle id" in one_error(*served.run("rollout", "fw-9.glb", "--all")[::2])
    assert not served.hub.rollouts


def test_a_hub_without_the_ops_key_says_so(tmp_path: Path, ops_seed: bytes) -> None:
    for served in serve(OtaHub(None, []), tmp_path):
        glb, _ = make_bundle(tmp_path, ops_seed)
        line = one_error(*served.run("upload", str(glb))[::2])
        assert line == "error: OTA is not configured: set GRIDLINK_OTA_OPS_KEY"
    assert not os.environ.get("GRIDLINK_OTA_OPS_KEY")
