"""End-to-end fixtures: Mosquitto, the hub (migrated + seeded SQLite, ingest worker, REST API)
and a fleet of handhelds on `micropython`, shared with the HIL tests (tests/support/hub.py)."""

from __future__ import annotations

import pytest

from tests.support.hub import broker, fleet, hub, wire  # noqa: F401 - fixtures

pytestmark = pytest.mark.hil
