"""HIL fixtures: the real hub (tests/support/hub.py: Mosquitto, the hub's ingest worker and
REST API on a migrated, seeded SQLite database), a Fleet of firmware processes on
`micropython -X heapsize=...` provisioned with the hub's key, and `wire`, an MQTT observer of
the traffic. Everything is stopped in finalizers, also when a test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator import NetProxy
from tests.support.hub import broker, fleet, hub, wire  # noqa: F401 - fixtures
from tests.support.mosquitto import Mosquitto

pytestmark = pytest.mark.hil


@pytest.fixture
def slow_link(broker: Mosquitto) -> Iterator[NetProxy]:  # noqa: F811 - the fixture above
    """A proxy to the broker that delays each device publish by 20 ms: on loopback a photo's
    chunks take a fraction of a second, too fast for a test to cut or stop anything mid-upload.
    Point a device at it with ``broker={"port": slow_link.port}``."""
    proxy = NetProxy(broker.host, broker.port).start()
    proxy.publish_delay_s = 0.02
    yield proxy
    proxy.stop()
