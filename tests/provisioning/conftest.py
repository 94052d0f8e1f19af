"""Fixtures of the provisioning tests.

``target``: the broker the ACL tests run against, the locked-down Mosquitto with its TLS
listeners (``Mosquitto(tls=pki)``), once per listener: "tcp" (plain), "tls" (the broker's
certificate checked against the CA) and "mtls" (``require_certificate``: every client, the
intruders too, presents a client certificate from the deployment's CA, so each refusal is the
account's or the ACL's, not the certificate's). A target is (host, port, tls kwargs for paho's
``tls_set``) plus the broker it reaches; ``target.for_client(name)`` is the target as the
client ``name`` reaches it (on "mtls", with ``name``'s certificate).

``live_hub``: Mosquitto, the migrated + seeded SQLite database and ``gridlink hub run`` as its
own process (uvicorn + ingest), so the CLI talks HTTP to a real server. ``live.env`` is what an
operator exports (GRIDLINK_HUB_URL, GRIDLINK_ADMIN_TOKEN).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.clock import SystemClock
from hub.db import make_engine, make_session_factory, session_scope
from hub.keys import load_or_create
from hub.migrations.runner import upgrade
from hub.seed import DemoData, seed_demo
from hub.settings import Settings
from tests.e2e.hubproc import HubProcess
from tests.support.hub import hub_settings
from tests.support.mosquitto import Mosquitto
from tests.support.tls import Pki
from tests.support.waiting import wait_until


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: dict[str, Any] | None
    broker: Mosquitto
    listener: str = "tcp"  # tcp, tls or mtls

    def for_client(self, name: str) -> Target:
        """This target for the client ``name`` (an account's username, or the client id of
        a client without one): on "mtls" with ``name``'s certificate from the broker's CA."""
        if self.listener != "mtls":
            return self
        cert = self.broker.client_cert(name)
        tls = dict(self.tls or {}, certfile=str(cert["cert_pem"]), keyfile=str(cert["key_pem"]))
        return replace(self, tls=tls)


@pytest.fixture(scope="session")
def acl_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One CA and broker certificate for every ACL test (client certificates per broker)."""
    return Pki.create(tmp_path_factory.mktemp("acl-pki"))


@pytest.fixture(params=["tcp", "tls", "mtls"])
def target(request: pytest.FixtureRequest, tmp_path: Path, acl_pki: Pki) -> Iterator[Target]:
    listener: str = request.param
    pki = acl_pki if listener != "tcp" else None
    with Mosquitto(workdir=tmp_path / "broker", persistence=True, tls=pki) as broker:
        if listener == "tcp":
            yield Target(broker.host, broker.port, None, broker)
        else:
            port = broker.tls_listener_port("mtls" if listener == "mtls" else "tls")
            tls = {"ca_certs": str(acl_pki.ca_pem)}
            yield Target(broker.host, port, tls, broker, listener)


@dataclass
class LiveHub:
    settings: Settings
    proc: HubProcess
    broker: Mosquitto
    demo: DemoData
    url: str
    token: str

    @property
    def env(self) -> dict[str, str]:
        return {"GRIDLINK_HUB_URL": self.url, "GRIDLINK_ADMIN_TOKEN": self.token}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {self.token}"})


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def live_hub(tmp_path: Path) -> Iterator[LiveHub]:
    with Mosquitto(workdir=tmp_path / "broker", persistence=True) as broker:
        settings = hub_settings(tmp_path, broker)
        upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        with session_scope(make_session_factory(engine)) as s:
            demo = seed_demo(db_session=s, clock=SystemClock())
        engine.dispose()
        load_or_create(settings.hub_key_path)
        proc = HubProcess(settings, tmp_path / "logs", "run").start()
        url = f"http://127.0.0.1:{proc.env['GRIDLINK_API_PORT']}"
        try:
            wait_until("the hub process ready", lambda: _ready(url), 60, detail=proc.log)
            yield LiveHub(
                settings, proc, broker, demo, url, settings.admin_token.get_secret_value()
            )
        finally:
            if proc.proc is not None and proc.proc.poll() is None:
                proc.proc.terminate()
                proc.proc.wait(15)
