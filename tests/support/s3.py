"""A real S3-compatible server on a free loopback port, for tests: moto's standalone server.

    with MotoS3() as s3:               # or start() ... stop()
        client = s3.client()           # boto3, over real HTTP, as to MinIO or AWS
        settings = Settings(..., **s3.hub_settings_kwargs(bucket))

It runs as its own process (``python -m moto.server -H 127.0.0.1 -p PORT``, what the
``moto_server`` command runs); the hub speaks to it over HTTP with boto3 and never imports moto.
Why moto and not MinIO, Garage, SeaweedFS, VersityGW, Zenko CloudServer or ``rclone serve s3``:
docs/scale-out.md, "Media in S3-compatible storage". moto is in the ``test`` extra, so a
missing server is an import / start failure, never a skip. Buckets are created by the tests
(one per test: the server is shared by a session).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.mosquitto import preexec_for_thread
from tests.support.net import free_port

ACCESS_KEY = "gridlink-test"
SECRET_KEY = "gridlink-test-secret"
REGION = "us-east-1"


class MotoS3:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.workdir = Path(tempfile.mkdtemp(prefix="moto-s3-"))
        self.log_path = self.workdir / "moto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _answers(self) -> bool:
        """Any HTTP answer from the server (ListBuckets without credentials is a 403 too)."""
        try:
            with urllib.request.urlopen(self.endpoint_url + "/", timeout=0.5):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def start(self, timeout: float = 30.0) -> MotoS3:
        if self.proc is not None and self.proc.poll() is None:
            return self
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec_for_thread(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited ({self.proc.returncode}): {self.log()}")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint_url}: {self.log()}")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server (``config``: botocore Config options)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def hub_settings_kwargs(self, bucket: str, prefix: str = "") -> dict[str, Any]:
        """The hub's Settings fields for media in ``bucket`` on this server."""
        from pydantic import SecretStr

        return {
            "media_store": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_bucket": bucket,
            "s3_prefix": prefix,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SecretStr(SECRET_KEY),
        }

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> MotoS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def __del__(self) -> None:
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()
