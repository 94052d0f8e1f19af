"""A 2 MB photo from its first chunk to a verified stored blob, and the resume after a cut.

    .venv/bin/python -m bench.media [--size-kb 2048] [--runs 5] [--profile out.svg]

The hub is ``gridlink hub run`` in its own process (API, supervision and the ingest worker, as
users run it) on a migrated SQLite file with the demo district and one registered handheld
bound to a demo grid, against the locked-down Mosquitto (production configuration, the
device's own broker account). The bench is the device: it signs a ``report`` envelope
announcing the photo (random bytes, a new hash each run) and publishes it, then the blob
channel's chunk frames (docs/protocol.md §6, 16 KiB each), all at QoS 1 one after another,
each after the previous one's PUBACK, as firmware/lib/upload.py does.

Per run, on the hub's side: from publishing the first chunk to the ``blobs`` row turning
``complete`` (the hub sets it only after the SHA-256 of the reassembled file matched and the
file went to its content-addressed place), polled in the hub's database; the stored file's
hash is checked afterwards. The figure is the median of ``--runs`` runs, target < 500 ms; the
time the device took to publish and the hub's lag after the last chunk are beside it.

Then the resume, twice: the device publishes the envelope and half the chunks and stops (its
link cut; the second time the hub is restarted as well); it reconnects, publishes its birth,
waits for the hub's receipt listing the missing chunks (§8), sends those and any that later
receipts list, and the bench times reconnect -> stored and counts the bytes sent again beyond
the chunks the device had not sent (a good resume sends none). Writes
$GRIDLINK_BENCH_OUT (default <tmp>/gridlink-bench)/media.json. Exits 1 on a missed target.

``--profile out.svg`` records the hub process with py-spy during the timed runs (a flame
graph; any other name gets py-spy's collapsed stacks, one line per stack with its samples).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from rich.table import Table
from sqlalchemy import select

from bench.gate_lists import out_dir
from bench.results import Report, Row
from hub.areas.models import Grid
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory
from hub.devices.models import DeviceKind
from hub.devices.schemas import DeviceCreate
from hub.devices.service import register_device
from hub.keys import load as load_hub_key
from hub.migrations.runner import upgrade
from hub.seed import seed_demo
from protocol import chunking, command, topics
from protocol.limits import CHUNK_SIZE
from tests.builders.devices import TestDevice
from tests.support.mosquitto import Mosquitto, preexec_for_thread
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[1]
KB = 1024
SIZE = 2048 * KB
RUNS = 5
TARGET_MS = 500.0
DEVICE = "hh-bench-media"
QUIET = ("error", "warning", "notice")  # no broker log line per message
POLL_S = 0.002  # the database poll: the figures' resolution
TIMEOUT_S = 60.0


class HubProcess:
    """``gridlink hub run`` on ``workdir`` (hub.db, media/, hub_key.pem); restartable."""

    def __init__(self, workdir: Path, broker: Mosquitto) -> None:
        self.workdir = workdir
        self.db_path = workdir / "hub.db"
        self.url = f"sqlite:///{self.db_path}"
        self.broker = broker
        self.api_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.public_key = b""

    def prepare(self, device: TestDevice) -> str:
        """Migrate, seed the demo district, register ``device`` on a demo grid; the grid."""
        upgrade(self.url)
        engine = make_engine(self.url)
        with make_session_factory(engine)() as s:
            seed_demo(db_session=s, clock=SystemClock())
            grid = s.scalars(select(Grid.code).order_by(Grid.code)).first()
            assert grid is not None
            register_device(
                db_session=s,
                data=DeviceCreate(
                    id=device.device_id,
                    kind=DeviceKind.handheld,
                    public_key=device.public_key.hex(),
                    grid_code=grid,
                ),
                clock=SystemClock(),
            )
            s.commit()
        engine.dispose()
        return grid

    def start(self, timeout: float = 60.0) -> float:
        """Start the hub and wait for /readyz; the seconds it took."""
        assert self.broker.hub_account
        user, password = self.broker.hub_account
        env = {
            **os.environ,
            # this checkout's hub, whichever tree the venv's editable install points at
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
            ),
            "GRIDLINK_DATA_DIR": str(self.workdir),
            "GRIDLINK_DATABASE_URL": self.url,
            "GRIDLINK_MQTT_HOST": self.broker.host,
            "GRIDLINK_MQTT_PORT": str(self.broker.port),
            "GRIDLINK_MQTT_USERNAME": user,
            "GRIDLINK_MQTT_PASSWORD": password,
            "GRIDLINK_BROKER_ACCOUNTS": "dynsec",
            "GRIDLINK_API_PORT": str(self.api_port),
            "GRIDLINK_ADMIN_TOKEN": secrets.token_urlsafe(32),
            "GRIDLINK_MQTT_CLIENT_ID": f"bench-media-{self.api_port}",  # the same after restart
        }
        gridlink = Path(sys.executable).with_name("gridlink")
        t0 = time.monotonic()
        with open(self.workdir / "hub.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(gridlink), "hub", "run"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec_for_thread(),  # never outlives the bench
            )
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridlink hub run exited {self.proc.returncode}: {self.tail()}")
            try:
                url = f"http://127.0.0.1:{self.api_port}/readyz"
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        self.public_key = load_hub_key(self.workdir / "hub_key.pem").public_key
                        return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gridlink hub run not ready within {timeout:.0f} s: {self.tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def tail(self) -> str:
        return (self.workdir / "hub.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """SIGTERM: the hub drains its batch, sends receipts and PUBACKs, says offline."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class BlobWatch:
    """Reads the hub's ``blobs`` row the way the hub records a blob (read-only, WAL)."""

    def __init__(self, db_path: Path) -> None:
        self.db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None)

    def state(self, sha: str) -> tuple[str | None, int]:
        row = self.db.execute(
            "SELECT status, chunks FROM blobs WHERE sha256 = ?", (sha,)
        ).fetchone()
        if row is None:
            return None, 0
        return row[0], sum(bin(b).count("1") for b in row[1])

    def wait_complete(self, sha: str, timeout: float = TIMEOUT_S, on_poll: Any = None) -> float:
        """perf_counter() when the row is first seen ``complete`` (polled every POLL_S)."""
        deadline = time.monotonic() + timeout
        while True:
            status, _held = self.state(sha)
            if status == "complete":
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise RuntimeError(f"blob {sha[:12]} not complete after {timeout:.0f} s: "
                                   f"{self.state(sha)}")  # fmt: skip
            if on_poll is not None:
                on_poll()
            time.sleep(POLL_S)

    def close(self) -> None:
        self.db.close()


class DeviceLink:
    """The device's MQTT connection: its own account and client id, QoS 1 publishes each
    waiting for its PUBACK, the receipts on its ``rcpt`` topic kept in arrival order."""

    def __init__(self, broker: Mosquitto, device_id: str) -> None:
        user, password = broker.device_account(device_id)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=device_id, protocol=mqtt.MQTTv311
        )
        self.client.username_pw_set(user, password)
        self.rcpt_topic = topics.rcpt(device_id)
        self.receipts: list[bytes] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        self.client.subscribe(self.rcpt_topic, qos=1)
        if not self._subscribed.wait(10):
            raise RuntimeError("the device's subscription to its receipts was not acknowledged")

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.receipts.append(bytes(msg.payload))

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        if not info.is_published():
            raise RuntimeError(f"no PUBACK for a publish on {topic} within 10 s")

    def receipts_since(self, n: int) -> list[bytes]:
        with self._lock:
            return self.receipts[n:]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Bench:
    """One hub, one broker, one device: the runs share them."""

    broker: Mosquitto
    hub: HubProcess
    device: TestDevice
    grid: str
    watch: BlobWatch
    link: DeviceLink | None = None

    def connect(self) -> DeviceLink:
        """(Re)connect the device, then publish its birth (retained), as the firmware does."""
        self.link = DeviceLink(self.broker, self.device.device_id)
        self.link.publish(*self.device.birth(), retain=True)
        return self.link

    def announce(self, data: bytes) -> tuple[str, list[tuple[str, bytes]]]:
        """Publish the report envelope naming the photo; its sha and chunk frames."""
        assert self.link is not None
        body = {
            "category": "road_damage",
            "text": "路面塌陷 (media bench)",
            "loc": {"lat_e6": 30_251_000, "lon_e6": 120_171_000, "acc_m": 5},
            "grid": self.grid,
            "worker": f"w{self.grid[6:]}",
            "one_key": False,
        }
        ref = self.device.media(data)
        self.link.publish(*self.device.event("report", body, blobs=[ref]))
        return ref["sha256"], self.device.chunks(data)

    def stored_ok(self, sha: str, data: bytes) -> None:
        path = self.hub.workdir / "media" / sha[:2] / sha[2:4] / sha
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha or path.stat().st_size != len(data):
            raise RuntimeError(f"stored blob {sha[:12]} does not match what was sent")

    def one(self, size: int) -> dict[str, Any]:
        """One photo: first chunk -> complete, all chunks sent back to back."""
        assert self.link is not None
        data = os.urandom(size)
        sha, frames = self.announce(data)
        t0 = time.perf_counter()
        for topic, frame in frames:
            self.link.publish(topic, frame)
        sent = time.perf_counter()
        done = self.watch.wait_complete(sha)
        self.stored_ok(sha, data)
        ms = {"stored_ms": done - t0, "publish_ms": sent - t0, "after_last_ms": done - sent}
        return {"chunks": len(frames), **{k: v * 1000 for k, v in ms.items()}}

    def resume(self, size: int, restart_hub: bool) -> dict[str, Any]:
        """Half the chunks, a cut (and a hub restart), then what the receipts ask for."""
        assert self.link is not None
        data = os.urandom(size)
        sha, frames = self.announce(data)
        half = len(frames) // 2
        for topic, frame in frames[:half]:
            self.link.publish(topic, frame)
        self.link.close()  # the cut: the device stops publishing, its link goes
        r: dict[str, Any] = {"chunks": len(frames), "sent_before_cut": half}
        if restart_hub:
            t = time.monotonic()
            self.hub.stop()
            r["hub_stop_s"] = round(time.monotonic() - t, 2)
            r["hub_start_s"] = round(self.hub.start(), 2)
        _status, r["held_at_reconnect"] = self.watch.state(sha)
        t0 = time.perf_counter()
        link = self.connect()  # reconnect + birth: the hub answers with a receipt
        r["reconnect_ms"] = (time.perf_counter() - t0) * 1000  # connected, birth PUBACKed
        resent: list[int] = []
        seen = 0

        def follow_receipts() -> None:
            # the device acts on every receipt naming the blob: sends what it lists missing
            # and was not sent yet in this resume (a later receipt may list more)
            nonlocal seen
            new = link.receipts_since(seen)
            seen += len(new)
            for raw in new:
                rcpt = command.open_receipt(raw, self.hub.public_key)
                missing = rcpt["blobs"].get(sha)
                if missing is None:
                    continue
                if "receipt_ms" not in r:
                    r["receipt_ms"] = (time.perf_counter() - t0) * 1000
                    r["first_receipt_missing"] = len(missing)
                for i in missing:
                    if i not in resent:
                        link.publish(*frames[i])
                        resent.append(i)

        done = self.watch.wait_complete(sha, on_poll=follow_receipts)
        self.stored_ok(sha, data)
        sizes = [len(frames[i][1]) - chunking.HEADER_SIZE for i in resent]
        needless = [i for i in resent if i < half]
        r.update(
            stored_ms=(done - t0) * 1000,
            resent_chunks=len(resent),
            resent_bytes=sum(sizes),
            missing_bytes=size - half * CHUNK_SIZE,
            needless_chunks=len(needless),
            needless_bytes=sum(len(frames[i][1]) - chunking.HEADER_SIZE for i in needless),
        )
        return r


def measure(
    size: int = SIZE, runs: int = RUNS, profile: str | None = None, restart: bool = True
) -> dict[str, Any]:
    """The runs and both resumes on one fresh hub; figures in ms and bytes."""
    device = TestDevice(DEVICE, now=lambda: int(time.time()))
    with tempfile.TemporaryDirectory(prefix="gl-media-") as tmp:
        root = Path(tmp)
        with Mosquitto(workdir=root / "mq", log_types=QUIET) as broker:
            hub = HubProcess(root / "hub", broker)
            hub.workdir.mkdir()
            grid = hub.prepare(device)
            bench: Bench | None = None
            spy = None
            try:
                ready_s = hub.start()
                bench = Bench(broker, hub, device, grid, BlobWatch(hub.db_path))
                bench.connect()
                if profile:
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).with_name("py-spy")), "record", "-o", profile,
                         "--pid", str(hub.pid), "--rate", "250", "--nonblocking",
                         "--format", "flamegraph" if profile.endswith(".svg") else "raw"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                each = [bench.one(size) for _ in range(runs)]
                if spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes its profile and exits
                    spy.wait(60)
                    spy = None
                cut = bench.resume(size, restart_hub=False)
                cut_restart = bench.resume(size, restart_hub=True) if restart else None
            except Exception as exc:
                raise RuntimeError(f"{exc}; hub log: {hub.tail()[-600:]}") from exc
            finally:
                if spy is not None:
                    spy.kill()
                    spy.wait()
                if bench is not None:
                    if bench.link is not None:
                        bench.link.close()
                    bench.watch.close()
                hub.stop()
    stored = [e["stored_ms"] for e in each]
    r = {
        "size": size,
        "chunk_size": CHUNK_SIZE,
        "runs": each,
        "stored_ms_median": statistics.median(stored),
        "publish_ms_median": statistics.median(e["publish_ms"] for e in each),
        "after_last_ms_median": statistics.median(e["after_last_ms"] for e in each),
        "target_ms": TARGET_MS,
        "resume_cut": cut,
        "resume_cut_restart": cut_restart,
        "hub_ready_s": round(ready_s, 2),
        "profile": profile,
    }
    (out_dir() / "media.json").write_text(json.dumps(r, indent=1))
    return r


def _size(r: dict[str, Any]) -> str:
    return (
        f"{r['size'] / (1024 * KB):g} MB" if r["size"] >= 1024 * KB else f"{r['size'] / KB:.0f} KB"
    )


def table(r: dict[str, Any]) -> Table:
    t = Table(
        title=f"media: a {_size(r)} photo in {r['runs'][0]['chunks']} chunks of "
        f"{CHUNK_SIZE // KB} KiB -> gridlink hub run (SQLite), QoS 1, one at a time"
    )
    for col in ("measure", "ms", "note"):
        t.add_column(col, justify="right" if col == "ms" else "left")
    runs = ", ".join(f"{e['stored_ms']:.0f}" for e in r["runs"])
    t.add_row(
        "first chunk published -> blob complete and hash-checked (median)",
        f"{r['stored_ms_median']:.0f}",
        f"target < {TARGET_MS:.0f}; runs {runs}",
    )
    t.add_row(
        "  of which the device publishing every chunk (median)",
        f"{r['publish_ms_median']:.0f}",
        "each chunk after the previous PUBACK",
    )
    t.add_row("  of which the hub after the last chunk (median)",
              f"{r['after_last_ms_median']:.0f}", "last PUBACK -> row complete")  # fmt: skip
    for label, res in (("link cut", r["resume_cut"]), ("link cut + hub restart",
                                                       r["resume_cut_restart"])):  # fmt: skip
        if res is None:
            continue
        note = (f"{res['resent_chunks']} chunks re-sent ({res['resent_bytes']:,} B of "
                f"{res['missing_bytes']:,} B missing), {res['needless_bytes']:,} B needlessly; "
                f"{res['held_at_reconnect']} of {res['chunks']} held at reconnect")  # fmt: skip
        if "hub_start_s" in res:
            note += (
                f"; hub stopped in {res['hub_stop_s']} s, ready again in "
                f"{res['hub_start_s']} s (neither in the figure)"
            )
        t.add_row(f"resume after a cut at 50 % ({label}): reconnect -> complete",
                  f"{res['stored_ms']:.0f}", note)  # fmt: skip
        t.add_row(
            "  of which reconnect + birth -> the receipt listing the missing",
            f"{res.get('receipt_ms', -1):.0f}",
            f"{res.get('first_receipt_missing')} listed; connected and birth PUBACKed "
            f"after {res['reconnect_ms']:.0f} ms",
        )
    t.caption = f"hub ready in {r['hub_ready_s']} s; poll resolution {POLL_S * 1000:.0f} ms"
    return t


def result_rows(r: dict[str, Any]) -> list[Row]:
    s, size = "media", _size(r)
    rows = [
        Row.below(s, f"{size} photo: first chunk -> stored (median of {len(r['runs'])})",
                  round(r["stored_ms_median"], 1), TARGET_MS, "ms",
                  details={"runs_ms": [round(e["stored_ms"], 1) for e in r["runs"]],
                           "chunks": r["runs"][0]["chunks"], "size": r["size"]}),
        Row(s, f"{size} photo: device publishing (median)", round(r["publish_ms_median"], 1),
            "ms", headline=False),
        Row(s, f"{size} photo: hub after the last chunk (median)",
            round(r["after_last_ms_median"], 1), "ms"),
    ]  # fmt: skip
    for label, res in (("link cut", r["resume_cut"]), ("link cut + hub restart",
                                                       r["resume_cut_restart"])):  # fmt: skip
        if res is None:
            continue
        rows += [
            Row(s, f"resume at 50 % ({label}): reconnect -> stored", round(res["stored_ms"], 1),
                "ms", details={k: v for k, v in res.items() if k != "stored_ms"}),
            Row.at_most(s, f"resume at 50 % ({label}): bytes re-sent beyond the missing half",
                        res["needless_bytes"], CHUNK_SIZE, "B",
                        details={"resent_bytes": res["resent_bytes"],
                                 "missing_bytes": res["missing_bytes"]}),
        ]  # fmt: skip
    return rows


def run() -> Report:
    """For `python -m bench`: the table and rows."""
    r = measure()
    return Report(table(r), result_rows(r))


def main() -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-kb", type=int, default=SIZE // KB)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument(
        "--profile",
        metavar="SVG",
        help="py-spy profile of the hub during the timed runs (.svg: flame graph)",
    )
    args = parser.parse_args()
    r = measure(args.size_kb * KB, args.runs, args.profile)
    Console(width=150).print(table(r))
    return 0 if all(row.passed is not False for row in result_rows(r)) else 1


if __name__ == "__main__":
    sys.exit(main())
