"""``gridlink provision ota`` over HTTP against the real hub: upload, rollout, status (and
--watch), list, advance, pause, resume, cancel, and every operator mistake as one line.

The hub is the real FastAPI app (``hub.app.create_app``) served by uvicorn on a free port,
over an Alembic-migrated, demo-seeded SQLite database, configured with the test's ops public
key. Devices are registered through ``POST /api/devices``; their ``hw`` comes from a signed
birth and their rollout states from signed ``ota`` acks and events, both through the real
ingest ``Processor`` on the same database, so what the CLI shows are the hub's own
transitions, its own auto-advance, auto-pause and completion. The only thing wrapped around
the app is a tap that counts requests and keeps the rollout bodies the CLI sent.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from gridlink.cli import app
from hub.app import create_app
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.ingest.processor import Processor
from hub.keys import load_or_create
from hub.media.store import FileBlobStore
from hub.migrations.runner import upgrade
from hub.mqtt_messages import Inbound
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from protocol import bundle as pb
from protocol import command, crypto, topics
from provisioning.bundle import build_bundle, source_version
from tests.builders.devices import TestDevice
from tests.support.net import free_port
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
AREA_1, AREA_2 = "330102001001", "330102001002"  # two of the demo's communities
ROLLOUTS = "/api/ota/rollouts"

# (id, kind, community, grid number, hw reported in its birth or None: never born, revoked?)
FLEET = [
    *[(f"hh-{i:02d}", "handheld", (AREA_1, AREA_2)[i % 2], i // 2 + 1, "sim-unix", False)
      for i in range(10)],
    ("hh-old", "handheld", AREA_1, 6, "esp32", False),
    ("hh-gone", "handheld", AREA_2, 6, None, True),
    ("ac-01", "access", AREA_1, 1, "sim-unix", False),
]  # fmt: skip


@dataclass
class Tap:
    """Around the hub's ASGI app: counts requests ("GET /path") and keeps the JSON bodies of
    ``POST /api/ota/rollouts``. Everything else goes to the app untouched."""

    app: Any
    hits: Counter[str] = field(default_factory=Counter)
    rollout_bodies: list[dict[str, Any]] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = f"{scope['method']} {scope['path']}"
        self.hits[key] += 1
        if key != f"POST {ROLLOUTS}":
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []

        async def tapped() -> Any:
            msg = await receive()
            if msg["type"] == "http.request":
                parts.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    self.rollout_bodies.append(json.loads(b"".join(parts)))
            return msg

        await self.app(scope, tapped, send)


@dataclass
class LiveHub:
    settings: Settings
    demo: DemoData
    url: str
    tap: Tap
    processor: Processor
    tmp: Path
    devices: dict[str, TestDevice] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return self.settings.admin_token.get_secret_value()

    @property
    def env(self) -> dict[str, str]:
        return {"GRIDLINK_HUB_URL": self.url, "GRIDLINK_ADMIN_TOKEN": self.token}

    def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """Exit code, stdout with its white space collapsed (rich wraps at the terminal's
        width), stderr as printed."""
        result = CliRunner().invoke(app, ["provision", "ota", *args], env=env or self.env)
        return result.exit_code, " ".join(result.stdout.split()), result.stderr

    def api(self, method: str, path: str, ok: int = 200, **kw: Any) -> Any:
        resp = httpx.request(
            method, self.url + path, headers={"Authorization": f"Bearer {self.token}"}, **kw
        )
        assert resp.status_code == ok, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def rollout(self, rid: str) -> dict[str, Any]:
        out: dict[str, Any] = self.api("GET", f"{ROLLOUTS}/{rid}")
        return out

    # --- what devices say, through the real ingest -------------------------------------------

    def feed(self, *msgs: tuple[str, bytes]) -> None:
        result = self.processor.process([Inbound(t, p) for t, p in msgs])
        assert result.rejected == 0, self.processor.tally.totals

    def add(self, dev_id: str, kind: str, grid: str, hw: str | None, revoke: bool) -> None:
        dev = TestDevice(dev_id, now=lambda: int(time.time()), kind=kind)
        body = {"id": dev_id, "kind": kind, "public_key": dev.public_key.hex(), "grid_code": grid}
        self.api("POST", "/api/devices", ok=201, json=body)
        if hw is not None:  # its birth: the hub stores the reported hardware (devices.hardware)
            birth = command.seal_state(dev_id, True, 1, dev.now(), dev.seed, "0.1.0", hw=hw)
            self.feed((topics.state(dev_id), birth))
        if revoke:
            self.api("POST", f"/api/devices/{dev_id}/revoke", json={"reason": "lost"})
        self.devices[dev_id] = dev

    def report(self, rid: str, dev_id: str, *states: str, reason: str | None = None) -> None:
        """The device takes its ``ota`` command (ack "accepted") if it has not yet, then sends
        ``states`` as ``ota`` events; ``reason`` goes with the last one."""
        r = self.rollout(rid)
        dev = self.devices[dev_id]
        entry = next(d for d in r["devices"] if d["device_id"] == dev_id)
        assert entry["state"] != "pending", f"{dev_id} was not told yet"
        if entry["state"] == "queued":
            cmds = self.api("GET", f"/api/devices/{dev_id}/commands")
            cmd = next(c for c in cmds if c["op"] == "ota" and c["args"]["rollout"] == rid)
            self.feed(dev.ack({"id": cmd["id"], "cseq": cmd["cseq"]}, "succeeded", "accepted"))
        for i, state in enumerate(states):
            why = reason if i == len(states) - 1 else None
            body = pb.event_body(rid, r["bundle"], r["version"], state, why)
            self.feed(dev.event("ota", dict(body)))

    def update(self, rid: str, *dev_ids: str) -> None:
        for dev_id in dev_ids:
            self.report(rid, dev_id, "downloading", "verified", "updating", "updated")

    def polls(self, rid: str) -> int:
        return self.tap.hits[f"GET {ROLLOUTS}/{rid}"]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for every test (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("ota-cli-db") / "hub.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def ops_seed() -> bytes:
    return crypto.new_seed()


def serve(tmp: Path, migrated: Path, ops_key: bytes | None) -> Iterator[LiveHub]:
    db = tmp / "hub.db"
    shutil.copyfile(migrated, db)
    settings = Settings(
        env="development",
        data_dir=tmp / "hub",
        database_url=f"sqlite:///{db}",
        ota_ops_key=ops_key.hex() if ops_key is not None else None,
    )
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        demo = seed_demo(db_session=s, clock=SystemClock())
    assert settings.hub_key_path is not None
    processor = Processor(
        factory,
        load_or_create(settings.hub_key_path),
        FileBlobStore(settings.media_dir),
        clock=SystemClock(),
        settings=settings,
    )
    hub_app = create_app(settings)
    tap = Tap(hub_app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(tap, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="hub-api", daemon=True)
    thread.start()
    wait_until("the hub's API listening", lambda: server.started, 30)
    try:
        yield LiveHub(settings, demo, f"http://127.0.0.1:{port}", tap, processor, tmp)
    finally:
        server.should_exit = True
        thread.join(15)
        hub_app.state.engine.dispose()
        engine.dispose()


@pytest.fixture
def live(tmp_path: Path, migrated: Path, ops_seed: bytes) -> Iterator[LiveHub]:
    for hub in serve(tmp_path, migrated, crypto.public_key(ops_seed)):
        for community in (AREA_1, AREA_2):  # the demo has grids 01 and 02 in each
            for g in range(3, 7):
                grid = {"code": f"{community}{g:02d}", "name": f"grid {g} of {community}"}
                hub.api("POST", "/api/grids", ok=201, json=grid)
        for dev_id, kind, community, g, hw, revoke in FLEET:
            hub.add(dev_id, kind, f"{community}{g:02d}", hw, revoke)
        yield hub


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


def row(*cells: str) -> str:
    """A row of the ``status --devices`` table as the collapsed stdout shows it."""
    return " │ ".join(cells)


def first_of(r: dict[str, Any], stage: int = 0) -> list[str]:
    return [d["device_id"] for d in r["devices"] if d["stage"] == stage]


# --- the tests -----------------------------------------------------------------------------


def test_upload_is_idempotent_and_listed(live: LiveHub, ops_seed: bytes) -> None:
    glb, bid = make_bundle(live.tmp, ops_seed)
    code, stdout, stderr = live.run("upload", str(glb))
    assert code == 0, stdout + stderr
    assert f"bundle {bid}: gridlink-fw {source_version(REPO)} for handheld on sim-unix" in stdout
    assert "(uploaded)" in stdout
    code, stdout, stderr = live.run("upload", str(glb))
    assert code == 0 and "(already at the hub)" in stdout, stderr
    assert [b["id"] for b in live.api("GET", "/api/ota/bundles")] == [bid]
    code, stdout, stderr = live.run("bundles")
    assert code == 0 and bid[:16] in stdout and "1 bundle(s)" in stdout, stderr


def test_a_staged_rollout_from_start_to_completed(live: LiveHub, ops_seed: bytes) -> None:
    glb, bid = make_bundle(live.tmp, ops_seed)
    # a file: uploaded first, then rolled out; what the hub got is the contract's body
    code, stdout, stderr = live.run("rollout", str(glb), "--area", AREA_1)
    assert code == 0, stdout + stderr
    assert live.tap.rollout_bodies == [{
        "bundle": bid, "target": {"area": AREA_1}, "stages": [10, 100],
        "auto_advance": False, "advance_success_percent": 90, "pause_failure_percent": 20,
        "pause_min_done": 1, "device_timeout_s": 900,
    }]  # fmt: skip
    r = live.rollout("r-1")
    # the area's sim-unix handhelds; not the esp32 one (its birth said so), not the gate
    assert sorted(d["device_id"] for d in r["devices"]) == [f"hh-{i:02d}" for i in (0, 2, 4, 6, 8)]
    assert r["counts"]["queued"] == 1 and r["counts"]["pending"] == 4
    assert "rollout r-1: " in stdout and "stage 1/2 (10%)" in stdout
    assert "excluded: hh-old (hardware esp32 is not in the bundle's hw)" in stdout
    assert "gridlink provision ota status r-1 --watch" in stdout

    code, stdout, stderr = live.run("status", "r-1", "--devices")
    assert code == 0, stderr
    assert "0/5 done" in stdout and "running" in stdout
    [first] = first_of(r)
    assert row(first, "1", "queued") in stdout
    # advancing while stage 1 is not done: one line, in the CLI's own stage numbers
    line = one_error(*live.run("advance", "r-1")[::2])
    assert line == (
        f"error: stage 1/2 of rollout r-1 is not finished ({first} is still going): "
        "wait, or pass --force"
    )
    live.report("r-1", first, "downloading")
    code, stdout, stderr = live.run("status", "r-1", "--devices")
    assert row(first, "1", "downloading", "-") in stdout, stdout
    live.report("r-1", first, "verified", "updating", "updated")
    assert live.rollout("r-1")["state"] == "running"  # no auto-advance: it waits for an operator
    code, stdout, stderr = live.run("advance", "r-1")
    assert code == 0 and "stage 2/2 (100%)" in stdout, stderr
    line = one_error(*live.run("advance", "r-1", "--force")[::2])
    assert line == "error: rollout r-1 is at its last stage"

    # --watch refreshes until the rollout ends; the devices finish meanwhile
    rest = first_of(live.rollout("r-1"), 1)
    assert len(rest) == 4
    polled = live.polls("r-1")

    def finish() -> None:
        wait_until("the CLI polling", lambda: live.polls("r-1") >= polled + 3, 30)
        live.update("r-1", *rest)

    worker = threading.Thread(target=finish)
    worker.start()
    code, stdout, stderr = live.run("status", "r-1", "--watch", "--interval", "0.1")
    worker.join()
    assert code == 0, stdout + stderr
    assert "completed" in stdout and "5/5 done (5 updated, 0 failed, 0 rolled back)" in stdout
    assert live.polls("r-1") >= polled + 4
    assert live.rollout("r-1")["state"] == "completed"

    code, stdout, stderr = live.run("list")
    assert code == 0 and "r-1" in stdout and "completed" in stdout and "1 rollout(s)" in stdout


def test_watch_ends_with_exit_1_when_the_rollout_pauses(live: LiveHub, ops_seed: bytes) -> None:
    glb, bid = make_bundle(live.tmp, ops_seed)
    assert live.run("upload", str(glb))[0] == 0
    code, stdout, stderr = live.run(
        "rollout", bid, "--devices", "hh-01,hh-02,hh-03", "--stages", "30,60,100", "--auto",
        "--pause-failure-percent", "25", "--advance-success-percent", "80",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    [body] = live.tap.rollout_bodies
    assert body["target"] == {"devices": ["hh-01", "hh-02", "hh-03"]}
    assert body["stages"] == [30, 60, 100] and body["auto_advance"] is True
    assert body["pause_failure_percent"] == 25 and body["advance_success_percent"] == 80
    assert "auto-advance on" in stdout and "stage 1/3 (30%)" in stdout
    r = live.rollout("r-1")
    [first], [second], [third] = first_of(r, 0), first_of(r, 1), first_of(r, 2)
    polled = live.polls("r-1")

    def crash() -> None:
        wait_until("the CLI polling", lambda: live.polls("r-1") >= polled + 2, 30)
        live.update("r-1", first)  # stage 1 succeeded: the hub moves to stage 2 by itself
        wait_until("stage 2 queued", lambda: live.rollout("r-1")["stage"] == 1, 10)
        # the new firmware crashes on start: the loader switches back before it reports
        # "updated", and the old firmware reports the rollback
        live.report("r-1", second, "downloading", "verified", "updating")
        live.report("r-1", second, "rolled_back", reason="crash: ZeroDivisionError")

    worker = threading.Thread(target=crash)
    worker.start()
    code, stdout, stderr = live.run("status", "r-1", "--watch", "--interval", "0.1")
    worker.join()
    line = one_error(code, stderr)
    assert line == "error: rollout r-1 is paused: failures: 1 of 2 (50%) >= 25%"
    assert "2/3 done (1 updated, 0 failed, 1 rolled back)" in stdout
    assert "stage 2/3 (60%)" in stdout
    code, stdout, stderr = live.run("status", "r-1", "--devices")
    assert row(second, "2", "rolled_back", "crash:") in stdout, stdout  # 80 columns: it wraps
    assert "ZeroDivisionError" in stdout
    assert row(third, "3", "pending", "-") in stdout

    code, stdout, stderr = live.run("resume", "r-1")
    assert code == 0 and "running" in stdout, stderr
    code, stdout, stderr = live.run("pause", "r-1")
    assert code == 0 and "paused: paused by admin:admin" in stdout, stderr
    code, stdout, stderr = live.run("cancel", "r-1")
    assert code == 0 and "cancelled" in stdout, stderr
    r = live.rollout("r-1")
    assert sorted(d["device_id"] for d in r["devices"]) == sorted([first, second])  # untold: gone
    line = one_error(*live.run("resume", "r-1")[::2])
    assert line == "error: rollout r-1 is cancelled: cannot resume"


def test_operator_mistakes_are_one_line(live: LiveHub, ops_seed: bytes, tmp_path: Path) -> None:
    glb, bid = make_bundle(live.tmp, ops_seed)
    # the hub unreachable, a bad token, a token without the admin role
    gone = {**live.env, "GRIDLINK_HUB_URL": f"http://127.0.0.1:{free_port()}"}
    assert "hub unreachable at http://127.0.0.1:" in one_error(*live.run("list", env=gone)[::2])
    bad = {**live.env, "GRIDLINK_ADMIN_TOKEN": "nope"}
    line = one_error(*live.run("list", env=bad)[::2])
    assert line == (
        "error: the hub refused the admin token (unknown or revoked token): "
        "check --token / GRIDLINK_ADMIN_TOKEN"
    )
    reader = {**live.env, "GRIDLINK_ADMIN_TOKEN": live.demo.tokens["district-operator"]}
    assert live.run("list", env=reader)[0] == 0  # an operator may read
    line = one_error(*live.run("upload", str(glb), env=reader)[::2])
    assert line == (
        "error: the hub refused: this action needs one of the roles: admin "
        "(an admin token is needed)"
    )
    # an unknown rollout, a bad rollout id
    line = one_error(*live.run("status", "r-99")[::2])
    assert line == "error: no rollout r-99 at the hub (`gridlink provision ota list` lists them)"
    assert "no rollout r-7 at the hub" in one_error(*live.run("cancel", "r-7")[::2])
    assert "want a rollout id" in one_error(*live.run("status", "r/../1")[::2])
    # a bundle signed by another key: the hub's 422, as it words it
    other, _ = make_bundle(tmp_path, crypto.new_seed(), "other.glb")
    line = one_error(*live.run("upload", str(other))[::2])
    assert line == "error: bad_signature: manifest is not signed by the ops key"
    # a bundle altered on the way: refused here before anything is sent
    data = bytearray(glb.read_bytes())
    at = data.index(b"def ", 4096)
    data[at] ^= 0x20
    altered = tmp_path / "altered.glb"
    altered.write_bytes(bytes(data))
    assert "does not match the manifest" in one_error(*live.run("upload", str(altered))[::2])
    assert live.api("GET", "/api/ota/bundles") == []
    # rollout mistakes caught here, and the hub's answers for targets it cannot use
    assert live.run("upload", str(glb))[0] == 0
    assert "exactly one of --devices" in one_error(*live.run("rollout", bid)[::2])
    two = ("rollout", bid, "--all", "--area", AREA_1)
    assert "exactly one of --devices" in one_error(*live.run(*two)[::2])
    assert "the last stage must be 100" in one_error(
        *live.run("rollout", bid, "--all", "--stages", "10,50")[::2]
    )
    assert "strictly up" in one_error(
        *live.run("rollout", bid, "--all", "--stages", "50,50,100")[::2]
    )
    assert "want percents" in one_error(*live.run("rollout", bid, "--all", "--stages", "ten")[::2])
    assert "a percent in 1..100" in one_error(
        *live.run("rollout", bid, "--all", "--pause-failure-percent", "0")[::2]
    )
    assert "want seconds in 60.." in one_error(
        *live.run("rollout", bid, "--all", "--device-timeout", "30")[::2]
    )
    line = one_error(*live.run("rollout", bid, "--area", "3301")[::2])
    assert line == "error: --area '3301': want an area code of 6, 9 or 12 digits"
    assert "forbidden character" in one_error(*live.run("rollout", bid, "--devices", "a b")[::2])
    line = one_error(*live.run("rollout", bid, "--devices", "ac-01")[::2])
    assert line == (
        "error: the target holds no device this bundle can update "
        "(ac-01: kind access is not in the bundle's kinds)"
    )
    line = one_error(*live.run("rollout", bid, "--devices", "hh-gone,hh-old")[::2])
    assert line == (
        "error: the target holds no device this bundle can update "
        "(hh-gone: revoked; hh-old: hardware esp32 is not in the bundle's hw)"
    )
    line = one_error(*live.run("rollout", bid, "--devices", "hh-01,hh-77")[::2])
    assert line == "error: unknown devices: hh-77"
    # an area the hub does not know: its 404 is the area's, not "no OTA API"
    line = one_error(*live.run("rollout", bid, "--area", "330102009")[::2])
    assert line == "error: area 330102009 not found"
    unknown = "f" * 64
    line = one_error(*live.run("rollout", unknown, "--all")[::2])
    assert line == (
        f"error: no bundle {unknown} at the hub (`gridlink provision ota bundles` lists them)"
    )
    assert "neither a bundle id" in one_error(*live.run("rollout", "fw-9.glb", "--all")[::2])
    assert live.api("GET", ROLLOUTS) == []


def test_a_hub_without_the_ops_key_says_so(tmp_path: Path, migrated: Path, ops_seed: bytes) -> None:
    for hub in serve(tmp_path, migrated, None):
        glb, _ = make_bundle(tmp_path, ops_seed)
        line = one_error(*hub.run("upload", str(glb))[::2])
        assert line == "error: OTA is not configured: set GRIDLINK_OTA_OPS_KEY"
        assert hub.api("GET", "/api/ota/bundles") == []
    assert not os.environ.get("GRIDLINK_OTA_OPS_KEY")
