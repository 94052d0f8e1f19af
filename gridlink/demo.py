"""`make demo`: a broker, the hub and a simulated fleet of handhelds on one machine.

The fleet runs the real firmware on the MicroPython unix port. Grid workers patrol and report;
their reports become cases; the demo plays the handling units (accept, feedback), the hub pushes
a verification task to the grid's handheld, the worker confirms on site with a photo, the case
closes and the demo rates it: the whole closed loop, visible in the console.

    python -m gridlink.demo [--broker embedded|mosquitto] [--devices 4] [--duration 0]

The demo wipes and recreates its data directory, so it first takes ``demo.lock`` there (an
``flock`` held while it runs, with its pid inside): a second demo on the same directory says so
in one line and exits 1, leaving the running one's data alone. The hub runs in the explicit
development mode on loopback, the only place the published admin token works.
"""

from __future__ import annotations

import fcntl
import json
import os
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

from hub.settings import Settings
from simulator import scenarios
from simulator.fleet import Fleet

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


def start_broker(stack: ExitStack, kind: str, port: int, root: Path) -> subprocess.Popen:
    if kind == "embedded":
        args = [sys.executable, "-m", "gridlink.broker", "--port", str(port)]
    else:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = root / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 10000\nmax_inflight_messages 100\n"
        )
        args = [exe, "-c", str(conf)]
    proc = start_process(stack, args, root / "broker.log")
    wait_port(port, proc, f"{kind} broker")
    return proc


def seed_hub(
    settings: Settings, devices: int, every_s: float, fleet: Fleet
) -> tuple[dict[str, str], list]:
    """Migrate + seed the demo area tree, register one handheld per grid; in this process."""
    from hub.areas.models import Grid
    from hub.clock import SystemClock
    from hub.db import make_engine, make_session_factory, session_scope
    from hub.devices.models import DeviceKind
    from hub.devices.schemas import DeviceCreate
    from hub.devices.service import register_device
    from hub.migrations.runner import upgrade
    from hub.seed import seed_demo

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    added = []
    try:
        with session_scope(make_session_factory(engine)) as db_session:
            data = seed_demo(db_session=db_session, clock=SystemClock())
            for grid in data.grids[:devices]:
                worker = f"w{grid[6:]}" if f"w{grid[6:]}" in data.workers else data.workers[0]
                script = scenarios.patrol(
                    reports=3,
                    every_s=every_s,
                    worker=(worker, "1234"),
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
                    workers={worker: scenarios.pin_hash(worker, "1234")},
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
    return data.tokens, added


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
    broker: str, devices: int, duration: float, api_port: int, data_dir: Path, every_s: float
) -> int:
    try:
        lock = claim(data_dir)
    except DemoRunningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with lock:
        return _run(broker, devices, duration, api_port, data_dir, every_s)


def _run(
    broker: str, devices: int, duration: float, api_port: int, data_dir: Path, every_s: float
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
    env = {**os.environ, **hub_env}  # the hub process reads the same settings as this one
    settings = Settings(**{k.removeprefix("GRIDLINK_").lower(): v for k, v in hub_env.items()})
    with ExitStack() as stack:
        start_broker(stack, broker, mqtt_port, data_dir)
        from hub.keys import load_or_create

        hub_key = load_or_create(settings.hub_key_path)
        fleet = Fleet("127.0.0.1", mqtt_port, root=data_dir / "fleet", hub_seed=hub_key.seed)
        stack.callback(fleet.stop)
        tokens, devs = seed_hub(settings, devices, every_s, fleet)
        (data_dir / "tokens.json").write_text(json.dumps(tokens, indent=2))
        hub = start_process(
            stack,
            [sys.executable, "-m", "gridlink.cli", "hub", "run", "--supervision-interval", "10"],
            data_dir / "hub.log",
            env,
        )
        wait_port(api_port, hub, "hub", timeout=60)
        fleet.start()
        base = f"http://127.0.0.1:{api_port}"
        admin = settings.admin_token.get_secret_value()
        table = Table(title="Gridlink demo is running", show_header=False)
        console_link = f"{base}/console#token={tokens['district-operator']}"
        table.add_row("console", f"{base}/console (signed-in link below)")
        table.add_row("API docs", f"{base}/docs")
        table.add_row("admin token", admin)
        for label, secret in tokens.items():
            if "operator" in label:
                table.add_row(label, secret)
        table.add_row("broker", f"{broker} on 127.0.0.1:{mqtt_port}")
        table.add_row("devices", ", ".join(d.device_id for d in devs))
        table.add_row(
            "logs",
            f"{data_dir}/hub.log, {data_dir}/broker.log, {data_dir}/fleet/<device>/device.log",
        )
        console.print(table)
        console.print(f"Open the console as the district operator: {console_link}", soft_wrap=True)
        units = Units(base, admin)
        started = time.monotonic()
        last: dict[str, int] = {}
        try:
            while not duration or time.monotonic() - started < duration:
                time.sleep(2)
                if hub.poll() is not None:
                    console.print(f"[red]the hub exited ({hub.returncode}); see hub.log[/]")
                    return 1
                counts = units.step()
                if counts != last:
                    console.print(f"cases: {counts}")
                    last = counts
        except KeyboardInterrupt:
            console.print("stopping...")
        console.print(f"final cases by status: {last}")
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
) -> None:
    if broker not in ("embedded", "mosquitto"):
        raise typer.BadParameter("broker must be embedded or mosquitto")
    raise typer.Exit(run(broker, devices, duration, api_port, data_dir, report_every))


if __name__ == "__main__":
    typer.run(main)
