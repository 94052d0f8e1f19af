"""The systems a user could pick instead of Gridlink, fed the same stream through the same broker.

Each runs as its own OS process, subscribes at QoS 1 to ``gl/v1/+/evt/+`` with the hub's broker
account, verifies every envelope's Ed25519 signature with the device keys (``stream.keys``,
written to ``keys.json`` in the workdir) and writes ``events(id INTEGER PRIMARY KEY, device_id,
seq, kind, ts, body, raw, UNIQUE(device_id, seq))`` in a SQLite file (WAL, ``synchronous=FULL``):

- ``naive`` (``peer_naive.py``): paho's callback verifies and does one SQLAlchemy ORM add +
  commit per event; paho's automatic PUBACK follows the callback, so the commit.
- ``tuned`` (``peer_tuned.py``): the callback queues; a worker thread takes what is waiting,
  verifies, ``executemany`` INSERT OR IGNORE in one transaction, commits, then acknowledges
  (``manual_ack``).
- ``nodered`` (``nodered.py``): Node-RED (npm, pinned, installed on first use into
  ``var/nodered/``), ``mqtt in -> function (Node's crypto.verify) -> sqlite``. Its ``mqtt in``
  acknowledges on receipt, before the row is written: weaker durability than the others.

``start()`` returns once the system's subscription is live: the Python peers log a line when
the broker acknowledged their SUBSCRIBE; for Node-RED, a probe message on an event topic is
published (as the observer) until the flow's function node logs having rejected it.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from protocol import topics
from tests.support.mosquitto import Mosquitto, preexec_for_thread
from tests.support.net import free_port

from . import nodered
from .measure import Factory
from .peer_common import READY, SCHEMA, PeerConfig
from .stream import Stream

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


class _Process:
    """A peer's OS process: its log file, waiting on a log line, terminate-then-kill."""

    name: str
    query = ""  # the watcher's default: events(id, device_id, seq)

    def __init__(self, workdir: Path, broker: Mosquitto, stream: Stream) -> None:
        assert broker.hub_account, "the peers use the locked-down broker's hub account"
        self.workdir = workdir
        self.broker = broker
        self.stream = stream
        self.db_path = workdir / "events.db"
        self.keys_path = workdir / "keys.json"
        self.log_path = workdir / "peer.log"
        self.client_id = f"bench-{type(self).__name__.lower()}-{secrets.token_hex(4)}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _write_keys(self) -> None:
        keys = {dev: pk.hex() for dev, pk in self.stream.keys.items()}
        self.keys_path.write_text(json.dumps(keys))

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_for_thread(),  # no peer outlives the bench or test process
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _wait_for_line(
        self, text: str, timeout: float, nudge: Callable[[], None] | None = None
    ) -> None:
        """Until ``text`` is in the log; ``nudge()`` (if given) is called on every round."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.returncode}): {self.log()[-3000:]}"
                )
            if text in self.log():
                return
            if nudge is not None:
                nudge()
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} never got ready: {self.log()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


class _PythonPeer(_Process):
    module: str

    def start(self) -> _PythonPeer:
        assert self.broker.hub_account
        user, password = self.broker.hub_account
        self._write_keys()
        config = self.workdir / "peer.json"
        PeerConfig(
            host=self.broker.host,
            port=self.broker.port,
            username=user,
            password=password,
            client_id=self.client_id,
            topic=topics.EVT_ALL,
            db_path=str(self.db_path),
            keys_path=str(self.keys_path),
        ).save(config)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        self._spawn([sys.executable, "-m", self.module, str(config)], env)
        self._wait_for_line(READY, START_TIMEOUT_S)
        return self


class NaivePeer(_PythonPeer):
    name = "naive (paho callback, ORM commit per event)"
    module = "bench.ingest_peers.peer_naive"


class TunedPeer(_PythonPeer):
    name = "tuned (worker thread, executemany batches)"
    module = "bench.ingest_peers.peer_tuned"


class NodeRedPeer(_Process):
    name = f"Node-RED {nodered.NODE_RED} (mqtt in -> function -> sqlite)"

    def start(self) -> NodeRedPeer:
        install = nodered.ensure_installed()
        assert self.broker.hub_account and self.broker.observer_account
        user, password = self.broker.hub_account
        self._write_keys()
        # the table, once, as a user would with the sqlite3 shell; WAL is kept in the file
        with sqlite3.connect(self.db_path) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)
        db.close()
        user_dir = self.workdir / "node-red"
        user_dir.mkdir()
        flow_file = user_dir / "flows.json"
        flow = nodered.flow(
            host=self.broker.host,
            port=self.broker.port,
            client_id=self.client_id,
            db_path=self.db_path,
            keys_path=self.keys_path,
        )
        flow_file.write_text(json.dumps(flow, indent=1))
        (user_dir / "flows_cred.json").write_text(json.dumps(nodered.credentials(user, password)))
        settings = user_dir / "settings.js"
        settings.write_text(
            nodered.settings_js(user_dir=user_dir, flow_file=flow_file, ui_port=free_port())
        )
        red = install / "node_modules" / "node-red" / "red.js"
        self._spawn(["node", str(red), "--settings", str(settings), "--userDir", str(user_dir)])
        probe = f"probe-{secrets.token_hex(4)}"
        topic = topics.evt(probe, "probe")
        with _Prober(self.broker, topic) as prober:
            self._wait_for_line(f"rejected {topic}", START_TIMEOUT_S, nudge=prober.nudge)
        return self


class _Prober:
    """Publishes a (non-envelope) probe on ``topic`` at most every 0.25 s, as the observer."""

    def __init__(self, broker: Mosquitto, topic: str) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        assert broker.observer_account
        self.topic = topic
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{topic}")
        self.client.username_pw_set(*broker.observer_account)
        self.connected = threading.Event()
        self.client.on_connect = lambda *_a: self.connected.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self._last = 0.0

    def nudge(self) -> None:
        if self.connected.is_set() and time.monotonic() - self._last >= 0.25:
            self._last = time.monotonic()
            self.client.publish(self.topic, b"probe", qos=1)

    def __enter__(self) -> _Prober:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# a note for the bench table, where a peer's figures do not mean the same as Gridlink's
NOTES: dict[str, str] = {
    "nodered": "acks on receipt (mqtt in has no manual ack): weaker durability than Gridlink",
}

FACTORIES: dict[str, Factory] = {
    "naive": NaivePeer,
    "tuned": TunedPeer,
    "nodered": NodeRedPeer,
}
