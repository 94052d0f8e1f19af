"""A scripted stand-in for the hub's half of an OTA (contract 11, section 3), for the firmware
and simulator tests: bundles built here with protocol/bundle (never the hub's code), a paho
client on a real Mosquitto that answers fwreq with chunk frames or refusals, counts the
requests, and receipts the device's events (the trial's confirmation)."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as paho

from protocol import bundle, chunking, command, envelope
from simulator.fleet import REPO, firmware_files


@dataclass
class Bundle:
    manifest: bytes
    files: dict[str, bytes]  # sha256 hex -> bytes (the manifest's own sha included)
    version: str
    sha: str = ""
    paths: dict[str, str] = field(default_factory=dict)  # path -> sha256 hex

    def args(self, rollout: str = "r-1") -> dict:
        return bundle.command_args(rollout, self.sha, len(self.manifest), self.version)

    @property
    def size(self) -> int:
        return sum(len(b) for s, b in self.files.items() if s != self.sha)


def firmware_tree(dst: Path, version: str, main_prefix: str = "") -> Path:
    """A copy of the repo's firmware/ and protocol/ at dst with config.VERSION = version;
    `main_prefix` is put at the top of main.py (a crash on start, say)."""
    for sub in ("firmware", "protocol"):
        shutil.copytree(REPO / sub, dst / sub, ignore=shutil.ignore_patterns("__pycache__"))
    cfg = dst / "firmware" / "lib" / "config.py"
    text = cfg.read_text()
    assert 'VERSION = "0.1.0"' in text
    cfg.write_text(text.replace('VERSION = "0.1.0"', f'VERSION = "{version}"'))
    if main_prefix:
        main = dst / "firmware" / "main.py"
        main.write_text(main_prefix + "\n" + main.read_text())
    return dst


def make_bundle(
    src_root: Path,
    version: str,
    ops_seed: bytes,
    kinds: tuple[str, ...] = bundle.KINDS,
    hw: tuple[str, ...] = ("sim-unix",),
    alter: str | None = None,
) -> Bundle:
    """A bundle of the firmware at src_root, sealed by ops_seed. `alter`: a path whose served
    bytes get one byte flipped after the manifest was made (a tampered file)."""
    entries = []
    data: dict[str, bytes] = {}
    paths: dict[str, str] = {}
    for src, rel in firmware_files(src_root):
        b = src.read_bytes()
        sha = hashlib.sha256(b).hexdigest()
        entries.append(bundle.file_entry(rel, sha, len(b)))
        data[sha] = b
        paths[rel] = sha
    m = bundle.seal(bundle.build("gridlink-fw", version, kinds, hw, entries), ops_seed)
    if alter is not None:
        sha = paths[alter]
        b = bytearray(data[sha])
        b[len(b) // 2] ^= 0x01
        data[sha] = bytes(b)
    sha = bundle.digest(m)
    data[sha] = m
    return Bundle(m, data, version, sha, paths)


class ScriptedHub:
    """Answers gl/v1/<dev>/fwreq from the offered bundles; receipts every event it sees."""

    def __init__(self, broker, hub_seed: bytes, receipts: bool = True) -> None:
        self.hub_seed = hub_seed
        self.receipts = receipts
        self.offered: dict[str, bytes] = {}
        self.refuse: str | None = None  # answer every request with this error
        self.silent = False  # count requests, answer none
        self.requests: list[tuple[str, str, int, int]] = []  # (dev, sha, index, chunk size)
        self.events: list[dict] = []  # envelopes of kind "ota"
        self.acks: list[dict] = []
        self.births: list[dict] = []
        self._top: dict[str, int] = {}
        self.lock = threading.Lock()
        self._ready = threading.Event()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="scripted-hub")
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda *a, **k: self._ready.set()
        self.c.on_message = self._on_message
        self.c.connect(broker.host, broker.port, keepalive=30)
        self.c.loop_start()
        assert self._ready.wait(10), "scripted hub not subscribed"

    def offer(self, b: Bundle) -> None:
        with self.lock:
            self.offered.update(b.files)

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def _on_connect(self, c, userdata, flags, rc, props=None) -> None:
        c.subscribe([("gl/v1/+/fwreq", 1), ("gl/v1/+/evt/+", 1), ("gl/v1/+/ack", 1),
                     ("gl/v1/+/state", 1)])  # fmt: skip

    def _on_message(self, c, userdata, msg) -> None:
        parts = msg.topic.split("/")
        dev, channel = parts[2], parts[3]
        payload = bytes(msg.payload)
        if channel == "fwreq":
            self._serve(dev, payload)
        elif channel == "state":
            if payload:
                st = command.open_state(payload)
                if st["online"]:
                    with self.lock:
                        self.births.append(st)
        else:
            env = envelope.parse(payload)
            with self.lock:
                if env["kind"] == "ota":
                    self.events.append(env)
                elif env["kind"] == "ack":
                    self.acks.append(env)
                top = max(self._top.get(dev, 0), env["seq"])
                self._top[dev] = top
            if self.receipts:
                rcpt = command.seal_receipt(dev, top, {}, int(time.time()), self.hub_seed)
                c.publish(f"gl/v1/{dev}/rcpt", rcpt, 1)

    def _serve(self, dev: str, payload: bytes) -> None:
        sha, i, cs = bundle.parse_fetch_request(payload)
        with self.lock:
            self.requests.append((dev, sha, i, cs))
            data = self.offered.get(sha)
            refuse = self.refuse
        if self.silent:
            return
        topic = f"gl/v1/{dev}/fw"
        if refuse or data is None:
            self.c.publish(topic, bundle.fetch_error(sha, i, refuse or "not_offered"), 1)
            return
        total = chunking.chunk_count(len(data), cs)
        if i >= total:
            self.c.publish(topic, bundle.fetch_error(sha, i, "out_of_range"), 1)
            return
        head = chunking.pack_header(bytes.fromhex(sha), i, total)
        self.c.publish(topic, head + data[i * cs : (i + 1) * cs], 1)

    # --- what the device said --------------------------------------------------------------

    def states(self, dev: str) -> list[tuple[str, str | None]]:
        with self.lock:
            evs = [e for e in self.events if e["dev"] == dev]
        seen: dict[int, dict] = {e["seq"]: e for e in evs}  # a resend is the same envelope
        for e in seen.values():
            bundle.check_event_body(e["body"])  # bodies built on the device conform
        return [(e["body"]["state"], e["body"]["reason"]) for _, e in sorted(seen.items())]

    def ack_of(self, dev: str, cmd_id: str) -> dict | None:
        with self.lock:
            for a in self.acks:
                if a["dev"] == dev and a["body"].get("id") == cmd_id:
                    return a["body"]
        return None
