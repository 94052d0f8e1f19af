"""A real Mosquitto broker on a free loopback port, for tests.

    with Mosquitto() as broker:      # or start() ... stop()
        client.connect(broker.host, broker.port)
        broker.restart()             # same port; the process is always killed at the end

``persistence=True`` keeps sessions and queued messages across ``restart()`` (graceful stop, so
Mosquitto writes its database); ``restart(kill=True)`` simulates a crash (SIGKILL).
``log_path`` has the broker log (``log_type all``), handy for asserting on the wire (e.g. the
``d1`` DUP flag of a retransmitted PUBLISH). The MQTT client that records what it receives is
``tests.support.wire.MqttObserver``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.support.net import free_port

MOSQUITTO = (
    os.environ.get("GRIDLINK_MOSQUITTO") or shutil.which("mosquitto") or "/usr/sbin/mosquitto"
)


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the process that started it dies, even by
    os._exit (pytest-timeout) or SIGKILL, so no broker outlives its test run (Linux).

    Linux ties this to the starting *thread*: use it only from the main thread
    (``preexec_for_thread()``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def preexec_for_thread():
    return die_with_parent if threading.current_thread() is threading.main_thread() else None


class Mosquitto:
    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        persistence: bool = False,
        workdir: str | os.PathLike | None = None,
        extra_conf: str = "",
        max_packet_size: int | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.persistence = persistence
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mosquitto-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.conf_path = self.workdir / "mosquitto.conf"
        self.log_path = self.workdir / "mosquitto.log"
        self.extra_conf = extra_conf
        self.max_packet_size = max_packet_size
        self.proc: subprocess.Popen | None = None

    def _write_conf(self) -> None:
        lines = [
            f"listener {self.port} {self.host}",
            "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr",  # unbuffered, appended to log_path by start()
            "log_type all",
            "connection_messages true",
            "max_queued_messages 10000",
        ]
        if os.geteuid() == 0:  # else it drops to user mosquitto and cannot read our temp dirs
            lines.append("user root")
        if self.max_packet_size:
            lines.append(f"max_packet_size {self.max_packet_size}")
        if self.extra_conf:
            lines.append(self.extra_conf)
        self.conf_path.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self._write_conf()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf_path)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
                preexec_fn=preexec_for_thread(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited ({self.proc.returncode}): {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port}")

    def stop(self, kill: bool = False, timeout: float = 5.0) -> None:
        """Stop the broker: SIGTERM (graceful, saves persistence) or SIGKILL (a crash)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def restart(self, kill: bool = False, down_s: float = 0.0) -> Mosquitto:
        self.stop(kill=kill)
        if down_s:
            time.sleep(down_s)
        return self.start()

    def pause(self) -> None:
        """SIGSTOP: the broker keeps its sockets but answers nothing (a hung link)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def cleanup(self) -> None:
        self.stop(kill=True)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __del__(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()


# The one MQTT test client lives in tests/support/wire.py; this name stays for older imports.
