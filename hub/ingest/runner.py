"""Start ingest workers from ``Settings`` (``gridlink hub run``, ``gridlink hub ingest``).

handle = hub.ingest.runner.start(settings)   # connects, subscribes, returns
...
handle.stop()
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine

from hub.clock import Clock, SystemClock
from hub.db import make_engine, make_session_factory
from hub.ingest.worker import IngestWorker
from hub.keys import load_or_create
from hub.media.store import FileBlobStore
from hub.settings import Settings
from protocol import crypto
from protocol.ossl import CryptographyBackend

logger = logging.getLogger(__name__)


def use_openssl() -> None:
    """Verify and sign through ``cryptography`` (OpenSSL), ~100x the pure-Python speed."""
    if getattr(crypto.get_backend(), "name", "") != "cryptography":
        crypto.set_backend(CryptographyBackend())


@dataclass
class IngestHandle:
    workers: list[IngestWorker] = field(default_factory=list)
    engine: Engine | None = None

    def stop(self) -> None:
        for worker in self.workers:
            try:
                worker.stop()
            except Exception:  # noqa: BLE001 - stop the others anyway
                logger.exception("stopping %s failed", worker.client_id)
        self.workers.clear()
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def start(settings: Settings, *, workers: int = 1, clock: Clock | None = None) -> IngestHandle:
    """Connect ``workers`` ingest workers (shared subscription) to the configured broker.

    The hub key is created here if it does not exist yet; ``clock`` defaults to the system's.
    """
    clock = clock or SystemClock()
    use_openssl()
    mqtt_v5 = settings.mqtt_protocol == "5"
    if not mqtt_v5 and workers > 1:
        raise ValueError("several ingest workers need MQTT v5 shared subscriptions")
    hub_key = load_or_create(settings.hub_key_path)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    store = FileBlobStore(settings.media_dir)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    handle = IngestHandle(engine=engine)
    try:
        for _ in range(workers):
            worker = IngestWorker(
                session_factory=factory,
                hub_key=hub_key,
                store=store,
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                clock=clock,
                username=settings.mqtt_username,
                password=password,
                mqtt_v5=mqtt_v5,
                settings=settings,
            )
            handle.workers.append(worker.start())
    except Exception:
        handle.stop()
        raise
    logger.info(
        "ingest: %d worker(s) on %s:%d, hub key %s",
        workers,
        settings.mqtt_host,
        settings.mqtt_port,
        hub_key.public_key_hex,
    )
    return handle
