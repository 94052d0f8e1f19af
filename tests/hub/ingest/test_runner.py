"""``hub.ingest.runner.start(settings)`` as ``gridlink hub run`` uses it; the hub key file."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.events.models import Event
from hub.ingest import runner
from hub.keys import load_or_create
from hub.settings import Settings
from protocol import command, topics
from tests.builders.devices import TestDevice
from tests.support.mosquitto import Mosquitto
from tests.support.waiting import wait_until
from tests.support.wire import MqttObserver


def test_start_from_settings_and_stop(
    settings: Settings,
    broker: Mosquitto,
    wire_factory: Callable[..., MqttObserver],
    db_session: Session,
    session_factory: sessionmaker[Session],
    device_factory: Callable[..., TestDevice],
) -> None:
    dev = device_factory("hh-run")
    dev.register(db_session)
    db_session.commit()
    configured = settings.model_copy(update=broker.hub_settings_kwargs())
    wire = wire_factory(topics.HUB_STATE)
    handle = runner.start(configured, workers=2)
    try:
        # the real clock is far from the test clock: a historical event, still stored
        wire.publish(*dev.event("heartbeat", {"bat": 50}))
        with session_factory() as s:
            wait_until("an event stored", lambda: s.scalars(select(Event)).first() is not None)
            assert s.scalars(select(Event)).one().historical is True
    finally:
        handle.stop()
    hub_pk = load_or_create(configured.hub_key_path).public_key
    wait_until(
        "the hub state offline",
        lambda: not command.open_state(wire.messages(topics.HUB_STATE)[-1], hub_pk)["online"],
    )


def test_hub_key_file_is_private_and_stable(settings: Settings) -> None:
    first = load_or_create(settings.hub_key_path)
    mode = stat.S_IMODE(os.stat(settings.hub_key_path).st_mode)
    assert mode == 0o600
    assert settings.hub_key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_or_create(settings.hub_key_path) == first
    assert "seed" not in repr(first) or first.seed.hex() not in repr(first)
