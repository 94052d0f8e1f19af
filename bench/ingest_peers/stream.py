"""The one stream every ingest system in ``bench.ingest_peers`` is fed, and how it is measured.

A stream is ``events`` signed envelopes from ``devices`` devices (each device's chain from
genesis, seqs 1..n), of which ``forged_share`` are forgeries: a copy of a valid envelope with
its body changed and the old signature kept, published just before the real one, so a system
that does not verify stores the forgery and then drops the real event as a duplicate. Kinds:
patrol ``track`` points (a worker's handheld logs one every 30 s), a ``heartbeat`` in every 50 and a
``report`` in every 200 (Gridlink files those as cases; the peers just store them).

``Publisher`` runs in a child process (its own interpreter, so the publisher's Python never
shares a GIL with the watcher's): one MQTT v5 client (``flood.Flood``: packets encoded before the
clock starts, so the load generator takes little of the two cores the systems share) publishes
the messages at QoS 1, either as fast as its in-flight window allows (``rate=None``) or paced at
``rate`` messages/s, and reports when it handed each one to the socket (``time.monotonic``: one
clock for every process on the machine).

``Watcher`` polls the system's SQLite file every ``POLL_S`` for new rows
(``SELECT id, device_id, seq FROM events WHERE id > ?``) and notes when it first saw each
(device, seq): publish -> committed latency is seen - published, an overestimate by at most one
poll. ``verdict()`` then reads the stored rows' raw bytes back: every valid envelope stored
byte for byte (``lost`` counts the missing ones), no forgery stored (``forged``), no (device,
seq) twice (``duplicates``).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from protocol import crypto, envelope, topics
from protocol.limits import GENESIS

POLL_S = 0.002
BASE_LAT_E6, BASE_LON_E6 = 30_250_000, 120_170_000


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    key: tuple[str, int] | None  # (device, seq) of a valid envelope; None for a forgery


@dataclass
class Stream:
    keys: dict[str, bytes]  # device id -> Ed25519 public key
    messages: list[Message]
    valid: dict[tuple[str, int], bytes] = field(default_factory=dict)  # (dev, seq) -> raw

    @property
    def forged(self) -> int:
        return sum(1 for m in self.messages if m.key is None)


def _body(kind: str, seq: int, grid_index: int) -> dict[str, object]:
    loc = {"lat_e6": BASE_LAT_E6 + seq * 7 + grid_index, "lon_e6": BASE_LON_E6, "acc_m": 5}
    if kind == "report":
        return {"text": "垃圾桶满溢 overflowing bin near gate 3", "category": "garbage", "loc": loc}
    if kind == "heartbeat":
        return {"battery": 87, "backlog": 0, "free_kb": 900}
    return {"loc": loc}


def kind_for(index: int) -> str:
    """The kind of the stream's ``index``-th valid event (the same in every stream)."""
    if index % 200 == 199:
        return "report"
    if index % 50 == 24:
        return "heartbeat"
    return "track"


def make_stream(
    devices: int,
    events: int = 10_000,
    *,
    forged_share: float = 0.05,
    prefix: str = "bn",
    now: int | None = None,
) -> Stream:
    """``events`` messages in all (valid + forged), round-robin over ``devices`` devices."""
    now = int(time.time()) if now is None else now
    forged_every = round(1 / forged_share) if forged_share else 0
    n_valid = events - (events // forged_every if forged_every else 0)
    seeds = [crypto.new_seed() for _ in range(devices)]
    ids = [f"{prefix}-{i:05d}" for i in range(devices)]
    keys = {dev: bytes(crypto.public_key(seed)) for dev, seed in zip(ids, seeds, strict=True)}
    prev = [GENESIS] * devices
    seqs = [0] * devices
    stream = Stream(keys=keys, messages=[])
    for index in range(n_valid):
        d = index % devices
        dev, seed = ids[d], seeds[d]
        seqs[d] += 1
        kind = kind_for(index)
        env = envelope.build(dev, seqs[d], now, kind, _body(kind, seqs[d], d), (), prev[d])
        raw = envelope.seal(env, seed)
        prev[d] = envelope.digest(raw)
        topic = topics.evt(dev, kind)
        if forged_every and index % (forged_every - 1) == forged_every - 2:
            # the same (device, seq), one number of the body changed, the signature kept
            forged = raw.replace(b'"lat_e6":', b'"lat_e6":1', 1).replace(
                b'"battery":87', b'"battery":88', 1
            )
            assert forged != raw
            stream.messages.append(Message(topic, forged, None))
        stream.messages.append(Message(topic, raw, (dev, seqs[d])))
        stream.valid[(dev, seqs[d])] = raw
    return stream


# -- publishing (child process) ----------------------------------------------------------------
def _publish_child(
    conn: multiprocessing.connection.Connection,
    host: str,
    port: int,
    account: tuple[str, str] | None,
    messages: list[tuple[str, bytes]],
    rate: float | None,
) -> None:
    from .flood import Flood, MqttRefused

    try:
        flood = Flood(host, port, account)
    except (OSError, MqttRefused) as exc:
        conn.send(("error", f"publisher could not connect to {host}:{port}: {exc}"))
        return
    conn.send(("ready", None))
    conn.recv()  # go
    cpu0 = os.times()
    try:
        sent = flood.publish(messages, rate)
        acked = flood.wait_acked(len(messages), 120)
    except (OSError, MqttRefused) as exc:
        conn.send(("error", f"publishing failed: {exc}"))
        return
    finally:
        cpu1 = os.times()
        flood.close()
    conn.send(("done", (sent, acked, cpu1.user - cpu0.user + cpu1.system - cpu0.system)))


class Publisher:
    """A publishing child process: ``ready()`` once connected, ``go()``, then ``result()``."""

    def __init__(
        self,
        host: str,
        port: int,
        account: tuple[str, str] | None,
        messages: list[Message],
        rate: float | None,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_publish_child,
            args=(child, host, port, account, [(m.topic, m.payload) for m in messages], rate),
            daemon=True,
        )
        self._proc.start()
        what, detail = self._conn.recv()
        if what != "ready":
            self._proc.join(5)
            raise RuntimeError(detail)

    def go(self) -> None:
        self._conn.send("go")

    def result(self, timeout: float = 300) -> tuple[list[float], int, float]:
        """When each message was handed to the client, how many the broker acknowledged, and
        the CPU seconds the publisher used."""
        if not self._conn.poll(timeout):
            self._proc.kill()
            raise RuntimeError("publisher did not finish")
        what, detail = self._conn.recv()
        self._proc.join(5)
        if what != "done":
            raise RuntimeError(detail)
        return detail


# -- watching ----------------------------------------------------------------------------------
class Watcher:
    """Notes when each (device, seq) first appears in the system's ``events`` table."""

    def __init__(self, db_path: Path, query: str = "") -> None:
        self.db_path = db_path
        self.query = query or "SELECT id, device_id, seq FROM events WHERE id > ? ORDER BY id"
        self.seen: dict[tuple[str, int], float] = {}
        self.rows = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)
        self._last = 0
        self._db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 1000")
        self._last = self._db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(POLL_S)

    def poll(self) -> None:
        try:
            rows = self._db.execute(self.query, (self._last,)).fetchall()
        except sqlite3.OperationalError:  # locked for a moment: the next poll
            return
        now = time.monotonic()
        for row_id, dev, seq in rows:
            self.seen.setdefault((dev, seq), now)
            self._last = max(self._last, row_id)
        self.rows += len(rows)

    def wait_for(self, keys: set[tuple[str, int]], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(keys.intersection(self.seen)) == len(keys):
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)
        self.poll()
        self._db.close()


@dataclass
class Outcome:
    """One system's run of one stream."""

    system: str
    devices: int
    offered: float | None  # messages/s offered (None: as fast as the publisher could)
    valid: int
    stored: int  # valid envelopes stored byte for byte
    lost: int
    forged: int  # forgeries stored (must be 0)
    duplicates: int
    elapsed_s: float  # first publish -> last valid event committed
    latencies_ms: list[float]
    # CPU seconds used during the run, per process ("system", "broker"), where measured
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.stored / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]

    def as_json(self) -> dict[str, object]:
        return {
            "system": self.system,
            "devices": self.devices,
            "offered_per_s": self.offered,
            "valid": self.valid,
            "stored": self.stored,
            "lost": self.lost,
            "forged_stored": self.forged,
            "duplicates": self.duplicates,
            "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(50), 2),
            "p99_ms": round(self.pct(99), 2),
            "cpu_us_per_event": {
                k: round(v * 1e6 / self.stored, 1) for k, v in self.cpu_s.items() if self.stored
            },
        }


def verdict(
    system: str,
    stream: Stream,
    watcher: Watcher,
    sent: list[float],
    offered: float | None,
    raw_query: str = "SELECT device_id, seq, raw FROM events",
) -> Outcome:
    """Compare what the system stored with the stream's valid envelopes."""
    sent_at = {m.key: t for m, t in zip(stream.messages, sent, strict=True) if m.key is not None}
    with sqlite3.connect(f"file:{watcher.db_path}?mode=ro", uri=True) as db:
        rows = db.execute(raw_query).fetchall()
    stored, forged, counts = 0, 0, dict[tuple[str, int], int]()
    for dev, seq, raw in rows:
        key = (dev, int(seq))
        if key not in stream.valid:
            continue  # not this stream's (an earlier run's, or the hub's own)
        counts[key] = counts.get(key, 0) + 1
        if bytes(raw) == stream.valid[key]:
            stored += 1
        else:
            forged += 1
    duplicates = sum(c - 1 for c in counts.values())
    lat = [(watcher.seen[k] - sent_at[k]) * 1000 for k in stream.valid if k in watcher.seen]
    last = max((watcher.seen[k] for k in stream.valid if k in watcher.seen), default=sent[0])
    return Outcome(
        system=system,
        devices=len(stream.keys),
        offered=offered,
        valid=len(stream.valid),
        stored=stored - duplicates,
        lost=len(stream.valid) - len(counts),
        forged=forged,
        duplicates=duplicates,
        elapsed_s=last - sent[0],
        latencies_ms=lat,
    )
