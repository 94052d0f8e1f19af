"""A crowd: thousands of simulated devices in a few CPython processes, one asyncio loop each,
running the same firmware code as the MicroPython fleet (firmware/lib, hal, apps; DESIGN
section 7). For fleets too large for a process per device (20,000 handhelds on this box);
the HIL tests keep the unix port, which checks the heap.

    fleet = Fleet(broker.host, broker.port, hub_seed=hub_key.seed, accounts=...)
    devs = [fleet.add_handheld(f"hh-{i:05d}", grid, scenario=idle_path) for i in range(n)]
    with Crowd(devs, procs=2) as crowd:          # starts the processes
        crowd.wait(lambda s: s.up == n, 120)     # every device's link up
        s = crowd.status()                       # up, live, ended, failed, connects, rss

Each process (``python -m simulator.crowd MANIFEST``) reads a JSON-lines file of device
configs (what the MicroPython fleet writes as config.json), builds each device as
firmware/lib/launch.py does on a board (HAL from the config, Device, app) and runs them all;
every half second it prints one JSON line of figures, which ``Crowd`` reads. What the port
gives the firmware and CPython lacks is simulator/cpython_port.py. SIGINT stops every device
as a board's stop does (a retained offline state, DISCONNECT); SIGKILL is power loss for all.
Devices are signed with ``cryptography`` (a board's native signing module behind
protocol.crypto's backend hook), so 20,000 births do not take pure-Python minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FIRMWARE_PATHS = [str(REPO / "firmware" / "lib"), str(REPO / "firmware")]
STATUS_EVERY_S = 0.5
HANDSHAKES = 64  # devices of one process connecting at once (Handshakes)
LAZY_MODULES = ("hal.sim", "hal.sim_gate", "apps.handheld.app", "apps.access.app", "apps.face.app",
                "apps.barrier.app", "identity", "startup", "trial", "otacmd")  # fmt: skip


@dataclass
class CrowdStatus:
    """The crowd's figures, summed over its processes."""

    devices: int = 0
    started: int = 0  # built and running
    up: int = 0  # MQTT connection up
    live: int = 0  # up and the hub's retained state says online
    ended: int = 0  # app finished (scenario done)
    failed: int = 0  # a device that could not be built, or whose run raised
    connects: int = 0  # connections made, all devices
    failures: int = 0  # connection attempts that failed and connections that ended in an error
    lag_ms: int = 0  # the worst lateness of a process's loop so far (a busy crowd: its devices
    # run late, and their 10 s timeouts measure the crowd, not the broker)
    rss_kb: int = 0  # resident memory of the processes
    errors: list[str] = field(default_factory=list)


class Crowd:
    """``devices`` (SimDevice objects of a Fleet: their configs) run in ``procs`` processes."""

    def __init__(
        self,
        devices: Iterable[object],
        procs: int = 1,
        start_rate: float = 0.0,
        root: Path | None = None,
        handshakes: int = HANDSHAKES,
    ) -> None:
        self.configs = [d.config for d in devices]  # type: ignore[attr-defined]
        if not self.configs:
            raise ValueError("a crowd of no devices")
        self.procs = max(1, min(procs, len(self.configs)))
        self.start_rate = start_rate  # devices started per second per process (0: all at once)
        self.handshakes = handshakes  # devices of a process connecting at once (Handshakes)
        first = Path(self.configs[0]["flash"]).parent.parent
        self.root = Path(root or first)
        self._children: list[subprocess.Popen[str]] = []
        self._last: list[dict] = []
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []

    def start(self) -> Crowd:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *_pythonpath()]))
        self._last = [{} for _ in range(self.procs)]
        for i in range(self.procs):
            manifest = self.root / f"crowd-{i}.jsonl"
            with open(manifest, "w") as f:
                for cfg in self.configs[i :: self.procs]:
                    f.write(json.dumps(cfg) + "\n")
            log = open(self.root / f"crowd-{i}.log", "ab")  # noqa: SIM115 - the child's stderr
            try:
                cmd = [sys.executable, "-m", "simulator.crowd", str(manifest),
                       "--handshakes", str(self.handshakes)]  # fmt: skip
                if self.start_rate:
                    cmd += ["--start-rate", str(self.start_rate)]
                child = subprocess.Popen(
                    cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            finally:
                log.close()
            self._children.append(child)
            reader = threading.Thread(target=self._read, args=(i, child), daemon=True)
            reader.start()
            self._readers.append(reader)
        return self

    def _read(self, index: int, child: subprocess.Popen[str]) -> None:
        assert child.stdout is not None
        for line in child.stdout:
            try:
                figures = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                self._last[index] = figures

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self._children]

    def status(self) -> CrowdStatus:
        out = CrowdStatus()
        with self._lock:
            parts = list(self._last)
        for child, part in zip(self._children, parts, strict=True):
            for name in ("devices", "started", "up", "live", "ended", "failed", "connects",
                         "failures"):  # fmt: skip
                setattr(out, name, getattr(out, name) + int(part.get(name, 0)))
            out.rss_kb += rss_kb(child.pid)
            out.lag_ms = max(out.lag_ms, int(part.get("lag_ms", 0)))
            out.errors += part.get("errors", [])
            if child.poll() not in (None, 0):
                out.errors.append(f"crowd process {child.pid} exited {child.returncode}")
        return out

    def wait(self, until: Callable[[CrowdStatus], bool], timeout: float) -> CrowdStatus:
        """Wait until ``until(status)`` holds; TimeoutError with the last figures if not."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.status()
            if until(s):
                return s
            if any(c.poll() not in (None, 0) for c in self._children):
                raise RuntimeError(f"a crowd process ended: {s.errors} {self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"crowd after {timeout}s: {s}")
            time.sleep(0.1)

    def log(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.root.glob("crowd-*.log")))

    def stop(self, timeout: float = 30.0) -> None:
        """SIGINT: every device stops as a board does (offline state, DISCONNECT)."""
        self._halt(signal.SIGINT, timeout)

    def kill(self) -> None:
        """Power loss for every device (the broker sends their wills)."""
        self._halt(signal.SIGKILL, 10)

    def _halt(self, sig: int, timeout: float) -> None:
        for child in self._children:
            if child.poll() is None:
                child.send_signal(sig)
        for child in self._children:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)
        for reader in self._readers:
            reader.join(5)

    def __enter__(self) -> Crowd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill() if exc[0] is not None else self.stop()


def _pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def rss_kb(pid: int) -> int:
    """The resident memory of process ``pid`` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# --- the crowd's process -------------------------------------------------------------------


def _load_firmware() -> tuple[object, object, object]:
    """Import the firmware as a board runs it (its directories first on sys.path)."""
    sys.path[:0] = FIRMWARE_PATHS
    from simulator import cpython_port

    cpython_port.install()
    cpython_port.tune_collector()
    from protocol import crypto
    from protocol.ossl import CryptographyBackend

    crypto.set_backend(CryptographyBackend())
    import device
    import hal
    import launch

    # what the apps load on first use, loaded now so each gets the port's gc (cpython_port)
    for name in LAZY_MODULES:
        __import__(name)
    device._forget = lambda *names: None  # type: ignore[attr-defined]
    cpython_port.firmware_modules(FIRMWARE_PATHS)
    return device, hal, launch


class Handshakes:
    """At most ``n`` devices of a crowd process between their TCP connect and the end of their
    birth (subscriptions, retained hub state, the birth's PUBACK) at once.

    A crowd process shares one core among thousands of devices; a real device has its own.
    When 10,000 start, or reconnect after a broker restart, at the same moment, the loop's
    queue grows longer than the firmware's 10 s handshake timeouts, every device times out
    and tries again, and the figures would measure the crowd, not the broker and the hub (the
    first 20,000-device run: 2.6 connections a device in the storm). The gate wraps each
    device's link (its client factory and on_up, the simulator's business, not the
    firmware's): a client takes a place before it connects and gives it back when the birth
    is done or the client is closed, whichever comes first."""

    def __init__(self, n: int) -> None:
        import asyncio

        self.places = asyncio.Semaphore(n)

    def gate(self, dev: Any) -> None:
        link = dev.link
        factory, on_up = link._factory, link._on_up

        def new_client() -> Any:
            client = factory()
            connect, close = client.connect, client.close
            held = [False]

            def release() -> None:
                if held[0]:
                    held[0] = False
                    self.places.release()

            async def gated_connect(*args: Any, **kw: Any) -> Any:
                await self.places.acquire()
                held[0] = True
                try:
                    return await connect(*args, **kw)
                except BaseException:
                    release()
                    raise

            def gated_close() -> None:
                release()
                close()

            client.connect, client.close, client.gl_release = gated_connect, gated_close, release
            return client

        async def gated_on_up(client: Any) -> None:
            try:
                await on_up(client)
            finally:
                client.gl_release()

        link._factory, link._on_up = new_client, gated_on_up


async def _run(configs: list[dict], start_rate: float, handshakes: int) -> None:
    import asyncio

    from simulator import cpython_port

    device_mod, hal, launch = _load_firmware()
    # the figures on stdout (Crowd reads them); what the devices print (their logs) to stderr,
    # the process's log file
    status, sys.stdout = sys.stdout, sys.stderr
    devices: list = []
    tasks: list = []
    errors: list[str] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def figures() -> dict:
        return {
            "devices": len(configs),
            "started": len(devices),
            "up": sum(1 for d in devices if d.link.is_up()),
            "live": sum(1 for d in devices if d.live()),
            "ended": sum(1 for t in tasks if t.done() and not t.cancelled() and not t.exception()),
            "failed": len(errors)
            + sum(
                1 for t in tasks if t.done() and not t.cancelled() and t.exception() is not None
            ),  # fmt: skip
            "connects": sum(d.link.connects for d in devices),
            "failures": sum(d.link.failures for d in devices),
            "errors": errors[:5],
        }

    lag = [0.0]  # the loop's worst lateness so far (s): how far behind its devices are

    async def report() -> None:
        while True:
            print(json.dumps({**figures(), "lag_ms": round(lag[0] * 1000)}), file=status,
                  flush=True)  # fmt: skip
            before = time.monotonic()
            await asyncio.sleep(STATUS_EVERY_S)
            lag[0] = max(lag[0], time.monotonic() - before - STATUS_EVERY_S)

    reporter = asyncio.create_task(report())
    gate = Handshakes(handshakes) if handshakes else None
    gap = 1.0 / start_rate if start_rate else 0.0
    for cfg in configs:
        if stop.is_set():
            break
        try:
            h = hal.build(cfg)  # type: ignore[attr-defined]
            dev = device_mod.Device(cfg, h, cfg["flash"])  # type: ignore[attr-defined]
            app = launch._app(cfg, dev, h)  # type: ignore[attr-defined]
            if gate is not None:
                gate.gate(dev)
        except Exception as exc:  # noqa: BLE001 - counted and shown; the others go on
            errors.append(f"{cfg.get('device_id')}: {exc!r}")
            continue
        devices.append(dev)
        tasks.append(asyncio.create_task(dev.run(app)))
        await asyncio.sleep(gap)  # 0: a turn of the loop, so connections start as built
    cpython_port.freeze()
    await stop.wait()
    for t in tasks:
        t.cancel()  # Device.run's finally: offline state + DISCONNECT while the link is up
    await asyncio.gather(*tasks, return_exceptions=True)
    reporter.cancel()
    print(json.dumps(figures()), file=status, flush=True)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m simulator.crowd")
    parser.add_argument("manifest", help="JSON lines: one device config per line")
    parser.add_argument("--start-rate", type=float, default=0.0, help="devices started per s")
    parser.add_argument("--handshakes", type=int, default=HANDSHAKES,
                        help="devices connecting at once (0: no limit)")  # fmt: skip
    args = parser.parse_args(argv)
    with open(args.manifest) as f:
        configs = [json.loads(line) for line in f if line.strip()]
    asyncio.run(_run(configs, args.start_rate, args.handshakes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
