"""The real-hub fixtures (``tests.support.hub``) for the simulator CLI against a hub."""

from tests.support.hub import broker, hub  # noqa: F401 - fixtures
