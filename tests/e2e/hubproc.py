"""The hub as a separate process (``gridlink hub run`` / ``gridlink hub ingest``), so a test can
SIGKILL it for real. It reads the test hub's settings through ``GRIDLINK_*`` variables: the
same database, media directory, hub key and broker as the in-process ``Hub`` fixture, whose
REST API the test keeps using to read what was stored.

    proc = HubProcess(hub.settings, log_dir, "run").start()
    proc.kill()          # SIGKILL: no drain, the broker publishes the hub's last will
    proc.start()         # the same client id: the broker's session for it resumes
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from hub.settings import Settings
from tests.support.mosquitto import die_with_parent
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


class HubProcess:
    def __init__(
        self, settings: Settings, log_dir: Path, mode: str = "run", client_id: str | None = None
    ) -> None:
        assert mode in ("run", "ingest")
        self.mode = mode
        self.log_path = log_dir / f"hub-{mode}-{client_id or 'default'}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "GRIDLINK_ENV": "development",
            "GRIDLINK_ADMIN_TOKEN": settings.admin_token.get_secret_value(),
            "GRIDLINK_DATA_DIR": str(settings.data_dir),
            "GRIDLINK_DATABASE_URL": settings.database_url,
            "GRIDLINK_MEDIA_DIR": str(settings.media_dir),
            "GRIDLINK_HUB_KEY_PATH": str(settings.hub_key_path),
            "GRIDLINK_MQTT_HOST": settings.mqtt_host,
            "GRIDLINK_MQTT_PORT": str(settings.mqtt_port),
            "GRIDLINK_MQTT_RECONNECT_MAX_S": "2",
            "GRIDLINK_API_HOST": "127.0.0.1",
            "GRIDLINK_API_PORT": str(free_port()),
        }
        if settings.mqtt_username and settings.mqtt_password:  # the locked-down broker
            self.env["GRIDLINK_MQTT_USERNAME"] = settings.mqtt_username
            self.env["GRIDLINK_MQTT_PASSWORD"] = settings.mqtt_password.get_secret_value()
        self.env["GRIDLINK_BROKER_ACCOUNTS"] = settings.broker_accounts or "none"
        if client_id is not None:
            self.env["GRIDLINK_MQTT_CLIENT_ID"] = client_id
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        base = [sys.executable, "-m", "gridlink.cli", "hub"]
        if self.mode == "run":
            return [*base, "run", "--no-migrate", "--supervision-interval", "3600"]
        return [*base, "ingest", "--workers", "1"]

    def start(self) -> HubProcess:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to drain, acknowledge or say goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
