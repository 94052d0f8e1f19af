"""Gridlink as users run it: ``gridlink hub run`` (API, console, supervision and the ingest
workers in one deployment) on a migrated SQLite file with the demo district, every stream
device registered and bound to one of its grids, against the locked-down Mosquitto."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.areas.models import Area, Grid
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory
from hub.devices.models import Device, DeviceKind, DeviceStatus
from hub.migrations.runner import upgrade
from hub.seed import seed_demo
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port

from .stream import Stream


def add_grids(s: Session, n: int) -> list[str]:
    """``n`` grids: communities of 99 grids each added under the demo district's first street."""
    street = s.scalars(select(Area.code).where(Area.level == "street").order_by(Area.code)).first()
    assert street is not None
    codes: list[str] = []
    for c in range(-(-n // 99)):
        community = f"{street}{500 + c:03d}"
        s.add(Area(code=community, level="community", name=f"基准社区{c}", parent_code=street))
        for g in range(1, 100):
            codes.append(f"{community}{g:02d}")
            s.add(Grid(code=codes[-1], name=f"基准网格{c}-{g}", community_code=community))
    s.flush()
    return codes[:n]


class GridlinkHub:
    name = "Gridlink (gridlink hub run)"
    query = ""  # the watcher's default: events(id, device_id, seq)

    def __init__(self, workdir: Path, broker: Mosquitto, stream: Stream, env: dict[str, str]):
        self.workdir = workdir
        self.db_path = workdir / "hub.db"
        self.broker = broker
        self.stream = stream
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.api_port = free_port()

    def start(self) -> GridlinkHub:
        url = f"sqlite:///{self.db_path}"
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        now = SystemClock().now()
        with factory() as s:
            seed_demo(db_session=s, clock=SystemClock())
            grids = add_grids(s, len(self.stream.keys))  # one grid, one device
            s.add_all(
                Device(
                    id=dev,
                    kind=DeviceKind.handheld.value,
                    public_key=pk.hex(),
                    status=DeviceStatus.active.value,
                    grid_code=grids[i],
                    registered_at=now,
                    online=False,
                    session=0,
                    last_seq=0,
                    max_seq=0,
                    chain_head="0" * 64,
                )
                for i, (dev, pk) in enumerate(self.stream.keys.items())
            )
            s.commit()
        engine.dispose()
        assert self.broker.hub_account
        user, password = self.broker.hub_account
        env = {
            **os.environ,
            "GRIDLINK_DATA_DIR": str(self.workdir),
            "GRIDLINK_DATABASE_URL": url,
            "GRIDLINK_MQTT_HOST": self.broker.host,
            "GRIDLINK_MQTT_PORT": str(self.broker.port),
            "GRIDLINK_MQTT_USERNAME": user,
            "GRIDLINK_MQTT_PASSWORD": password,
            "GRIDLINK_BROKER_ACCOUNTS": "dynsec",
            "GRIDLINK_API_PORT": str(self.api_port),
            "GRIDLINK_ADMIN_TOKEN": secrets.token_urlsafe(32),
            "GRIDLINK_MQTT_CLIENT_ID": f"bench-{self.api_port}",
            **self.extra_env,
        }
        gridlink = Path(sys.executable).with_name("gridlink")
        self.log = open(self.workdir / "hub.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(gridlink), "hub", "run"], env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gridlink hub run exited: {self.tail()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.api_port}/readyz", timeout=1
                ) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gridlink hub run never got ready: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return (self.workdir / "hub.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()
