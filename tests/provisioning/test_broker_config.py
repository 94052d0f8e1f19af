"""The production broker configuration: ``gridlink provision broker init`` output run as it is
by real Mosquitto (dropping to the ``mosquitto`` user, as a packaged broker does), the hub
logging in with the printed credentials, Mosquitto's own hash format, the packet limit."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from hub import broker_admin
from hub.settings import Settings
from protocol import chunking, limits
from provisioning import broker
from provisioning.cli_broker import app
from tests.provisioning.mqtt_client import Client
from tests.support.mosquitto import MOSQUITTO, preexec_for_thread
from tests.support.net import free_port


@pytest.fixture
def conf_dir() -> Iterator[Path]:
    # not under pytest's 0700 tmp dir: the broker runs as the mosquitto user, as packaged
    root = Path(tempfile.mkdtemp(prefix="gl-broker-"))
    root.chmod(0o755)
    yield root / "broker"
    shutil.rmtree(root, ignore_errors=True)


def run_broker(conf: Path, port: int) -> subprocess.Popen:
    if os.geteuid() == 0:  # a root-started Mosquitto drops to "mosquitto"; let it write
        shutil.chown(conf.parent, "mosquitto", "mosquitto")
        for p in conf.parent.rglob("*"):
            shutil.chown(p, "mosquitto", "mosquitto")
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=preexec_for_thread(),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mosquitto exited: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise AssertionError("mosquitto did not listen")


def env_of(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if line.startswith("GRIDLINK_"))


def test_broker_init_writes_a_config_mosquitto_runs_and_the_hub_logs_in(conf_dir: Path) -> None:
    port = free_port()
    r = CliRunner().invoke(app, ["--dir", str(conf_dir), "--listen", f"127.0.0.1:{port}"])
    assert r.exit_code == 0, r.output
    env = env_of(r.output)
    assert env["GRIDLINK_MQTT_USERNAME"] == "hub" and env["GRIDLINK_BROKER_ACCOUNTS"] == "dynsec"
    assert len(env["GRIDLINK_MQTT_PASSWORD"]) >= 32
    dynsec = (conf_dir / "dynamic-security.json").read_text()
    assert env["GRIDLINK_MQTT_PASSWORD"] not in dynsec  # only the hash is kept
    assert oct((conf_dir / "dynamic-security.json").stat().st_mode & 0o777) == "0o600"
    conf = (conf_dir / "mosquitto.conf").read_text().splitlines()
    for line in ("allow_anonymous false", "per_listener_settings false", "persistence true"):
        assert line in conf
    proc = run_broker(conf_dir / "mosquitto.conf", port)
    try:
        settings = Settings(
            env="development",
            mqtt_host="127.0.0.1",
            mqtt_port=port,
            mqtt_username=env["GRIDLINK_MQTT_USERNAME"],
            mqtt_password=SecretStr(env["GRIDLINK_MQTT_PASSWORD"]),
            broker_accounts="dynsec",
        )
        account = broker_admin.for_settings(settings).create_device("hh-prod-1")
        assert account is not None
        target = SimpleNamespace(host="127.0.0.1", port=port, tls=None)
        dev = Client(target, (account.username, account.password), "hh-prod-1")
        assert dev.connect() == "Success"
        # the largest chunk frame fits under max_packet_size
        frame = chunking.pack_header(b"\x00" * 32, 0, 1) + b"x" * limits.MAX_CHUNK_SIZE
        assert dev.publish("gl/v1/hh-prod-1/blob", frame) in ("Success", "No matching subscribers")
        dev.stop()
        assert Client(target, None, "anon").connect() == "Not authorized"
    finally:
        proc.terminate()
        proc.wait(10)
    # the broker wrote the new account back: it survives a restart
    saved = json.loads((conf_dir / "dynamic-security.json").read_text())
    assert "hh-prod-1" in {c["username"] for c in saved["clients"]}


def test_broker_init_never_overwrites_the_accounts(conf_dir: Path) -> None:
    args = ["--dir", str(conf_dir)]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = (conf_dir / "dynamic-security.json").read_bytes()
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1 and "holds the broker's accounts" in r.output
    assert "GRIDLINK_MQTT_PASSWORD" not in r.output
    assert (conf_dir / "dynamic-security.json").read_bytes() == before


def test_broker_init_tls_listener_and_its_errors(conf_dir: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["--dir", str(conf_dir), "--tls-dir", str(tmp_path)])
    assert r.exit_code == 1 and "lacks" in r.output and "server.key" in r.output
    assert not conf_dir.exists()
    for name in ("ca.pem", "server.pem", "server.key"):
        (tmp_path / name).write_text("pem")
    r = CliRunner().invoke(
        app, ["--dir", str(conf_dir), "--tls-dir", str(tmp_path), "--require-certificate"]
    )
    assert r.exit_code == 0, r.output
    conf = (conf_dir / "mosquitto.conf").read_text()
    assert "listener 8883 0.0.0.0" in conf and f"cafile {tmp_path.resolve()}/ca.pem" in conf
    assert "require_certificate true" in conf and "GRIDLINK_MQTT_TLS=true" in r.output
    bad = CliRunner().invoke(app, ["--dir", str(conf_dir), "--listen", "host:99999"])
    assert bad.exit_code == 2 and "port 1-65535" in bad.output


def test_password_hashes_are_mosquittos_own(tmp_path: Path) -> None:
    """mosquitto_ctrl (the broker's own tool) writes a hash; ours verifies it and has its
    shape. (The hub logging in above proves the broker accepts ours.)"""
    ctrl = shutil.which("mosquitto_ctrl")
    if ctrl is None:
        pytest.skip("mosquitto_ctrl not installed")
    path = tmp_path / "ref.json"
    subprocess.run([ctrl, "dynsec", "init", str(path), "admin", "pw-Ünïcode"], check=True,
                   capture_output=True)  # fmt: skip
    ref = json.loads(path.read_text())["clients"][0]
    assert broker.check_password(ref, "pw-Ünïcode") and not broker.check_password(ref, "pw")
    ours = broker.password_hash("pw-Ünïcode")
    assert set(ours) == {"password", "salt", "iterations"}
    assert len(ours["password"]) == len(ref["password"]) and len(ours["salt"]) == len(ref["salt"])
    assert ours["iterations"] == ref["iterations"]


def test_max_packet_size_is_above_the_largest_chunk_frame() -> None:
    topic = "gl/v1/" + "d" * limits.MAX_DEVICE_ID_LEN + "/blob"
    frame = chunking.HEADER_SIZE + limits.MAX_CHUNK_SIZE
    assert broker.MAX_PACKET_SIZE > frame + len(topic) + 64  # fixed header, properties
    assert broker.MAX_PACKET_SIZE > limits.MAX_ENVELOPE_BYTES + 1024
