"""HIL fixtures: the real hub (tests/support/hub.py: Mosquitto, the hub's ingest worker and
REST API on a migrated, seeded SQLite database), a Fleet of firmware processes on
`micropython -X heapsize=...` provisioned with the hub's key, and `wire`, an MQTT observer of
the traffic. Everything is stopped in finalizers, also when a test fails."""

from __future__ import annotations

import pytest

from tests.support.hub import broker, fleet, hub, wire  # noqa: F401 - fixtures

pytestmark = pytest.mark.hil
