"""The demo's compound runs against the real hub: Mosquitto, the hub's ingest worker and REST
API on a migrated, seeded SQLite database, and a simulator fleet with the hub's key."""

from __future__ import annotations

from tests.support.hub import broker, fleet, hub  # noqa: F401 - fixtures
