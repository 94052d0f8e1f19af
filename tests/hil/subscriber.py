"""The HIL test subscriber: a stand-in for the hub's ingest until the hub exists.

It verifies every envelope with the device's public key, de-duplicates on (dev, seq), checks
the hash chain, reassembles blobs with protocol.chunking.Reassembly into files, and counts
every raw delivery (envelopes per (dev, seq), chunk frames per (sha, index)) so tests can
assert on duplicates. Persistent session (clean_session=False) so it misses nothing across a
broker restart (with Mosquitto persistence on).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import paho.mqtt.client as mqtt

from protocol import chunking, command, crypto, envelope
from protocol.errors import ProtocolError
from protocol.limits import GENESIS
from protocol.ossl import CryptographyBackend

crypto.set_backend(CryptographyBackend())


class Subscriber:
    def __init__(
        self,
        host: str,
        port: int,
        keys: dict[str, bytes],
        root: Path,
        client_id: str = "hil-subscriber",
    ) -> None:
        self.keys = keys  # device id -> public key (a dict shared with the fleet is fine)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.events: dict[tuple[str, int], dict] = {}
        self.raw: dict[tuple[str, int], bytes] = {}
        self.deliveries: Counter = Counter()  # (dev, seq) -> copies received
        self.arrival: list[tuple[str, int]] = []  # first arrivals, in order
        self.acks: list[dict] = []
        self.states: list[dict] = []
        self.chunk_frames: Counter = Counter()  # (sha, index) -> frames received
        self.chunk_log: list[tuple[str, int, float]] = []
        self.blobs: dict[str, chunking.Reassembly] = {}
        self.blob_done: dict[str, float] = {}
        self.first_seen: dict[str, float] = {}
        self.pending: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
        self.errors: list[str] = []
        self.connects = 0
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        self.wait(lambda: self.connects > 0, 10)

    def _on_connect(self, client, userdata, flags, rc, props=None) -> None:
        for t in ("gl/v1/+/evt/+", "gl/v1/+/blob", "gl/v1/+/ack", "gl/v1/+/state"):
            client.subscribe(t, 1)
        self.connects += 1

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
        for r in self.blobs.values():
            r.sink.close()

    # --- ingest ----------------------------------------------------------------------------

    def _on_message(self, client, userdata, msg) -> None:
        try:
            with self.lock:
                self._ingest(msg.topic, bytes(msg.payload))
        except Exception as e:  # noqa: BLE001 - recorded, asserted by the tests
            self.errors.append(f"{msg.topic}: {type(e).__name__}: {e}")

    def _ingest(self, topic: str, data: bytes) -> None:
        parts = topic.split("/")
        dev, channel = parts[2], parts[3]
        if channel == "blob":
            sha, index, total, payload = chunking.parse_frame(data)
            self.chunk_frames[(sha, index)] += 1
            self.chunk_log.append((sha, index, time.monotonic()))
            r = self.blobs.get(sha)
            if r is None:
                self.pending[sha].append((index, bytes(payload)))
            else:
                self._add(sha, r, index, payload)
            return
        if channel == "state":
            if data:
                self.states.append(command.open_state(data, self.keys[dev]))
            return
        env = envelope.open(data, self.keys[dev])
        key = (dev, env["seq"])
        self.deliveries[key] += 1
        if key in self.events:
            if self.raw[key] != data:
                self.errors.append(f"{key}: two different envelopes with one seq")
            return
        self.events[key] = env
        self.raw[key] = data
        self.arrival.append(key)
        if channel == "ack":
            self.acks.append(env)
        for b in env["blobs"]:
            sha = b["sha256"]
            if sha in self.blobs:
                continue
            sink = open(self.root / sha, "w+b")  # noqa: SIM115 - closed in close()
            r = chunking.Reassembly(sha, b["size"], sink)
            self.blobs[sha] = r
            self.first_seen[sha] = time.monotonic()
            for index, payload in self.pending.pop(sha, []):
                self._add(sha, r, index, payload)

    def _add(self, sha: str, r: chunking.Reassembly, index: int, payload) -> None:
        r.add(index, payload)
        if r.complete and sha not in self.blob_done:
            r.finish()  # BlobError if the SHA-256 does not match
            self.blob_done[sha] = time.monotonic()

    # --- queries ---------------------------------------------------------------------------

    def wait(self, pred, timeout: float, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if pred():
                    return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; errors={self.errors}")

    def of(self, dev: str, kind: str | None = None) -> list[dict]:
        with self.lock:
            evs = [e for (d, _), e in sorted(self.events.items()) if d == dev]
        return [e for e in evs if kind is None or e["kind"] == kind]

    def check_chain(self, dev: str, upto: int) -> None:
        """seq 1..upto all present exactly once (after dedupe), each prev = digest(previous)."""
        prev = GENESIS
        for seq in range(1, upto + 1):
            key = (dev, seq)
            assert key in self.events, f"{dev} seq {seq} missing"
            assert self.events[key]["prev"] == prev, f"{dev} chain broken at seq {seq}"
            prev = envelope.digest(self.raw[key])

    def blob_path(self, sha: str) -> Path:
        return self.root / sha

    def blob_ok(self, sha: str) -> bool:
        return sha in self.blob_done

    def verify_failures(self) -> list[str]:
        return list(self.errors)


def first_arrival_in_order(sub: Subscriber, dev: str) -> bool:
    seqs = [s for d, s in sub.arrival if d == dev]
    return seqs == sorted(seqs)


__all__ = ["Subscriber", "first_arrival_in_order", "ProtocolError"]
