"""Fixtures for the firmware runtime tests: a real Mosquitto, firmware scripts on MicroPython
(and CPython), and a paho subscriber that plays the hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.firmware.scripts import KEY  # noqa: E402
from tests.support.micropython import (  # noqa: E402
    cpython_path,
    run_micropython,
    start_micropython,
)
from tests.support.mosquitto import Mosquitto  # noqa: E402
from tests.support.wire import MqttObserver  # noqa: E402


# The firmware runtime tests exercise the MQTT client's own wire behaviour (QoS 1 retransmit,
# wills, retained messages, keepalive) on arbitrary topics such as dev/evt, with paho playing
# the hub: the anonymous broker. The locked-down broker and the device accounts are exercised
# by test_link.py (a refused CONNACK), tests/provisioning (the ACL) and the HIL tests (every
# device there logs in with its own account).
@pytest.fixture
def broker(tmp_path):
    with Mosquitto(workdir=tmp_path / "broker", secure=False) as b:
        yield b


@pytest.fixture
def persistent_broker(tmp_path):
    with Mosquitto(workdir=tmp_path / "broker", persistence=True, secure=False) as b:
        yield b


def run_cpython(script: str, args=(), timeout: float = 60) -> subprocess.CompletedProcess:
    # a private directory: the script's directory comes first on sys.path (see _script in
    # tests/support/micropython.py)
    tmp = Path(tempfile.mkdtemp(prefix="fw-cpy-"))
    path = tmp / "script.py"
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
        shutil.rmtree(tmp, ignore_errors=True)


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


@pytest.fixture
def subscriber(broker):
    subs = []

    def make(topics=("#",), **kw) -> MqttObserver:
        s = MqttObserver(broker, topics, **kw).start()
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
        tmp = getattr(p, "script_dir", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def dev_cfg(tmp_path):
    """Write a device config (sim GPS and battery, no UI / camera / microphone) and return its
    path; keyword arguments override keys."""

    def make(**over) -> str:
        cfg = {
            "device_id": "hh-review",
            "grid": "33010200100101",
            "key": KEY,
            "hub_key": "00" * 32,
            "flash": str(tmp_path / "flash"),
            "hal": {
                "ui": "none",
                "camera": "none",
                "microphone": "none",
                "gps": "sim",
                "battery": "sim",
            },
            "sim": {},
            "heartbeat_s": 0,
            # no hub on a fake link: trim on the PUBACK, send without a hub state (a test of
            # the receipt mode asks for it)
            "trim_on": "puback",
            "require_hub": False,
        }
        cfg.update(over)
        path = tmp_path / "cfg.json"
        path.write_text(json.dumps(cfg))
        return str(path)

    return make
