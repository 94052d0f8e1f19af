"""`make demo`: a broker, the hub and a simulated fleet of handhelds and gates on one machine.

The fleet runs the real firmware on the MicroPython unix port. Grid workers patrol and report;
their reports become cases; the demo plays the handling units (accept, feedback), the hub pushes
a verification task to the grid's handheld, the worker confirms on site with a photo, the case
closes and the demo rates it: the whole closed loop, visible in the console.

Next to the handhelds stands one smart compound (``Compound``, docs/access.md): a face
terminal, an access controller and a vehicle barrier of Qinghefang Community. They start with
no list and get the compound's list by the hub's own list sync; residents with recorded face
consent are enrolled at the face terminal through the hub's ``enrol`` command; then a short
morning rush (face, card, QR, PIN and plate reads) and one forced door, which becomes a case
dispatched to the community's office.

    python -m gridlink.demo [--broker embedded|mosquitto] [--devices 4] [--duration 0]
                            [--rush 90] [--no-compound]

The demo wipes and recreates its data directory, so it first takes ``demo.lock`` there (an
``flock`` held while it runs, with its pid inside): a second demo on the same directory says so
in one line and exits 1, leaving the running one's data alone. The hub runs in the explicit
development mode on loopback, the only place the published admin token works.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from hub import broker_admin
from hub.seed import CompoundData, CompoundPerson
from hub.settings import Settings
from simulator import scenarios
from simulator.fleet import Fleet, SimDevice

REPO = Path(__file__).resolve().parents[1]
LOCK_NAME = "demo.lock"
console = Console(width=120)


class DemoRunningError(Exception):
    """Another demo holds the data directory."""


def claim(data_dir: Path) -> IO[str]:
    """Lock ``data_dir`` for this process (kept until the returned file is closed or the
    process ends), then empty it except for the lock."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = (data_dir / LOCK_NAME).open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        pid = lock.read().strip() or "?"
        lock.close()
        raise DemoRunningError(
            f"a demo is already running in {data_dir} (pid {pid}): stop it (Ctrl-C) first, "
            "or give another --data-dir"
        ) from None
    lock.truncate(0)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    for child in data_dir.iterdir():
        if child.name != LOCK_NAME:
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    return lock


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f} s")


def start_process(stack: ExitStack, args: list[str], log: Path, env: dict | None = None):
    handle = log.open("w")
    proc = subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO)

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        handle.close()

    stack.callback(stop)
    return proc


def start_broker(stack: ExitStack, kind: str, port: int, root: Path) -> str | None:
    """Start the demo's broker; return the hub's broker password (None: anonymous).

    ``embedded`` is amqtt, anonymous: the zero-setup demo only. ``mosquitto`` runs the
    locked-down configuration production uses (provisioning.broker: dynamic security, an
    account per device, deny by default), written afresh under ``root/broker``."""
    password = None
    if kind == "embedded":
        args = [sys.executable, "-m", "gridlink.broker", "--port", str(port)]
    else:
        from provisioning import broker as broker_config

        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf_dir = root / "broker"
        shutil.rmtree(conf_dir, ignore_errors=True)  # demo accounts: new every run
        extra = ["user root"] if os.geteuid() == 0 else []  # else it cannot read root's dirs
        cfg = broker_config.write(
            conf_dir,
            [broker_config.Listener("127.0.0.1", port)],
            persistence=False,
            extra_conf=extra,
        )
        password = cfg.hub_password
        args = [exe, "-c", str(cfg.conf_path)]
    proc = start_process(stack, args, root / "broker.log")
    wait_port(port, proc, f"{kind} broker")
    return password


def seed_hub(
    settings: Settings, devices: int, every_s: float, fleet: Fleet, compound: bool = True
) -> tuple[dict[str, str], list, CompoundData | None, dict[int, str]]:
    """Migrate + seed the demo area tree, register one handheld per grid, and (``compound``)
    seed the smart compound's access lists; in this process. Returns the tokens, the
    handhelds, the compound's data and the units (id -> name)."""
    from hub.areas.models import Grid
    from hub.clock import SystemClock
    from hub.db import make_engine, make_session_factory, session_scope
    from hub.devices.models import DeviceKind
    from hub.devices.schemas import DeviceCreate
    from hub.devices.service import register_device
    from hub.migrations.runner import upgrade
    from hub.seed import DEMO_PIN, seed_compound, seed_demo, seed_pins

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    added = []
    compound_data = None
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            data = seed_demo(db_session=db_session, clock=SystemClock())
            seed_pins(db_session=db_session, workers=data.workers, clock=SystemClock(),
                      iterations=settings.worker_pin_iterations)  # fmt: skip
            if compound:
                compound_data = seed_compound(db_session=db_session, clock=SystemClock())
            for grid in data.grids[:devices]:
                worker = f"w{grid[6:]}" if f"w{grid[6:]}" in data.workers else data.workers[0]
                script = scenarios.patrol(
                    reports=3,
                    every_s=every_s,
                    worker=(worker, DEMO_PIN),
                    end=False,
                    text=f"{grid} 网格巡查发现问题 (patrol finding)",
                )
                centre = db_session.get(Grid, grid)
                lat, lon = centre.lat_e6 or 0, centre.lon_e6 or 0
                route = [
                    [lat - 200, lon - 200],
                    [lat + 200, lon - 200],
                    [lat + 200, lon + 200],
                    [lat - 200, lon + 200],
                ]  # a ~45 m square around the grid centre
                dev = fleet.add_handheld(
                    f"hh-{grid}",
                    grid,
                    route=route,
                    scenario=script,
                    answers={"verify": "confirm"},
                    workers={worker: scenarios.pin_record(DEMO_PIN)},
                    exit_when_done=False,
                    heartbeat_s=30,
                    track_s=10,
                )
                register_device(
                    db_session=db_session,
                    data=DeviceCreate(
                        id=dev.device_id,
                        kind=DeviceKind.handheld,
                        public_key=dev.public_key_hex,
                        grid_code=grid,
                    ),
                    clock=SystemClock(),
                )
                added.append(dev)
    finally:
        engine.dispose()
    units = {unit_id: name for name, unit_id in data.units.items()}
    return data.tokens, added, compound_data, units


def register_gates(settings: Settings, gates: list[SimDevice]) -> None:
    """Register each gate under its kind, bound to the compound's grid; in this process."""
    from hub.clock import SystemClock
    from hub.db import make_engine, make_session_factory, session_scope
    from hub.devices.models import DeviceKind
    from hub.devices.schemas import DeviceCreate
    from hub.devices.service import register_device

    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            for dev in gates:
                register_device(
                    db_session=db_session,
                    data=DeviceCreate(
                        id=dev.device_id,
                        kind=DeviceKind(dev.config["app"]),
                        public_key=dev.public_key_hex,
                        grid_code=dev.config["grid"],
                    ),
                    clock=SystemClock(),
                )
    finally:
        engine.dispose()


# --- the smart compound -----------------------------------------------------------------------

ACCESS = "/api/v1/access"
# (device id, kind, door, direction): the compound's three gates, one door each
GATES = (
    ("gt-face-01", "face", "d1", "out"),  # pedestrian gate, residents leaving for work
    ("gt-door-01", "access", "d2", "in"),  # side door: staff, visitors, couriers
    ("gt-car-01", "barrier", "g1", "in"),  # car park entrance
)
# what a planned read should decide: (ev, reason); None where it depends on the wall clock
Expected = tuple[str, str | None] | None
# seconds from a gate's reboot to its first rush read: it reconnects and uploads first, so
# reads are not played back to back (the simulated door has one position: two overlapping
# passages would shut it on the second person, a forced door)
RUSH_LEAD_S = 8.0


def _read(acts: list[dict], want: list[Expected], at: float, door: str, read: dict,
          res: Expected, pass_s: float = 0.05) -> None:  # fmt: skip
    at += RUSH_LEAD_S
    acts.append({"at": round(at, 2), "door": door, **read})
    want.append(res)
    if res is not None and res[0] == "granted":  # whoever is let in walks through
        acts.append({"at": round(at, 2), "do": "pass", "door": door, "n": 1, "s": pass_s})


def rush_scripts(
    data: CompoundData, duration_s: float, seed: int = 9
) -> dict[str, tuple[list[dict], list[Expected]]]:
    """A morning rush at each gate over ``duration_s``, then a door forced open at the access
    controller: {device id: (scenario actions, the expected decision of each read in order)}.
    Nobody blacklisted shows up (a blacklist hit would be a second case)."""
    rnd = random.Random(seed)
    enrolled = [p for p in data.residents if p.id in data.face_consented]
    others = [p for p in data.residents if p.id not in data.face_consented]
    ok = ("granted", None)
    out: dict[str, tuple[list[dict], list[Expected]]] = {}

    acts: list[dict] = []
    want: list[Expected] = []
    for i in range(max(4, int(duration_s / 2))):  # face terminal: a read every 2 s
        at, r = i * 2.0, rnd.random()
        if r < 0.6 and enrolled:
            who: CompoundPerson = rnd.choice(enrolled)
            _read(acts, want, at, "d1", {"do": "face", "who": who.id}, ok)
        elif r < 0.85:
            who = rnd.choice(others)
            _read(acts, want, at, "d1", {"do": "card", "card": who.card}, ok)
        elif r < 0.95:
            who = rnd.choice(others)
            _read(acts, want, at, "d1", {"do": "pin", "pin": who.pin}, ok)
        else:  # a face the terminal holds no template for, seen once
            _read(acts, want, at, "d1", {"do": "face", "who": f"stranger-{i}"},
                  ("denied", "unknown"))  # fmt: skip
    out[GATES[0][0]] = (acts, want)

    acts, want = [], []
    n = max(4, int(duration_s / 3))
    step = max(0.5, (duration_s - 4) / n)  # quiet for the last 4 s before the forced door
    assert data.visitor is not None and data.visitor.qr is not None
    for i in range(n):
        at, r = i * step, rnd.random()
        if i == 1:
            _read(acts, want, at, "d2", {"do": "qr", "qr": data.visitor.qr}, ok)
        elif i == 2:
            _read(acts, want, at, "d2", {"do": "card", "card": data.moved_out[0].card},
                  ("denied", "expired"))  # fmt: skip
        elif i == 3:
            _read(acts, want, at, "d2", {"do": "card", "card": f"FFEE{i:04X}"},
                  ("denied", "unknown"))  # fmt: skip
        elif r < 0.3:  # staff: granted on their schedule (06:00-22:00 Mon-Sat), else denied
            _read(acts, want, at, "d2", {"do": "card", "card": rnd.choice(data.staff).card}, None)
        elif r < 0.6:
            _read(acts, want, at, "d2", {"do": "pin", "pin": rnd.choice(others).pin}, ok)
        else:
            _read(acts, want, at, "d2", {"do": "card", "card": rnd.choice(others).card}, ok)
    acts.append({"at": round(RUSH_LEAD_S + duration_s, 2), "do": "force", "door": "d2", "s": 1})
    out[GATES[1][0]] = (acts, want)

    acts, want = [], []
    for i in range(max(3, int(duration_s / 5))):  # barrier: a car every 5 s
        at = i * 5.0
        if i == 1:
            plate, res = data.expired_plates[0], ("denied", "expired")
        elif i == 2:
            plate, res = f"苏E{rnd.randint(10000, 99999)}", ("denied", "unknown")
        else:
            plate, res = rnd.choice(data.plates), ok
        read = {"do": "plate", "plate": plate, "color": "green" if "D" in plate else "blue",
                "conf": rnd.randint(90, 99)}  # fmt: skip
        _read(acts, want, at, "g1", read, res, pass_s=0.5)
    out[GATES[2][0]] = (acts, want)
    return out


class Compound:
    """The demo's smart compound, driven through the hub's API one ``step()`` at a time
    (the demo's main loop, or a test's wait): phases ``sync`` (the gates get the list by the
    hub's list sync) -> ``enrol`` (the hub's ``enrol`` command for each consented resident at
    the face terminal, and the list change it makes synced everywhere) -> ``rush`` (the gates
    reload with the rush script; waiting for every decision in the access log and the alarm's
    case) -> ``done``."""

    def __init__(
        self,
        data: CompoundData,
        fleet: Fleet,
        http: httpx.Client,
        say: Any = print,
        rush_s: float = 90,
        units: dict[int, str] | None = None,
    ) -> None:
        self.data, self.fleet, self.http, self.say = data, fleet, http, say
        self.rush_s = rush_s
        self.units = units or {}
        self.gates: list[SimDevice] = []
        self.phase = "sync"
        self.scripts = rush_scripts(data, rush_s)
        self.enrolments: dict[str, str] = {}  # person -> command id
        self.case: dict[str, Any] | None = None
        self._logged = -1
        self._versions: dict[str, int | None] = {}

    def add_gates(self) -> list[SimDevice]:
        """The three gates in the fleet (not started, no list: version 0), for the caller to
        register with the hub under their kind and the compound's grid."""
        people = {p: 95 for p in self.data.face_consented}  # the face module's library
        for device_id, kind, door, direction in GATES:
            dev = self.fleet.add_gate(
                device_id,
                kind,
                self.data.grid,
                scenario=[],
                people=people if kind == "face" else None,
                doors=[{"id": door, "dir": direction, "fail": "secure", "open_ms": 3000,
                        "held_open_s": 30}],
                exit_when_done=False,
                heartbeat_s=30,
            )  # fmt: skip
            self.gates.append(dev)
        return self.gates

    # --- what the hub says -----------------------------------------------------------------

    def _get(self, path: str, **params: Any) -> Any:
        resp = self.http.get(path, params=params)
        resp.raise_for_status()
        return resp.json()

    def list_status(self) -> dict[str, Any]:
        return dict(self._get(f"{ACCESS}/communities/{self.data.community}/lists"))

    def synced(self) -> int | None:
        """The list version every gate runs, when they all run the community's current one."""
        status = self.list_status()
        versions = {d["device_id"]: d["version"] for d in status["devices"]}
        if versions != self._versions:
            self._versions = versions
            shown = ", ".join(f"{d} v{v if v is not None else '-'}" for d, v in versions.items())
            self.say(f"名单同步 list sync: 社区 community v{status['version']}; {shown}")
        mine = [versions.get(g.device_id) for g in self.gates]
        if status["version"] > 0 and all(v == status["version"] for v in mine):
            return int(status["version"])
        return None

    def log_total(self, **params: Any) -> int:
        page = self._get(f"{ACCESS}/log", community=self.data.community, limit=1, **params)
        return int(page["total"])

    def decisions(self, device_id: str) -> list[dict[str, Any]]:
        """The device's granted / denied rows in the access log, in (seq, idx) order."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self._get(f"{ACCESS}/log", community=self.data.community, limit=500,
                             offset=len(rows))["items"]  # fmt: skip
            rows += page
            if len(page) < 500:
                break
        mine = [r for r in rows if r["device_id"] == device_id and r["ev"] in ("granted", "denied")]
        return sorted(mine, key=lambda r: (r["seq"], r["idx"]))

    def alarm_case(self) -> dict[str, Any] | None:
        items = self._get("/api/cases", limit=200)["items"]
        door = GATES[1][0]
        found = [c for c in items if c["source"] == "alarm" and c["device_id"] == door]
        return found[0] if found else None

    # --- the phases ------------------------------------------------------------------------

    def step(self) -> str:
        if self.phase == "sync" and self.synced() is not None:
            face = GATES[0][0]
            for pid in self.data.face_consented:
                resp = self.http.post(
                    f"/api/devices/{face}/commands/enrol", json={"args": {"person": pid}}
                )
                resp.raise_for_status()
                self.enrolments[pid] = resp.json()["id"]
            self.say(
                f"人脸录入 face enrolment: {len(self.enrolments)} 位已同意的住户 residents with "
                f"recorded consent, enrol command at {face} (模板留在设备 templates stay on "
                "the device)"
            )
            self.phase = "enrol"
        elif self.phase == "enrol" and self._enrolled() and self.synced() is not None:
            self._start_rush()
            self.phase = "rush"
        elif self.phase == "rush":
            self._watch_rush()
        return self.phase

    def _enrolled(self) -> bool:
        base = f"{ACCESS}/communities/{self.data.community}/people"
        return all(self._get(f"{base}/{pid}")["face_template"] for pid in self.enrolments)

    def _start_rush(self) -> None:
        for dev in self.gates:  # stop, load the rush script, start: a clean reboot
            dev.stop()
            scenarios.write_jsonl(self.scripts[dev.device_id][0], dev.config["sim"]["scenario"])
            dev.start()
        reads = sum(len(w) for _a, w in self.scripts.values())
        self.say(
            f"早高峰开始 morning rush: {reads} 次识读 reads in {self.rush_s:.0f} s "
            "(人脸 face, 刷卡 card, 二维码 QR, 密码 PIN, 车牌 plate), 然后强行开门 then a "
            f"forced door at {GATES[1][0]}"
        )

    def rush_stored(self) -> bool:
        """Every planned read of the rush has its decision in the access log."""
        return all(len(self.decisions(d)) >= len(want) for d, (_acts, want) in self.scripts.items())

    def _watch_rush(self) -> None:
        total = self.log_total()
        if total != self._logged:
            self._logged = total
            self.say(f"门禁记录 access log: {total} 条 rows")
        if self.case is None:
            case = self.alarm_case()
            if case is not None and case["unit_id"] is not None:
                self.case = case
                unit = self.units.get(case["unit_id"], f"unit {case['unit_id']}")
                self.say(
                    f"告警工单 alarm case #{case['id']}: {case['text']} -> 已派遣 dispatched to "
                    f"{unit} ({case['status']})"
                )
        if self.case is not None and self.rush_stored():
            self.phase = "done"
            fig = self._get(f"{ACCESS}/communities/{self.data.community}/figures")
            people_in = sum(h["people_in"] for h in fig["hours"])
            people_out = sum(h["people_out"] for h in fig["hours"])
            self.say(
                f"社区统计 community figures: 进 in {people_in}, 出 out {people_out}, 在场车辆 "
                f"vehicles inside {len(fig['vehicles_inside'])}, 告警 alarms {fig['alarms']}, "
                f"拒绝 denied {fig['denied']}"
            )


class Units:
    """The demo plays the handling units through the REST API: accept, feedback, rate."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self.done: set[int] = set()

    def cases(self) -> list[dict[str, Any]]:
        return self.http.get("/api/cases", params={"limit": 200}).json()["items"]

    def step(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for case in self.cases():
            counts[case["status"]] = counts.get(case["status"], 0) + 1
            cid, status = case["id"], case["status"]
            if status == "dispatched":
                self.http.post(f"/api/cases/{cid}/accept", json={"reason": "on our way"})
            elif status == "handling":
                self.http.post(
                    f"/api/cases/{cid}/feedback", json={"text": "已处理完毕 (fixed by the unit)"}
                )
            elif status == "closed" and cid not in self.done:
                self.http.post(f"/api/cases/{cid}/rate", json={"score": 5, "comment": "满意"})
                self.done.add(cid)
        return counts


def run(
    broker: str,
    devices: int,
    duration: float,
    api_port: int,
    data_dir: Path,
    every_s: float,
    rush_s: float = 90,
    compound: bool = True,
) -> int:
    try:
        lock = claim(data_dir)
    except DemoRunningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with lock:
        return _run(broker, devices, duration, api_port, data_dir, every_s, rush_s, compound)


def _run(
    broker: str,
    devices: int,
    duration: float,
    api_port: int,
    data_dir: Path,
    every_s: float,
    rush_s: float,
    with_compound: bool,
) -> int:
    mqtt_port = free_port()
    hub_env = {
        # the published admin token works only in explicit development mode on loopback
        "GRIDLINK_ENV": "development",
        "GRIDLINK_API_HOST": "127.0.0.1",
        "GRIDLINK_DATA_DIR": str(data_dir / "hub"),
        "GRIDLINK_MQTT_PORT": str(mqtt_port),
        "GRIDLINK_MQTT_PROTOCOL": "3.1.1" if broker == "embedded" else "5",
        "GRIDLINK_API_PORT": str(api_port),
    }
    with ExitStack() as stack:
        hub_password = start_broker(stack, broker, mqtt_port, data_dir)
        if hub_password is not None:  # the locked-down Mosquitto: the hub logs in
            hub_env["GRIDLINK_MQTT_USERNAME"] = "hub"
            hub_env["GRIDLINK_MQTT_PASSWORD"] = hub_password
            hub_env["GRIDLINK_BROKER_ACCOUNTS"] = "dynsec"
        env = {**os.environ, **hub_env}  # the hub process reads the same settings as this one
        settings = Settings(**{k.removeprefix("GRIDLINK_").lower(): v for k, v in hub_env.items()})
        from hub.keys import load_or_create

        hub_key = load_or_create(settings.hub_key_path)
        fleet = Fleet(
            "127.0.0.1",
            mqtt_port,
            root=data_dir / "fleet",
            hub_seed=hub_key.seed,
            accounts=broker_admin.device_accounts(settings) if hub_password is not None else None,
        )
        stack.callback(fleet.stop)
        tokens, devs, compound_data, unit_names = seed_hub(
            settings, devices, every_s, fleet, compound=with_compound
        )
        base = f"http://127.0.0.1:{api_port}"
        admin = settings.admin_token.get_secret_value()
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=10)
        stack.callback(http.close)
        compound = None
        if compound_data is not None:
            compound = Compound(
                compound_data, fleet, http, say=console.print, rush_s=rush_s, units=unit_names
            )
            register_gates(settings, compound.add_gates())
        (data_dir / "tokens.json").write_text(json.dumps(tokens, indent=2))
        hub = start_process(
            stack,
            [sys.executable, "-m", "gridlink.cli", "hub", "run", "--supervision-interval", "10"],
            data_dir / "hub.log",
            env,
        )
        wait_port(api_port, hub, "hub", timeout=60)
        fleet.start()
        table = Table(title="Gridlink demo is running", show_header=False)
        console_link = f"{base}/console#token={tokens['district-operator']}"
        table.add_row("console", f"{base}/console (signed-in link below)")
        table.add_row("API docs", f"{base}/docs")
        table.add_row("admin token", admin)
        for label, secret in tokens.items():
            if "operator" in label:
                table.add_row(label, secret)
        if hub_password is None:
            security = "ANONYMOUS: any client may connect; the zero-setup demo only"
        else:
            security = "locked down: an account per device, deny by default (dynsec)"
        table.add_row("broker", f"{broker} on 127.0.0.1:{mqtt_port}, {security}")
        table.add_row("devices", ", ".join(d.device_id for d in devs))
        if compound is not None:
            c = compound.data.community
            table.add_row(
                "智慧小区 compound", f"{c} Qinghefang Community, grid {compound.data.grid}"
            )
            table.add_row("闸机 gates", ", ".join(f"{g} ({k})" for g, k, _d, _r in GATES))
            table.add_row("门禁记录 access log", f"{base}{ACCESS}/log?community={c}")
            table.add_row("社区统计 figures", f"{base}{ACCESS}/communities/{c}/figures")
            table.add_row("名单状态 list status", f"{base}{ACCESS}/communities/{c}/lists")
            table.add_row("告警工单 alarm cases", f"{base}/api/cases (source alarm)")
        table.add_row(
            "logs",
            f"{data_dir}/hub.log, {data_dir}/broker.log, {data_dir}/fleet/<device>/device.log",
        )
        console.print(table)
        console.print(f"Open the console as the district operator: {console_link}", soft_wrap=True)
        if compound is not None:
            who = tokens[f"community-{compound.data.community}-operator"]
            console.print(
                "用社区操作员令牌查询 query as the community operator: curl -H "
                f"'Authorization: Bearer {who}' '{base}{ACCESS}/log?community="
                f"{compound.data.community}&person=r-001'",
                soft_wrap=True,
            )
        units = Units(base, admin)
        started = time.monotonic()
        last: dict[str, int] = {}
        phase = ""
        try:
            while not duration or time.monotonic() - started < duration:
                time.sleep(2)
                if hub.poll() is not None:
                    console.print(f"[red]the hub exited ({hub.returncode}); see hub.log[/]")
                    return 1
                if compound is not None and phase != "done":
                    try:
                        phase = compound.step()
                    except httpx.HTTPError as exc:  # the hub busy or restarting: next pass
                        console.print(f"[yellow]compound: {exc}; retrying[/]")
                    if phase == "done" and compound.case is not None:
                        console.print(
                            f"告警工单详情 the alarm's case: {base}/api/cases/{compound.case['id']}"
                        )
                counts = units.step()
                if counts != last:
                    console.print(f"cases: {counts}")
                    last = counts
        except KeyboardInterrupt:
            console.print("stopping...")
        console.print(f"final cases by status: {last}")
        if compound is not None:
            console.print(f"compound: {phase or 'sync'}")
    return 0


def main(
    broker: str = typer.Option("embedded", help="embedded (amqtt, zero setup) or mosquitto"),
    devices: int = typer.Option(4, min=1, max=8, help="simulated handhelds, one per grid"),
    duration: float = typer.Option(0, help="stop after this many seconds (0: until Ctrl-C)"),
    api_port: int = typer.Option(8000, help="HTTP port of the hub"),
    data_dir: Path = typer.Option(
        REPO / "var" / "demo", help="wiped and recreated (refused while a demo runs there)"
    ),
    report_every: float = typer.Option(20, help="seconds between a worker's patrol reports"),
    rush: float = typer.Option(90, min=10, max=900, help="seconds of the compound's morning rush"),
    compound: bool = typer.Option(True, help="the smart compound's gates next to the handhelds"),
) -> None:
    if broker not in ("embedded", "mosquitto"):
        raise typer.BadParameter("broker must be embedded or mosquitto")
    raise typer.Exit(
        run(broker, devices, duration, api_port, data_dir, report_every, rush, compound)
    )


if __name__ == "__main__":
    typer.run(main)
