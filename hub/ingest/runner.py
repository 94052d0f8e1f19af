"""Start ingest workers from ``Settings`` (``gridlink hub run``, ``gridlink hub ingest``).

handle = hub.ingest.runner.start(settings)   # returns once subscribed, or at once when the
                                             # broker is unreachable (retried in the background)
handle.broker_connected                      # every worker's broker link is up (for /readyz)
...
handle.stop()                                # drain, receipts + PUBACKs, hub offline, disconnect

Worker ``i`` connects as ``<mqtt_client_id>-<i>`` (default prefix ``gridlink-<hostname>``), the
same id after every restart, so the broker keeps its persistent session and queues for it while
it is away. Two processes on one broker need different ``GRIDLINK_MQTT_CLIENT_ID`` values.
"""

from __future__ import annotations

import logging
import socket
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from hub import broker_admin
from hub.clock import Clock, SystemClock
from hub.db import make_engine, make_session_factory
from hub.ingest.worker import IngestWorker
from hub.keys import load_or_create
from hub.media.factory import make_media_store
from hub.settings import Settings
from protocol import canonical, crypto
from protocol.cjson import CJsonCodec
from protocol.ossl import CryptographyBackend

logger = logging.getLogger(__name__)


def use_openssl() -> None:
    """Verify and sign through ``cryptography`` (OpenSSL), ~100x the pure-Python speed, and
    encode canonical JSON with the stdlib's C encoder (``protocol.cjson``: the pure encoder's
    bytes and errors, proven on every vector and under hypothesis)."""
    if getattr(crypto.get_backend(), "name", "") != "cryptography":
        crypto.set_backend(CryptographyBackend())
    if canonical.get_codec() is None:
        canonical.set_codec(CJsonCodec())


@dataclass
class IngestHandle:
    workers: list[IngestWorker] = field(default_factory=list)
    engine: Engine | None = None

    @property
    def broker_connected(self) -> bool:
        """True when every worker's broker link is up (False with no workers)."""
        return bool(self.workers) and all(w.broker_connected for w in self.workers)

    def stop(self) -> None:
        """Drain every worker (the batch in hand stored, its receipts and PUBACKs sent),
        publish the hub's retained offline state, disconnect cleanly (no last will)."""
        for worker in self.workers:
            worker.request_stop()  # none of them answers another's "offline" any more
        for worker in self.workers:
            try:
                worker.stop()
            except Exception:  # noqa: BLE001 - stop the others anyway
                logger.exception("stopping %s failed", worker.client_id)
        self.workers.clear()
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def upgrade_broker_roles(settings: Settings) -> None:
    """Give the broker roles an older hub made the ACLs of this one (the firmware channel);
    a broker that does not answer is said once and retried at the next start."""
    if settings.broker_accounts != "dynsec":
        return
    try:
        broker_admin.for_settings(settings).upgrade_roles()
    except broker_admin.BrokerAdminError as exc:
        logger.warning("broker roles not brought up to date: %s", exc)


def client_id_prefix(settings: Settings) -> str:
    return settings.mqtt_client_id or f"gridlink-{socket.gethostname()}"


def start(
    settings: Settings, *, workers: int = 1, clock: Clock | None = None, timeout: float = 10.0
) -> IngestHandle:
    """Start ``workers`` ingest workers (shared subscription) on the configured broker.

    Returns once every worker is subscribed (at most ``timeout`` s), or as soon as the broker
    turned out unreachable: the workers keep retrying with backoff and connect when it is
    back; it never raises for the broker. The hub key is created here if it does not exist
    yet; ``clock`` defaults to the system's.
    """
    clock = clock or SystemClock()
    use_openssl()
    mqtt_v5 = settings.mqtt_protocol == "5"
    if not mqtt_v5 and workers > 1:
        raise ValueError("several ingest workers need MQTT v5 shared subscriptions")
    hub_key = load_or_create(settings.hub_key_path)
    upgrade_broker_roles(settings)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    store = make_media_store(settings)
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    handle = IngestHandle(engine=engine)
    prefix = client_id_prefix(settings)
    try:
        for index in range(workers):
            worker = IngestWorker(
                session_factory=factory,
                hub_key=hub_key,
                store=store,
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                clock=clock,
                client_id=f"{prefix}-{index}",
                session_expiry_s=settings.mqtt_session_expiry_s,
                reconnect_min_s=settings.mqtt_reconnect_min_s,
                reconnect_max_s=settings.mqtt_reconnect_max_s,
                username=settings.mqtt_username,
                password=password,
                mqtt_v5=mqtt_v5,
                settings=settings,
            )
            worker.warm()  # its helper processes start now, not with the first flood
            handle.workers.append(worker.start(timeout=0))
        deadline = time.monotonic() + timeout
        for worker in handle.workers:
            worker.start_wait(max(0.0, deadline - time.monotonic()))
    except Exception:
        handle.stop()
        raise
    logger.info(
        "ingest: %d worker(s) %s-0..%d on %s:%d (%s), hub key %s",
        workers,
        prefix,
        workers - 1,
        settings.mqtt_host,
        settings.mqtt_port,
        "connected" if handle.broker_connected else "broker not reached yet, retrying",
        hub_key.public_key_hex,
    )
    return handle
