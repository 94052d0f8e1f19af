"""Fixtures for the firmware runtime tests: a real Mosquitto, firmware scripts on MicroPython
(and CPython), and a paho subscriber that plays the hub."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import paho.mqtt.client as paho  # noqa: E402

from tests.support.micropython import (  # noqa: E402
    cpython_path,
    run_micropython,
    start_micropython,
)
from tests.support.mosquitto import Mosquitto  # noqa: E402


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(workdir=tmp_path / "broker") as b:
        yield b


@pytest.fixture
def persistent_broker(tmp_path):
    with Mosquitto(workdir=tmp_path / "broker", persistence=True) as b:
        yield b


def run_cpython(script: str, args=(), timeout: float = 60) -> subprocess.CompletedProcess:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fw-cpy-{os.getpid()}-{time.monotonic_ns()}.py"
    path.write_text(script)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(cpython_path()))
    try:
        return subprocess.run(
            [sys.executable, str(path), *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        path.unlink()


class Runner:
    """Run a firmware test script under one interpreter; return stdout, fail on errors."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, script: str, *args: object, heapsize: str = "192K", timeout=60) -> str:
        if self.name == "micropython":
            proc = run_micropython(
                script, heapsize=heapsize, args=[str(a) for a in args], timeout=timeout
            )
        else:
            proc = run_cpython(script, args, timeout=timeout)
        assert proc.returncode == 0, (
            f"{self.name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
        return proc.stdout


@pytest.fixture(params=["micropython", "cpython"])
def run_fw(request) -> Runner:
    return Runner(request.param)


@pytest.fixture
def run_mpy() -> Runner:
    return Runner("micropython")


class Subscriber:
    """A paho client that records every message it gets (the test's stand-in for the hub)."""

    def __init__(self, broker: Mosquitto, topics=("#",), client_id: str = "", clean=True):
        self.broker = broker
        self.msgs: queue.Queue = queue.Queue()
        self.all: list[paho.MQTTMessage] = []
        self._subscribed = queue.Queue()
        self.topics = topics
        self.c = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean
        )
        self.c.on_message = self._on_message
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda *a: self._subscribed.put(True)
        self.c.reconnect_delay_set(0.05, 0.2)

    def _on_connect(self, c, userdata, flags, rc, props=None):
        for t in self.topics:
            c.subscribe(t, 1)

    def _on_message(self, c, userdata, msg):
        self.all.append(msg)
        self.msgs.put(msg)

    def start(self) -> Subscriber:
        self.c.connect(self.broker.host, self.broker.port, keepalive=30)
        self.c.loop_start()
        for _ in self.topics:
            self._subscribed.get(timeout=10)
        return self

    def wait_subscribed(self, timeout: float = 10) -> None:
        for _ in self.topics:
            self._subscribed.get(timeout=timeout)

    def get(self, timeout: float = 10) -> paho.MQTTMessage:
        return self.msgs.get(timeout=timeout)

    def get_topic(self, topic: str, timeout: float = 10) -> paho.MQTTMessage:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.msgs.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg.topic == topic:
                return msg

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos, retain).wait_for_publish(10)

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def subscriber(broker):
    subs = []

    def make(topics=("#",), **kw) -> Subscriber:
        s = Subscriber(broker, topics, **kw).start()
        subs.append(s)
        return s

    yield make
    for s in subs:
        s.stop()


@pytest.fixture
def mpy_procs():
    """Start MicroPython processes that are always killed at the end of the test."""
    procs: list[subprocess.Popen] = []

    def start(script: str, *args: object, heapsize: str = "192K") -> subprocess.Popen:
        p = start_micropython(
            script, heapsize=heapsize, args=[str(a) for a in args], stdin=subprocess.DEVNULL
        )
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        path = getattr(p, "script_path", None)
        if path and os.path.exists(path):
            os.unlink(path)


def _lines(proc: subprocess.Popen) -> queue.Queue:
    # One reader thread per process: select() on a buffered pipe misses lines already buffered.
    q = getattr(proc, "_line_queue", None)
    if q is None:
        q = proc._line_queue = queue.Queue()  # type: ignore[attr-defined]

        def pump() -> None:
            for line in proc.stdout:
                q.put(line.rstrip("\n"))
            q.put(None)

        threading.Thread(target=pump, daemon=True).start()
    return q


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 15) -> list[str]:
    """Read proc's stdout lines until one starts with marker; return all lines read."""
    q = _lines(proc)
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"timeout waiting for {marker!r}; got {lines[-20:]}") from None
        if line is None:
            q.put(None)
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"ended before {marker!r}; got {lines[-20:]}\n{err[-3000:]}")
        lines.append(line)
        if line.startswith(marker):
            return lines
