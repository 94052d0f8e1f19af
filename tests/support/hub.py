"""The real hub for end-to-end and HIL tests, and the fixtures that start it.

``broker`` is a Mosquitto on a free port (persistence on); ``hub`` is the hub as deployed: the
Alembic-migrated SQLite database with the demo seed, its ingest worker (``hub.ingest.runner``,
what ``gridlink hub run`` starts) on that broker, and its REST API; ``fleet`` is a simulator
fleet provisioned with the hub's key; ``wire`` is an MQTT observer of everything on
``gl/v1/#``. The hub also runs the notification sender (``hub.notify.sender``), as
``gridlink hub run`` does.

A test talks to the hub only through stable surfaces: the REST API (events, media, commands,
rejections, chain gaps), the database tables for what the API does not show (a blob's chunk
bitmap), and MQTT. ``hub.stop_ingest()`` / ``hub.start_ingest()`` take the hub off the broker
and back (its retained state goes offline / online), for "the hub was away" scenarios.

Test packages import the fixtures into their ``conftest.py``:

    from tests.support.hub import broker, fleet, hub, wire  # noqa: F401
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from hub.app import create_app
from hub.areas.models import Grid
from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.ingest import runner
from hub.keys import load_or_create
from hub.media.models import Blob
from hub.migrations.runner import upgrade
from hub.notify.sender import Sender
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from simulator import Fleet
from simulator.fleet import SimDevice
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


@dataclass
class Hub:
    settings: Settings
    api: TestClient
    demo: DemoData
    ingest: runner.IngestHandle | None = field(default=None, repr=False)

    # --- lifecycle -------------------------------------------------------------------------

    def start_ingest(self) -> None:
        """Connect the ingest worker (publishes the retained hub state ``online``)."""
        if self.ingest is None:
            self.ingest = runner.start(self.settings)

    def stop_ingest(self) -> None:
        """Drain and disconnect the ingest worker (retained hub state ``offline``). Until
        ``start_ingest()`` nobody takes the device traffic: the broker drops it."""
        if self.ingest is not None:
            self.ingest.stop()
            self.ingest = None

    # --- set-up ----------------------------------------------------------------------------

    def register(self, dev: SimDevice, grid: str | None = None) -> None:
        body = {
            "id": dev.device_id,
            "kind": dev.config.get("app", "handheld"),  # handheld, or a gate: access/face/barrier
            "public_key": dev.public_key_hex,
            "grid_code": grid or dev.config["grid"],
        }
        resp = self.api.post("/api/devices", json=body)
        assert resp.status_code == 201, resp.text
        account = resp.json()["broker"]
        if account is not None:  # the credentials the hub made, shown once (as provisioning does)
            broker = {**dev.config["broker"], "user": account["username"]}
            dev.update_config(broker={**broker, "password": account["password"]})

    def _db(self, stmt: Any) -> Any:
        engine = make_engine(self.settings.database_url)
        try:
            with make_session_factory(engine)() as s:
                return stmt(s)
        finally:
            engine.dispose()

    def grid_centre(self, code: str) -> tuple[int, int]:
        grid = self._db(lambda s: s.get(Grid, code))
        assert grid is not None and grid.lat_e6 is not None and grid.lon_e6 is not None
        return grid.lat_e6, grid.lon_e6

    # --- what the hub stored ---------------------------------------------------------------

    def get(self, path: str, **params: object) -> Any:
        resp = self.api.get(path, params={k: v for k, v in params.items() if v is not None})
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def events(self, dev: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The device's stored events (every kind, acks too), in storage order."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.get("/api/events", device_id=dev, kind=kind, limit=1000, offset=len(out))
            out += page
            if len(page) < 1000:
                return sorted(out, key=lambda e: e["id"])

    def device(self, dev: str) -> dict[str, Any]:
        """The device as the hub sees it (``online``, ``session``, ``last_seq`` = the contiguous
        stored prefix, ``commands`` ...)."""
        return self.get(f"/api/devices/{dev}")

    def last_seq(self, dev: str) -> int:
        return int(self.device(dev)["last_seq"])

    def seqs(self, dev: str) -> list[int]:
        return [e["seq"] for e in self.events(dev)]

    def assert_chain(self, dev: str, n: int, timeout: float = 30) -> list[dict[str, Any]]:
        """Once ``n`` events of ``dev`` are stored: seq 1..n each stored exactly once, every one
        linked to the previous, no break and no open gap. Returns them in storage order."""

        def stored() -> list[dict[str, Any]] | None:
            events = self.events(dev)
            return events if len(events) >= n else None

        events = wait_until(f"{n} events of {dev} stored", stored, timeout)
        seqs = sorted(e["seq"] for e in events)
        assert seqs == list(range(1, n + 1)), seqs
        assert all(e["chain"] == "linked" for e in events), [(e["seq"], e["chain"]) for e in events]
        gaps = self.get("/api/events/chain-gaps", device_id=dev, open_only=False)
        assert [g for g in gaps if g["kind"] == "broken" or g["resolved_at"] is None] == [], gaps
        return events

    def rejections(self) -> dict[str, int]:
        """reason -> messages the ingest rejected (``duplicate`` is counted, not an error)."""
        return {r["reason"]: r["count"] for r in self.get("/api/events/rejections")}

    def errors(self) -> dict[str, int]:
        return {k: v for k, v in self.rejections().items() if k != "duplicate"}

    def blob(self, sha: str) -> dict[str, Any] | None:
        resp = self.api.get(f"/api/media/{sha}")
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, resp.text
        return resp.json()

    def blob_complete(self, sha: str) -> bool:
        blob = self.blob(sha)
        return blob is not None and blob["status"] == "complete"

    def blob_content(self, sha: str) -> bytes:
        """The stored bytes, checked against their SHA-256 (the name they are stored under)."""
        resp = self.api.get(f"/api/media/{sha}/content")
        assert resp.status_code == 200, resp.text
        assert hashlib.sha256(resp.content).hexdigest() == sha, "stored blob does not match"
        return resp.content

    def held_chunks(self, sha: str) -> set[int]:
        """The chunk indices the hub holds of a blob (its bitmap in the ``blobs`` table)."""
        blob = self._db(lambda s: s.scalars(select(Blob).where(Blob.sha256 == sha)).first())
        assert blob is not None, f"blob {sha} not announced to the hub"
        bits = blob.chunks
        return {i for i in range(blob.total_chunks) if bits and bits[i >> 3] & (1 << (i & 7))}

    # --- commands --------------------------------------------------------------------------

    def send(self, dev: str, op: str, args: dict | None = None, lifetime_s: int = 600) -> dict:
        """Queue a command through the API; the hub signs and sends it when the device is on."""
        resp = self.api.post(
            f"/api/devices/{dev}/commands/{op}", json={"args": args or {}, "lifetime_s": lifetime_s}
        )
        assert resp.status_code == 201, resp.text
        return resp.json()

    def command(self, cmd_id: str) -> dict[str, Any]:
        return self.get(f"/api/commands/{cmd_id}")


def hub_settings(
    tmp_path: Path, broker: Mosquitto, tls: Literal["tls", "mtls"] | None = None, **extra: Any
) -> Settings:
    """The hub's settings on ``broker`` (``tls``: its "tls" or "mtls" listener; ``extra``:
    more settings, e.g. ``ota_ops_key``)."""
    return Settings(
        env="development",
        data_dir=tmp_path / "hub",
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        # the hub's account; device accounts through dynsec
        **broker.hub_settings_kwargs(tls=tls),
        verify_distance_m=100,
        verify_window_s=3600,
        **extra,
    )


@contextmanager
def running_hub(settings: Settings) -> Iterator[Hub]:
    """A migrated, seeded hub on ``settings``: its REST API (a TestClient with the admin token)
    and its ingest worker, stopped on exit."""
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as s:
        demo = seed_demo(db_session=s, clock=SystemClock())
    engine.dispose()
    headers = {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    with TestClient(create_app(settings), headers=headers) as api:
        h = Hub(settings, api, demo)
        h.start_ingest()
        sender_engine = make_engine(settings.database_url)
        sender = Sender(
            factory=make_session_factory(sender_engine), settings=settings, clock=SystemClock()
        ).start()  # the liaisons' notifications, as `gridlink hub run` sends them
        try:
            yield h
        finally:
            sender.stop()
            sender_engine.dispose()
            h.stop_ingest()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(workdir=tmp_path / "broker", persistence=True) as mosq:
        yield mosq


@pytest.fixture
def hub(tmp_path: Path, broker: Mosquitto) -> Iterator[Hub]:
    with running_hub(hub_settings(tmp_path, broker)) as h:
        yield h


@pytest.fixture
def fleet(tmp_path: Path, broker: Mosquitto, hub: Hub) -> Iterator[Fleet]:
    assert hub.settings.hub_key_path is not None
    key = load_or_create(hub.settings.hub_key_path)
    f = Fleet(
        broker.host,
        broker.port,
        root=tmp_path / "fleet",
        hub_seed=key.seed,
        accounts=broker.device_account,
    )
    yield f
    f.cleanup()


@pytest.fixture
def wire(broker: Mosquitto) -> Iterator[MqttObserver]:
    with MqttObserver(broker, topics=("gl/v1/#",)) as observer:
        yield observer
